package tui

import (
	"context"
	"math/rand/v2"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"

	"github.com/attest-dev/attest/flows"
	"github.com/attest-dev/attest/flows/clock"
	"github.com/attest-dev/attest/flows/openid"
	"github.com/attest-dev/attest/internal/oidctest"
	"github.com/attest-dev/attest/store/bolt"
)

// oidcEnv is an env whose service has a provider on a real OpenID
// Provider on loopback. The clock starts at the real time (the provider
// stamps its tokens with it); device polls wait for the test's tick.
func newOIDCEnv(t *testing.T, flow string) (*env, *oidctest.OP, chan struct{}) {
	t.Helper()
	op, err := oidctest.New(oidctest.Options{
		Clients: []oidctest.Client{{ID: "attest", Secret: "s", RedirectURIs: []string{"https://attest.test/oidc/callback"}}},
		Users:   []oidctest.User{{Subject: "sub-ada", Username: "ada", Password: "pw", Email: "ada@example.com", EmailVerified: true}},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { op.Close() })
	p := openid.Discover(ctx, openid.Config{Name: "test", DisplayName: "TestID", Issuer: op.Issuer, ClientID: "attest", ClientSecret: "s", Flow: flow}, nil)
	if !p.Available() {
		t.Fatal(p.Reason())
	}
	l, err := bolt.Open(filepath.Join(t.TempDir(), "attest.db"), bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, clock: clock.NewFake(time.Now()), bag: newMailbag()}
	tick := make(chan struct{})
	waiting = make(chan context.Context, 1)
	e.svc, err = flows.New(flows.Config{
		Ledger: l, Secret: []byte("0123456789abcdef0123456789abcdef-test-secret"), Clock: e.clock,
		Rand: rand.NewChaCha8([32]byte{3}), Sender: e.bag, Passwords: cheapPasswords(t), LinkBase: "https://attest.test",
		Providers: []*openid.Provider{p},
		PollWait: func(ctx context.Context, d time.Duration) error {
			select {
			case waiting <- ctx:
			default:
			}
			select {
			case <-tick:
				e.clock.Advance(d)
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		e.svc.Close()
		l.Close()
	})
	return e, op, tick
}

// waiting receives the context of the newest device-grant wait.
var waiting chan context.Context

var regexpLink = regexp.MustCompile(`https://attest\.test/oidc/start/([a-z2-7]{26})`)

func TestSignInWithAProviderByDeviceGrant(t *testing.T) {
	e, op, tick := newOIDCEnv(t, "")
	tr := e.open(laptop, "")
	tr.typeText("s")
	tr.waitFor("ctrl+o  sign in with TestID")
	tr.ctrl('o')
	screen := tr.waitFor("Sign in with TestID", "and enter this code:", "or scan the QR code", "moves on by itself once")
	codes := op.PendingUserCodes()
	if len(codes) != 1 || !strings.Contains(screen, spaced(codes[0])) || !strings.Contains(screen, op.Issuer+"/device") {
		t.Fatalf("the screen does not show the code %v and the URL:\n%s", codes, screen)
	}
	if err := oidctest.NewBrowser("").Approve(op.Issuer+"/device", codes[0], "ada", "pw", false); err != nil {
		t.Fatal(err)
	}
	tick <- struct{}{}
	tr.waitFor("Welcome — your account is ready. ada@example.com is on your account,", "confirmed by TestID.", "via oidc")
}

// screenCheck is the check on the code flow's waiting screen.
var screenCheck = regexp.MustCompile(`Check\s+([A-Z2-9]{4}) · type these on its page, never give them to anyone`)

// openLinkScreen starts a code-flow sign-in on a screen and returns the
// state in its link and the check it shows.
func openLinkScreen(t *testing.T, tr *term) (state, check string) {
	t.Helper()
	tr.typeText("s")
	tr.waitFor("ctrl+o  sign in with TestID")
	tr.ctrl('o')
	screen := tr.waitFor("Open this link, type these characters on its page and continue with TestID", "never give them to anyone")
	m, c := regexpLink.FindStringSubmatch(screen), screenCheck.FindStringSubmatch(screen)
	if m == nil || c == nil || !strings.Contains(screen, spaced(c[1])) {
		t.Fatalf("no link, or no check big and in the fields, on the screen:\n%s", screen)
	}
	return m[1], c[1]
}

func TestSignInWithAProviderByLink(t *testing.T) {
	e, _, _ := newOIDCEnv(t, openid.FlowCode)
	tr := e.open(laptop, "")
	state, check := openLinkScreen(t, tr)
	page, err := e.svc.ConfirmOIDCChecked(ctx, state, check)
	if err != nil || page.State != flows.LinkLive || page.AuthURL == "" {
		t.Fatalf("the screen's check is not the page's: %+v %v", page, err)
	}
	back, err := oidctest.NewBrowser("https://attest.test/").SignIn(page.AuthURL, "ada", "pw", true)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.OIDCCallback(ctx, back.Query().Get("state"), page.Binding, "", back.Query().Get("error"), ""); err == nil {
		t.Fatal("a denied sign-in was accepted")
	}
	tr.waitFor("You said no at TestID", "ctrl+r starts again")
}

// A wrong answer on the start page ends the attempt, and the waiting
// screen says so at once.
func TestAWrongCheckEndsTheProviderLink(t *testing.T) {
	e, _, _ := newOIDCEnv(t, openid.FlowCode)
	tr := e.open(laptop, "")
	state, check := openLinkScreen(t, tr)
	wrong := "AAAA"
	if check == wrong {
		wrong = "BBBB"
	}
	if page, err := e.svc.ConfirmOIDCChecked(ctx, state, wrong); err != nil || page.State != flows.LinkEnded {
		t.Fatalf("wrong check: %+v %v", page, err)
	}
	tr.waitFor("A wrong answer on its page ended this sign-in; nobody was signed in.", "someone else had its link", "ctrl+r starts again")
	if v, err := e.svc.Visit(ctx, laptop); err != nil || v.Account {
		t.Fatalf("after a wrong check: %+v %v", v, err)
	}
}

// Leaving the waiting screen ends the wait: the provider is asked no more.
func TestLeavingEndsTheProviderWait(t *testing.T) {
	e, op, tick := newOIDCEnv(t, "")
	tr := e.open(laptop, "")
	tr.typeText("s")
	tr.waitFor("ctrl+o  sign in with TestID")
	tr.ctrl('o')
	tr.waitFor("and enter this code:")
	var wait context.Context
	select {
	case wait = <-waiting:
	case <-time.After(patience):
		t.Fatal("the screen does not wait for the provider")
	}
	polls := op.Polls()
	tr.press(tea.KeyEscape)
	tr.waitFor("Email address or phone number")
	select {
	case <-wait.Done():
	case <-time.After(patience):
		t.Fatal("the wait went on after the screen was left")
	}
	if op.Polls() != polls {
		t.Fatal("the provider was polled after the screen was left")
	}
	_ = tick
}

// A device without a step-up, on an account with the provider linked,
// steps up with a fresh sign-in there (ctrl+o on the step-up screen), and
// the protected action it asked for goes ahead.
func TestStepUpWithAProvider(t *testing.T) {
	e, op, tick := newOIDCEnv(t, "")
	signIn := func(dev flows.Device) {
		st, err := e.svc.StartOIDC(ctx, dev, "test", flows.PurposeSignIn)
		if err != nil {
			t.Fatal(err)
		}
		if err := oidctest.NewBrowser("").Approve(st.VerificationURI, st.UserCode, "ada", "pw", false); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { _, err := e.svc.WaitOIDC(ctx, dev, st); done <- err }()
		tick <- struct{}{}
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	signIn(laptop)
	phone := flows.KeyDevice("SHA256:phone-of-ada")
	signIn(phone) // signed in to the account: no step-up of its own
	tr := e.open(phone, "")
	addOnAccount(tr, "ada@example.org")
	tr.press(tea.KeyEnter)
	tr.waitFor("A step-up proves it is you", "ctrl+o")
	tr.ctrl('o')
	tr.waitFor("Step up with TestID", "and enter this code:")
	codes := op.PendingUserCodes()
	if len(codes) != 1 {
		t.Fatalf("pending codes %v", codes)
	}
	if err := oidctest.NewBrowser("").Approve(op.Issuer+"/device", codes[0], "ada", "pw", false); err != nil {
		t.Fatal(err)
	}
	tick <- struct{}{}
	tr.waitFor("sent to ada@example.org", "stepped up · 1h")
	v, err := e.svc.Visit(ctx, phone)
	if err != nil || v.StepUpUntil.IsZero() {
		t.Fatalf("the phone is not stepped up: %+v %v", v, err)
	}
	added := false
	for _, a := range v.Addresses {
		added = added || (a.Display == "ada@example.org" && !a.Confirmed)
	}
	if !added {
		t.Fatalf("the add did not go ahead after the step-up: %+v", v.Addresses)
	}
}
