package commands

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"math/rand/v2"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/attest-dev/attest/flows"
	"github.com/attest-dev/attest/flows/clock"
	"github.com/attest-dev/attest/flows/openid"
	"github.com/attest-dev/attest/internal/oidctest"
	"github.com/attest-dev/attest/store/bolt"
)

const oidcCallback = "http://127.0.0.1:23235/oidc/callback"

// oidcWorld is a world whose service has two providers on one real
// OpenID Provider on loopback: "dev" uses the device grant, "web" the
// code flow. Device polls wait for the test's tick, so no test sleeps.
type oidcWorld struct {
	*world
	op   *oidctest.OP
	tick chan struct{}
}

func newOIDCWorld(t *testing.T) *oidcWorld {
	t.Helper()
	op, err := oidctest.New(oidctest.Options{
		Clients: []oidctest.Client{{ID: "attest", Secret: "s3cret", RedirectURIs: []string{oidcCallback}}},
		Users:   []oidctest.User{{Subject: "sub-ada", Username: "ada", Password: "pw", Email: "ada@example.com", EmailVerified: true}},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { op.Close() })
	provider := func(name, display, flow string) *openid.Provider {
		p := openid.Discover(context.Background(), openid.Config{Name: name, DisplayName: display, Issuer: op.Issuer,
			ClientID: "attest", ClientSecret: "s3cret", Flow: flow}, nil)
		if !p.Available() {
			t.Fatal(p.Reason())
		}
		return p
	}
	// The provider stamps tokens with the real time, so the clock starts
	// there.
	ow := &oidcWorld{world: &world{t: t, clock: clock.NewFake(time.Now()), bag: newMailbag()}, op: op, tick: make(chan struct{})}
	l, err := bolt.Open(filepath.Join(t.TempDir(), "attest.db"), bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ow.svc, err = flows.New(flows.Config{
		Ledger: l, Secret: []byte("0123456789abcdef0123456789abcdef-test-secret"), Clock: ow.clock,
		Rand: rand.NewChaCha8([32]byte{9}), Sender: ow.bag, Passwords: cheapPasswords(t),
		Providers: []*openid.Provider{provider("dev", "DevID", openid.FlowDevice), provider("web", "WebID", openid.FlowCode)},
		PollWait: func(ctx context.Context, d time.Duration) error {
			select {
			case <-ow.tick:
				ow.clock.Advance(d)
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
		ow.svc.Close()
		l.Close()
	})
	return ow
}

// pending is a command pending in the background whose output is read
// line by line.
type pending struct {
	lines  *bufio.Scanner
	stderr *strings.Builder
	done   chan int
}

func (w *oidcWorld) start(dev flows.Device, args ...string) *pending {
	pr, pw := io.Pipe()
	r := &pending{lines: bufio.NewScanner(pr), stderr: &strings.Builder{}, done: make(chan int, 1)}
	go func() {
		status := Run(context.Background(), Env{Service: w.svc, Device: dev, Stdout: pw, Stderr: r.stderr}, args)
		pw.Close()
		r.done <- status
	}()
	return r
}

func (r *pending) line(t *testing.T) map[string]any {
	t.Helper()
	if !r.lines.Scan() {
		t.Fatalf("no more output (stderr %q)", r.stderr.String())
	}
	var m map[string]any
	if err := json.Unmarshal(r.lines.Bytes(), &m); err != nil {
		t.Fatalf("line %q: %v", r.lines.Text(), err)
	}
	return m
}

func (r *pending) status(t *testing.T) int {
	t.Helper()
	for r.lines.Scan() {
		t.Errorf("unexpected output %q", r.lines.Text())
	}
	select {
	case s := <-r.done:
		return s
	case <-time.After(30 * time.Second):
		t.Fatal("the command did not end")
		return -1
	}
}

func TestSigninWithDeviceGrant(t *testing.T) {
	w := newOIDCWorld(t)
	r := w.ok(device("x"), "providers", "--json")
	lines := r.lines(t)
	if len(lines) != 2 || lines[0]["name"] != "dev" || lines[0]["flow"] != "device" || lines[1]["flow"] != "code" || lines[1]["available"] != true {
		t.Fatalf("providers %v", lines)
	}
	if _, leaks := lines[0]["reason"]; leaks {
		t.Fatal("providers shows the operator's reason to anyone")
	}

	dev := device("tv")
	run := w.start(dev, "signin", "--with", "dev", "--json")
	first := run.line(t)
	hasFields(t, "first line", first, "verification_uri", "verification_uri_complete", "user_code", "expires_at")
	if _, ok := first["link"]; ok {
		t.Fatalf("a device grant has no link: %v", first)
	}
	complete, _ := first["verification_uri_complete"].(string)
	if err := oidctest.NewBrowser("").Approve(complete, first["user_code"].(string), "ada", "pw", false); err != nil {
		t.Fatal(err)
	}
	w.tick <- struct{}{}
	done := run.line(t)
	if done["signed_up"] != true || done["provider"] != "DevID" || done["email"] != "ada@example.com" {
		t.Fatalf("result %v", done)
	}
	if s := run.status(t); s != 0 {
		t.Fatalf("status %d, stderr %q", s, run.stderr.String())
	}
	// whoami shows the provider's identity among the addresses.
	mustContain(t, "whoami", w.ok(dev, "whoami").stdout, "ada@example.com")

	// Signed in: another sign-in is refused before asking the provider.
	polls := w.op.Polls()
	r = w.run(dev, "signin", "--with", "dev")
	if r.status != 1 || !strings.Contains(r.stderr, "already signed in") || w.op.Polls() != polls {
		t.Fatalf("signin while signed in: %+v", r)
	}
}

func TestSigninWithDeniedAndUsage(t *testing.T) {
	w := newOIDCWorld(t)
	dev := device("tv")
	run := w.start(dev, "signin", "--with", "dev")
	if !run.lines.Scan() || !strings.Contains(run.lines.Text(), "and enter the code") {
		t.Fatalf("first line %q", run.lines.Text())
	}
	text := run.lines.Text()
	uri := text[len("Open "):strings.Index(text, " and enter")]
	code := strings.Fields(text[strings.Index(text, "the code ")+len("the code "):])[0]
	if !run.lines.Scan() || !strings.HasPrefix(run.lines.Text(), "Waiting for DevID") {
		t.Fatalf("second line %q", run.lines.Text())
	}
	if err := oidctest.NewBrowser("").Approve(uri, code, "ada", "pw", true); err != nil {
		t.Fatal(err)
	}
	w.tick <- struct{}{}
	if s := run.status(t); s != 1 || !strings.Contains(run.stderr.String(), "You said no at DevID") {
		t.Fatalf("status %d stderr %q", s, run.stderr.String())
	}

	for _, args := range [][]string{{"signin", "--with", "dev", "ada@example.com"}, {"signin", "--with", "dev", "--key"},
		{"stepup", "--with", "dev", "--password"}, {"address", "add", "--with", "dev", "x@example.com"}, {"address", "add"}} {
		if r := w.run(dev, args...); r.status != 2 {
			t.Errorf("%q: status %d, want 2 (usage)", args, r.status)
		}
	}
	if r := w.run(dev, "signin", "--with", "nope"); r.status != 1 || !strings.Contains(r.stderr, "There is no provider") {
		t.Fatalf("unknown provider: %+v", r)
	}
}

func TestSigninWithCodeFlowLinkAndStepUp(t *testing.T) {
	w := newOIDCWorld(t)
	dev := device("laptop")
	// Sign up with a code first; the provider is linked afterwards.
	w.signIn(dev, "carol@example.com", 1)
	w.ok(dev, "signout")
	w.clock.Advance(61 * time.Second)
	w.signIn(dev, "carol@example.com", 2) // signed in again: no step-up

	r := w.run(dev, "address", "add", "--with", "web")
	if r.status != 1 || !strings.Contains(r.stderr, "step up") {
		t.Fatalf("link without a step-up: %+v", r)
	}
	w.clock.Advance(61 * time.Second)
	w.ok(dev, "stepup")
	letter, digits := w.code("carol@example.com", 3)
	w.ok(dev, "code", letter+"-"+digits)

	press := func(run *pending) map[string]any {
		t.Helper()
		first := run.line(t)
		link, _ := first["link"].(string)
		check, _ := first["check"].(string)
		if _, ok := first["user_code"]; ok || len(check) != flows.LinkCheckLen || !strings.Contains(link, "/oidc/start/") {
			t.Fatalf("first line %v", first)
		}
		state := link[strings.LastIndex(link, "/")+1:]
		page, err := w.svc.ConfirmOIDCChecked(context.Background(), state, check)
		if err != nil || page.AuthURL == "" || page.Binding == "" {
			t.Fatalf("start page %+v %v", page, err)
		}
		back, err := oidctest.NewBrowser(oidcCallback).SignIn(page.AuthURL, "ada", "pw", false)
		if err != nil {
			t.Fatal(err)
		}
		q, _ := url.ParseQuery(back.RawQuery)
		if _, err := w.svc.OIDCCallback(context.Background(), q.Get("state"), page.Binding, q.Get("code"), "", ""); err != nil {
			t.Fatal(err)
		}
		return run.line(t)
	}
	run := w.start(dev, "address", "add", "--with", "web", "--json")
	if done := press(run); done["purpose"] != "link" {
		t.Fatalf("link result %v", done)
	}
	if s := run.status(t); s != 0 {
		t.Fatalf("status %d %q", s, run.stderr.String())
	}

	// Signed in again with a code: no step-up. (The provider's tokens
	// carry the real time, so the clock cannot jump the hour instead.)
	w.ok(dev, "signout")
	w.clock.Advance(61 * time.Second)
	w.signIn(dev, "carol@example.com", 5) // after two codes, a step-up code and the link's notice
	// The account now has two emails (the provider's too), so the code
	// offers the split; sign in to the account.
	w.ok(dev, "split", "signin")
	run = w.start(dev, "stepup", "--with", "web", "--json")
	if done := press(run); done["step_up_until"] == nil {
		t.Fatalf("step-up result %v", done)
	}
	if s := run.status(t); s != 0 {
		t.Fatalf("status %d %q", s, run.stderr.String())
	}
	if req := w.op.LastAuthRequest(); strings.Join(req.Prompt, " ") != "login" {
		t.Fatalf("the step-up did not ask for a fresh sign-in: %+v", req.Prompt)
	}
	r = w.ok(dev, "address", "unlink", "--with", "web")
	mustContain(t, "unlink", r.stdout, "web is unlinked")
}

// `signin --with NAME` for the code flow prints the link and the
// characters its page asks for, with the warning; a wrong answer on the
// page ends the command at once, saying so.
func TestSigninWithCodeFlowShowsTheCheckAndAWrongAnswerEndsIt(t *testing.T) {
	w := newOIDCWorld(t)
	dev := device("mallory")
	run := w.start(dev, "signin", "--with", "web")
	var shown string
	for run.lines.Scan() {
		if shown = run.lines.Text(); strings.Contains(shown, "/oidc/start/") {
			break
		}
	}
	m := regexp.MustCompile(`Open (\S+/oidc/start/([a-z2-7]{26})), type ([A-Z2-9]{4}) on its page and continue with WebID; .* Only this terminal shows ([A-Z2-9]{4}): never give it to anyone\.`).FindStringSubmatch(shown)
	if m == nil || m[3] != m[4] {
		t.Fatalf("the command shows %q", shown)
	}
	wrong := "AAAA"
	if m[3] == wrong {
		wrong = "BBBB"
	}
	if page, err := w.svc.ConfirmOIDCChecked(context.Background(), m[2], wrong); err != nil || page.State != flows.LinkEnded {
		t.Fatalf("wrong check: %+v %v", page, err)
	}
	if !run.lines.Scan() || !strings.HasPrefix(run.lines.Text(), "Waiting for WebID") {
		t.Fatalf("after the link: %q", run.lines.Text())
	}
	if s := run.status(t); s != 1 || !strings.Contains(run.stderr.String(), "A wrong answer on its page ended this sign-in; nobody was signed in.") {
		t.Fatalf("status %d, stderr %q", s, run.stderr.String())
	}
}
