package server

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"

	"github.com/attest-dev/attest/flows"
	"github.com/attest-dev/attest/server/httpd"
	"github.com/attest-dev/attest/store"
)

// The public HTTP listener serves what a browser needs (the page a magic
// link opens) and health checks; the metrics listener, when metrics are
// on, serves metrics and the same checks. Both are built here so httpd
// stays free of the flows.

// links adapts the flows' magic links to the page's interface.
type links struct{ svc *flows.Service }

func linkFromFlows(info flows.LinkInfo) httpd.Link {
	state := map[string]httpd.LinkState{
		flows.LinkLive:     httpd.LinkLive,
		flows.LinkUsed:     httpd.LinkUsed,
		flows.LinkExpired:  httpd.LinkExpired,
		flows.LinkGone:     httpd.LinkSessionGone,
		flows.LinkEnded:    httpd.LinkEnded,
		flows.LinkReplaced: httpd.LinkReplaced,
	}[info.State] // anything else is LinkUnknown, the zero state
	return httpd.Link{State: state, Expires: info.Expires, SecondFactor: info.SecondFactor, Away: info.Away,
		Address: info.Purpose == flows.PurposeConfirmAddress, CheckLen: flows.LinkCheckLen, Mistyped: info.Mistyped}
}

func (l links) Peek(ctx context.Context, token string) (httpd.Link, error) {
	info, err := l.svc.PeekLink(ctx, token)
	return linkFromFlows(info), err
}

func (l links) Confirm(ctx context.Context, token, check string) (httpd.Link, error) {
	info, err := l.svc.ConfirmLinkChecked(ctx, token, check)
	if p, ok := flows.AsProblem(err); ok {
		return linkFromFlows(info), &httpd.Refusal{Message: p.Msg}
	}
	return linkFromFlows(info), err
}

// watchServer registers what only the server sees: its live screens
// and the size of the ledger.
func (s *Server) watchServer() {
	s.metrics.Gauge("attest_screens_live", "Screens open now (SSH sessions with a terminal).", func() float64 {
		s.mu.Lock()
		defer s.mu.Unlock()
		return float64(len(s.programs))
	})
	s.metrics.Gauge("attest_ledger_facts", "Facts in the ledger.", func() float64 {
		var head uint64
		_ = s.led.View(func(r store.Reader) error {
			var err error
			head, _, err = r.Head()
			return err
		})
		return float64(head)
	})
}

// ready is the readiness check: the ledger answers a read. httpd bounds
// how long it may take.
func (s *Server) ready(context.Context) error {
	return s.led.View(func(r store.Reader) error {
		_, _, err := r.Head()
		return err
	})
}

// HTTPHandler is the public HTTP listener's handler: magic links, the
// sign-in providers' pages, /healthz and /readyz.
func (s *Server) HTTPHandler() http.Handler {
	return httpd.New(httpd.Config{
		Links: links{svc: s.svc},
		OIDC:  oidcPages{svc: s.svc},
		// The binding cookie is Secure whenever the links are https.
		SecureCookies: strings.HasPrefix(s.svc.CallbackURL(), "https://"),
		Ready:         s.ready,
		Logger:        s.log,
	})
}

// MetricsHandler is the metrics listener's handler: /metrics, /healthz
// and /readyz.
func (s *Server) MetricsHandler() http.Handler {
	return httpd.NewOps(httpd.Config{Ready: s.ready, Logger: s.log}, s.metrics.Handler())
}

// ServeMetrics runs the metrics listener until ctx ends.
func (s *Server) ServeMetrics(ctx context.Context, ln net.Listener) error {
	return serveHTTP(ctx, ln, s.MetricsHandler(), "metrics")
}

// ServeHTTP runs the public HTTP listener until ctx ends.
func (s *Server) ServeHTTP(ctx context.Context, ln net.Listener) error {
	return serveHTTP(ctx, ln, s.HTTPHandler(), "http")
}

func serveHTTP(ctx context.Context, ln net.Listener, h http.Handler, what string) error {
	srv := httpd.NewServer(ln.Addr().String(), h)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("%s server: %w", what, err)
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("%s server shutdown: %w", what, err)
	}
	return nil
}
