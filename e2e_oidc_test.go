package main

// End-to-end tests of sign-in with an OpenID Provider: the built binary,
// configured with two providers on a real OpenID Provider running in this
// test process on loopback (internal/oidctest: zitadel's op package), the
// OpenSSH client running `signin --with NAME --json`, and headless
// Chromium pressing the provider's own pages: its login page for the
// authorization code flow, its verification page for the device grant.

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/attest-dev/attest/internal/oidctest"
)

func startOIDCE2E(t *testing.T) (e *e2e, links string, op *oidctest.OP) {
	t.Helper()
	needTools(t)
	op, err := oidctest.New(oidctest.Options{
		Clients:      []oidctest.Client{{ID: "attest", Secret: "s3cret"}},
		Users:        []oidctest.User{{Subject: "sub-ada", Username: "ada", Password: "pw-ada", Email: "ada@example.com", EmailVerified: true, Name: "Ada"}},
		PollInterval: time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { op.Close() })
	dir := t.TempDir()
	e = &e2e{t: t, dir: dir, dataDir: filepath.Join(dir, "data"), tmuxSock: filepath.Join(dir, "tmux.sock")}
	if err := os.MkdirAll(e.dataDir, 0o700); err != nil {
		t.Fatal(err)
	}
	cfg := "oidc:\n" +
		"  - {name: web, display_name: WebID, issuer: " + op.Issuer + ", client_id: attest, flow: code}\n" +
		"  - {name: tv, display_name: TVID, issuer: " + op.Issuer + ", client_id: attest, flow: device}\n"
	if err := os.WriteFile(filepath.Join(e.dataDir, "config.yaml"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	e.server = exec.Command(binary, "--data-dir", e.dataDir, "--ssh-listen", "127.0.0.1:0", "--http-listen", "127.0.0.1:0")
	// The secret comes from the environment, as an operator would keep it.
	e.server.Env = append(os.Environ(), "ATTEST_LOG_LEVEL=warn", "ATTEST_OIDC_WEB_CLIENT_SECRET=s3cret", "ATTEST_OIDC_TV_CLIENT_SECRET=s3cret")
	stdout, err := e.server.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	e.server.Stderr = &e.stderr
	if err := e.server.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.stop)
	portRE := regexp.MustCompile(`ssh -p (\d+) localhost`)
	linksRE := regexp.MustCompile(`^\s*links:\s+(http://127\.0\.0\.1:\d+)\s*$`)
	sc := bufio.NewScanner(stdout)
	for (e.port == "" || links == "") && sc.Scan() {
		if m := portRE.FindStringSubmatch(sc.Text()); m != nil {
			e.port = m[1]
		}
		if m := linksRE.FindStringSubmatch(sc.Text()); m != nil {
			links = m[1]
		}
	}
	if e.port == "" || links == "" {
		t.Fatalf("the server did not say where it listens; stderr:\n%s", e.stderr.String())
	}
	go func() { _, _ = bufio.NewReader(stdout).WriteTo(devNull{}) }()
	op.AllowRedirect("attest", links+"/oidc/callback")
	return e, links, op
}

// signinWith runs `ssh host signin --with NAME --json` and returns its
// first line and a function that waits for the rest.
func (e *e2e) signinWith(key, name string) (map[string]any, func() (map[string]any, error)) {
	e.t.Helper()
	cmd := exec.Command("ssh", e.sshArgs(key, "visitor", "signin", "--with", name, "--json")...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		e.t.Fatal(err)
	}
	var stderr syncBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		e.t.Fatal(err)
	}
	sc := bufio.NewScanner(out)
	line := func() map[string]any {
		if !sc.Scan() {
			return nil
		}
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			e.t.Errorf("line %q: %v", sc.Text(), err)
		}
		return m
	}
	first := line()
	if first == nil {
		_ = cmd.Wait()
		e.t.Fatalf("signin --with %s printed nothing; stderr %q; server:\n%s", name, stderr.String(), e.stderr.String())
	}
	return first, func() (map[string]any, error) {
		last := line()
		err := cmd.Wait()
		if err != nil {
			e.t.Logf("stderr: %s", stderr.String())
		}
		return last, err
	}
}

// fill types into the page's fields and presses a button, then waits for
// an element of the page it leads to.
func (tb *tab) fill(fields map[string]string, button, waitFor string) {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, 20*time.Second)
	defer cancel()
	var actions []chromedp.Action[chromedp.Void]
	for sel, v := range fields {
		actions = append(actions, chromedp.SetValue(chromedp.CSS(sel), v))
	}
	actions = append(actions, chromedp.Click(chromedp.CSS(button)), chromedp.WaitVisible(chromedp.CSS(waitFor)))
	if err := chromedp.Do(ctx, actions...); err != nil {
		tb.t.Fatalf("fill the form and press %s: %v\n%s", button, err, tb.text())
	}
}

// answerStart opens a start link in tb, types check into its page and
// presses its button, which sends the browser on to the provider's login
// page; it returns that page's URL.
func (tb *tab) answerStart(link, check string) string {
	tb.t.Helper()
	if h := tb.open(link); h != "Sign in your terminal with WebID?" {
		tb.t.Fatalf("start page heading %q", h)
	}
	if body := tb.text(); strings.Contains(body, check) || !strings.Contains(body, "never type characters that someone else tells you") {
		tb.t.Fatalf("the start page gives the check %s away, or does not warn:\n%s", check, body)
	}
	tb.typeInto("check", check)
	ctx, cancel := context.WithTimeout(tb.ctx, 20*time.Second)
	defer cancel()
	// On to the provider's login page (through the CSP's form-action,
	// which Chromium applies to the POST's redirect too).
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS("form button")), chromedp.WaitVisible(chromedp.CSS("#username"))); err != nil {
		tb.t.Fatalf("continue to the provider: %v\n%s", err, tb.text())
	}
	at, err := chromedp.Run(ctx, chromedp.Location())
	if err != nil {
		tb.t.Fatalf("read the location: %v", err)
	}
	return at
}

// The terminal shows a start link and the characters its page asks for;
// typed there, they send the browser on to the provider, and back.
func TestE2EOIDCCodeFlowInChromium(t *testing.T) {
	e, links, op := startOIDCE2E(t)
	key := e.key("laptop")
	first, rest := e.signinWith(key, "web")
	link, _ := first["link"].(string)
	check, _ := first["check"].(string)
	if !strings.HasPrefix(link, links+"/oidc/start/") || len(check) != 4 || first["label"] != nil {
		t.Fatalf("first line %v", first)
	}
	tb := newTab(t, newBrowser(t))
	if at := tb.answerStart(link, strings.ToLower(check)); !strings.HasPrefix(at, op.Issuer) {
		t.Fatalf("the right check led to %s, not the provider %s", at, op.Issuer)
	}
	// "main h1" is attest's page: the provider's login page has an h1 of
	// its own, which would end the wait before the callback loads.
	tb.fill(map[string]string{"#username": "ada", "#password": "pw-ada"}, "#allow", "main h1")
	if h := tb.heading(); h != "Signed in" {
		t.Fatalf("callback page %q: %s", h, tb.text())
	}
	last, err := rest()
	if err != nil || last["signed_up"] != true || last["email"] != "ada@example.com" {
		t.Fatalf("signin --with web: %v, last line %v", err, last)
	}
	out, err := e.command(key, "whoami")
	if err != nil || !strings.Contains(out, "ada@example.com") {
		t.Fatalf("whoami: %v\n%s", err, out)
	}
	// The same callback again: nothing changes, and the page says so.
	ctx, cancel := context.WithTimeout(tb.ctx, 20*time.Second)
	defer cancel()
	callback, err := chromedp.RunResponse(ctx, chromedp.Reload())
	if err != nil || callback == nil || callback.Status != 410 {
		t.Fatalf("replayed callback: %v %+v", err, callback)
	}
	if h := tb.heading(); h != "Already used" {
		t.Fatalf("replayed callback page %q", h)
	}
}

func TestE2EOIDCDeviceGrantInChromium(t *testing.T) {
	e, _, op := startOIDCE2E(t)
	key := e.key("tv")
	first, rest := e.signinWith(key, "tv")
	complete, _ := first["verification_uri_complete"].(string)
	code, _ := first["user_code"].(string)
	if !strings.HasPrefix(complete, op.Issuer+"/device?user_code=") || code == "" || first["verification_uri"] != op.Issuer+"/device" {
		t.Fatalf("first line %v", first)
	}
	tb := newTab(t, newBrowser(t))
	tb.open(complete)
	ctx, cancel := context.WithTimeout(tb.ctx, 20*time.Second)
	defer cancel()
	if shown, err := chromedp.Run(ctx, chromedp.Value(chromedp.CSS("#user_code"))); err != nil || shown != code {
		t.Fatalf("the verification page shows code %q, want %q (%v)", shown, code, err)
	}
	tb.fill(map[string]string{"#username": "ada", "#password": "pw-ada"}, "#allow", "#done")
	last, err := rest()
	if err != nil || last["signed_up"] != true || last["provider"] != "TVID" {
		t.Fatalf("signin --with tv: %v, last line %v", err, last)
	}
	out, err := e.command(key, "providers")
	if err != nil || !strings.Contains(out, "TVID") || !strings.Contains(out, "enter a code") {
		t.Fatalf("providers: %v\n%s", err, out)
	}
}

// The phishing the cookie stops, end to end: Mallory starts a sign-in in
// his terminal, types its characters into the start page himself (in his
// own browser), and sends Vic the provider URL that page led on to. Vic
// opens it in his browser and signs in at the provider: attest's callback
// finds no cookie from the start page in Vic's browser, says so, and ends
// the attempt; Mallory's terminal is signed in to nothing.
func TestE2EOIDCProviderURLOpenedInAnotherBrowser(t *testing.T) {
	e, _, op := startOIDCE2E(t)
	mallory := e.key("mallory")
	first, rest := e.signinWith(mallory, "web")
	link, _ := first["link"].(string)
	check, _ := first["check"].(string)
	sent := newTab(t, newBrowser(t)).answerStart(link, check)
	if !strings.HasPrefix(sent, op.Issuer) {
		t.Fatalf("the right check led to %s", sent)
	}

	vic := newTab(t, newBrowser(t)) // another browser: another profile, no cookie
	vic.open(sent)
	vic.fill(map[string]string{"#username": "ada", "#password": "pw-ada"}, "#allow", "main h1")
	if h := vic.heading(); h != "Not signed in" {
		t.Fatalf("Vic's callback page %q: %s", h, vic.text())
	}
	if body := vic.text(); !strings.Contains(body, "finished in a different browser from the one that started it") {
		t.Fatalf("Vic's callback page says:\n%s", body)
	}
	last, err := rest()
	if err == nil || last["signed_up"] != nil || last["user"] != nil {
		t.Fatalf("signin --with web after Vic's callback: %v, last line %v", err, last)
	}
	if out, err := e.command(mallory, "whoami"); err != nil || strings.Contains(out, "ada@example.com") || !strings.Contains(out, "account:    no") {
		t.Fatalf("Mallory's device after Vic's sign-in at the provider: %v\n%s", err, out)
	}
	// The attempt is over: the start page says so, even to Mallory.
	if h := newTab(t, newBrowser(t)).open(link); h != "Sign-in ended" {
		t.Fatalf("the start link afterwards says %q", h)
	}
}
