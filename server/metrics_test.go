package server_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/attest-dev/attest/server"
	"github.com/attest-dev/attest/server/config"
	"github.com/attest-dev/attest/store"
	"github.com/attest-dev/attest/store/postgres/pgtest"
)

// serveMetrics runs srv's metrics listener on a free loopback port and
// returns its base URL.
func serveMetrics(t *testing.T, srv *server.Server) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.ServeMetrics(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("metrics listener: %v", err)
		}
	})
	return "http://" + ln.Addr().String()
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	c := http.Client{Timeout: 10 * time.Second}
	res, err := c.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	return res.StatusCode, string(body)
}

// scrape is what Prometheus would see.
type scrape map[string]*dto.MetricFamily

func scrapeOf(t *testing.T, base string) scrape {
	t.Helper()
	status, body := get(t, base+"/metrics")
	if status != http.StatusOK {
		t.Fatalf("/metrics: %d %s", status, body)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatalf("/metrics does not parse: %v\n%s", err, body)
	}
	return fams
}

// value is the series of name whose labels include labels (name=value
// pairs); a histogram's value is its count. -1 when there is none.
func (s scrape) value(name string, labels ...string) float64 {
	fam, ok := s[name]
	if !ok {
		return -1
	}
next:
	for _, m := range fam.GetMetric() {
		have := map[string]string{}
		for _, l := range m.GetLabel() {
			have[l.GetName()] = l.GetValue()
		}
		for i := 0; i+1 < len(labels); i += 2 {
			if have[labels[i]] != labels[i+1] {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue()
		case m.Gauge != nil:
			return m.Gauge.GetValue()
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount())
		}
	}
	return -1
}

var inboxCode = regexp.MustCompile(`Code ([A-Z]): (\d+)`)

// TestMetricsMoveWithRealFlows signs in over SSH, on each ledger, and
// reads the metrics as Prometheus would, over HTTP on their own listener.
func TestMetricsMoveWithRealFlows(t *testing.T) {
	for _, ledger := range []string{"bolt", "postgres"} {
		t.Run(ledger, func(t *testing.T) {
			ts := startServer(t, func(c *config.Config) {
				if ledger == "postgres" {
					c.DatabaseURL = pgtest.Start(t).NewDatabase(t)
				}
			})
			base := serveMetrics(t, ts.srv)
			before := scrapeOf(t, base)
			for _, c := range []struct {
				name   string
				labels []string
			}{
				{"attest_codes_issued_total", []string{"channel", "email"}},
				{"attest_codes_held_back_total", []string{"channel", "email", "rule", "address_gap"}},
				{"attest_codes_issued_total", []string{"channel", "sms"}},
				{"attest_links_held_back_total", []string{"channel", "sms", "rule", "channel_per_hour"}},
				{"attest_deliveries_total", []string{"channel", "email", "outcome", "sent"}},
				{"attest_deliveries_total", []string{"channel", "sms", "outcome", "failed"}},
				{"attest_signins_total", []string{"method", "code"}},
				{"attest_signins_total", []string{"method", "key"}},
				{"attest_stepups_total", []string{"factor", "signup"}},
				{"attest_screens_live", nil},
				{"attest_ledger_commits_total", nil},
			} {
				if v := before.value(c.name, c.labels...); v != 0 {
					t.Errorf("before anything: %s%v = %v, want 0", c.name, c.labels, v)
				}
			}

			key, other := newKey(t), newKey(t)
			if _, errOut, code := run(t, ts.addr, key, "signin ada@example.com"); code != 0 {
				t.Fatalf("signin: %s", errOut)
			}
			ts.app.Service.Wait()
			msgs := ts.app.Inbox.List()
			if len(msgs) != 1 {
				t.Fatalf("%d messages in the inbox", len(msgs))
			}
			m := inboxCode.FindStringSubmatch(msgs[0].Text)
			if m == nil {
				t.Fatalf("no code in %q", msgs[0].Text)
			}
			if _, errOut, code := run(t, ts.addr, key, "code "+m[1]+"-"+m[2]); code != 0 {
				t.Fatalf("code: %s", errOut)
			}
			// The governor holds a second code back (one a minute).
			if _, errOut, code := run(t, ts.addr, other, "signin ada@example.com"); code != 1 || !strings.Contains(errOut, "Next code at") {
				t.Fatalf("a second code at once: exit %d, %s", code, errOut)
			}
			// The new account's device is stepped up: it remembers its
			// key, signs out, and signs in with the key.
			for _, cmd := range []string{"keys remember", "signout", "signin --key"} {
				if _, errOut, code := run(t, ts.addr, key, cmd); code != 0 {
					t.Fatalf("%s: %s", cmd, errOut)
				}
			}
			ts.app.Service.Wait() // deliveries run after their commit

			after := scrapeOf(t, base)
			for _, c := range []struct {
				name   string
				labels []string
				want   float64
			}{
				{"attest_codes_issued_total", []string{"channel", "email"}, 1},
				{"attest_codes_held_back_total", []string{"channel", "email", "rule", "address_gap"}, 1},
				{"attest_codes_issued_total", []string{"channel", "sms"}, 0},
				// The code, and the notice that a key was added.
				{"attest_deliveries_total", []string{"channel", "email", "outcome", "sent"}, 2},
				{"attest_deliveries_total", []string{"channel", "email", "outcome", "failed"}, 0},
				{"attest_signins_total", []string{"method", "code"}, 1},
				{"attest_signins_total", []string{"method", "key"}, 1},
				{"attest_stepups_total", []string{"factor", "signup"}, 1},
				{"attest_stepups_total", []string{"factor", "code"}, 0},
				{"attest_ssh_sessions_total", []string{"kind", "command"}, 6},
			} {
				if v := after.value(c.name, c.labels...); v != c.want {
					t.Errorf("%s%v = %v, want %v", c.name, c.labels, v, c.want)
				}
			}
			// Every update of the flows is timed, and the ledger's own
			// counters moved: at least the sign-up, the code's outcome,
			// the key, the sign-out and the key's sign-in committed.
			if n := after.value("attest_ledger_update_seconds"); n < 5 {
				t.Errorf("%v ledger updates timed, want at least 5", n)
			}
			commits, facts := after.value("attest_ledger_commits_total"), after.value("attest_ledger_appended_facts_total")
			if commits < 5 || facts < commits {
				t.Errorf("ledger commits %v, facts %v: want at least 5 commits and a fact each", commits, facts)
			}
			if after.value("attest_ledger_facts") < facts {
				t.Errorf("the ledger holds %v facts, fewer than the %v appended", after.value("attest_ledger_facts"), facts)
			}
			// The labels are the fixed sets, never an address or a key.
			status, body := get(t, base+"/metrics")
			if status != http.StatusOK || strings.Contains(body, "example.com") || strings.Contains(body, "SHA256") {
				t.Fatalf("the metrics name an address or a key:\n%s", body)
			}

			// A screen counts while it is open.
			sc := openScreen(t, ts.addr, newKey(t), 80, 24)
			sc.await(0, "attest")
			if v := scrapeOf(t, base).value("attest_screens_live"); v != 1 {
				t.Errorf("one screen open: attest_screens_live %v", v)
			}
			sc.vanish()
			waitFor(t, "the screen's end to count", func() bool { return scrapeOf(t, base).value("attest_screens_live") == 0 })
		})
	}
}

// waitFor polls cond until it holds; the deadline only bounds a failure.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestPublicListenerHasNoMetrics: the magic-link listener answers
// /healthz and /readyz, and /metrics only on its own listener.
func TestPublicListenerHasNoMetrics(t *testing.T) {
	ts := startServer(t, func(c *config.Config) { c.HTTP.Metrics = true })
	public := httpServe(t, ts.srv.HTTPHandler())
	for path, want := range map[string]int{"/metrics": 404, "/healthz": 200, "/readyz": 200} {
		if status, _ := get(t, public+path); status != want {
			t.Errorf("public %s: %d, want %d", path, status, want)
		}
	}
	ops := serveMetrics(t, ts.srv)
	for path, want := range map[string]int{"/metrics": 200, "/healthz": 200, "/readyz": 200, "/link/x": 404} {
		if status, _ := get(t, ops+path); status != want {
			t.Errorf("metrics listener %s: %d, want %d", path, status, want)
		}
	}
}

func httpServe(t *testing.T, h http.Handler) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return "http://" + ln.Addr().String()
}

// stuckLedger is a ledger whose reads wait until the test lets them go:
// a disk that hangs, or a database that does not answer.
type stuckLedger struct {
	store.Ledger
	gate chan struct{}
}

func (l stuckLedger) View(fn func(store.Reader) error) error {
	<-l.gate
	return l.Ledger.View(fn)
}

// TestReadyzFollowsTheLedger: /readyz is 503 while the ledger cannot
// answer (stuck, closed, or its database down) and 200 again once it
// can; /healthz stays 200 throughout.
func TestReadyzFollowsTheLedger(t *testing.T) {
	t.Run("stuck", func(t *testing.T) {
		ts := startServer(t, nil)
		gate := make(chan struct{})
		srv, err := server.New(ts.cfg, server.Deps{Service: ts.app.Service, Ledger: stuckLedger{ts.app.Ledger, gate}})
		if err != nil {
			t.Fatal(err)
		}
		base := serveMetrics(t, srv)
		start := time.Now()
		if status, body := get(t, base+"/readyz"); status != http.StatusServiceUnavailable || body != "not ready" {
			t.Fatalf("stuck ledger: %d %q", status, body)
		}
		if took := time.Since(start); took > 5*time.Second {
			t.Errorf("a stuck ledger took %s to be reported", took)
		}
		if status, _ := get(t, base+"/healthz"); status != http.StatusOK {
			t.Fatalf("healthz with a stuck ledger: %d", status)
		}
		close(gate)
		waitFor(t, "readyz to recover", func() bool { status, _ := get(t, base+"/readyz"); return status == http.StatusOK })
	})
	t.Run("closed", func(t *testing.T) {
		ts := startServer(t, nil)
		base := serveMetrics(t, ts.srv)
		if status, _ := get(t, base+"/readyz"); status != http.StatusOK {
			t.Fatalf("open ledger: %d", status)
		}
		ts.shutdown() // closes the ledger; the metrics listener goes on
		if status, _ := get(t, base+"/readyz"); status != http.StatusServiceUnavailable {
			t.Fatalf("closed ledger: %d, want 503", status)
		}
		if status, _ := get(t, base+"/healthz"); status != http.StatusOK {
			t.Fatalf("healthz with a closed ledger: %d", status)
		}
	})
	t.Run("database down", func(t *testing.T) {
		cluster := pgtest.Start(t)
		ts := startServer(t, func(c *config.Config) { c.DatabaseURL = cluster.NewDatabase(t) })
		base := serveMetrics(t, ts.srv)
		if status, _ := get(t, base+"/readyz"); status != http.StatusOK {
			t.Fatalf("database up: %d", status)
		}
		if err := cluster.Stop(); err != nil {
			t.Fatal(err)
		}
		restarted := false
		t.Cleanup(func() {
			if !restarted {
				_ = cluster.Start()
			}
		})
		if status, _ := get(t, base+"/readyz"); status != http.StatusServiceUnavailable {
			t.Fatalf("database down: %d, want 503", status)
		}
		if err := cluster.Start(); err != nil {
			t.Fatal(err)
		}
		restarted = true
		waitFor(t, "readyz to recover with the database", func() bool {
			status, _ := get(t, base+"/readyz")
			return status == http.StatusOK
		})
	})
}
