package tui

import (
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/attest-dev/attest/flows"
	"github.com/attest-dev/attest/flows/clock"
	"github.com/attest-dev/attest/store/postgres"
	"github.com/attest-dev/attest/store/postgres/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// schedClock is the test's fake clock, telling the test each moment
// something waits for, so that it can move the clock to exactly there.
type schedClock struct {
	*clock.Fake
	at chan time.Time
}

func (c schedClock) At(t time.Time, f func()) func() bool {
	select {
	case c.at <- t:
	default: // the test missed it, and says so when it waits
	}
	return c.Fake.At(t, f)
}

// The ledger's PostgreSQL stops under an open screen: the screen says the
// ledger is unavailable, asks again by itself on the service's clock (half
// a second, then twice as long each time, at most four seconds apart), and
// once the database is back the banner goes, with no key pressed.
func TestLedgerOutageBannerClearsByItself(t *testing.T) {
	c := pgtest.Start(t)
	led, err := postgres.Open(ctx, c.NewDatabase(t), postgres.Options{RetryFor: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { led.Close() })
	clk := schedClock{Fake: clock.NewFake(start), at: make(chan time.Time, 64)}
	e := &env{t: t, clock: clk.Fake, bag: newMailbag()}
	e.svc, err = flows.New(flows.Config{
		Ledger:    led,
		Secret:    []byte("0123456789abcdef0123456789abcdef-test-secret"),
		Clock:     clk,
		Rand:      rand.NewChaCha8([32]byte{1}),
		Sender:    e.bag,
		Passwords: cheapPasswords(t),
		LinkBase:  "https://attest.test",
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.svc.Close() })

	tr := e.open(laptop, "grace")
	tr.waitFor("anonymous visitor")
	if err := c.Stop(); err != nil {
		t.Fatal(err)
	}
	// Whatever happens, the cluster serves the other tests afterwards.
	t.Cleanup(func() {
		if err := c.Start(); err != nil && err.Error() != "the cluster is running" {
			t.Error(err)
		}
	})
	// Something makes the screen read (here a poke, as another server's
	// sign-out would send): the read finds the ledger gone.
	e.svc.Poke(nil, []string{laptop.Tag})
	tr.waitFor(outageText, "anonymous visitor")

	next := func() time.Time {
		t.Helper()
		select {
		case at := <-clk.at:
			return at
		case <-time.After(patience):
			t.Fatalf("no try was scheduled; the screen shows:\n%s", tr.screen())
			return time.Time{}
		}
	}
	for _, wait := range []time.Duration{500 * time.Millisecond, time.Second, 2 * time.Second, 4 * time.Second, 4 * time.Second} {
		at := next()
		if got := at.Sub(e.clock.Now()); got != wait {
			t.Fatalf("the next try is %v away, want %v", got, wait)
		}
		e.clock.Set(at) // the try runs, and fails: the database is still down
	}
	at := next()
	if got := at.Sub(e.clock.Now()); got != 4*time.Second {
		t.Fatalf("the next try is %v away, want 4s", got)
	}
	if s := tr.screen(); !strings.Contains(s, outageText) {
		t.Fatalf("the banner went while the database was down:\n%s", s)
	}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	e.clock.Set(at)
	tr.waitGone(outageText)
	tr.waitFor("anonymous visitor")
}
