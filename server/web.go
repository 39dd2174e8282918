package server

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/attest-dev/attest/flows"
	"github.com/attest-dev/attest/server/httpd"
	"github.com/attest-dev/attest/store"
)

// The HTTP listener serves what a browser needs (the page a magic link
// opens), a health check, and metrics when they are switched on. It is
// built here so httpd stays free of the flows.

// links adapts the flows' magic links to the page's interface.
type links struct{ svc *flows.Service }

func linkFromFlows(info flows.LinkInfo) httpd.Link {
	state := map[string]httpd.LinkState{
		flows.LinkLive:    httpd.LinkLive,
		flows.LinkUsed:    httpd.LinkUsed,
		flows.LinkExpired: httpd.LinkExpired,
		flows.LinkGone:    httpd.LinkSessionGone,
	}[info.State] // anything else is LinkUnknown, the zero state
	return httpd.Link{Label: info.Label, State: state, Expires: info.Expires, SecondFactor: info.SecondFactor}
}

func (l links) Peek(ctx context.Context, token string) (httpd.Link, error) {
	info, err := l.svc.PeekLink(ctx, token)
	return linkFromFlows(info), err
}

func (l links) Confirm(ctx context.Context, token string) (httpd.Link, error) {
	info, err := l.svc.ConfirmLink(ctx, token)
	if p, ok := flows.AsProblem(err); ok {
		return linkFromFlows(info), &httpd.Refusal{Message: p.Msg}
	}
	return linkFromFlows(info), err
}

// metrics are the server's Prometheus metrics: counts by kind, never by
// user, key or address, so the label sets stay small and say nothing
// about anyone.
type metrics struct {
	registry *prometheus.Registry
	sessions *prometheus.CounterVec // by what ran: screens, command, inbox
	refused  *prometheus.CounterVec // connections refused, by reason
}

func newMetrics(led store.Ledger) *metrics {
	m := &metrics{
		registry: prometheus.NewRegistry(),
		sessions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "attest_ssh_sessions_total", Help: "SSH sessions, by what they ran.",
		}, []string{"kind"}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "attest_ssh_connections_refused_total", Help: "SSH connections refused before authentication, by reason.",
		}, []string{"reason"}),
	}
	m.registry.MustRegister(m.sessions, m.refused,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "attest_ledger_facts", Help: "Facts in the ledger.",
		}, func() float64 {
			var head uint64
			_ = led.View(func(r store.Reader) error {
				var err error
				head, _, err = r.Head()
				return err
			})
			return float64(head)
		}),
	)
	return m
}

// HTTPHandler is the HTTP listener's handler.
func (s *Server) HTTPHandler() http.Handler {
	var metricsHandler http.Handler
	if s.cfg.HTTP.Metrics {
		metricsHandler = promhttp.HandlerFor(s.metrics.registry, promhttp.HandlerOpts{})
	}
	return httpd.New(httpd.Config{
		Links: links{svc: s.svc},
		OIDC:  oidcPages{svc: s.svc},
		Health: func(ctx context.Context) error {
			return s.led.View(func(r store.Reader) error {
				_, _, err := r.Head()
				return err
			})
		},
		Metrics: metricsHandler,
		Logger:  s.log,
	})
}

// ServeHTTP runs the HTTP listener until ctx ends.
func (s *Server) ServeHTTP(ctx context.Context, ln net.Listener) error {
	srv := httpd.NewServer(ln.Addr().String(), s.HTTPHandler())
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("http server: %w", err)
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("http server shutdown: %w", err)
	}
	return nil
}
