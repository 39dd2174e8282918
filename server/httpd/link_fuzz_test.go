package httpd

import (
	"bufio"
	"bytes"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// FuzzValidToken: a token is valid exactly when it is the canonical
// spelling of 16 bytes, and every 16 bytes have one.
func FuzzValidToken(f *testing.F) {
	for _, s := range []string{tokLive, tokUnknown, strings.ToUpper(tokLive), tokLive[:25] + "b", tokLive + "a", "", "========================a"} {
		f.Add(s, []byte("0123456789abcdef"))
	}
	f.Fuzz(func(t *testing.T, s string, raw []byte) {
		want := false
		if len(s) == TokenLen {
			b, err := tokenEncoding.DecodeString(s)
			want = err == nil && len(b) == tokenBytes && tokenEncoding.EncodeToString(b) == s
		}
		if ValidToken(s) != want {
			t.Fatalf("ValidToken(%q) = %v", s, !want)
		}
		if want && strings.Trim(s, "abcdefghijklmnopqrstuvwxyz234567") != "" {
			t.Fatalf("ValidToken(%q) with characters outside the alphabet", s)
		}
		if len(raw) == tokenBytes {
			if tok := tokenEncoding.EncodeToString(raw); !ValidToken(tok) {
				t.Fatalf("the token of %x, %q, is not valid", raw, tok)
			}
		}
	})
}

// FuzzLinkPage sends whatever request a stranger could write to the link
// page, parsed by net/http as the server parses it: nothing panics, only
// well-formed tokens reach Links, only a same-origin POST uses a link,
// every answer carries the security headers, and no page repeats markup
// from the path.
func FuzzLinkPage(f *testing.F) {
	for _, s := range []string{
		"GET /link/" + tokLive + " HTTP/1.1\r\nHost: localhost\r\n\r\n",
		"POST /link/" + tokLive + " HTTP/1.1\r\nHost: localhost\r\nOrigin: http://localhost\r\nSec-Fetch-Site: same-origin\r\n\r\n",
		"POST /link/" + tokLive + " HTTP/1.1\r\nHost: localhost\r\nOrigin: http://evil.example\r\n\r\n",
		"GET /link/" + strings.ToUpper(tokLive) + " HTTP/1.1\r\nHost: localhost\r\n\r\n",
		"GET /link/%3Cscript%3E HTTP/1.1\r\nHost: localhost\r\n\r\n",
		"GET /link/" + tokLive + "/../" + tokUsed + " HTTP/1.1\r\nHost: localhost\r\n\r\n",
		"HEAD /link/" + tokExpired + "?x=1 HTTP/1.1\r\nHost: localhost\r\n\r\n",
		"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n",
		"DELETE /link/" + tokLive + " HTTP/1.1\r\nHost: localhost\r\n\r\n",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		req, err := http.ReadRequest(bufio.NewReader(strings.NewReader(raw)))
		if err != nil {
			return
		}
		links := newFakeLinks()
		live := Link{State: LinkLive, CheckLen: 4, Expires: time.Date(2026, 11, 21, 9, 5, 0, 0, time.UTC)}
		links.add(tokLive, live)
		links.add(tokUsed, Link{State: LinkUsed})
		links.add(tokExpired, Link{State: LinkExpired, Expires: live.Expires})
		h := New(Config{Links: links})
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)

		_, confirms, seen := links.counts()
		for _, tok := range seen {
			if !ValidToken(tok) {
				t.Fatalf("%q reached Links with token %q", raw, tok)
			}
		}
		if confirms > 0 && (req.Method != http.MethodPost || sameOrigin(req) != nil) {
			t.Fatalf("%q used a link", raw)
		}
		if rec.Header().Get("Content-Security-Policy") != csp || rec.Header().Get("Cache-Control") != "no-store" {
			t.Fatalf("%q: answer without the security headers: %v", raw, rec.Header())
		}
		// A path with markup in it never comes back as markup.
		if p, ok := strings.CutPrefix(req.URL.Path, "/"); ok && strings.ContainsAny(p, "<>\"'&") && bytes.Contains(rec.Body.Bytes(), []byte(p)) {
			t.Fatalf("%q: the page repeats the path: %q", raw, rec.Body.String())
		}
	})
}
