// Package metrics is attest's Prometheus metrics: what they count and
// where the counts come from.
//
// Every label is a small, fixed set (a channel, an outcome, a method, a
// factor, a reason): never an address, a user, a device or anything else
// a stranger chooses, so the series stay few and say nothing about anyone.
//
// Most counts are read off the facts the flows commit (a code emailed, a
// device signed in, a step-up granted), through a ledger that watches the
// appends of each update and counts them once the update is durable: a
// flow that fails counts nothing, and a batch the ledger runs again counts
// once. What leaves no fact is counted where it happens: messages the
// governor holds back (flows.Observer), deliveries (a Sender), sessions
// and refused connections (the SSH server).
package metrics

import (
	"context"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/attest-dev/attest/flows"
	"github.com/attest-dev/attest/flows/message"
	"github.com/attest-dev/attest/store"
)

// Set is one server's metrics and the registry that serves them.
type Set struct {
	reg *prometheus.Registry

	codesIssued, linksIssued *prometheus.CounterVec // by channel
	codesHeld, linksHeld     *prometheus.CounterVec // by channel, rule
	deliveries               *prometheus.CounterVec // by channel, outcome
	signIns, signInsHeld     *prometheus.CounterVec // by method
	secondFactors            *prometheus.CounterVec // by factor, purpose
	stepUps                  *prometheus.CounterVec // by factor
	sessions                 *prometheus.CounterVec // by kind
	refused                  *prometheus.CounterVec // by reason
	updateSeconds            prometheus.Histogram
}

// New returns a Set with every series it knows at zero, so a dashboard
// sees "0 held back" rather than nothing before the first one.
func New() *Set {
	counter := func(name, help string, labels ...string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, labels)
	}
	s := &Set{
		reg:           prometheus.NewRegistry(),
		codesIssued:   counter("attest_codes_issued_total", "One-time codes issued (committed to the ledger), by channel.", "channel"),
		codesHeld:     counter("attest_codes_held_back_total", "One-time codes the governor held back, by channel and the limit that held them.", "channel", "rule"),
		linksIssued:   counter("attest_links_issued_total", "Magic links issued, by channel.", "channel"),
		linksHeld:     counter("attest_links_held_back_total", "Magic links the governor held back, by channel and the limit that held them.", "channel", "rule"),
		deliveries:    counter("attest_deliveries_total", "Messages handed to delivery (SMTP, SMS, the demo inbox), by channel and outcome (sent, failed).", "channel", "outcome"),
		signIns:       counter("attest_signins_total", "Devices signed in to an account, by the first factor's method.", "method"),
		signInsHeld:   counter("attest_signins_held_total", "Sign-ins held for the account's second factor, by the first factor's method.", "method"),
		secondFactors: counter("attest_second_factors_total", "Authenticator app and recovery codes accepted, by factor and purpose (signin, stepup, confirm).", "factor", "purpose"),
		stepUps:       counter("attest_stepups_total", "Step-ups granted, by factor.", "factor"),
		sessions:      counter("attest_ssh_sessions_total", "SSH sessions, by what they ran.", "kind"),
		refused:       counter("attest_ssh_connections_refused_total", "SSH connections refused before authentication, by reason.", "reason"),
		updateSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "attest_ledger_update_seconds",
			Help: "Time from a flow's ledger update to its commit being durable, waiting for the batch included.",
			// From well under a millisecond (a batch on a fast disk) to
			// seconds (PostgreSQL retrying a lost connection).
			Buckets: prometheus.ExponentialBuckets(0.0001, 2.5, 14),
		}),
	}
	s.reg.MustRegister(s.codesIssued, s.codesHeld, s.linksIssued, s.linksHeld, s.deliveries,
		s.signIns, s.signInsHeld, s.secondFactors, s.stepUps, s.sessions, s.refused, s.updateSeconds,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	for _, ch := range channels {
		s.codesIssued.WithLabelValues(ch)
		s.linksIssued.WithLabelValues(ch)
		for _, r := range rules {
			s.codesHeld.WithLabelValues(ch, r)
			s.linksHeld.WithLabelValues(ch, r)
		}
		for _, o := range []string{"sent", "failed"} {
			s.deliveries.WithLabelValues(ch, o)
		}
	}
	for _, m := range methods {
		s.signIns.WithLabelValues(m)
	}
	for _, f := range factors {
		s.stepUps.WithLabelValues(f)
	}
	return s
}

// Handler serves the metrics in Prometheus's text format.
func (s *Set) Handler() http.Handler {
	return promhttp.HandlerFor(s.reg, promhttp.HandlerOpts{})
}

// Registry is where the server registers what only it can see (live
// screens, the ledger's own counters).
func (s *Set) Registry() *prometheus.Registry { return s.reg }

// Session counts an SSH session by what it ran: screens, command, inbox.
func (s *Set) Session(kind string) { s.sessions.WithLabelValues(kind).Inc() }

// Refused counts a connection refused before authentication; reason is
// one of the admission's few reasons.
func (s *Set) Refused(reason string) { s.refused.WithLabelValues(reason).Inc() }

// Gauge registers a gauge read at each scrape.
func (s *Set) Gauge(name, help string, read func() float64) {
	s.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, read))
}

// Counter registers a counter read at each scrape, for counts something
// else keeps (the ledger's commits).
func (s *Set) Counter(name, help string, read func() float64) {
	s.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help}, read))
}

// The label values each label may take; anything else is "other".
var (
	channels = []string{string(message.Email), string(message.SMS)}
	// rules are the governor's limits; channel_per_hour is the server-wide
	// cap, which a dashboard should alert on.
	rules = []string{flows.RuleAddressGap, flows.RuleAddressHour, flows.RuleAddressDay, flows.RuleDeviceHour,
		flows.RuleSourceHour, flows.RuleChannelHour}
	// methods are how a device proved it may sign in: a device.signed_in
	// fact's method, with "ssh" (a remembered key) called "key".
	methods = []string{"code", "link", "password", "key", "device_link", "wallet", "oidc"}
	factors = []string{flows.FactorCode, flows.FactorSignUp, flows.FactorPassword, flows.FactorTOTP,
		flows.FactorRecovery, flows.FactorWallet, flows.FactorOIDC}
	purposes = []string{flows.PurposeSignIn, flows.PurposeStepUp, flows.PurposeConfirm}
)

func known(v string, set []string) string {
	for _, k := range set {
		if v == k {
			return v
		}
	}
	return "other"
}

func method(m string) string {
	switch m {
	case "ssh":
		return "key"
	case "device-link":
		return "device_link"
	}
	return known(m, methods)
}

// HeldBack implements flows.Observer.
func (s *Set) HeldBack(what string, ch message.Channel, rule string) {
	c, r := known(string(ch), channels), known(rule, rules)
	switch what {
	case "code":
		s.codesHeld.WithLabelValues(c, r).Inc()
	case "link":
		s.linksHeld.WithLabelValues(c, r).Inc()
	}
}

var _ flows.Observer = (*Set)(nil)

// Sender counts the outcome of every message next hands on.
func (s *Set) Sender(next message.Sender) message.Sender {
	return message.SenderFunc(func(ctx context.Context, m message.Message) error {
		err := next.Send(ctx, m)
		outcome := "sent"
		if err != nil {
			outcome = "failed"
		}
		s.deliveries.WithLabelValues(known(string(m.Channel), channels), outcome).Inc()
		return err
	})
}

// committed counts the facts of one durable update.
func (s *Set) committed(facts []store.Fact) {
	for i := range facts {
		f := &facts[i]
		switch f.Kind {
		case flows.KindCodeEmailed:
			s.codesIssued.WithLabelValues(string(message.Email)).Inc()
		case flows.KindCodeTexted:
			s.codesIssued.WithLabelValues(string(message.SMS)).Inc()
		case flows.KindLinkEmailed:
			s.linksIssued.WithLabelValues(string(message.Email)).Inc()
		case flows.KindLinkTexted:
			s.linksIssued.WithLabelValues(string(message.SMS)).Inc()
		case flows.KindDeviceSignedIn:
			// "visit" is an anonymous visitor's first write, not a sign-in.
			if m := bodyField(f, "method"); m != "visit" {
				s.signIns.WithLabelValues(method(m)).Inc()
			}
		case flows.KindSignInHeld:
			s.signInsHeld.WithLabelValues(method(bodyField(f, "method"))).Inc()
		case flows.KindStepUpGranted:
			s.stepUps.WithLabelValues(known(bodyField(f, "factor"), factors)).Inc()
		case flows.KindTOTPUsed:
			s.secondFactors.WithLabelValues(flows.FactorTOTP, known(bodyField(f, "purpose"), purposes)).Inc()
		case flows.KindRecoveryUsed:
			s.secondFactors.WithLabelValues(flows.FactorRecovery, known(bodyField(f, "purpose"), purposes)).Inc()
		}
	}
}

// bodyField reads one string field of a fact's body ("" when absent or
// unreadable). The flows' body types are theirs; the field names are the
// ledger's format, which every reader of the ledger shares.
func bodyField(f *store.Fact, name string) string {
	var body map[string]any
	if f.Decode(&body) != nil {
		return ""
	}
	v, _ := body[name].(string)
	return v
}

// Ledger returns led watched: each update's latency is observed, and the
// facts of each update that commits are counted. Give it to the flows;
// everything else keeps led itself (the watched ledger is a plain
// store.Ledger, without led's other methods).
func (s *Set) Ledger(led store.Ledger) store.Ledger { return &watched{Ledger: led, set: s} }

type watched struct {
	store.Ledger
	set *Set
}

func (w *watched) Update(fn func(store.Tx) error) error {
	var facts []store.Fact
	start := time.Now()
	err := w.Ledger.Update(func(tx store.Tx) error {
		// A ledger may run fn again (PostgreSQL, after losing the
		// database): only the last run's facts are the ones kept.
		t := &appends{Tx: tx}
		err := fn(t)
		facts = t.facts
		return err
	})
	w.set.updateSeconds.Observe(time.Since(start).Seconds())
	if err == nil {
		w.set.committed(facts)
	}
	return err
}

// appends is a transaction that remembers what was appended through it.
type appends struct {
	store.Tx
	facts []store.Fact
}

func (a *appends) Append(f store.Fact) (store.Fact, error) {
	f, err := a.Tx.Append(f)
	if err == nil {
		a.facts = append(a.facts, f)
	}
	return f, err
}
