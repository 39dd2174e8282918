package server

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/attest-dev/attest/flows"
	"github.com/attest-dev/attest/flows/clock"
	"github.com/attest-dev/attest/store/bolt"
)

// slowRelay is a poke relay whose notifications come to the test, the
// first held until release is closed: a database slow to answer.
type slowRelay struct {
	*pokeRelay
	release chan struct{}
	started chan struct{} // closed once the first notification is in flight
	sent    chan poke
}

func newSlowRelay(t *testing.T) *slowRelay {
	rt := &slowRelay{release: make(chan struct{}), started: make(chan struct{}), sent: make(chan poke, 1<<16)}
	rt.pokeRelay = newPokeRelay(nil, slog.New(slog.DiscardHandler))
	var first sync.Once
	rt.notify = func(ctx context.Context, channel string, payload []byte) error {
		if channel != pokeChannel {
			return fmt.Errorf("channel %q", channel)
		}
		first.Do(func() {
			close(rt.started)
			<-rt.release
		})
		var p poke
		if err := json.Unmarshal(payload, &p); err != nil {
			return err
		}
		rt.sent <- p
		return nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { rt.send(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	// The first poke, in flight and held: what follows waits behind it.
	rt.Publish(nil, []string{"first"})
	<-rt.started
	return rt
}

// until releases the relay and returns what it sends up to and including
// the notification that names device "last" or pokes everyone (the test
// publishes "last" after everything else).
func (rt *slowRelay) until(t *testing.T) []poke {
	t.Helper()
	close(rt.release)
	var got []poke
	limit := time.NewTimer(10 * time.Second) // bounds a failure only
	defer limit.Stop()
	for {
		select {
		case p := <-rt.sent:
			got = append(got, p)
			if p.All {
				return got
			}
			for _, d := range p.Devices {
				if d == "last" {
					return got
				}
			}
		case <-limit.C:
			t.Fatalf("the poke published last was never sent; %d notifications were", len(got))
		}
	}
}

// TestPokeRelayLosesNothing: while the database is slow, pokes keep
// coming; none is lost (nothing polls: a screen on another server that
// misses its poke stays stale), and a poke for an id already waiting is
// covered by it, so a slow database costs one notification per id rather
// than one per change.
func TestPokeRelayLosesNothing(t *testing.T) {
	rt := newSlowRelay(t)
	const users = 1500 // more than a queue of 1,024 pokes held
	for i := range users {
		rt.Publish([]string{fmt.Sprintf("u%d", i)}, []string{"d"})
	}
	for i := range users { // the same users again: covered already
		rt.Publish([]string{fmt.Sprintf("u%d", i)}, nil)
	}
	rt.Publish(nil, []string{"last"})
	got := rt.until(t)
	named := map[string]int{}
	for _, p := range got {
		if p.All {
			t.Fatalf("a poke for everyone, for %d ids: want them named", users+3)
		}
		for _, u := range p.Users {
			named["u:"+u]++
		}
		for _, d := range p.Devices {
			named["d:"+d]++
		}
	}
	for i := range users {
		if n := named[fmt.Sprintf("u:u%d", i)]; n != 1 {
			t.Errorf("user u%d named %d times after the first poke; want once", i, n)
		}
	}
	if named["d:d"] != 1 {
		t.Errorf("device d named %d times; want once", named["d:d"])
	}
	// The first notification, then the pending ids 64 to a notification.
	if want := 1 + (users+2+63)/64; len(got) != want {
		t.Errorf("%d notifications; want %d", len(got), want)
	}
}

// TestPokeRelayBounded: past maxPending ids waiting, the relay stops
// naming them and pokes every screen instead, and a server that receives
// that poke has every live screen read again.
func TestPokeRelayBounded(t *testing.T) {
	rt := newSlowRelay(t)
	for i := range maxPending + 1 {
		rt.Publish([]string{fmt.Sprintf("u%d", i)}, nil)
	}
	rt.Publish(nil, []string{"last"})
	got := rt.until(t)
	// The poke for everyone covers "last", published after it.
	if len(got) != 2 || !got[1].All || len(got[1].Users)+len(got[1].Devices) != 0 {
		t.Fatalf("sent %+v; want the first poke, then one for everyone", got)
	}

	l, err := bolt.Open(filepath.Join(t.TempDir(), "attest.db"), bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	svc, err := flows.New(flows.Config{
		Ledger: l, Secret: []byte("0123456789abcdef0123456789abcdef-test-secret"),
		Clock: clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Close()
	w := svc.Watch("some device")
	defer w.Stop()
	payload, _ := json.Marshal(got[1])
	receivePokes(svc, slog.New(slog.DiscardHandler))(payload)
	select {
	case <-w.C:
	default:
		t.Fatal("a poke for everyone did not poke a device's screen")
	}
}
