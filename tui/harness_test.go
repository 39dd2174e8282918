package tui

import (
	"context"
	"math/rand/v2"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/colorprofile"
	"github.com/charmbracelet/x/ansi"
	"github.com/charmbracelet/x/exp/teatest/v2"

	"github.com/attest-dev/attest/flows"
	"github.com/attest-dev/attest/flows/clock"
	"github.com/attest-dev/attest/flows/message"
	"github.com/attest-dev/attest/flows/password"
	"github.com/attest-dev/attest/store/bolt"
)

// start is when every test begins: a fixed instant, so goldens hold.
var start = time.Date(2026, 11, 21, 9, 0, 0, 0, time.UTC)

var ctx = context.Background()

// patience bounds every wait for the screen; the waits end as soon as
// what they wait for is on the screen, so this is only reached by a bug
// (or by a real argon2 hash under -race on a loaded two-core machine,
// which took over 5 s).
const patience = 20 * time.Second

// Two SSH keys, by fingerprint.
var (
	laptop = flows.KeyDevice("SHA256:q8XkP2mV9sLr4TfYc1NbWz7HdE3uJ6aKo0GiRyQxUvB")
	phone  = flows.KeyDevice("SHA256:Zx81kLmN0pQrStUvWxYz2a3b4c5d6e7f8g9h0iJkH2Q")
)

// env is a Service on a real bbolt ledger in a temporary directory, with a
// fake clock, seeded randomness and a mailbag that keeps what was sent.
type env struct {
	t     *testing.T
	svc   *flows.Service
	clock *clock.Fake
	bag   *mailbag
	inbox string // Session.Inbox of the terminals it opens
}

func newEnv(t *testing.T) *env {
	t.Helper()
	l, err := bolt.Open(filepath.Join(t.TempDir(), "attest.db"), bolt.Options{})
	if err != nil {
		t.Fatalf("open ledger: %v", err)
	}
	e := &env{t: t, clock: clock.NewFake(start), bag: newMailbag()}
	e.svc, err = flows.New(flows.Config{
		Ledger: l,
		Secret: []byte("0123456789abcdef0123456789abcdef-test-secret"),
		Clock:  e.clock,
		Rand:   rand.NewChaCha8([32]byte{1}),
		Sender: e.bag,
		// The smallest argon2id the password package allows, so tests
		// that set passwords stay quick.
		Passwords: cheapPasswords(t),
		LinkBase:  "https://attest.test",
	})
	if err != nil {
		t.Fatalf("new service: %v", err)
	}
	t.Cleanup(func() {
		e.svc.Close()
		l.Close()
	})
	return e
}

func cheapPasswords(t *testing.T) *password.Hasher {
	t.Helper()
	h, err := password.NewHasher(password.Params{Memory: password.MinMemory, Time: 2, Threads: 1, SaltLen: 16, KeyLen: 32}, 2)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// mailbag is a message.Sender that keeps every message.
type mailbag struct {
	mu      sync.Mutex
	msgs    []message.Message
	arrived chan struct{} // closed and replaced on every message
	fail    error
}

func newMailbag() *mailbag { return &mailbag{arrived: make(chan struct{})} }

func (b *mailbag) Send(_ context.Context, m message.Message) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.fail != nil {
		return b.fail
	}
	b.msgs = append(b.msgs, m)
	close(b.arrived)
	b.arrived = make(chan struct{})
	return nil
}

// codeRE finds a code in a message: "Code B: 4821" in an email, "attest
// code B: 4821 to …" in a text.
var codeRE = regexp.MustCompile(`[Cc]ode ([A-Z]+): (\d+)`)

// code returns the digits of the newest code with the given letter sent
// to an address, waiting for its delivery.
func (e *env) code(to, letter string) string {
	e.t.Helper()
	return e.await(func(m message.Message) bool { return m.To == to }, letter)
}

// codeOf returns the digits of an issued code, waiting for its delivery.
func (e *env) codeOf(iss flows.Issued) string {
	e.t.Helper()
	return e.await(func(m message.Message) bool { return m.ID == iss.Ticket }, iss.Letter)
}

func (e *env) await(match func(message.Message) bool, letter string) string {
	e.t.Helper()
	deadline := time.After(patience)
	for {
		e.bag.mu.Lock()
		for i := len(e.bag.msgs) - 1; i >= 0; i-- {
			m := e.bag.msgs[i]
			if sub := codeRE.FindStringSubmatch(m.Text); match(m) && sub != nil && sub[1] == letter {
				e.bag.mu.Unlock()
				return sub[2]
			}
		}
		arrived := e.bag.arrived
		e.bag.mu.Unlock()
		select {
		case <-arrived:
		case <-deadline:
			e.t.Fatalf("no code %s arrived", letter)
		}
	}
}

// signIn signs a device in through the flows, as another terminal would.
func (e *env) signIn(dev flows.Device, to string) flows.Entered {
	e.t.Helper()
	iss, err := e.svc.RequestSignIn(ctx, dev, to)
	if err != nil {
		e.t.Fatalf("request a code for %s: %v", to, err)
	}
	out, err := e.svc.EnterCode(ctx, dev, iss.Letter, e.codeOf(iss))
	if err != nil {
		e.t.Fatalf("enter the code for %s: %v", to, err)
	}
	e.svc.Wait()
	return out
}

// stepUp steps a device up through the flows, as its own terminal would
// with a step-up code.
func (e *env) stepUp(dev flows.Device) {
	e.t.Helper()
	iss, err := e.svc.RequestStepUp(ctx, dev)
	if err != nil {
		e.t.Fatalf("request a step-up code: %v", err)
	}
	if _, err := e.svc.EnterCode(ctx, dev, iss.Letter, e.codeOf(iss)); err != nil {
		e.t.Fatalf("enter the step-up code: %v", err)
	}
	e.svc.Wait()
}

// term is one session's screens, run by teatest at 80x24 without colour.
type term struct {
	t    *testing.T
	tm   *teatest.TestModel
	root *root // only to be read once the program has finished
	shot *shots
}

func (e *env) open(dev flows.Device, user string) *term {
	e.t.Helper()
	r := New(Session{Service: e.svc, Device: dev, User: user, Inbox: e.inbox}).(*root)
	sh := &shots{changed: make(chan struct{})}
	sh.set(r.View().Content)
	tm := teatest.NewTestModel(e.t, probe{inner: r, shot: sh},
		teatest.WithInitialTermSize(80, 24),
		teatest.WithProgramOptions(
			tea.WithColorProfile(colorprofile.ASCII),
			tea.WithEnvironment([]string{"TERM=xterm-256color"}),
		))
	tr := &term{t: e.t, tm: tm, root: r, shot: sh}
	e.t.Cleanup(func() {
		_ = tm.Quit()
		tm.WaitFinished(e.t, teatest.WithFinalTimeout(patience))
	})
	// Bubble Tea sends the start-up size and colour profile from goroutines
	// of their own; wait for them (teatest's size, the program's size and
	// its profile), so that they cannot land after what a test sends.
	tr.waitUntil("start-up", func(string) bool { return sh.startup >= 3 })
	return tr
}

// probe wraps the root so a test can see each screen as it is drawn.
type probe struct {
	inner tea.Model
	shot  *shots
}

func (p probe) Init() tea.Cmd  { return p.inner.Init() }
func (p probe) View() tea.View { return p.inner.View() }
func (p probe) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	m, cmd := p.inner.Update(msg)
	p.inner = m
	p.shot.mu.Lock()
	switch msg.(type) {
	case tea.WindowSizeMsg, tea.ColorProfileMsg:
		p.shot.startup++
	}
	p.shot.mu.Unlock()
	p.shot.set(m.View().Content)
	return p, cmd
}

// shots keeps the latest screen, as plain text.
type shots struct {
	mu      sync.Mutex
	screen  string
	changed chan struct{}
	startup int // start-up messages seen
}

func (s *shots) set(content string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.screen = plain(content)
	close(s.changed)
	s.changed = make(chan struct{})
}

// plain is a screen without styling and without trailing spaces.
func plain(content string) string {
	ls := strings.Split(ansi.Strip(content), "\n")
	for i, l := range ls {
		ls[i] = strings.TrimRight(l, " ")
	}
	return strings.Join(ls, "\n")
}

// waitFor waits until the screen shows every one of want, and returns it.
func (tr *term) waitFor(want ...string) string {
	tr.t.Helper()
	return tr.waitUntil(strings.Join(want, " and "), func(s string) bool {
		for _, w := range want {
			if !strings.Contains(s, w) {
				return false
			}
		}
		return true
	})
}

// waitGone waits until the screen no longer shows gone.
func (tr *term) waitGone(gone string) string {
	tr.t.Helper()
	return tr.waitUntil("no "+gone, func(s string) bool { return !strings.Contains(s, gone) })
}

func (tr *term) waitUntil(what string, ok func(string) bool) string {
	tr.t.Helper()
	deadline := time.After(patience)
	for {
		tr.shot.mu.Lock() // held while ok looks, so it may read shots too
		screen, changed, done := tr.shot.screen, tr.shot.changed, ok(tr.shot.screen)
		tr.shot.mu.Unlock()
		if done {
			return screen
		}
		select {
		case <-changed:
		case <-deadline:
			tr.t.Fatalf("the screen never showed %s; it shows:\n%s", what, screen)
		}
	}
}

func (tr *term) screen() string {
	tr.shot.mu.Lock()
	defer tr.shot.mu.Unlock()
	return tr.shot.screen
}

// settle returns once the program has handled everything sent before:
// its message loop takes one message at a time, and only takes this one
// when it is done with the last.
func (tr *term) settle() { tr.tm.Send(settleMsg{}) }

type settleMsg struct{}

func (tr *term) typeText(s string) { tr.tm.Type(s) }
func (tr *term) send(msg tea.Msg)  { tr.tm.Send(msg) }

func (tr *term) press(code rune) { tr.tm.Send(tea.KeyPressMsg{Code: code}) }
func (tr *term) ctrl(r rune)     { tr.tm.Send(tea.KeyPressMsg{Code: r, Mod: tea.ModCtrl}) }

// golden compares a screen with testdata/<test>/<name>.golden; run the
// tests with -update to write them.
func (tr *term) golden(name, screen string) {
	tr.t.Helper()
	tr.t.Run(name, func(t *testing.T) {
		teatest.RequireEqualOutput(t, []byte(screen))
	})
}

// finish waits for the program to end and returns the root it ended with.
func (tr *term) finish() *root {
	tr.t.Helper()
	m := tr.tm.FinalModel(tr.t, teatest.WithFinalTimeout(patience))
	return m.(probe).inner.(*root)
}
