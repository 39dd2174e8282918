package flows_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/attest-dev/attest/flows"
	"github.com/attest-dev/attest/flows/clock"
	"github.com/attest-dev/attest/flows/message"
	"github.com/attest-dev/attest/flows/openid"
	"github.com/attest-dev/attest/flows/password"
	"github.com/attest-dev/attest/store"
	"github.com/attest-dev/attest/store/bolt"
	"github.com/attest-dev/attest/store/postgres"
	"github.com/attest-dev/attest/store/postgres/pgtest"
)

// start is when every scenario begins: a fixed instant, so failures
// reproduce.
var start = time.Date(2026, 11, 21, 9, 0, 0, 0, time.UTC)

var ctx = context.Background()

// harness is a Service on a real ledger, with a fake clock, seeded
// randomness and a mailbag that keeps what was sent. The ledger is a bbolt
// file, or a PostgreSQL database of a private cluster when
// ATTEST_TEST_LEDGER=postgres (the scenarios run on both in CI).
type harness struct {
	t      *testing.T
	svc    *flows.Service
	clock  *clock.Fake
	ledger store.Ledger
	bag    *mailbag
	path   string
	dbURL  string
	secret []byte
	opens  int
	// providers and pollWait go into every Service the harness opens
	// (oidc_test.go).
	providers []*openid.Provider
	pollWait  func(context.Context, time.Duration) error
	// observer goes into every Service the harness opens (nil: none).
	observer flows.Observer
	// support goes into every Service the harness opens.
	support string
	// logger goes into every Service the harness opens (nil: discard).
	logger *slog.Logger
	// channels goes into every Service the harness opens (nil: all).
	channels []message.Channel
	// passwords, when set, is the hasher of the Services opened from then
	// on (nil: cheapPasswords).
	passwords *password.Hasher
	// beforeUpdate, when set, runs once before the next ledger update
	// begins (and is then cleared): a test's way to land a change between
	// a flow's slow check and its transaction.
	beforeUpdate atomic.Pointer[func()]
}

// hookLedger runs the harness's beforeUpdate before an update begins.
type hookLedger struct {
	store.Ledger
	h *harness
}

func (l hookLedger) Update(fn func(store.Tx) error) error {
	if hook := l.h.beforeUpdate.Swap(nil); hook != nil {
		(*hook)()
	}
	return l.Ledger.Update(fn)
}

type mailbag struct {
	mu      sync.Mutex
	arrived *sync.Cond
	msgs    []message.Message
	fail    error
}

func newMailbag() *mailbag {
	b := &mailbag{}
	b.arrived = sync.NewCond(&b.mu)
	return b
}

func (b *mailbag) Send(_ context.Context, m message.Message) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.fail != nil {
		return b.fail
	}
	b.msgs = append(b.msgs, m)
	b.arrived.Broadcast()
	return nil
}

// waitFor blocks until the message of a ticket has arrived. Delivery runs
// after the commit, on its own goroutine, so the code is not in the bag
// the moment the request returns.
func (b *mailbag) waitFor(ticket string) message.Message {
	b.mu.Lock()
	defer b.mu.Unlock()
	for {
		for _, m := range b.msgs {
			if m.ID == ticket {
				return m
			}
		}
		b.arrived.Wait()
	}
}

func (b *mailbag) to(addr string) []message.Message {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []message.Message
	for _, m := range b.msgs {
		if m.To == addr {
			out = append(out, m)
		}
	}
	return out
}

func (b *mailbag) count() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.msgs)
}

func newHarness(t *testing.T, policy flows.Policy) *harness {
	t.Helper()
	h := &harness{
		t:      t,
		clock:  clock.NewFake(start),
		bag:    newMailbag(),
		path:   filepath.Join(t.TempDir(), "attest.db"),
		secret: []byte("0123456789abcdef0123456789abcdef-test-secret"),
	}
	h.open(policy)
	return h
}

// open (re)opens the ledger and builds a fresh Service on it, as a server
// restart would.
func (h *harness) open(policy flows.Policy) {
	h.t.Helper()
	l, err := h.openLedger()
	if err != nil {
		h.t.Fatalf("open ledger: %v", err)
	}
	h.ledger = l
	h.opens++
	pw := h.passwords
	if pw == nil {
		pw = cheapPasswords(h.t)
	}
	svc, err := flows.New(flows.Config{
		Ledger: hookLedger{Ledger: l, h: h},
		Secret: h.secret,
		Clock:  h.clock,
		// A new seed per opening: a restarted service must not mint the
		// tickets of the one before.
		Rand:      rand.NewChaCha8([32]byte{byte(h.opens)}),
		Sender:    h.bag,
		Policy:    policy,
		Passwords: pw,
		Providers: h.providers,
		PollWait:  h.pollWait,
		Observer:  h.observer,
		Support:   h.support,
		Logger:    h.logger,
		Channels:  h.channels,
	})
	if err != nil {
		h.t.Fatalf("new service: %v", err)
	}
	h.svc = svc
	h.t.Cleanup(func() {
		svc.Close()
		l.Close()
	})
}

// openLedger opens the harness's ledger: the same file, or database,
// each time.
func (h *harness) openLedger() (store.Ledger, error) {
	if os.Getenv("ATTEST_TEST_LEDGER") != "postgres" {
		return bolt.Open(h.path, bolt.Options{})
	}
	if h.dbURL == "" {
		h.dbURL = pgtest.Start(h.t).NewDatabase(h.t)
	}
	return postgres.Open(ctx, h.dbURL, postgres.Options{})
}

func TestMain(m *testing.M) { pgtest.Main(m) }

// stored is what the ledger keeps, for tests that look for secrets in it:
// the bbolt file, or every fact as PostgreSQL holds it.
func (h *harness) stored() []byte {
	h.t.Helper()
	if h.dbURL == "" {
		raw, err := os.ReadFile(h.path)
		if err != nil {
			h.t.Fatal(err)
		}
		return raw
	}
	var raw []byte
	err := h.ledger.View(func(r store.Reader) error {
		return r.All(0, func(f store.Fact) bool {
			enc, err := store.Encode(&f)
			if err != nil {
				h.t.Fatal(err)
			}
			raw = append(raw, enc...)
			return true
		})
	})
	if err != nil {
		h.t.Fatal(err)
	}
	return raw
}

// restart closes everything and opens it again on the same file.
func (h *harness) restart(policy flows.Policy) {
	h.t.Helper()
	h.svc.Close()
	if err := h.ledger.Close(); err != nil {
		h.t.Fatalf("close ledger: %v", err)
	}
	h.open(policy)
}

func device(name string) flows.Device { return flows.KeyDevice("SHA256:" + name) }

var codeRE = regexp.MustCompile(`[Cc]ode ([A-Z]+): (\d+)`)

// request asks for a sign-in code and returns what was issued and the
// code as it arrived in the mailbag.
func (h *harness) request(dev flows.Device, addr string) (flows.Issued, string) {
	h.t.Helper()
	iss, err := h.svc.RequestSignIn(ctx, dev, addr)
	if err != nil {
		h.t.Fatalf("request code for %s: %v", addr, err)
	}
	return iss, h.codeOf(iss)
}

// codeOf finds the code of a ticket in the mailbag.
func (h *harness) codeOf(iss flows.Issued) string {
	h.t.Helper()
	code, err := codeIn(h.bag.waitFor(iss.Ticket), iss.Letter)
	if err != nil {
		h.t.Fatal(err)
	}
	h.svc.Wait() // and its outcome is in the ledger
	return code
}

// codeIn reads the code out of a message, checking it shows the letter.
func codeIn(m message.Message, letter string) (string, error) {
	sub := codeRE.FindStringSubmatch(m.Text)
	if sub == nil || sub[1] != letter {
		return "", fmt.Errorf("message %q does not show code %s", m.Text, letter)
	}
	return sub[2], nil
}

// signIn runs both stages for dev and address.
func (h *harness) signIn(dev flows.Device, addr string) flows.Entered {
	h.t.Helper()
	iss, code := h.request(dev, addr)
	out, err := h.svc.EnterCode(ctx, dev, iss.Letter, code)
	if err != nil {
		h.t.Fatalf("enter code for %s: %v", addr, err)
	}
	return out
}

// stepUp proves a second factor on dev with a step-up code.
func (h *harness) stepUp(dev flows.Device) flows.Issued {
	h.t.Helper()
	iss, err := h.svc.RequestStepUp(ctx, dev)
	if err != nil {
		h.t.Fatalf("request step-up: %v", err)
	}
	if iss.Digits != 6 || iss.Purpose != flows.PurposeStepUp {
		h.t.Fatalf("step-up code %+v", iss)
	}
	out, err := h.svc.EnterCode(ctx, dev, iss.Letter, h.codeOf(iss))
	if err != nil {
		h.t.Fatalf("enter step-up code: %v", err)
	}
	if out.StepUpUntil.IsZero() {
		h.t.Fatal("the step-up code did not step the device up")
	}
	return iss
}

func (h *harness) visit(dev flows.Device) flows.Visitor {
	h.t.Helper()
	v, err := h.svc.Visit(ctx, dev)
	if err != nil {
		h.t.Fatalf("visit: %v", err)
	}
	return v
}

// head is the ledger's newest sequence number: tests use it to check that
// refused input wrote nothing.
func (h *harness) head() uint64 {
	h.t.Helper()
	var seq uint64
	if err := h.ledger.View(func(r store.Reader) error {
		var err error
		seq, _, err = r.Head()
		return err
	}); err != nil {
		h.t.Fatal(err)
	}
	return seq
}

// facts returns every fact of the given kinds.
func (h *harness) facts(kinds ...string) []store.Fact {
	h.t.Helper()
	var out []store.Fact
	err := h.ledger.View(func(r store.Reader) error {
		return r.All(1, func(f store.Fact) bool {
			for _, k := range kinds {
				if f.Kind == k {
					out = append(out, f)
				}
			}
			return true
		})
	})
	if err != nil {
		h.t.Fatal(err)
	}
	return out
}

func wantProblem(t *testing.T, err error, code flows.ProblemCode) *flows.Problem {
	t.Helper()
	p, ok := flows.AsProblem(err)
	if !ok {
		t.Fatalf("want a %s problem, got %v", code, err)
	}
	if p.Code != code {
		t.Fatalf("want a %s problem, got %s: %s", code, p.Code, p.Msg)
	}
	return p
}

// wrong returns a code of the same length that is not code.
func wrong(code string) string {
	b := []byte(code)
	b[0] = '0' + (b[0]-'0'+1)%10
	return string(b)
}

func hasAll(list []string, want ...string) bool {
	for _, w := range want {
		found := false
		for _, v := range list {
			if v == w {
				found = true
			}
		}
		if !found {
			return false
		}
	}
	return len(list) == len(want)
}

// errInjected is the failure failingLedger injects.
var errInjected = errors.New("injected failure")

// failingLedger fails the n-th append of a kind within one transaction
// function, to show that a flow failing half way leaves nothing behind.
type failingLedger struct {
	store.Ledger
	failAt map[string]int
}

func (l *failingLedger) Update(fn func(store.Tx) error) error {
	return l.Ledger.Update(func(tx store.Tx) error {
		return fn(&failingTx{Tx: tx, failAt: l.failAt, seen: map[string]int{}})
	})
}

type failingTx struct {
	store.Tx
	failAt map[string]int
	seen   map[string]int
}

func (t *failingTx) Append(f store.Fact) (store.Fact, error) {
	t.seen[f.Kind]++
	if n, ok := t.failAt[f.Kind]; ok && t.seen[f.Kind] == n {
		return store.Fact{}, errInjected
	}
	return t.Tx.Append(f)
}

// rebuild returns a second Service over another view of the same ledger.
func (h *harness) rebuild(l store.Ledger) *flows.Service {
	h.t.Helper()
	svc, err := flows.New(flows.Config{Ledger: l, Secret: h.secret, Clock: h.clock,
		Rand: rand.NewChaCha8([32]byte{9}), Sender: h.bag})
	if err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(func() { svc.Close() })
	return svc
}

// cheapPasswords is a hasher with the smallest parameters the password
// package allows, so tests that set passwords stay quick.
func cheapPasswords(t testing.TB) *password.Hasher {
	h, err := password.NewHasher(password.Params{Memory: password.MinMemory, Time: 2, Threads: 1, SaltLen: 16, KeyLen: 32}, 2)
	if err != nil {
		t.Fatal(err)
	}
	return h
}
