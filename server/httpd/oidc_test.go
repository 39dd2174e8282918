package httpd

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeOIDC is an in-memory OIDC with one live attempt, stateLive, whose
// check is "K7QX"; a wrong check ends it, as the flows do.
type fakeOIDC struct {
	mu       sync.Mutex
	ended    bool
	confirms []string // every check that reached Confirm
	bindings []string // every binding that reached Callback
}

const (
	stateLive  = "mfrggzdfmztwq2lknnwg23tpoa"
	checkLive  = "K7QX"
	bindLive   = "bound-to-this-browser"
	authURL    = "https://id.example/authorize?state=" + stateLive
	authOrigin = "https://id.example"
)

func (f *fakeOIDC) attempt() OIDCAttempt {
	a := OIDCAttempt{Provider: "ExampleID", Purpose: "signin", State: LinkLive, CheckLen: 4, AuthOrigin: authOrigin, Expires: expires}
	if f.ended {
		a.State, a.AuthOrigin = LinkEnded, ""
	}
	return a
}

func (f *fakeOIDC) Peek(_ context.Context, state string) (OIDCAttempt, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if state != stateLive {
		return OIDCAttempt{}, nil
	}
	return f.attempt(), nil
}

func (f *fakeOIDC) Confirm(_ context.Context, state, check string) (OIDCAttempt, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.confirms = append(f.confirms, check)
	if state != stateLive || f.ended {
		return f.attempt(), nil
	}
	a := f.attempt()
	given := strings.ToUpper(strings.ReplaceAll(check, "-", ""))
	switch {
	case len(given) != 4:
		a.Mistyped = true
		return a, &Refusal{Message: "Type the 4 characters."}
	case given != checkLive:
		f.ended = true
		return f.attempt(), nil
	}
	a.AuthURL, a.Binding, a.BindFor = authURL, bindLive, 9*time.Minute+500*time.Millisecond
	return a, nil
}

func (f *fakeOIDC) Callback(_ context.Context, state, binding, code, errCode, errDesc string) (OIDCAttempt, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.bindings = append(f.bindings, binding)
	if state != stateLive || f.ended {
		return f.attempt(), nil
	}
	if binding != bindLive {
		f.ended = true
		return f.attempt(), &Refusal{Message: "This sign-in was finished in a different browser from the one that started it."}
	}
	return f.attempt(), nil
}

func newOIDCHarness(t *testing.T, secure bool) (*harness, *fakeOIDC) {
	t.Helper()
	f := &fakeOIDC{}
	return newHarness(t, Config{OIDC: f, SecureCookies: secure}), f
}

func (h *harness) req(method, target, form string, header map[string]string, cookies ...*http.Cookie) *http.Response {
	req := httptest.NewRequest(method, target, strings.NewReader(form))
	if method == http.MethodPost {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	for _, c := range cookies {
		req.AddCookie(c)
	}
	rec := httptest.NewRecorder()
	h.h.ServeHTTP(rec, req)
	return rec.Result()
}

func bodyOf(t *testing.T, r *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(r.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// The start page asks for the characters, leads nowhere, and changes
// nothing; its CSP adds the provider's origin as a form action and
// nothing else.
func TestOIDCStartPageAsksForTheCheck(t *testing.T) {
	h, f := newOIDCHarness(t, false)
	r := h.req("GET", "/oidc/start/"+stateLive, "", nil)
	body := bodyOf(t, r)
	if r.StatusCode != 200 || !strings.Contains(body, `<form method="post">`) || !strings.Contains(body, `name="check"`) ||
		!strings.Contains(body, `maxlength="16"`) || !strings.Contains(body, "never type characters that someone else tells you") ||
		!strings.Contains(body, "Type the 4 characters that the terminal where you started this shows") {
		t.Fatalf("start page %d:\n%s", r.StatusCode, body)
	}
	if strings.Contains(body, "id.example") || strings.Contains(body, checkLive) || len(r.Cookies()) != 0 || len(f.confirms) != 0 {
		t.Fatalf("the start page leads on, shows the check or sets a cookie:\n%s", body)
	}
	want := strings.Replace(csp, "form-action 'self';", "form-action 'self' "+authOrigin+";", 1)
	if got := r.Header.Get("Content-Security-Policy"); got != want || want == csp {
		t.Fatalf("CSP %q, want %q", got, want)
	}
	for _, banned := range []string{"<script", "src=", "href=", "@import", "url("} {
		if strings.Contains(body, banned) {
			t.Errorf("page contains %q: no scripts or external assets", banned)
		}
	}
	// Not a state: not valid, and Peek never hears of it.
	if r := h.req("GET", "/oidc/start/NOT-A-STATE", "", nil); r.StatusCode != http.StatusNotFound {
		t.Fatalf("a malformed state: %d", r.StatusCode)
	}
}

// The right check: 303 to the provider and the binding cookie, with the
// attributes that keep it to this site's /oidc/ pages, out of scripts'
// reach, on the provider's redirect back, for the attempt's life.
func TestOIDCRightCheckSetsTheBindingCookie(t *testing.T) {
	for _, secure := range []bool{false, true} {
		h, _ := newOIDCHarness(t, secure)
		r := h.req("POST", "/oidc/start/"+stateLive, "check=k7-qx", browserPost)
		if r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != authURL {
			t.Fatalf("right check: %d, Location %q", r.StatusCode, r.Header.Get("Location"))
		}
		cs := r.Cookies()
		if len(cs) != 1 {
			t.Fatalf("cookies %v", cs)
		}
		c := cs[0]
		if c.Name != OIDCCookieName(stateLive) || c.Value != bindLive || c.Path != "/oidc/" || !c.HttpOnly || c.SameSite != http.SameSiteLaxMode ||
			c.MaxAge != 541 || c.Secure != secure || c.Domain != "" {
			t.Fatalf("secure=%v: cookie %+v (%s)", secure, c, r.Header.Get("Set-Cookie"))
		}
	}
}

// A slip asks again and changes nothing; a wrong check ends the attempt
// and says so; after it, the right check does nothing.
func TestOIDCSlipsAndWrongChecks(t *testing.T) {
	h, f := newOIDCHarness(t, false)
	r := h.req("POST", "/oidc/start/"+stateLive, "check=K7", browserPost)
	body := bodyOf(t, r)
	if r.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(body, "Type the 4 characters.") || !strings.Contains(body, `name="check"`) ||
		len(r.Cookies()) != 0 || f.ended {
		t.Fatalf("a slip: %d\n%s", r.StatusCode, body)
	}
	if !strings.Contains(r.Header.Get("Content-Security-Policy"), "form-action 'self' "+authOrigin) {
		t.Fatalf("the slip's page cannot post on: %s", r.Header.Get("Content-Security-Policy"))
	}
	r = h.req("POST", "/oidc/start/"+stateLive, "check=AAAA", browserPost)
	body = bodyOf(t, r)
	if r.StatusCode != http.StatusGone || !strings.Contains(body, "Sign-in ended") || !strings.Contains(body, "nobody was signed in by it") ||
		len(r.Cookies()) != 0 || !f.ended {
		t.Fatalf("a wrong check: %d\n%s", r.StatusCode, body)
	}
	r = h.req("POST", "/oidc/start/"+stateLive, "check="+checkLive, browserPost)
	if r.StatusCode != http.StatusGone || r.Header.Get("Location") != "" || len(r.Cookies()) != 0 {
		t.Fatalf("the right check after a wrong one: %d %v", r.StatusCode, r.Header)
	}
	if r := h.req("GET", "/oidc/start/"+stateLive, "", nil); r.StatusCode != http.StatusGone || r.Header.Get("Content-Security-Policy") != csp {
		t.Fatalf("the ended attempt's page: %d %q", r.StatusCode, r.Header.Get("Content-Security-Policy"))
	}
}

// The POST is bounded and same-origin: nothing else reaches Confirm.
func TestOIDCStartPostBoundsAndOrigin(t *testing.T) {
	h, f := newOIDCHarness(t, false)
	for name, c := range map[string]struct {
		form   string
		header map[string]string
		status int
	}{
		"other site":       {"check=K7QX", map[string]string{"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"}, http.StatusForbidden},
		"sibling":          {"check=K7QX", map[string]string{"Origin": "http://mail.example.com", "Sec-Fetch-Site": "same-site"}, http.StatusForbidden},
		"opaque origin":    {"check=K7QX", map[string]string{"Origin": "null"}, http.StatusForbidden},
		"long check":       {"check=" + strings.Repeat("K", checkMax+1), browserPost, http.StatusBadRequest},
		"body over 1 KiB":  {"pad=" + strings.Repeat("x", 2<<10) + "&check=K7QX", browserPost, http.StatusBadRequest},
		"malformed state":  {"check=K7QX", browserPost, http.StatusNotFound},
		"unreadable query": {"check=%zz", browserPost, http.StatusBadRequest},
	} {
		target := "/oidc/start/" + stateLive
		if name == "malformed state" {
			target = "/oidc/start/AAAA"
		}
		r := h.req("POST", target, c.form, c.header)
		if r.StatusCode != c.status || len(r.Cookies()) != 0 || r.Header.Get("Location") != "" {
			t.Errorf("%s: %d, want %d", name, r.StatusCode, c.status)
		}
	}
	if len(f.confirms) != 0 || f.ended {
		t.Fatalf("refused POSTs reached Confirm: %q", f.confirms)
	}
}

// The callback hands the browser's cookie to Callback ("" without one),
// clears it once it has served, and shows a refusal plainly.
func TestOIDCCallbackPassesAndClearsTheCookie(t *testing.T) {
	h, f := newOIDCHarness(t, false)
	r := h.req("GET", "/oidc/callback?state="+stateLive+"&code=c", "", nil, &http.Cookie{Name: OIDCCookieName(stateLive), Value: bindLive})
	body := bodyOf(t, r)
	if r.StatusCode != 200 || !strings.Contains(body, "Signed in") {
		t.Fatalf("bound callback: %d\n%s", r.StatusCode, body)
	}
	if cs := r.Cookies(); len(cs) != 1 || cs[0].Name != OIDCCookieName(stateLive) || cs[0].MaxAge >= 0 || cs[0].Path != "/oidc/" {
		t.Fatalf("the cookie is not cleared: %v", cs)
	}
	r = h.req("GET", "/oidc/callback?state="+stateLive+"&code=c", "", nil)
	body = bodyOf(t, r)
	if r.StatusCode != http.StatusConflict || !strings.Contains(body, "finished in a different browser") || !f.ended || len(r.Cookies()) != 0 {
		t.Fatalf("unbound callback: %d\n%s", r.StatusCode, body)
	}
	// A callback that does not sign in leaves the browser's cookie alone:
	// it may bind another attempt of this browser's.
	r = h.req("GET", "/oidc/callback?state="+stateLive+"&code=c", "", nil, &http.Cookie{Name: OIDCCookieName(stateLive), Value: "another-attempt"})
	if r.StatusCode != http.StatusGone || len(r.Cookies()) != 0 {
		t.Fatalf("a callback of an ended attempt: %d, cookies %v", r.StatusCode, r.Cookies())
	}
	// Each attempt has its own cookie, so two sign-ins under way in one
	// browser do not overwrite each other's, and one's never reaches the
	// other's callback.
	other := strings.Repeat("b", len(stateLive))
	if OIDCCookieName(other) == OIDCCookieName(stateLive) {
		t.Fatal("two attempts share a cookie name")
	}
	h.req("GET", "/oidc/callback?state="+stateLive+"&code=c", "", nil, &http.Cookie{Name: OIDCCookieName(other), Value: bindLive})
	if got := f.bindings; len(got) != 4 || got[0] != bindLive || got[1] != "" || got[2] != "another-attempt" || got[3] != "" {
		t.Fatalf("bindings given to Callback %q", got)
	}
}
