package httpd

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeLinks is an in-memory Links. Confirm uses a live link exactly once,
// under a lock, as the real one does in a ledger transaction.
type fakeLinks struct {
	mu       sync.Mutex
	links    map[string]Link
	err      error // returned by every call when set
	peeks    int
	confirms int
	seen     []string // every token that reached Links
	checks   []string // every check that reached Confirm
}

func newFakeLinks() *fakeLinks { return &fakeLinks{links: map[string]Link{}} }

func (f *fakeLinks) add(token string, l Link) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.links[token] = l
}

func (f *fakeLinks) Peek(_ context.Context, token string) (Link, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.peeks++
	f.seen = append(f.seen, token)
	if f.err != nil {
		return Link{}, f.err
	}
	return f.links[token], nil // a missing token is the zero Link: LinkUnknown
}

func (f *fakeLinks) Confirm(_ context.Context, token, check string) (Link, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.confirms++
	f.checks = append(f.checks, check)
	f.seen = append(f.seen, token)
	if f.err != nil {
		return Link{}, f.err
	}
	l := f.links[token]
	if l.State == LinkLive {
		used := l
		used.State = LinkUsed
		f.links[token] = used
	}
	return l, nil
}

func (f *fakeLinks) counts() (peeks, confirms int, seen []string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.peeks, f.confirms, append([]string(nil), f.seen...)
}

// Tokens in the format flows mints: 16 bytes, lower-case base32.
const (
	tokLive     = "mfrggzdfmztwq2lknnwg23tpoa" // "abcdefghijklmnop"
	tokUsed     = "gezdgnbvgy3tqojqgezdgnbvgy"
	tokExpired  = "nbswy3dpeb3w64tmmqwca6lfom"
	tokGone     = "on2gc4tuebuw4idtobqwgzjaea"
	tokUnknown  = "ojsxg5lmoqqg2zjamftwc2loee"
	tokEnded    = "mvxgizlemvxgizlemvxgizleee" // "endedendedended!"
	tokReplaced = "ojsxa3dbmnswi4tfobwgcy3fmq" // "replacedreplaced"
)

var expires = time.Date(2026, 3, 14, 12, 4, 0, 0, time.UTC)

type harness struct {
	links *fakeLinks
	h     http.Handler
	logMu sync.Mutex
	log   bytes.Buffer
}

func (h *harness) Write(p []byte) (int, error) {
	h.logMu.Lock()
	defer h.logMu.Unlock()
	return h.log.Write(p)
}

func (h *harness) logs() string {
	h.logMu.Lock()
	defer h.logMu.Unlock()
	return h.log.String()
}

func newHarness(t *testing.T, cfg Config) *harness {
	t.Helper()
	hs := &harness{links: newFakeLinks()}
	hs.links.add(tokLive, Link{State: LinkLive, CheckLen: 4, Expires: expires})
	hs.links.add(tokUsed, Link{State: LinkUsed, Expires: expires})
	hs.links.add(tokExpired, Link{State: LinkExpired, Expires: expires})
	hs.links.add(tokGone, Link{State: LinkSessionGone, Expires: expires})
	hs.links.add(tokEnded, Link{State: LinkEnded, Expires: expires, Address: true})
	hs.links.add(tokReplaced, Link{State: LinkReplaced, Expires: expires, Address: true})
	if cfg.Links == nil {
		cfg.Links = hs.links
	}
	cfg.Logger = slog.New(slog.NewTextHandler(hs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	hs.h = New(cfg)
	return hs
}

// newOpsHarness is newHarness for the operator's listener.
func newOpsHarness(t *testing.T, cfg Config, metrics http.Handler) *harness {
	t.Helper()
	hs := &harness{links: newFakeLinks()}
	cfg.Logger = slog.New(slog.NewTextHandler(hs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	hs.h = NewOps(cfg, metrics)
	return hs
}

type response struct {
	status int
	header http.Header
	body   string
}

func (h *harness) do(method, target string, header map[string]string) response {
	req := httptest.NewRequest(method, target, nil)
	if method == http.MethodPost {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	h.h.ServeHTTP(rec, req)
	res := rec.Result()
	body, _ := io.ReadAll(res.Body)
	return response{status: res.StatusCode, header: res.Header, body: string(body)}
}

// browserPost is what a browser sends when the page's own button is
// pressed (httptest requests are for host example.com).
var browserPost = map[string]string{"Origin": "http://example.com", "Sec-Fetch-Site": "same-origin"}

func TestGetDoesNotConsume(t *testing.T) {
	h := newHarness(t, Config{})
	for range 10 {
		r := h.do("GET", "/link/"+tokLive, nil)
		if r.status != http.StatusOK {
			t.Fatalf("GET: status %d", r.status)
		}
		if !strings.Contains(r.body, "<h1>Sign in your terminal to attest?</h1>") {
			t.Fatalf("GET page does not ask to sign in:\n%s", r.body)
		}
		if !regexp.MustCompile(`<form method="post"><p><label for="check">[^<]*</label><br>\s*<input id="check" name="check" [^>]*></p>\s*<button type="submit">Sign in</button></form>`).MatchString(r.body) {
			t.Fatalf("GET page has no POST form with the check:\n%s", r.body)
		}
	}
	h.do("HEAD", "/link/"+tokLive, nil)
	if peeks, confirms, _ := h.links.counts(); confirms != 0 || peeks != 11 {
		t.Fatalf("after 10 GETs and a HEAD: %d peeks, %d confirms; want 11, 0", peeks, confirms)
	}
	// And the link still works.
	if r := h.do("POST", "/link/"+tokLive, browserPost); !strings.Contains(r.body, "Signed in.") {
		t.Fatalf("POST after GETs: %d %s", r.status, r.body)
	}
}

func TestConcurrentPostsSignInOnce(t *testing.T) {
	h := newHarness(t, Config{})
	const n = 20
	start := make(chan struct{})
	results := make(chan response, n)
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			<-start
			results <- h.do("POST", "/link/"+tokLive, browserPost)
		})
	}
	close(start)
	wg.Wait()
	close(results)
	var signedIn, used int
	for r := range results {
		switch {
		case r.status == http.StatusOK && strings.Contains(r.body, "Signed in. You can close this tab and go back to your terminal."):
			signedIn++
		case r.status == http.StatusGone && strings.Contains(r.body, "This link was already used."):
			used++
		default:
			t.Errorf("unexpected answer %d:\n%s", r.status, r.body)
		}
	}
	if signedIn != 1 || used != n-1 {
		t.Fatalf("%d signed in, %d already used; want 1 and %d", signedIn, used, n-1)
	}
}

func TestStatePages(t *testing.T) {
	h := newHarness(t, Config{})
	for _, c := range []struct {
		token  string
		status int
		text   string
	}{
		{tokUsed, http.StatusGone, "This link was already used."},
		{tokExpired, http.StatusGone, "This link expired at 12:04 UTC; ask for a new one in the terminal."},
		{tokGone, http.StatusGone, "The terminal session that asked for this link has ended."},
		{tokUnknown, http.StatusNotFound, "This link is not valid."},
		{tokEnded, http.StatusGone, "A wrong answer ended this link, and the address stays unconfirmed."},
		{tokReplaced, http.StatusGone, "A newer message went to this address since, and only its link works now."},
	} {
		for _, method := range []string{"GET", "POST"} {
			r := h.do(method, "/link/"+c.token, browserPost)
			if r.status != c.status || !strings.Contains(r.body, c.text) {
				t.Errorf("%s %s: %d, want %d with %q:\n%s", method, c.token, r.status, c.status, c.text, r.body)
			}
			if strings.Contains(r.body, "<form") {
				t.Errorf("%s %s: a dead link's page has a button", method, c.token)
			}
		}
	}
	// Nothing was used up by showing or re-posting dead links.
	if r := h.do("GET", "/link/"+tokLive, nil); r.status != http.StatusOK {
		t.Fatalf("live link after the others: %d", r.status)
	}
}

func TestExpiryTimeIsUTC(t *testing.T) {
	h := newHarness(t, Config{})
	local := time.FixedZone("UTC+2", 2*60*60)
	h.links.add(tokExpired, Link{State: LinkExpired, Expires: expires.In(local)})
	if r := h.do("GET", "/link/"+tokExpired, nil); !strings.Contains(r.body, "expired at 12:04 UTC") {
		t.Fatalf("expiry not shown in UTC:\n%s", r.body)
	}
}

// A sign-in link's page asks for the check the terminal that asked
// shows, says in plain words what it is for and never to type one that
// someone else gives, and passes what was typed to Links. A slip asks
// again; a wrong check's ended link says so.
func TestSignInLinkAsksForTheCheck(t *testing.T) {
	h := newHarness(t, Config{})
	r := h.do("GET", "/link/"+tokLive, nil)
	for _, want := range []string{`name="check"`, `maxlength="16"`,
		"Type the 4 characters that the terminal where you asked for this link shows, then press the button.",
		"They prove that the person pressing is the person at that terminal",
		"never type characters that someone else tells you or sends you", "A wrong answer ends the link."} {
		if r.status != 200 || !strings.Contains(r.body, want) {
			t.Fatalf("GET of a sign-in link lacks %q: %d %s", want, r.status, r.body)
		}
	}
	if r := h.postForm("/link/"+tokLive, "check=k7qx"); r.status != 200 || !strings.Contains(r.body, "Signed in.") {
		t.Fatalf("POST with a check: %d %s", r.status, r.body)
	}
	if got := h.links.checks; len(got) != 1 || got[0] != "k7qx" {
		t.Fatalf("Links got the checks %q", got)
	}
	const ended = "mjrggzdfmztwq2lknnwg23tpoa"
	h.links.add(ended, Link{State: LinkEnded, Expires: expires})
	if r := h.do("GET", "/link/"+ended, nil); r.status != http.StatusGone || !strings.Contains(r.body, "A wrong answer ended this link, and nobody was signed in by it.") {
		t.Fatalf("GET of an ended sign-in link: %d %s", r.status, r.body)
	}
	m := newHarness(t, Config{Links: mistypingLinks{fakeLinks: newFakeLinks()}})
	r = m.postForm("/link/"+tokLive, "check=%3Cb%3E")
	if r.status != http.StatusUnprocessableEntity || !strings.Contains(r.body, "<h1>Sign in your terminal to attest?</h1>") ||
		!strings.Contains(r.body, `name="check"`) || !strings.Contains(r.body, "Not a check: &lt;b&gt;") || strings.Contains(r.body, "<b>") {
		t.Fatalf("a mistyped check: %d %s", r.status, r.body)
	}
}

func TestMalformedTokensNeverReachLinks(t *testing.T) {
	h := newHarness(t, Config{})
	for _, tok := range []string{
		"x",
		tokLive[:TokenLen-1],                  // too short
		tokLive + "a",                         // too long
		strings.ToUpper(tokLive),              // wrong alphabet (upper case)
		"mfrggzdfmztwq2lknnwg23tpo1",          // 1 is not base32
		"mfrggzdfmztwq2lknnwg23tpob",          // last character's spare bits set
		"mfrggzdfmztwq2lknnwg23tpo%3D",        // "=" padding
		"mfrggzdfmztwq2lknnwg23tp%00a",        // NUL
		"..%2F..%2Fhealthz",                   // escaped slashes
		strings.Repeat("a", 4000),             // long
		"mfrggzdfmztwq2lknnwg23tpoa%20",       // trailing space
		"%E2%80%AEmfrggzdfmztwq2lknnwg23tpoa", // bidi override
	} {
		for _, method := range []string{"GET", "POST"} {
			r := h.do(method, "/link/"+tok, browserPost)
			if r.status != http.StatusNotFound {
				t.Errorf("%s /link/%s: status %d, want 404", method, tok, r.status)
			}
		}
	}
	if peeks, confirms, seen := h.links.counts(); peeks+confirms != 0 {
		t.Fatalf("malformed tokens reached Links: %q", seen)
	}
}

func TestCrossOriginPostRefused(t *testing.T) {
	h := newHarness(t, Config{})
	for name, hdr := range map[string]map[string]string{
		"other site":                   {"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"},
		"sibling subdomain":            {"Origin": "http://mail.example.com", "Sec-Fetch-Site": "same-site"},
		"old browser, other origin":    {"Origin": "https://evil.example"},
		"opaque origin":                {"Origin": "null"},
		"origin mismatch, same-origin": {"Origin": "https://evil.example", "Sec-Fetch-Site": "same-origin"},
		"other port":                   {"Origin": "http://example.com:8080"},
	} {
		r := h.do("POST", "/link/"+tokLive, hdr)
		if r.status != http.StatusForbidden || strings.Contains(r.body, "Signed in.") {
			t.Errorf("%s: %d, want 403:\n%s", name, r.status, r.body)
		}
	}
	if _, confirms, _ := h.links.counts(); confirms != 0 {
		t.Fatalf("cross-origin POSTs reached Confirm %d times", confirms)
	}
	// Headers browsers send for the page's own form, and none at all (a
	// non-browser client, which CSRF cannot involve), are accepted.
	for name, hdr := range map[string]map[string]string{
		"typed":      {"Sec-Fetch-Site": "none"},
		"no headers": nil,
	} {
		h.links.add(tokLive, Link{State: LinkLive, CheckLen: 4})
		if r := h.do("POST", "/link/"+tokLive, hdr); r.status != http.StatusOK {
			t.Errorf("%s: %d, want 200:\n%s", name, r.status, r.body)
		}
	}
}

func TestSecurityHeaders(t *testing.T) {
	h := newHarness(t, Config{Ready: func(context.Context) error { return errors.New("ledger closed") }})
	for _, c := range []struct {
		method, target string
		hdr            map[string]string
		status         int
	}{
		{"GET", "/link/" + tokLive, nil, 200},
		{"POST", "/link/" + tokLive, browserPost, 200},
		{"GET", "/link/" + tokUnknown, nil, 404},
		{"GET", "/nope", nil, 404},
		{"GET", "/", nil, 404},
		{"GET", "/metrics", nil, 404},
		{"DELETE", "/link/" + tokLive, nil, 405},
		{"POST", "/healthz", nil, 405},
		{"POST", "/link/" + tokLive, map[string]string{"Sec-Fetch-Site": "cross-site"}, 403},
		{"GET", "/healthz", nil, 200},
		{"GET", "/readyz", nil, 503},
	} {
		r := h.do(c.method, c.target, c.hdr)
		if r.status != c.status {
			t.Errorf("%s %s: status %d, want %d", c.method, c.target, r.status, c.status)
		}
		for k, want := range map[string]string{
			"Content-Security-Policy":    csp,
			"X-Content-Type-Options":     "nosniff",
			"Referrer-Policy":            "same-origin",
			"Cache-Control":              "no-store",
			"X-Frame-Options":            "DENY",
			"Cross-Origin-Opener-Policy": "same-origin",
		} {
			if got := r.header.Get(k); got != want {
				t.Errorf("%s %s (%d): %s = %q, want %q", c.method, c.target, r.status, k, got, want)
			}
		}
	}
}

func TestMethodNotAllowedSaysAllow(t *testing.T) {
	h := newHarness(t, Config{})
	for target, want := range map[string][]string{
		"/link/" + tokLive: {"GET", "HEAD", "POST"},
		"/healthz":         {"GET", "HEAD"},
		"/readyz":          {"GET", "HEAD"},
	} {
		r := h.do("PUT", target, nil)
		if r.status != http.StatusMethodNotAllowed {
			t.Errorf("PUT %s: %d, want 405", target, r.status)
		}
		allow := r.header.Get("Allow")
		for _, m := range want {
			if !strings.Contains(allow, m) {
				t.Errorf("PUT %s: Allow %q lacks %s", target, allow, m)
			}
		}
	}
}

func TestCSPAllowsExactlyThePageStyle(t *testing.T) {
	h := newHarness(t, Config{})
	r := h.do("GET", "/link/"+tokLive, nil)
	m := regexp.MustCompile(`(?s)<style>(.*?)</style>`).FindStringSubmatch(r.body)
	if m == nil {
		t.Fatal("page has no <style>")
	}
	sum := sha256.Sum256([]byte(m[1]))
	want := "style-src 'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"
	if !strings.Contains(r.header.Get("Content-Security-Policy"), want) {
		t.Fatalf("CSP %q does not allow the page's style (%s)", r.header.Get("Content-Security-Policy"), want)
	}
	for _, banned := range []string{"<script", "src=", "href=", "@import", "url("} {
		if strings.Contains(r.body, banned) {
			t.Errorf("page contains %q: no scripts or external assets", banned)
		}
	}
}

// Metrics are served on the operator's listener only, never on the
// public one whatever it is given.
func TestMetricsOnlyOnTheOpsListener(t *testing.T) {
	metrics := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		fmt.Fprintln(w, "attest_up 1")
	})
	if r := newHarness(t, Config{}).do("GET", "/metrics", nil); r.status != http.StatusNotFound {
		t.Fatalf("/metrics on the public listener: %d, want 404", r.status)
	}
	h := newOpsHarness(t, Config{}, metrics)
	if r := h.do("GET", "/metrics", nil); r.status != http.StatusOK || !strings.Contains(r.body, "attest_up 1") {
		t.Fatalf("/metrics: %d %q", r.status, r.body)
	}
	if r := h.do("POST", "/metrics", nil); r.status != http.StatusMethodNotAllowed {
		t.Fatalf("POST /metrics: %d, want 405", r.status)
	}
	for _, path := range []string{"/healthz", "/readyz"} {
		if r := h.do("GET", path, nil); r.status != http.StatusOK {
			t.Fatalf("%s on the operator's listener: %d", path, r.status)
		}
	}
	for _, path := range []string{"/link/" + tokLive, "/oidc/callback", "/"} {
		if r := h.do("GET", path, nil); r.status != http.StatusNotFound {
			t.Fatalf("%s on the operator's listener: %d, want 404", path, r.status)
		}
	}
	if r := newOpsHarness(t, Config{}, nil).do("GET", "/metrics", nil); r.status != http.StatusNotFound {
		t.Fatalf("/metrics without a handler: %d, want 404", r.status)
	}
}

// /healthz says the process serves; /readyz that the ledger answers.
func TestHealthAndReadiness(t *testing.T) {
	var mu sync.Mutex
	var failing error
	ready := func(context.Context) error {
		mu.Lock()
		defer mu.Unlock()
		return failing
	}
	for name, h := range map[string]*harness{
		"public":   newHarness(t, Config{Ready: ready}),
		"operator": newOpsHarness(t, Config{Ready: ready}, nil),
	} {
		mu.Lock()
		failing = nil
		mu.Unlock()
		if r := h.do("GET", "/readyz", nil); r.status != http.StatusOK || r.body != "ready" {
			t.Fatalf("%s: ready: %d %q, want 200 ready", name, r.status, r.body)
		}
		mu.Lock()
		failing = errors.New("open /var/lib/attest/attest.db: resource temporarily unavailable")
		mu.Unlock()
		r := h.do("GET", "/readyz", nil)
		if r.status != http.StatusServiceUnavailable || r.body != "not ready" {
			t.Fatalf("%s: not ready: %d %q, want 503 not ready", name, r.status, r.body)
		}
		if !strings.Contains(h.logs(), "attest.db") {
			t.Fatalf("%s: the readiness error was not logged for the operator", name)
		}
		// The process is up all the same.
		if r := h.do("GET", "/healthz", nil); r.status != http.StatusOK || r.body != "ok" {
			t.Fatalf("%s: healthz while not ready: %d %q, want 200 ok", name, r.status, r.body)
		}
	}
	if r := newHarness(t, Config{}).do("GET", "/readyz", nil); r.status != http.StatusOK {
		t.Fatalf("no Ready func: %d, want 200", r.status)
	}
}

// A ledger that does not answer makes /readyz say 503 at its deadline;
// the probes meanwhile share the one check in flight rather than each
// starting another, and the next probe after it returns is answered anew.
func TestReadyzDeadline(t *testing.T) {
	release := make(chan struct{})
	var mu sync.Mutex
	calls := 0
	h := newOpsHarness(t, Config{ReadyWithin: 50 * time.Millisecond, Ready: func(context.Context) error {
		mu.Lock()
		calls++
		n := calls
		mu.Unlock()
		if n == 1 {
			<-release // a ledger stuck until the test lets it go
		}
		return nil
	}}, nil)
	var wg sync.WaitGroup
	for range 5 {
		wg.Go(func() {
			if r := h.do("GET", "/readyz", nil); r.status != http.StatusServiceUnavailable {
				t.Errorf("stuck ledger: %d, want 503", r.status)
			}
		})
	}
	wg.Wait()
	mu.Lock()
	n := calls
	mu.Unlock()
	if n != 1 {
		t.Fatalf("%d checks ran for 5 probes of a stuck ledger, want 1", n)
	}
	close(release)
	for {
		// The stuck check returns; the probes after it start a new one.
		if r := h.do("GET", "/readyz", nil); r.status == http.StatusOK {
			break
		}
	}
	if !strings.Contains(h.logs(), errNotReady.Error()) {
		t.Fatalf("the deadline was not logged:\n%s", h.logs())
	}
}

func TestLinksErrors(t *testing.T) {
	h := newHarness(t, Config{})
	// An error that quotes the token, as a careless wrap might.
	h.links.err = fmt.Errorf("ledger: look up ticket for %s: disk on fire", tokLive)
	for _, method := range []string{"GET", "POST"} {
		r := h.do(method, "/link/"+tokLive, browserPost)
		if r.status != http.StatusInternalServerError || strings.Contains(r.body, "disk on fire") {
			t.Errorf("%s with a Links error: %d\n%s", method, r.status, r.body)
		}
	}
	if !strings.Contains(h.logs(), "disk on fire") {
		t.Error("the Links error was not logged")
	}
	h.links.err = fmt.Errorf("confirm: %w", &Refusal{Message: "That address now belongs to another account."})
	r := h.do("POST", "/link/"+tokLive, browserPost)
	if r.status != http.StatusConflict || !strings.Contains(r.body, "That address now belongs to another account.") {
		t.Errorf("Refusal: %d\n%s", r.status, r.body)
	}
}

func TestTokenNeverLogged(t *testing.T) {
	h := newHarness(t, Config{Ready: func(context.Context) error { return nil }})
	tokens := []string{tokLive, tokUsed, tokExpired, tokGone, tokUnknown, "mfrggzdfmztwq2lknnwg23tpob"}
	for _, tok := range tokens {
		h.do("GET", "/link/"+tok, nil)
		h.do("POST", "/link/"+tok, browserPost)
		h.do("POST", "/link/"+tok, map[string]string{"Sec-Fetch-Site": "cross-site"})
		h.do("PUT", "/link/"+tok, nil)
		h.do("GET", "/link/"+tok+"/extra", nil)
		h.do("GET", "/lnik/"+tok, nil)
	}
	h.links.err = fmt.Errorf("look up %s: broken", tokLive)
	h.do("GET", "/link/"+tokLive, nil)
	h.do("POST", "/link/"+tokLive, browserPost)

	logs := h.logs()
	for _, tok := range tokens {
		if strings.Contains(logs, tok) {
			t.Fatalf("log contains token %s:\n%s", tok, logs)
		}
	}
	for _, want := range []string{"route=/link/…", "status=200", "status=405", "route=unmatched", "route=/healthz"} {
		if want == "route=/healthz" {
			h.do("GET", "/healthz", nil)
			logs = h.logs()
		}
		if !strings.Contains(logs, want) {
			t.Errorf("log lacks %q:\n%s", want, logs)
		}
	}
}

func TestValidToken(t *testing.T) {
	for _, tok := range []string{tokLive, tokUsed, tokExpired, tokGone, tokUnknown} {
		if !ValidToken(tok) {
			t.Errorf("ValidToken(%q) = false", tok)
		}
	}
	raw := make([]byte, 16)
	for i := range 256 {
		for j := range raw {
			raw[j] = byte(i * (j + 1))
		}
		if tok := tokenEncoding.EncodeToString(raw); !ValidToken(tok) {
			t.Fatalf("ValidToken(%q) = false for a minted token", tok)
		}
	}
}

func TestServerTimeouts(t *testing.T) {
	s := NewServer("127.0.0.1:0", http.NotFoundHandler())
	if s.ReadHeaderTimeout != 5*time.Second || s.ReadTimeout != 10*time.Second ||
		s.WriteTimeout != 10*time.Second || s.IdleTimeout != 60*time.Second || s.MaxHeaderBytes != 16<<10 {
		t.Fatalf("server limits: header %v, read %v, write %v, idle %v, max header %d",
			s.ReadHeaderTimeout, s.ReadTimeout, s.WriteTimeout, s.IdleTimeout, s.MaxHeaderBytes)
	}
	if s.Addr != "127.0.0.1:0" || s.Handler == nil {
		t.Fatalf("server addr %q handler %v", s.Addr, s.Handler)
	}
}

// TestOverRealHTTP runs the whole handler behind a real listener and
// client, the way a browser reaches it: GET shows the button, the form's
// POST signs in, and a second POST finds the link used.
func TestOverRealHTTP(t *testing.T) {
	h := newHarness(t, Config{})
	srv := httptest.NewServer(h.h)
	defer srv.Close()
	res, err := http.Get(srv.URL + "/link/" + tokLive)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || !strings.Contains(string(body), "<form method=\"post\">") {
		t.Fatalf("GET: %d\n%s", res.StatusCode, body)
	}
	post := func() (int, string) {
		req, _ := http.NewRequest("POST", srv.URL+"/link/"+tokLive, strings.NewReader(""))
		req.Header.Set("Origin", srv.URL)
		req.Header.Set("Sec-Fetch-Site", "same-origin")
		res, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	if code, b := post(); code != 200 || !strings.Contains(b, "Signed in.") {
		t.Fatalf("first POST: %d\n%s", code, b)
	}
	if code, b := post(); code != http.StatusGone || !strings.Contains(b, "already used") {
		t.Fatalf("second POST: %d\n%s", code, b)
	}
}

// A sign-in held for the account's authenticator app is not called signed
// in: the page sends the person back to the terminal, which asks.
func TestPostSecondFactorPage(t *testing.T) {
	h := newHarness(t, Config{})
	const tok = "onswg33omrtgcy3un5zhaylhmu" // "secondfactorpage"
	h.links.add(tok, Link{State: LinkLive, CheckLen: 4, Expires: expires, SecondFactor: true})
	r := h.do("POST", "/link/"+tok, browserPost)
	if r.status != 200 || strings.Contains(r.body, "Signed in.") || !strings.Contains(r.body, "it asks for the code from your authenticator app") {
		t.Fatalf("POST of a held sign-in: %d %s", r.status, r.body)
	}
}

func (h *harness) postForm(target, form string) response {
	req := httptest.NewRequest(http.MethodPost, target, strings.NewReader(form))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for k, v := range browserPost {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	h.h.ServeHTTP(rec, req)
	res := rec.Result()
	body, _ := io.ReadAll(res.Body)
	return response{status: res.StatusCode, header: res.Header, body: string(body)}
}

// mistypingLinks refuses every check as a typing slip, as the flows do for
// one that has not the form of a check, quoting it back.
type mistypingLinks struct {
	*fakeLinks
	address bool
}

func (m mistypingLinks) Confirm(ctx context.Context, token, check string) (Link, error) {
	m.mu.Lock()
	m.checks = append(m.checks, check)
	m.mu.Unlock()
	return Link{State: LinkLive, Address: m.address, CheckLen: 4, Mistyped: true}, &Refusal{Message: "Not a check: " + check}
}

// An address link's page asks for the check the adding terminal shows
// and passes what was typed to Links; it bounds what it passes, and its
// answers to a slip and to a wrong check say what to do.
func TestAddressLinkAsksForTheCheck(t *testing.T) {
	h := newHarness(t, Config{})
	const tok = "mfrggzdfmztwq2lknnwg23tpoa" // "abcdefghijklmnop"
	h.links.add(tok, Link{State: LinkLive, CheckLen: 4, Expires: expires, Address: true})
	r := h.do("GET", "/link/"+tok, nil)
	if r.status != 200 || !strings.Contains(r.body, `name="check"`) || !strings.Contains(r.body, `maxlength="16"`) ||
		!strings.Contains(r.body, "Type the 4 characters that the terminal where you added this address shows beside it") {
		t.Fatalf("GET of an address link: %d %s", r.status, r.body)
	}
	if r := h.postForm("/link/"+tok, "check="+strings.Repeat("A", 17)); r.status != http.StatusBadRequest {
		t.Fatalf("an over-long check: %d %s", r.status, r.body)
	}
	if r := h.postForm("/link/"+tok, "check="+strings.Repeat("A", 2<<10)); r.status != http.StatusBadRequest {
		t.Fatalf("an over-long body: %d %s", r.status, r.body)
	}
	if _, confirms, _ := h.links.counts(); confirms != 0 {
		t.Fatalf("an over-long check reached Links %d times", confirms)
	}
	if r := h.postForm("/link/"+tok, "check=k7-qx"); r.status != 200 || !strings.Contains(r.body, "Address confirmed") {
		t.Fatalf("POST with a check: %d %s", r.status, r.body)
	}
	if got := h.links.checks; len(got) != 1 || got[0] != "k7-qx" {
		t.Fatalf("Links got the checks %q", got)
	}

	const ended = "mjrggzdfmztwq2lknnwg23tpoa"
	h.links.add(ended, Link{State: LinkEnded, Expires: expires, Address: true})
	if r := h.do("GET", "/link/"+ended, nil); r.status != http.StatusGone || !strings.Contains(r.body, "A wrong answer ended this link") {
		t.Fatalf("GET of an ended link: %d %s", r.status, r.body)
	}

	m := newHarness(t, Config{Links: mistypingLinks{fakeLinks: newFakeLinks(), address: true}})
	r = m.postForm("/link/"+tok, "check=%3Cb%3E")
	if r.status != http.StatusUnprocessableEntity || !strings.Contains(r.body, `name="check"`) ||
		!strings.Contains(r.body, "Not a check: &lt;b&gt;") || strings.Contains(r.body, "<b>") {
		t.Fatalf("a mistyped check: %d %s", r.status, r.body)
	}
}
