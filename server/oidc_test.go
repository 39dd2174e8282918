package server

import (
	"bytes"
	"context"
	"html"
	"io"
	"log/slog"
	"net"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/attest-dev/attest/flows"

	"github.com/attest-dev/attest/internal/oidctest"
	"github.com/attest-dev/attest/server/config"
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
	status, page := get(st.Link)
	m := regexp.MustCompile(`<a id="continue" href="([^"]+)">Continue to WebID</a>`).FindStringSubmatch(page)
	if status != http.StatusOK || m == nil || !strings.Contains(page, "<strong>"+st.Label+"</strong>") {
		t.Fatalf("start page %d:\n%s", status, page)
	}
	status, page, last, err := oidctest.NewBrowser("").SignInThrough(html.UnescapeString(m[1]), "ada", "pw", false)
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
}
