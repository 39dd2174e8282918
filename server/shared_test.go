package server

import (
	"github.com/attest-dev/attest/store/postgres"
	"regexp"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"context"
	"encoding/json"
	"fmt"
	"github.com/attest-dev/attest/flows"
	"github.com/attest-dev/attest/flows/clock"
	"github.com/attest-dev/attest/flows/message"
	"github.com/attest-dev/attest/server/delivery"

	"github.com/attest-dev/attest/server/operator"
	"path/filepath"
	"strings"
	"testing"

	"github.com/attest-dev/attest/server/config"
	"github.com/attest-dev/attest/store/postgres/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// TestSharedDatabaseSecret: servers that share a database must share the
// secret. The first sets the database's check; one with another secret
// refuses to start, saying so; one pointed at the first's secret starts.
func TestSharedDatabaseSecret(t *testing.T) {
	url := pgtest.Start(t).NewDatabase(t)
	first := config.Default()
	first.DataDir, first.DatabaseURL = t.TempDir(), url
	a, err := Open(first, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()

	other := first
	other.DataDir = t.TempDir() // a secret of its own is made there
	if b, err := Open(other, nil, nil); err == nil {
		b.Close()
		t.Fatal("a server with another secret started on the shared database")
	} else if !strings.Contains(err.Error(), "not the one this database was started with") {
		t.Errorf("refusal: %v", err)
	}

	other.SecretFile = filepath.Join(first.DataDir, "secret")
	b, err := Open(other, nil, nil)
	if err != nil {
		t.Fatalf("a server with the first's secret: %v", err)
	}
	b.Close()
}

// TestOperatorCommandsOnPostgres: the operator commands run on a ledger
// in PostgreSQL as on a file, except backup, which says to use pg_dump.
func TestOperatorCommandsOnPostgres(t *testing.T) {
	cfg := config.Default()
	cfg.DataDir, cfg.DatabaseURL = t.TempDir(), pgtest.Start(t).NewDatabase(t)
	a, err := Open(cfg, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	run := func(args ...string) (string, error) {
		var out, errOut strings.Builder
		code := operator.Run(context.Background(), operator.Env{Ledger: a.Ledger, Service: a.Service, Stdout: &out, Stderr: &errOut}, args)
		if code != 0 {
			return out.String(), fmt.Errorf("exit %d: %s", code, errOut.String())
		}
		return out.String(), nil
	}
	out, err := run("user", "add", "--email", "ada@example.com", "--nickname", "Ada", "--json")
	if err != nil {
		t.Fatalf("user add: %v %s", err, out)
	}
	var reg struct{ User string }
	if err := json.Unmarshal([]byte(out), &reg); err != nil || reg.User == "" {
		t.Fatalf("user add printed %q", out)
	}
	a.Service.Wait()
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"owner", "ada@example.com"}, reg.User},
		{[]string{"addresses", reg.User}, "ada@example.com"},
		{[]string{"facts", "--user", reg.User}, `"kind":"address.confirmed"`},
		{[]string{"verify"}, "ok: "},
	} {
		out, err := run(c.args...)
		if err != nil || !strings.Contains(out, c.want) {
			t.Errorf("%v: %v\n%s\nwant %q in it", c.args, err, out, c.want)
		}
	}
	if _, err := run("backup"); err == nil || !strings.Contains(err.Error(), "pg_dump") {
		t.Errorf("backup: %v, want a pointer to pg_dump", err)
	}
}

// twoServers opens two Apps on one database, as two attest servers
// behind a load balancer: the same secret, demo delivery.
func twoServers(t *testing.T, clk clock.Clock) (a, b *App) {
	t.Helper()
	url := pgtest.Start(t).NewDatabase(t)
	cfg := config.Default()
	cfg.DataDir, cfg.DatabaseURL = t.TempDir(), url
	a, err := Open(cfg, clk, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	cfg.SecretFile = filepath.Join(cfg.DataDir, "secret")
	cfg.DataDir = t.TempDir()
	b, err = Open(cfg, clk, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	if !a.WaitShared(10*time.Second) || !b.WaitShared(10*time.Second) {
		t.Fatal("the servers do not listen to each other")
	}
	return a, b
}

var codeRE = regexp.MustCompile(`[Cc]ode ([A-Z]+): (\d+)`)

// codeFrom waits for the code of a ticket in an inbox.
func codeFrom(t *testing.T, in *delivery.Inbox, ticket string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	code := func(m message.Message) string {
		c := codeRE.FindStringSubmatch(m.Text)
		if c == nil {
			t.Fatalf("no code in %q", m.Text)
		}
		return c[2]
	}
	live, backlog := in.Subscribe(ctx)
	for _, m := range backlog {
		if m.ID == ticket {
			return code(m)
		}
	}
	for {
		select {
		case m := <-live:
			if m.ID == ticket {
				return code(m)
			}
		case <-ctx.Done():
			t.Fatalf("the message of %s did not reach the inbox", ticket)
		}
	}
}

// TestTwoServersOneSystem: a code sent by one server shows in the other's
// demo inbox (and works there); a star added and a sign-out everywhere on
// one reach an open screen on the other.
func TestTwoServersOneSystem(t *testing.T) {
	clk := clock.NewFake(time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC))
	a, b := twoServers(t, clk)
	ctx := context.Background()
	desk, phone := flows.KeyDevice("SHA256:desk"), flows.KeyDevice("SHA256:phone")

	iss, err := a.Service.RequestSignIn(ctx, desk, "ada@example.com")
	if err != nil {
		t.Fatal(err)
	}
	in, err := a.Service.EnterCode(ctx, desk, iss.Letter, codeFrom(t, b.Inbox, iss.Ticket))
	if err != nil || !in.SignedUp {
		t.Fatalf("sign-up on server A with the code from B's inbox: %+v, %v", in, err)
	}
	clk.Advance(2 * time.Minute) // the governor's gap between codes to one address
	iss, err = b.Service.RequestSignIn(ctx, phone, "ada@example.com")
	if err != nil {
		t.Fatal(err)
	}
	on, err := b.Service.EnterCode(ctx, phone, iss.Letter, codeFrom(t, a.Inbox, iss.Ticket))
	if err != nil || on.Visitor.User != in.Visitor.User {
		t.Fatalf("sign-in on server B with the code from A's inbox: %+v, %v", on, err)
	}

	w := b.Service.Watch(phone.Tag)
	defer w.Stop()
	w.SetUser(on.Visitor.User)
	// A star added on A by another device of the account reaches the
	// screen on B: every write pokes, not only the sign-outs.
	// (Pokes of the sign-ins may still be on their way: the screen reads
	// at each poke until it sees the star.)
	if _, err := a.Service.Star(ctx, desk, "vega"); err != nil {
		t.Fatal(err)
	}
	for limit := time.After(5 * time.Second); ; {
		select {
		case <-w.C:
		case <-limit:
			t.Fatal("the star added on server A did not reach the screen on server B within 5 s")
		}
		if v, err := b.Service.Visit(ctx, phone); err != nil || slices.Contains(v.Stars, "vega") {
			if err != nil {
				t.Fatal(err)
			}
			break
		}
	}
	if err := a.Service.SignOutEverywhere(ctx, desk, false); err != nil {
		t.Fatal(err)
	}
	select {
	case <-w.C:
	case <-time.After(5 * time.Second):
		t.Fatal("the sign-out on server A did not reach the screen on server B within 5 s")
	}
	v, err := b.Service.Visit(ctx, phone)
	if err != nil || v.Account {
		t.Errorf("the phone after the sign-out: %+v, %v", v, err)
	}
}

// signUp makes an account for addr on svc, with its code from in.
func signUp(t *testing.T, svc *flows.Service, in *delivery.Inbox, dev flows.Device, addr string) flows.Entered {
	t.Helper()
	ctx := context.Background()
	iss, err := svc.RequestSignIn(ctx, dev, addr)
	if err != nil {
		t.Fatal(err)
	}
	e, err := svc.EnterCode(ctx, dev, iss.Letter, codeFrom(t, in, iss.Ticket))
	if err != nil || !e.SignedUp {
		t.Fatalf("sign up %s: %+v, %v", addr, e, err)
	}
	return e
}

// race runs f(0) on one goroutine and f(1) on another, at once.
func race(f func(i int)) {
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range 2 {
		wg.Go(func() { <-start; f(i) })
	}
	close(start)
	wg.Wait()
}

// TestTwoServersRaces: what must happen once happens once when two
// servers race for it.
func TestTwoServersRaces(t *testing.T) {
	clk := clock.NewFake(time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC))
	a, b := twoServers(t, clk)
	svcs := []*flows.Service{a.Service, b.Service}
	ctx := context.Background()

	t.Run("same code entered on both", func(t *testing.T) {
		for round := range 5 {
			dev := flows.KeyDevice(fmt.Sprintf("SHA256:code%d", round))
			iss, err := a.Service.RequestSignIn(ctx, dev, fmt.Sprintf("code%d@example.com", round))
			if err != nil {
				t.Fatal(err)
			}
			code := codeFrom(t, a.Inbox, iss.Ticket)
			var errs [2]error
			race(func(i int) { _, errs[i] = svcs[i].EnterCode(ctx, dev, iss.Letter, code) })
			if (errs[0] == nil) == (errs[1] == nil) {
				t.Errorf("round %d: the same code entered on both servers: %v / %v; want one success", round, errs[0], errs[1])
			}
		}
	})

	t.Run("same address confirmed by two users", func(t *testing.T) {
		alice, bob := flows.KeyDevice("SHA256:alice"), flows.KeyDevice("SHA256:bob")
		signUp(t, a.Service, a.Inbox, alice, "alice@example.com")
		signUp(t, b.Service, b.Inbox, bob, "bob@example.com")
		const phone = "+12015550123"
		var codes [2]string
		var letters [2]string
		for i, dev := range []flows.Device{alice, bob} {
			clk.Advance(2 * time.Minute) // the governor's gap between codes to one address
			iss, err := svcs[i].AddAddress(ctx, dev, phone)
			if err != nil {
				t.Fatal(err)
			}
			letters[i], codes[i] = iss.Letter, codeFrom(t, a.Inbox, iss.Ticket)
		}
		var errs [2]error
		race(func(i int) {
			_, errs[i] = svcs[i].EnterCode(ctx, []flows.Device{alice, bob}[i], letters[i], codes[i])
		})
		won := 0
		for i, err := range errs {
			if err == nil {
				won++
			} else if p, ok := flows.AsProblem(err); !ok || p.Code != flows.ProblemSupport {
				t.Errorf("user %d: %v, want success or contact support", i, err)
			}
		}
		if won != 1 {
			t.Errorf("%d users confirmed %s at once (%v / %v); want 1", won, phone, errs[0], errs[1])
		}
	})

	t.Run("governor burst split over both", func(t *testing.T) {
		clk.Advance(time.Hour)
		const requests = 20
		var sent atomic.Int32
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range requests {
			wg.Go(func() {
				<-start
				dev := flows.KeyDevice(fmt.Sprintf("SHA256:burst%d", i))
				_, err := svcs[i%2].RequestSignIn(ctx, dev, "victim@example.com")
				if err == nil {
					sent.Add(1)
				} else if p, ok := flows.AsProblem(err); !ok || p.Code != flows.ProblemThrottled {
					t.Error(err)
				}
			})
		}
		close(start)
		wg.Wait()
		if sent.Load() != 1 {
			t.Errorf("%d codes went to one address in one burst over two servers; want 1", sent.Load())
		}
	})
}

var linkRE = regexp.MustCompile(`/link/([a-z2-7]{26})`)

// linkFrom waits for the magic link of a ticket in an inbox.
func linkFrom(t *testing.T, in *delivery.Inbox, ticket string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	live, backlog := in.Subscribe(ctx)
	for {
		for _, m := range backlog {
			if m.ID == ticket {
				if l := linkRE.FindStringSubmatch(m.Text); l != nil {
					return l[1]
				}
				t.Fatalf("no link in %q", m.Text)
			}
		}
		select {
		case m := <-live:
			backlog = []message.Message{m}
		case <-ctx.Done():
			t.Fatalf("the message of %s did not reach the inbox", ticket)
		}
	}
}

// watchedOnA waits until server a sees (or no longer sees) server b's
// watch of a device: b records it after the watch starts or stops.
func watchedOnA(t *testing.T, a *App, device string, want bool) {
	t.Helper()
	pg := a.Ledger.(*postgres.Ledger)
	deadline := time.Now().Add(5 * time.Second)
	for {
		got, err := pg.WatchedElsewhere(context.Background(), device)
		if err != nil {
			t.Fatal(err)
		}
		if got == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 5 s, the other server's watch of %s is %t, want %t", device, got, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestTwoServersMagicLink: a magic link asked for by a terminal on one
// server and pressed on the other signs that terminal in at once; pressed
// after the terminal left, it says so and changes nothing.
func TestTwoServersMagicLink(t *testing.T) {
	clk := clock.NewFake(time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC))
	a, b := twoServers(t, clk)
	ctx := context.Background()
	laptop := flows.KeyDevice("SHA256:laptop")

	w := b.Service.Watch(laptop.Tag)
	sent, err := b.Service.RequestMagicLink(ctx, laptop, "grace@example.com")
	if err != nil {
		t.Fatal(err)
	}
	token := linkFrom(t, a.Inbox, sent.Ticket)
	watchedOnA(t, a, laptop.Tag, true)
	if info, err := a.Service.ConfirmLinkChecked(ctx, token, sent.Check); err != nil || info.State != flows.LinkLive {
		t.Fatalf("the link pressed on server A: %+v, %v", info, err)
	}
	select {
	case <-w.C:
	case <-time.After(5 * time.Second):
		t.Fatal("the terminal on server B was not told within 5 s")
	}
	if v, err := b.Service.Visit(ctx, laptop); err != nil || !v.Account {
		t.Fatalf("the terminal after the link: %+v, %v", v, err)
	}

	// A link whose terminal has left does nothing.
	desk := flows.KeyDevice("SHA256:desk")
	w2 := b.Service.Watch(desk.Tag)
	clk.Advance(2 * time.Minute)
	sent, err = b.Service.RequestMagicLink(ctx, desk, "grace@example.com")
	if err != nil {
		t.Fatal(err)
	}
	token = linkFrom(t, a.Inbox, sent.Ticket)
	w2.Stop()
	w.Stop()
	watchedOnA(t, a, desk.Tag, false)
	if info, err := a.Service.ConfirmLinkChecked(ctx, token, sent.Check); err != nil || info.State != flows.LinkGone {
		t.Fatalf("a link pressed after its terminal left: %+v, %v", info, err)
	}
	if v, err := b.Service.Visit(ctx, desk); err != nil || v.Account {
		t.Errorf("the desk after a link to a terminal that left: %+v, %v", v, err)
	}
}

// TestLostDatabasePokesScreens: when the database goes away, the server's
// connection for other servers' pokes is lost, and pokes sent meanwhile
// are missed: every live screen is poked then (it reads, and says the
// ledger is unavailable) and again once the server listens again (it
// reads what it missed).
func TestLostDatabasePokesScreens(t *testing.T) {
	c := pgtest.Start(t)
	cfg := config.Default()
	cfg.DataDir, cfg.DatabaseURL = t.TempDir(), c.NewDatabase(t)
	a, err := Open(cfg, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if !a.WaitShared(10 * time.Second) {
		t.Fatal("the server does not listen")
	}
	w := a.Service.Watch(flows.KeyDevice("SHA256:desk").Tag)
	defer w.Stop()
	poked := func(when string) {
		t.Helper()
		select {
		case <-w.C:
		case <-time.After(20 * time.Second):
			t.Fatalf("no poke %s", when)
		}
	}
	if err := c.Stop(); err != nil {
		t.Fatal(err)
	}
	defer c.Start() // for the other tests, if this one fails early
	poked("when the database went away")
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	poked("when the database came back")
}
