package flows_test

import (
	"testing"
	"time"

	"github.com/attest-dev/attest/flows"
)

const day = 24 * time.Hour

// signedIn reports whether dev is signed in to an account now, checked
// three ways that must agree: the visitor, the account's devices (from
// another device, when one is given), and the as-of question asked later.
func (h *harness) signedIn(dev flows.Device) bool {
	h.t.Helper()
	v := h.visit(dev)
	s, ok, err := h.svc.SessionAt(ctx, dev.Tag, h.clock.Now())
	if err != nil {
		h.t.Fatalf("session at: %v", err)
	}
	if ok != v.Account || ok && (!s.Until.Equal(v.Until) || s.User != v.User) {
		h.t.Fatalf("as of now: %+v %v; the visitor: %+v", s, ok, v)
	}
	return v.Account
}

// listed returns what the account's device list (asked from asker) says
// of dev: whether it is listed, and until when.
func (h *harness) listed(asker, dev flows.Device) (bool, time.Time) {
	h.t.Helper()
	list, err := h.svc.Devices(ctx, asker)
	if err != nil {
		h.t.Fatalf("devices: %v", err)
	}
	for _, d := range list {
		if d.Tag == dev.Tag {
			return true, d.Until
		}
	}
	return false, time.Time{}
}

func (h *harness) touch(dev flows.Device) {
	h.t.Helper()
	if err := h.svc.Touch(ctx, dev); err != nil {
		h.t.Fatalf("touch: %v", err)
	}
}

// A device unused for 30 days is signed out; at 29 days it is not. The
// device list says until when, and stops listing it when that comes.
func TestUnusedDeviceLapsesAfter30Days(t *testing.T) {
	h := newHarness(t, flows.Policy{})
	laptop, phone := device("laptop"), device("phone")
	h.signIn(laptop, "grace@example.com")
	signedInAt := h.clock.Now()
	h.clock.Advance(time.Minute)
	h.signIn(phone, "grace@example.com")

	h.clock.Set(signedInAt.Add(29 * day))
	h.touch(phone) // the phone is used; the laptop is not
	if !h.signedIn(laptop) {
		t.Fatal("signed out after 29 idle days")
	}
	in, until := h.listed(phone, laptop)
	if !in || !until.Equal(signedInAt.Add(30*day)) {
		t.Fatalf("the device list: listed %v until %s, want until %s", in, until, signedInAt.Add(30*day))
	}
	if _, until := h.listed(phone, phone); !until.Equal(h.clock.Now().Add(30 * day)) {
		t.Fatalf("the phone, used now, is listed until %s", until)
	}

	h.clock.Set(signedInAt.Add(30*day - time.Second))
	if !h.signedIn(laptop) {
		t.Fatal("signed out a second before 30 idle days")
	}
	h.clock.Set(signedInAt.Add(30 * day))
	if h.signedIn(laptop) {
		t.Fatal("still signed in after 30 idle days")
	}
	if in, _ := h.listed(phone, laptop); in {
		t.Fatal("the device list still shows the lapsed laptop")
	}
	// Coming back does not revive it: connecting records nothing for a
	// device that is not signed in.
	before := h.head()
	h.touch(laptop)
	if h.head() != before || h.signedIn(laptop) {
		t.Fatal("touching a lapsed device revived it")
	}
	if !h.signedIn(phone) {
		t.Fatal("the phone, used on day 29, is signed out")
	}

	// Asked later, the past answers as it did then.
	h.clock.Advance(400 * day)
	for _, c := range []struct {
		at   time.Time
		want bool
	}{{signedInAt.Add(29 * day), true}, {signedInAt.Add(30*day - time.Second), true}, {signedInAt.Add(30 * day), false}} {
		s, ok, err := h.svc.SessionAt(ctx, laptop.Tag, c.at)
		if err != nil || ok != c.want || ok && !s.Until.Equal(signedInAt.Add(30*day)) {
			t.Errorf("as of %s: %+v %v %v, want signed in %v", c.at, s, ok, err, c.want)
		}
	}
}

// A device used every day is still signed out a year after it signed in,
// and using it wrote one fact a day, however often it connected.
func TestDailyUseLapsesAfterAYear(t *testing.T) {
	h := newHarness(t, flows.Policy{})
	laptop := device("laptop")
	h.signIn(laptop, "grace@example.com")
	signedInAt := h.clock.Now()
	before := h.head()
	for d := 1; d < 365; d++ {
		h.clock.Set(signedInAt.Add(time.Duration(d) * day))
		for range 3 {
			h.touch(laptop)
		}
	}
	if got := h.head() - before; got != 364 {
		t.Fatalf("364 days of use, 3 connections a day, wrote %d facts", got)
	}
	if !h.signedIn(laptop) {
		t.Fatal("signed out after 364 days of daily use")
	}
	if v := h.visit(laptop); !v.Until.Equal(signedInAt.Add(365 * day)) {
		t.Fatalf("signed in until %s, want a year after signing in", v.Until)
	}
	h.clock.Set(signedInAt.Add(365 * day))
	h.touch(laptop)
	if h.signedIn(laptop) {
		t.Fatal("still signed in a year after signing in")
	}
	// Signing in again starts afresh.
	h.clock.Advance(time.Hour)
	h.signIn(laptop, "grace@example.com")
	if !h.signedIn(laptop) {
		t.Fatal("signing in again did not sign in")
	}
}

// An anonymous visitor does not lapse: its nickname and stars stay with
// the device however long it is away. A lapsed account device starts
// afresh as a visitor, as after a sign-out, and the account keeps what it
// had.
func TestLapseKeepsData(t *testing.T) {
	h := newHarness(t, flows.Policy{})
	kiosk, laptop := device("kiosk"), device("laptop")
	if _, err := h.svc.SetNickname(ctx, kiosk, "Ada"); err != nil {
		t.Fatal(err)
	}
	if _, err := h.svc.Star(ctx, kiosk, flows.DefaultCatalogue[0].ID); err != nil {
		t.Fatal(err)
	}
	if _, err := h.svc.SetNickname(ctx, laptop, "Grace"); err != nil {
		t.Fatal(err)
	}
	h.signIn(laptop, "grace@example.com")
	account := h.visit(laptop).User

	h.clock.Advance(2 * 365 * day)
	v := h.visit(kiosk)
	if v.User == "" || v.Nickname != "Ada" || len(v.Stars) != 1 || !v.Until.IsZero() {
		t.Fatalf("the visitor after two years: %+v", v)
	}
	if v := h.visit(laptop); v.Account || v.User != "" || v.Nickname != "" {
		t.Fatalf("the lapsed laptop: %+v", v)
	}
	h.signIn(laptop, "grace@example.com")
	if v := h.visit(laptop); v.User != account || v.Nickname != "Grace" {
		t.Fatalf("signed in again: %+v, want the account %s with its nickname", v, account)
	}
}

// The policy shortens the windows, and refuses longer ones (or an idle
// time shorter than the day that use is recorded by).
func TestSessionPolicy(t *testing.T) {
	h := newHarness(t, flows.Policy{SessionIdle: 2 * day, SessionMax: 10 * day})
	laptop := device("laptop")
	h.signIn(laptop, "grace@example.com")
	signedInAt := h.clock.Now()
	h.clock.Advance(day)
	h.touch(laptop)
	h.clock.Set(signedInAt.Add(3*day - time.Second))
	if !h.signedIn(laptop) {
		t.Fatal("signed out within 2 days of its last use")
	}
	h.clock.Set(signedInAt.Add(3 * day))
	if h.signedIn(laptop) {
		t.Fatal("signed in 2 days after its last use")
	}
	with := func(idle, most time.Duration) flows.Policy {
		p := flows.DefaultPolicy
		p.SessionIdle, p.SessionMax = idle, most
		return p
	}
	if err := flows.DefaultPolicy.Validate(); err != nil {
		t.Fatalf("the default policy refused: %v", err)
	}
	for _, p := range []flows.Policy{with(31*day, 365*day), with(30*day, 366*day), with(-day, 365*day), with(time.Hour, 365*day), with(30*day, -day)} {
		if err := p.Validate(); err == nil {
			t.Errorf("idle %s, at most %s: accepted", p.SessionIdle, p.SessionMax)
		}
	}
	if err := with(7*day, 90*day).Validate(); err != nil {
		t.Errorf("a shorter policy refused: %v", err)
	}
}
