package server

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"path"
	"strings"
	"testing"

	"github.com/attest-dev/attest/flows"

	"github.com/attest-dev/attest/internal/oidctest"
	"github.com/attest-dev/attest/server/config"
	"github.com/attest-dev/attest/server/httpd"
)

// A provider that is down at start is listed as unavailable, with the
// reason in the log, and the rest start as usual.
func TestDiscoverProvidersKeepsTheDownOnes(t *testing.T) {
	up, err := oidctest.New(oidctest.Options{Clients: []oidctest.Client{{ID: "attest", Secret: "s"}}})
	if err != nil {
		t.Fatal(err)
	}
	defer up.Close()
	down, err := oidctest.New(oidctest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	down.Close()
	var logs bytes.Buffer
	ps := DiscoverProviders(context.Background(), []config.OIDCProvider{
		{Name: "up", Issuer: up.Issuer, ClientID: "attest", ClientSecret: "s"},
		{Name: "down", Issuer: down.Issuer, ClientID: "attest"},
		{Name: "nosecret", Issuer: up.Issuer, ClientID: "attest", ClientSecretFile: "/nonexistent/secret"},
	}, slog.New(slog.NewTextHandler(&logs, nil)))
	if len(ps) != 3 || !ps[0].Available() || ps[1].Available() || ps[2].Available() {
		t.Fatalf("availability: %v %v %v", ps[0].Available(), ps[1].Available(), ps[2].Available())
	}
	for _, want := range []string{"provider=down reason=", "provider=nosecret", `msg="oidc provider ready" provider=up`} {
		if !strings.Contains(logs.String(), want) {
			t.Fatalf("log lacks %q:\n%s", want, logs.String())
		}
	}
}

// The code flow through the HTTP listener: the short link's page, the
// provider's login page, the callback; then a replayed and a foreign
// callback, which change nothing and say so.
func TestCodeFlowPages(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + ln.Addr().String()
	op, err := oidctest.New(oidctest.Options{
		Clients: []oidctest.Client{{ID: "attest", Secret: "s", RedirectURIs: []string{base + "/oidc/callback"}}},
		Users:   []oidctest.User{{Subject: "sub-1", Username: "ada", Password: "pw", Email: "ada@example.com", EmailVerified: true}},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer op.Close()
	cfg := config.Default()
	cfg.DataDir, cfg.HTTP.Listen = t.TempDir(), ln.Addr().String()
	cfg.OIDC = []config.OIDCProvider{{Name: "web", DisplayName: "WebID", Issuer: op.Issuer, ClientID: "attest", ClientSecret: "s", Flow: "code"}}
	app, err := OpenLedger(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer app.Close()
	app.Providers = DiscoverProviders(context.Background(), cfg.OIDC, nil)
	if err := app.Build(cfg, nil, nil); err != nil {
		t.Fatal(err)
	}
	srv, err := New(cfg, Deps{Service: app.Service, Ledger: app.Ledger})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go srv.ServeHTTP(ctx, ln)

	dev := flows.KeyDevice("SHA256:laptop")
	w := app.Service.Watch(dev.Tag)
	defer w.Stop()
	st, err := app.Service.StartOIDC(ctx, dev, "web", flows.PurposeSignIn)
	if err != nil {
		t.Fatal(err)
	}
	get := func(u string) (int, string) {
		t.Helper()
		resp, err := http.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	// The start page asks for the characters; nothing on it leads on, and
	// its CSP lets its form be sent on to the provider.
	status, page := get(st.Link)
	if status != http.StatusOK || !strings.Contains(page, `name="check"`) || strings.Contains(page, op.Issuer) || strings.Contains(page, st.Check) {
		t.Fatalf("start page %d:\n%s", status, page)
	}
	head, err := http.Get(st.Link)
	if err != nil {
		t.Fatal(err)
	}
	head.Body.Close()
	if policy := head.Header.Get("Content-Security-Policy"); !strings.Contains(policy, "form-action 'self' "+op.Issuer+";") {
		t.Fatalf("the start page's CSP %q does not let its form go on to %s", policy, op.Issuer)
	}
	// answer posts the check from a browser with a cookie jar, and
	// returns where it is sent and the cookie it is given.
	answer := func(b *oidctest.Browser, link, check string) (*http.Response, string) {
		t.Helper()
		noFollow := *b.Client
		noFollow.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
		resp, err := noFollow.PostForm(link, url.Values{"check": {check}})
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp, string(body)
	}
	browser := func() *oidctest.Browser {
		b := oidctest.NewBrowser("")
		b.Client.Jar, _ = cookiejar.New(nil)
		return b
	}
	ada := browser()
	resp, _ := answer(ada, st.Link, st.Check)
	authURL := resp.Header.Get("Location")
	cookie := resp.Header.Get("Set-Cookie")
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(authURL, op.Issuer) {
		t.Fatalf("the right check: %d, Location %q", resp.StatusCode, authURL)
	}
	for _, want := range []string{httpd.OIDCCookieName(path.Base(st.Link)) + "=", "Path=/oidc/", "Max-Age=600", "HttpOnly", "SameSite=Lax"} {
		if !strings.Contains(cookie, want) || strings.Contains(cookie, "Secure") {
			t.Fatalf("cookie %q lacks %s, or is Secure over http", cookie, want)
		}
	}
	status, page, last, err := ada.SignInThrough(authURL, "ada", "pw", false)
	if err != nil {
		t.Fatal(err)
	}
	if status != http.StatusOK || !strings.Contains(page, "Signed in") || last.Path != "/oidc/callback" {
		t.Fatalf("callback page %d %s:\n%s", status, last, page)
	}
	res, err := app.Service.WaitOIDC(ctx, dev, st)
	if err != nil || !res.Entered.SignedUp {
		t.Fatalf("wait: %+v %v", res, err)
	}
	if status, page := get(last.String()); status != http.StatusGone || !strings.Contains(page, "changes nothing") {
		t.Fatalf("replayed callback %d:\n%s", status, page)
	}
	if status, _ := get(st.Link); status != http.StatusGone {
		t.Fatalf("start page after use: %d", status)
	}
	q := last.Query()
	q.Set("state", "aaaaaaaaaaaaaaaaaaaaaaaaaa")
	if status, page := get(base + "/oidc/callback?" + q.Encode()); status != http.StatusNotFound || !strings.Contains(page, "nothing changed") {
		t.Fatalf("foreign callback %d:\n%s", status, page)
	}

	// Another attempt, whose check is answered in one browser (Mallory's)
	// and whose provider URL is opened in another (Vic's): Vic signs in
	// at the provider, comes back without the cookie, and nobody is
	// signed in; the page and the terminal say why.
	if err := app.Service.SignOut(ctx, dev); err != nil {
		t.Fatal(err)
	}
	st, err = app.Service.StartOIDC(ctx, dev, "web", flows.PurposeSignIn)
	if err != nil {
		t.Fatal(err)
	}
	resp, _ = answer(browser(), st.Link, st.Check)
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("Mallory's check: %d", resp.StatusCode)
	}
	status, page, _, err = browser().SignInThrough(resp.Header.Get("Location"), "ada", "pw", false)
	if err != nil {
		t.Fatal(err)
	}
	if status != http.StatusConflict || !strings.Contains(page, "finished in a different browser") {
		t.Fatalf("Vic's callback %d:\n%s", status, page)
	}
	if _, err := app.Service.WaitOIDC(ctx, dev, st); err == nil || !strings.Contains(err.Error(), "different browser") {
		t.Fatalf("the terminal hears %v", err)
	}
	if v, err := app.Service.Visit(ctx, dev); err != nil || v.Account {
		t.Fatalf("signed in from another browser: %+v %v", v, err)
	}

	// A wrong check ends an attempt; a slip does not.
	st, err = app.Service.StartOIDC(ctx, dev, "web", flows.PurposeSignIn)
	if err != nil {
		t.Fatal(err)
	}
	if resp, page := answer(browser(), st.Link, "A"); resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(page, `name="check"`) {
		t.Fatalf("a slip: %d\n%s", resp.StatusCode, page)
	}
	wrong := "AAAA"
	if st.Check == wrong {
		wrong = "BBBB"
	}
	if resp, page := answer(browser(), st.Link, wrong); resp.StatusCode != http.StatusGone || !strings.Contains(page, "nobody was signed in") {
		t.Fatalf("a wrong check: %d\n%s", resp.StatusCode, page)
	}
	if _, err := app.Service.WaitOIDC(ctx, dev, st); err == nil || !strings.Contains(err.Error(), "A wrong answer on its page ended this sign-in") {
		t.Fatalf("the terminal hears %v", err)
	}
}
