// Package httpd is the binary's small HTTP listeners: the public one, with
// the page a magic link opens (and the sign-in provider's pages) and
// health checks, and the operator's, with metrics and the same health
// checks. Nothing else is reachable.
//
// A magic link signs in the terminal session that asked for it. Mail
// scanners fetch links to look at them, so opening a link (GET) only shows
// a page asking for the characters that session's terminal shows; the
// sign-in happens when the person types them and presses the page's one
// button (POST).
//
// A sign-in provider's start link (the code flow) works the same way: its
// page asks for the characters the terminal shows, and the right ones send
// the browser on to the provider with a cookie binding the attempt to that
// browser, which the callback requires (oidc.go says what that stops, and
// what it cannot).
package httpd

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"golang.org/x/sync/singleflight"
)

// LinkState is what has become of a magic link. The zero value is
// LinkUnknown, so a Link nobody filled in never reads as usable.
type LinkState int

// Link states.
const (
	LinkUnknown     LinkState = iota // no such link (or not one this server made)
	LinkLive                         // usable; from Confirm: this call used it
	LinkUsed                         // already used
	LinkExpired                      // past its Expires
	LinkSessionGone                  // the terminal session that asked for it has ended
	LinkEnded                        // its page was given a wrong check: it had its one attempt
	LinkReplaced                     // a newer link for the same address went out since: only that one works
)

// Link describes a magic link for its page.
type Link struct {
	State   LinkState
	Expires time.Time
	// SecondFactor: the sign-in waits for the account's authenticator app.
	SecondFactor bool
	// Address: the link confirms an email address added to an account
	// (it came with that address's code) rather than signing in.
	Address bool
	// CheckLen is how many characters every link's page asks for: the
	// check that only the terminal which asked for the link (or added the
	// address) shows, so only the person at it can use the link.
	CheckLen int
	// Mistyped: from Confirm, with a Refusal, when the check had not the
	// form of one; the link is unchanged and the page asks again.
	Mistyped bool
	// Away: no terminal of the device that asked was waiting when the
	// link was used (a registration's link works without one); the
	// device is signed in when it next connects.
	Away bool
}

// Links is the flows' side of magic links.
type Links interface {
	// Peek describes a link without using it (GET must never consume).
	Peek(ctx context.Context, token string) (Link, error)
	// Confirm uses the link: it signs in the waiting session. It returns
	// State LinkLive when this call used the link and the session is
	// signed in; any other state says why nothing happened. Exactly one of
	// many concurrent Confirm calls for a token gets LinkLive; the others
	// get LinkUsed. check is what the person typed on the page; a wrong
	// one ends the link (LinkEnded).
	Confirm(ctx context.Context, token, check string) (Link, error)
}

// Refusal is an error Links may return (or wrap) when a link could not be
// used for a reason the person should read, such as an address that
// another account confirmed meanwhile. Its Message is shown on the page as
// it is; any other error shows a generic apology and is logged.
type Refusal struct {
	Message string
}

func (r *Refusal) Error() string { return r.Message }

// Config is what New needs.
type Config struct {
	Links Links
	// OIDC serves /oidc/start/{state} and /oidc/callback; nil means none.
	OIDC OIDC
	// SecureCookies marks OIDCCookie Secure: set it when the links are
	// https, as they should be anywhere but on loopback.
	SecureCookies bool
	// Ready reports whether the server can serve (its ledger answers);
	// nil means always. /readyz gives it ReadyWithin to answer.
	Ready       func(ctx context.Context) error
	ReadyWithin time.Duration // default DefaultReadyWithin
	// Logger gets one line per request (method, route, status) and the
	// errors behind 5xx answers; nil discards.
	Logger *slog.Logger
}

// DefaultReadyWithin is how long /readyz waits for the ledger: a load
// balancer's probe should hear "not ready" well before its own timeout.
const DefaultReadyWithin = 2 * time.Second

// New returns the public listener's handler. Every response carries the
// security headers; /link/{token} answers GET, HEAD and POST, /healthz and
// /readyz GET and HEAD; any other path is 404 and any other method 405
// with Allow. Metrics are never here: they have a listener of their own
// (NewOps), which need not face the internet.
func New(cfg Config) http.Handler {
	s := newSite(cfg)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /link/{token}", s.peek)
	mux.HandleFunc("POST /link/{token}", s.confirm)
	s.health(mux)
	if cfg.OIDC != nil {
		mux.HandleFunc("GET /oidc/start/{state}", s.oidcStart)
		mux.HandleFunc("POST /oidc/start/{state}", s.oidcConfirm)
		mux.HandleFunc("GET /oidc/callback", s.oidcCallback)
	}
	return s.secure(mux)
}

// NewOps returns the operator's listener's handler: GET /metrics (when
// metrics is not nil), /healthz and /readyz, with the same headers and
// logs as New's.
func NewOps(cfg Config, metrics http.Handler) http.Handler {
	s := newSite(cfg)
	mux := http.NewServeMux()
	s.health(mux)
	if metrics != nil {
		mux.Handle("GET /metrics", metrics)
	}
	return s.secure(mux)
}

func newSite(cfg Config) *site {
	s := &site{links: cfg.Links, oidc: cfg.OIDC, secureCookies: cfg.SecureCookies, ready: cfg.Ready, readyWithin: cfg.ReadyWithin, log: cfg.Logger}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.readyWithin <= 0 {
		s.readyWithin = DefaultReadyWithin
	}
	return s
}

func (s *site) health(mux *http.ServeMux) {
	mux.HandleFunc("GET /healthz", s.healthz)
	mux.HandleFunc("GET /readyz", s.readyz)
}

// NewServer returns an http.Server for h with timeouts, so that slow or
// idle clients cannot hold connections (and goroutines) open.
func NewServer(addr string, h http.Handler) *http.Server {
	return &http.Server{
		Addr:              addr,
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      10 * time.Second,
		IdleTimeout:       60 * time.Second,
		MaxHeaderBytes:    16 << 10,
	}
}

type site struct {
	links Links
	oidc  OIDC
	// secureCookies: OIDCCookie is Secure (the links are https).
	secureCookies bool
	ready         func(context.Context) error
	readyWithin   time.Duration
	// checks shares one readiness check among the probes that arrive
	// while it runs, so a stuck ledger holds one goroutine, not one per
	// probe.
	checks singleflight.Group
	log    *slog.Logger
}

// secure sets the security headers on every response, 404s and 405s
// included, and logs each request by its route, never its path: the path
// of a link holds the token, which signs someone in.
func (s *site) secure(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		h := w.Header()
		h.Set("Content-Security-Policy", csp)
		h.Set("X-Content-Type-Options", "nosniff")
		// The token is in the URL: no Referer may carry it to another site.
		// same-origin, not no-referrer: the token in the URL still never
		// leaves for another site, and browsers keep sending a real Origin
		// on the page's own POST (under no-referrer it is "null", which the
		// same-origin check must refuse).
		h.Set("Referrer-Policy", "same-origin")
		h.Set("Cache-Control", "no-store")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(rec, r)
		s.log.LogAttrs(r.Context(), slog.LevelInfo, "http request",
			slog.String("method", r.Method),
			slog.String("route", route(r)),
			slog.Int("status", rec.status),
			slog.Duration("took", time.Since(start)))
	})
}

// route names the request for logs by the pattern it matched, with the
// token elided. The mux sets r.Pattern on this same request; an
// unmatched request (404, 405) logs as "unmatched", since its path could
// be a mistyped link.
func route(r *http.Request) string {
	if r.Pattern == "" {
		return "unmatched"
	}
	_, path, _ := strings.Cut(r.Pattern, " ")
	return strings.NewReplacer("{token}", "…", "{state}", "…").Replace(path)
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	s.status = code
	s.ResponseWriter.WriteHeader(code)
}

// Unwrap lets http.ResponseController reach the connection.
func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// healthz answers 200 "ok" while the process serves HTTP at all: it is
// for restarting a server that hangs, and asks nothing of the ledger.
func (s *site) healthz(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = w.Write([]byte("ok"))
}

// errNotReady is what readyz logs when the check outlives its deadline.
var errNotReady = errors.New("the readiness check did not answer in time")

// readyz answers 200 "ready" when Ready returns nil within readyWithin,
// else 503 "not ready"; the error itself goes to the log only, since it
// may describe internals. A check that outlives the deadline keeps
// running, and the probes after it share it until it returns.
func (s *site) readyz(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	err := s.checkReady(r.Context())
	if err != nil {
		s.log.LogAttrs(r.Context(), slog.LevelWarn, "readiness check failed", slog.String("error", err.Error()))
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte("not ready"))
		return
	}
	_, _ = w.Write([]byte("ready"))
}

func (s *site) checkReady(ctx context.Context) error {
	if s.ready == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, s.readyWithin)
	defer cancel()
	done := s.checks.DoChan("ready", func() (any, error) {
		// Not the request's context: the check is shared, and must not
		// end when the probe that started it leaves.
		c, stop := context.WithTimeout(context.Background(), s.readyWithin)
		defer stop()
		return nil, s.ready(c)
	})
	select {
	case res := <-done:
		return res.Err
	case <-ctx.Done():
		return errNotReady
	}
}

// errCrossOrigin is logged when a POST comes from another site's page.
var errCrossOrigin = errors.New("cross-origin request")
