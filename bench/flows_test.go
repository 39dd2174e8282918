package bench

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/attest-dev/attest/flows"
	"github.com/attest-dev/attest/flows/message"
	"github.com/attest-dev/attest/internal/cpuuse"
	"github.com/attest-dev/attest/store"
	"github.com/attest-dev/attest/store/bolt"
)

// liftedGovernor lets a load test through. The governor exists to hold
// back exactly this: one source asking for code after code, to address
// after address, thousands an hour (the global email cap alone is 1000 an
// hour). It would, correctly, refuse most of the load, and the benchmark
// would measure refusals instead of sign-ups. A negative count is "no
// limit"; the address gap cannot be 0 (that means the default), so it is
// a nanosecond. Every user here has a fresh device and a fresh address,
// so the per-address and per-device limits would not bite anyway, nor
// does the per-source one (each its own network, see signUp), whose work
// is measured; the global per-channel cap would.
var liftedGovernor = flows.Governor{
	AddressGap:     time.Nanosecond,
	AddressPerHour: -1,
	AddressPerDay:  -1,
	DevicePerHour:  -1,
	EmailPerHour:   -1,
}

// flowsRig is a Service on a real bbolt file whose sender hands each code
// to the goroutine waiting for its ticket.
type flowsRig struct {
	led  *bolt.Ledger
	svc  *flows.Service
	desk *desk
}

func newFlowsRig(tb testing.TB) *flowsRig {
	tb.Helper()
	led, err := bolt.Open(filepath.Join(tb.TempDir(), "attest.db"), bolt.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	secret := make([]byte, 32)
	rand.Read(secret)
	r := &flowsRig{led: led, desk: newDesk()}
	r.svc, err = flows.New(flows.Config{
		Ledger: led,
		Secret: secret,
		Sender: message.SenderFunc(func(_ context.Context, m message.Message) error {
			return r.desk.deliver(m.ID, m.Text)
		}),
		Policy: flows.Policy{Governor: liftedGovernor},
	})
	if err != nil {
		led.Close()
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		r.svc.Close()
		if err := led.Close(); err != nil {
			tb.Error(err)
		}
	})
	return r
}

// signUp is one complete sign-up of a new user: a fresh device asks for a
// code to a fresh address, and enters the code the message carried.
func (r *flowsRig) signUp(ctx context.Context, i int) error {
	dev := flows.KeyDevice(fmt.Sprintf("SHA256:bench-device-%d", i))
	// From a network of its own, as users on the internet are: the
	// per-source limit counts and records each message (one network
	// would, rightly, be held back after 30).
	dev.Source = fmt.Sprintf("10.%d.%d.%d", i>>16&255, i>>8&255, i&255)
	iss, err := r.svc.RequestSignIn(ctx, dev, fmt.Sprintf("user%d@example.com", i))
	if err != nil {
		return fmt.Errorf("request: %w", err)
	}
	code, err := r.desk.await(iss.Ticket)
	if err != nil {
		return err
	}
	out, err := r.svc.EnterCode(ctx, dev, "", code)
	if err != nil {
		return fmt.Errorf("enter %s: %w", code, err)
	}
	if !out.SignedUp || !out.Visitor.Account {
		return fmt.Errorf("the code did not sign up a new account: %+v", out)
	}
	return nil
}

// BenchmarkSignUpFlows: complete sign-ups through the flows on a real
// ledger file, 64 users at once. Target: 2,000 sign-ups a second.
func BenchmarkSignUpFlows(b *testing.B) {
	r := newFlowsRig(b)
	ctx := context.Background()
	// How many cores the rest of the machine kept busy meanwhile: on a
	// shared machine the rate above depends on it.
	busy0, _, err0 := cpuuse.Machine()
	self, start := cpuuse.Self(), time.Now()
	report(b, "signups", func(i int) error { return r.signUp(ctx, i) })
	busy1, _, err1 := cpuuse.Machine()
	if err := errors.Join(err0, err1); err != nil {
		b.Logf("the other processes' CPU not measured: %v", err)
	} else {
		others := (busy1 - busy0) - (cpuuse.Self() - self)
		b.ReportMetric(max(others.Seconds(), 0)/time.Since(start).Seconds(), "other-cores")
	}
	r.svc.Wait()
	var facts uint64
	r.led.View(func(rd store.Reader) error { facts, _, _ = rd.Head(); return nil })
	b.ReportMetric(float64(facts)/float64(b.N), "facts/signup")
	st := r.led.Stats()
	b.ReportMetric(float64(st.Updates)/float64(st.Commits), "updates/commit")
}

// The harness works: every sign-up creates an account, and the ledger
// verifies afterwards.
func TestSignUpFlows(t *testing.T) {
	r := newFlowsRig(t)
	ctx := context.Background()
	const n = 200
	lat, _, err := load(n, workers, func(i int) error { return r.signUp(ctx, i) })
	if err != nil {
		t.Fatal(err)
	}
	if len(lat) != n {
		t.Fatalf("%d sign-ups measured, want %d", len(lat), n)
	}
	r.svc.Wait()
	var accepted int
	err = r.led.View(func(rd store.Reader) error {
		var err error
		accepted, err = rd.Count(store.ByKind, flows.KindCodeAccepted, store.Window{})
		return err
	})
	if err != nil || accepted != n {
		t.Fatalf("%d codes accepted, want %d (%v)", accepted, n, err)
	}
	if err := r.led.Verify(); err != nil {
		t.Fatal(err)
	}
}
