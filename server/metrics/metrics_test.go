package metrics

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/attest-dev/attest/flows"
	"github.com/attest-dev/attest/flows/message"
	"github.com/attest-dev/attest/store"
	"github.com/attest-dev/attest/store/bolt"
)

var now = time.Date(2026, 12, 5, 9, 0, 0, 0, time.UTC)

func openLedger(t *testing.T) store.Ledger {
	t.Helper()
	l, err := bolt.Open(filepath.Join(t.TempDir(), "attest.db"), bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

func signedIn(method string) store.Fact {
	return store.Fact{Time: now, Kind: flows.KindDeviceSignedIn, User: "u", Device: "d", Body: []byte(`{"method":"` + method + `"}`)}
}

// Only what commits is counted: an update whose function fails, or whose
// later append fails, counts nothing, and every update is timed.
func TestOnlyCommittedFactsCount(t *testing.T) {
	s := New()
	led := s.Ledger(openLedger(t))
	err := led.Update(func(tx store.Tx) error {
		if _, err := tx.Append(signedIn("code")); err != nil {
			return err
		}
		_, err := tx.Append(store.Fact{Time: now, Kind: flows.KindCodeEmailed, Device: "d"})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	boom := errors.New("a later step failed")
	err = led.Update(func(tx store.Tx) error {
		if _, err := tx.Append(signedIn("code")); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("update: %v", err)
	}
	// An invalid fact fails its append; the function goes on and
	// returns nil, and only the valid fact is kept and counted.
	err = led.Update(func(tx store.Tx) error {
		_, _ = tx.Append(store.Fact{Kind: flows.KindCodeTexted}) // no time: refused
		_, err := tx.Append(store.Fact{Time: now, Kind: flows.KindCodeTexted, Device: "d"})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]struct{ got, want float64 }{
		"sign-ins by code": {value(t, s.signIns.WithLabelValues("code")), 1},
		"codes by email":   {value(t, s.codesIssued.WithLabelValues("email")), 1},
		"codes by sms":     {value(t, s.codesIssued.WithLabelValues("sms")), 1},
	} {
		if c.got != c.want {
			t.Errorf("%s: %v, want %v", name, c.got, c.want)
		}
	}
	var h dto.Metric
	if err := s.updateSeconds.Write(&h); err != nil {
		t.Fatal(err)
	}
	if n := h.GetHistogram().GetSampleCount(); n != 3 {
		t.Errorf("%d updates timed, want 3", n)
	}
}

// Label values are fixed sets: whatever a fact's body says, a method,
// factor or channel outside them is "other".
func TestLabelsAreBounded(t *testing.T) {
	s := New()
	s.committed([]store.Fact{
		signedIn("ssh"), signedIn("device-link"), signedIn("ada@example.com"), signedIn("visit"),
		{Time: now, Kind: flows.KindStepUpGranted, Body: []byte(`{"factor":"` + strings.Repeat("x", 100) + `"}`)},
		{Time: now, Kind: flows.KindTOTPUsed, Body: []byte(`{"purpose":"signin"}`)},
		{Time: now, Kind: flows.KindRecoveryUsed, Body: []byte(`not json`)},
	})
	s.HeldBack("code", message.Channel("pigeon"), "whim")
	for name, c := range map[string]struct{ got, want float64 }{
		"key":                {value(t, s.signIns.WithLabelValues("key")), 1},
		"device link":        {value(t, s.signIns.WithLabelValues("device_link")), 1},
		"an unknown method":  {value(t, s.signIns.WithLabelValues("other")), 1},
		"an unknown factor":  {value(t, s.stepUps.WithLabelValues("other")), 1},
		"totp at sign-in":    {value(t, s.secondFactors.WithLabelValues("totp", "signin")), 1},
		"an unreadable body": {value(t, s.secondFactors.WithLabelValues("recovery", "other")), 1},
		"an unknown channel": {value(t, s.codesHeld.WithLabelValues("other", "other")), 1},
		"series of sign-ins": {float64(count(t, s.signIns)), float64(len(methods) + 1)},
	} {
		if c.got != c.want {
			t.Errorf("%s: %v, want %v", name, c.got, c.want)
		}
	}
	if out := mustGather(t, s); strings.Contains(out, "example.com") || strings.Contains(out, "xxxx") || strings.Contains(out, "pigeon") {
		t.Fatalf("a label carries what a fact or a caller said:\n%s", out)
	}
}

// Deliveries count by channel and outcome, and the sender's error passes
// through unchanged.
func TestSenderCountsOutcomes(t *testing.T) {
	s := New()
	refused := errors.New("550 no such mailbox")
	send := s.Sender(message.SenderFunc(func(_ context.Context, m message.Message) error {
		if m.To == "bad" {
			return refused
		}
		return nil
	}))
	if err := send.Send(context.Background(), message.Message{Channel: message.Email, To: "ok"}); err != nil {
		t.Fatal(err)
	}
	if err := send.Send(context.Background(), message.Message{Channel: message.SMS, To: "bad"}); !errors.Is(err, refused) {
		t.Fatalf("error %v, want the sender's", err)
	}
	if got := value(t, s.deliveries.WithLabelValues("email", "sent")); got != 1 {
		t.Errorf("email sent %v", got)
	}
	if got := value(t, s.deliveries.WithLabelValues("sms", "failed")); got != 1 {
		t.Errorf("sms failed %v", got)
	}
}

func mustGather(t *testing.T, s *Set) string {
	t.Helper()
	var b strings.Builder
	fams, err := s.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		b.WriteString(f.String())
		b.WriteByte('\n')
	}
	return b.String()
}

// value reads one counter.
func value(t *testing.T, c prometheus.Counter) float64 {
	t.Helper()
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}

// count is how many series a collector has.
func count(t *testing.T, c prometheus.Collector) int {
	t.Helper()
	ch := make(chan prometheus.Metric, 100)
	c.Collect(ch)
	close(ch)
	return len(ch)
}
