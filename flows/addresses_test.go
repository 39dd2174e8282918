package flows_test

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/attest-dev/attest/flows"
	"github.com/attest-dev/attest/flows/address"
)

// account signs a device up with an email and returns its user tag. The
// device is stepped up (it made the account) for the next hour.
func (h *harness) account(dev flows.Device, email string) string {
	h.t.Helper()
	return h.signIn(dev, email).Visitor.User
}

// addConfirmed adds and confirms an address on dev's account.
func (h *harness) addConfirmed(dev flows.Device, addr string) {
	h.t.Helper()
	iss, err := h.svc.AddAddress(ctx, dev, addr)
	if err != nil {
		h.t.Fatalf("add %s: %v", addr, err)
	}
	if _, err := h.svc.EnterCode(ctx, dev, iss.Letter, h.codeOf(iss)); err != nil {
		h.t.Fatalf("confirm %s: %v", addr, err)
	}
}

func (h *harness) owner(addr string, at time.Time) flows.Ownership {
	h.t.Helper()
	o, err := h.svc.OwnerAt(ctx, addr, at)
	if err != nil {
		h.t.Fatal(err)
	}
	return o
}

// The notes' ADD cases: [A] new, [B1] added by others, [B2] confirmed by
// another, [C1] added by this user (a new claim; the old one ends), [C2]
// confirmed by this user (a notice, no fact).
func TestAddAddressCases(t *testing.T) {
	h := newHarness(t, flows.Policy{Governor: flows.Governor{AddressGap: time.Second}})
	alice, bob := device("alice"), device("bob")
	aliceUser := h.account(alice, "alice@example.com")
	h.clock.Advance(time.Minute)
	bobUser := h.account(bob, "bob@example.com")
	phone := "+14155552671"

	// [A] new to the system.
	if _, err := h.svc.AddAddress(ctx, alice, phone); err != nil {
		t.Fatal(err)
	}
	// [B1] added by someone else, unconfirmed: Bob may claim it too.
	h.clock.Advance(2 * time.Second)
	bobCode, err := h.svc.AddAddress(ctx, bob, phone)
	if err != nil {
		t.Fatal(err)
	}
	if o := h.owner(phone, time.Time{}); o.User != "" || len(o.Pending) != 2 {
		t.Fatalf("two unconfirmed claims: %+v", o)
	}
	// [C1] Alice adds it again: her old claim ends, a new one starts.
	h.clock.Advance(2 * time.Second)
	before := len(h.facts(flows.KindAddressEnded))
	if _, err := h.svc.AddAddress(ctx, alice, phone); err != nil {
		t.Fatal(err)
	}
	if len(h.facts(flows.KindAddressEnded)) != before+1 {
		t.Fatal("[C1] did not end the old claim")
	}
	// Bob confirms: Alice's unconfirmed claim ends with it.
	if _, err := h.svc.EnterCode(ctx, bob, bobCode.Letter, h.codeOf(bobCode)); err != nil {
		t.Fatal(err)
	}
	if o := h.owner(phone, time.Time{}); o.User != bobUser || len(o.Pending) != 0 {
		t.Fatalf("after Bob confirms: %+v", o)
	}
	// [B2] confirmed by Bob: Alice may add a claim, but confirming it
	// asks her to contact support.
	h.clock.Advance(2 * time.Second)
	aliceCode, err := h.svc.AddAddress(ctx, alice, phone)
	if err != nil {
		t.Fatal(err)
	}
	_, err = h.svc.EnterCode(ctx, alice, aliceCode.Letter, h.codeOf(aliceCode))
	p := wantProblem(t, err, flows.ProblemSupport)
	// No support is configured: the operator, and what to quote, which
	// the ledger answers.
	refused := h.facts(flows.KindSupportRefused)
	if len(refused) != 1 {
		t.Fatalf("%d refusal facts", len(refused))
	}
	want := fmt.Sprintf("Please contact the operator of this server, quoting refusal %d of %s (it is in their log).",
		refused[0].Seq, h.clock.Now().UTC().Format("2006-01-02 15:04:05 UTC"))
	if !strings.HasSuffix(p.Msg, want) {
		t.Fatalf("message %q\nwant it to end %q", p.Msg, want)
	}
	if o := h.owner(phone, time.Time{}); o.User != bobUser {
		t.Fatal("a [B2] confirmation moved the phone")
	}
	// [C2] Bob adds his own confirmed phone: a notice, no fact.
	seq := h.head()
	_, err = h.svc.AddAddress(ctx, bob, phone)
	wantProblem(t, err, flows.ProblemNothingToDo)
	if h.head() != seq {
		t.Fatal("[C2] wrote a fact")
	}
	_ = aliceUser
}

// "a throttle logic to restrict user adding more than (e.g.) 5 phones in a
// day" (the sign-up's own address counts).
func TestAtMostFiveAddressesADay(t *testing.T) {
	h := newHarness(t, flows.Policy{Governor: flows.Governor{DevicePerHour: -1}})
	dev := device("d")
	h.account(dev, "a@example.com")
	first := h.clock.Now()
	for i := range 4 {
		h.clock.Advance(time.Minute)
		if _, err := h.svc.AddAddress(ctx, dev, fmt.Sprintf("extra%d@example.com", i)); err != nil {
			t.Fatalf("address %d: %v", i+2, err)
		}
	}
	_, err := h.svc.AddAddress(ctx, dev, "sixth@example.com")
	p := wantProblem(t, err, flows.ProblemAddressLimit)
	// It says when, like every other limit: when the first of the five
	// leaves the day.
	next := first.Add(24 * time.Hour)
	if !p.RetryAt.Equal(next) || !strings.Contains(p.Msg, "the next can be added at "+flows.When(next, h.clock.Now())) || strings.Contains(p.Msg, "tomorrow") {
		t.Fatalf("the limit says: %q (retry at %s)", p.Msg, p.RetryAt)
	}
	h.clock.Advance(24*time.Hour + time.Second)
	h.stepUp(dev)
	if _, err := h.svc.AddAddress(ctx, dev, "sixth@example.com"); err != nil {
		t.Fatalf("a day later: %v", err)
	}
}

// At any instant at most one user has an address confirmed: 50 users
// race to confirm one phone, and exactly one wins.
func TestConfirmationRace(t *testing.T) {
	h := newHarness(t, flows.Policy{Governor: flows.Governor{AddressGap: time.Nanosecond, AddressPerHour: -1, AddressPerDay: -1, SMSPerHour: -1}})
	phone := "+14155552671"
	type racer struct {
		dev  flows.Device
		iss  flows.Issued
		code string
	}
	var racers []racer
	for i := range 50 {
		dev := device(fmt.Sprint("racer", i))
		h.account(dev, fmt.Sprintf("racer%d@example.com", i))
		iss, err := h.svc.AddAddress(ctx, dev, phone)
		if err != nil {
			t.Fatal(err)
		}
		racers = append(racers, racer{dev, iss, h.codeOf(iss)})
		h.clock.Advance(time.Millisecond) // past the (tiny) gap between codes to the phone
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	won, support := 0, 0
	for _, r := range racers {
		wg.Go(func() {
			_, err := h.svc.EnterCode(ctx, r.dev, r.iss.Letter, r.code)
			mu.Lock()
			defer mu.Unlock()
			if err == nil {
				won++
			} else if p, ok := flows.AsProblem(err); ok && p.Code == flows.ProblemSupport {
				support++
			} else {
				t.Errorf("unexpected: %v", err)
			}
		})
	}
	wg.Wait()
	if won != 1 || support != 49 {
		t.Fatalf("%d won and %d were told to contact support; want 1 and 49", won, support)
	}
	if o := h.owner(phone, time.Time{}); o.User == "" || len(o.Pending) != 0 {
		t.Fatalf("after the race: %+v", o)
	}
}

// Unconfirmed claims never block the real owner, even in sign-in.
func TestUnconfirmedClaimsNeverBlockTheOwner(t *testing.T) {
	h := newHarness(t, flows.Policy{})
	squatter := device("squatter")
	h.account(squatter, "squatter@example.com")
	if _, err := h.svc.AddAddress(ctx, squatter, "+14155552671"); err != nil {
		t.Fatal(err)
	}
	// The real owner signs up with the phone; the squatter's claim ends.
	owner := device("owner")
	h.clock.Advance(time.Minute)
	out := h.signIn(owner, "+14155552671")
	if !out.SignedUp {
		t.Fatalf("the owner could not sign up: %+v", out)
	}
	if o := h.owner("+14155552671", time.Time{}); o.User != out.Visitor.User || len(o.Pending) != 0 {
		t.Fatalf("ownership: %+v", o)
	}
}

// The notes' UNLINK cases.
func TestUnlinkCases(t *testing.T) {
	h := newHarness(t, flows.Policy{})
	dev := device("d")
	h.account(dev, "grace@example.com")

	// Not added by the user: success that changes nothing.
	seq := h.head()
	out, err := h.svc.UnlinkAddress(ctx, dev, "nobody@example.com")
	if err != nil || out.Changed || h.head() != seq {
		t.Fatalf("unlink of a stranger's address: %+v, %v", out, err)
	}
	// The only confirmed address: refused.
	_, err = h.svc.UnlinkAddress(ctx, dev, "grace@example.com")
	p := wantProblem(t, err, flows.ProblemLastAddress)
	if !strings.Contains(p.Msg, "only confirmed address") {
		t.Fatalf("message %q", p.Msg)
	}
	// Unconfirmed: ended.
	if _, err := h.svc.AddAddress(ctx, dev, "+14155552671"); err != nil {
		t.Fatal(err)
	}
	if out, err := h.svc.UnlinkAddress(ctx, dev, "+14155552671"); err != nil || !out.Changed {
		t.Fatalf("unlink unconfirmed: %+v, %v", out, err)
	}
	if len(h.visit(dev).Addresses) != 1 {
		t.Fatal("the unconfirmed address is still listed")
	}
	// Confirmed, and not the only one: ended.
	h.clock.Advance(time.Minute)
	h.addConfirmed(dev, "+14155552671")
	if out, err := h.svc.UnlinkAddress(ctx, dev, "grace@example.com"); err != nil || !out.Changed {
		t.Fatalf("unlink a confirmed address: %+v, %v", out, err)
	}
	if a := h.visit(dev).Addresses; len(a) != 1 || a[0].Display != "+1 415-555-2671" {
		t.Fatalf("addresses: %+v", a)
	}
}

// The notes' EDIT cases.
func TestEditCases(t *testing.T) {
	h := newHarness(t, flows.Policy{Governor: flows.Governor{AddressGap: time.Second}})
	dev := device("d")
	h.account(dev, "grace@example.com")

	// Old address not on the account: it's an add, so say so.
	_, err := h.svc.EditAddress(ctx, dev, "+14155550000", "+14155552671")
	wantProblem(t, err, flows.ProblemInput)

	// Old unconfirmed: replaced by the new one in one step.
	if _, err := h.svc.AddAddress(ctx, dev, "+14155552671"); err != nil {
		t.Fatal(err)
	}
	h.clock.Advance(2 * time.Second)
	if _, err := h.svc.EditAddress(ctx, dev, "+14155552671", "+14155552672"); err != nil {
		t.Fatal(err)
	}
	var shown []string
	for _, a := range h.visit(dev).Addresses {
		shown = append(shown, a.Display)
	}
	if strings.Join(shown, ",") != "grace@example.com,+1 415-555-2672" {
		t.Fatalf("after editing an unconfirmed address: %v", shown)
	}
	// Old confirmed: the new one is added beside it.
	h.clock.Advance(2 * time.Second)
	if _, err := h.svc.EditAddress(ctx, dev, "grace@example.com", "grace@work.example"); err != nil {
		t.Fatal(err)
	}
	if n := len(h.visit(dev).Addresses); n != 3 {
		t.Fatalf("editing a confirmed address left %d addresses, want 3", n)
	}
}

// "who owned this phone earlier": ownership and a user's addresses at
// several instants.
func TestHistoryAtSeveralInstants(t *testing.T) {
	h := newHarness(t, flows.Policy{})
	alice, bob := device("alice"), device("bob")
	phone := "+14155552671"

	t0 := h.clock.Now()
	h.clock.Advance(time.Hour)
	aliceUser := h.account(alice, "alice@example.com")
	h.addConfirmed(alice, phone)
	t1 := h.clock.Now()

	h.clock.Advance(24 * time.Hour)
	h.stepUp(alice)
	if _, err := h.svc.UnlinkAddress(ctx, alice, phone); err != nil {
		t.Fatal(err)
	}
	t2 := h.clock.Now()

	h.clock.Advance(24 * time.Hour)
	bobUser := h.signIn(bob, phone).Visitor.User
	t3 := h.clock.Now()

	for _, c := range []struct {
		at   time.Time
		want string
	}{{t0, ""}, {t1, aliceUser}, {t2, ""}, {t3, bobUser}, {time.Time{}, bobUser}} {
		if got := h.owner(phone, c.at).User; got != c.want {
			t.Errorf("owner at %s: %q, want %q", c.at, got, c.want)
		}
	}
	at1, err := h.svc.AddressesAt(ctx, aliceUser, t1)
	if err != nil || len(at1) != 2 {
		t.Fatalf("alice's addresses at t1: %+v, %v", at1, err)
	}
	at2, _ := h.svc.AddressesAt(ctx, aliceUser, t2)
	if len(at2) != 1 || at2[0].Display != "alice@example.com" {
		t.Fatalf("alice's addresses at t2: %+v", at2)
	}
	hist, err := h.svc.History(ctx, alice)
	if err != nil {
		t.Fatal(err)
	}
	var events []string
	for _, e := range hist {
		events = append(events, e.Event+" "+e.Display)
	}
	want := "added alice@example.com|confirmed alice@example.com|added +1 415-555-2671|confirmed +1 415-555-2671|ended +1 415-555-2671"
	if strings.Join(events, "|") != want {
		t.Fatalf("history:\n%s\nwant\n%s", strings.Join(events, "|"), want)
	}
}

// The account split (seed 002, end notes): Bob put his phone on the
// account he made for Alice, beside hers. Signing in with his phone signs
// him in to that account, with no question; then, and only then, he may
// make the phone an account of its own.
func TestAccountSplit(t *testing.T) {
	setup := func(t *testing.T) (*harness, string, flows.Device) {
		h := newHarness(t, flows.Policy{Governor: flows.Governor{AddressGap: time.Second}})
		grandma := device("alice")
		aaa := h.account(grandma, "alice@example.com")
		h.addConfirmed(grandma, "+14155552671") // Alice's phone
		h.clock.Advance(2 * time.Second)
		h.addConfirmed(grandma, "+14155552672") // Bob's phone
		h.clock.Advance(time.Minute)
		return h, aaa, device("bob")
	}
	enter := func(t *testing.T, h *harness, aaa string, bob flows.Device) flows.Entered {
		iss, code := h.request(bob, "+14155552672")
		out, err := h.svc.EnterCode(ctx, bob, iss.Letter, code)
		if err != nil {
			t.Fatal(err)
		}
		if !out.Visitor.Account || out.Visitor.User != aaa || out.SignedUp {
			t.Fatalf("the right code did not sign in to the account that has the phone: %+v", out)
		}
		sp := out.Split
		if sp == nil || sp.Display != "+1 415-555-2672" || sp.Kind != address.Phone || len(sp.Keeps) != 1 ||
			sp.Keeps[0] != "+1 •••-•••-2671" || !sp.OfferedUntil.Equal(iss.Expires) {
			t.Fatalf("the split is not offered after the sign-in: %+v", sp)
		}
		if len(h.facts(flows.KindSplitOffered)) != 1 {
			t.Fatal("the offer is not in the ledger")
		}
		return out
	}

	t.Run("stay: split signin", func(t *testing.T) {
		h, aaa, bob := setup(t)
		enter(t, h, aaa, bob)
		out, err := h.svc.ChooseSplit(ctx, bob, flows.SplitSignIn)
		if err != nil || out.Visitor.User != aaa {
			t.Fatalf("choose signin: %+v, %v", out.Visitor, err)
		}
		_, err = h.svc.ChooseSplit(ctx, bob, flows.SplitSignIn)
		wantProblem(t, err, flows.ProblemNoCode)
		// Staying is no promise: the account screen still offers it.
		if h.visit(bob).Split == nil {
			t.Fatal("the split is gone after staying")
		}
	})
	t.Run("start a new account with this phone", func(t *testing.T) {
		h, aaa, bob := setup(t)
		h.svc.Wait()
		before := len(h.bag.to("alice@example.com"))
		enter(t, h, aaa, bob)
		out, err := h.svc.ChooseSplit(ctx, bob, flows.SplitNew)
		if err != nil || !out.SignedUp || out.Visitor.User == aaa || out.Visitor.Split != nil {
			t.Fatalf("choose new: %+v, %v", out, err)
		}
		if o := h.owner("+14155552672", time.Time{}); o.User != out.Visitor.User {
			t.Fatal("Bob's phone did not move to his new account")
		}
		if o := h.owner("+14155552671", time.Time{}); o.User != aaa {
			t.Fatal("Alice lost her own phone")
		}
		if h.visit(device("alice")).User != aaa {
			t.Fatal("Alice's device left her account")
		}
		h.svc.Wait()
		got := h.bag.to("alice@example.com")
		if len(got) != before+1 {
			t.Fatal("Alice's account was not told")
		}
		want := "the phone number +1 •••-•••-2672 left your attest account: whoever signed in with it chose to make it an account of its own. Your account keeps +1 •••-•••-2671."
		if m := got[len(got)-1]; !strings.Contains(m.Text, want) || strings.Contains(m.Text, "on your account") {
			t.Fatalf("Alice's notice:\n%s\nwant it to say\n%s", m.Text, want)
		}
		chosen := h.facts(flows.KindSplitChosen)
		if len(chosen) != 1 || !strings.Contains(string(chosen[0].Body), `"new"`) {
			t.Fatalf("the choice is not in the ledger: %+v", chosen)
		}
		_, err = h.svc.ChooseSplit(ctx, bob, flows.SplitNew)
		wantProblem(t, err, flows.ProblemNoCode)
	})
	t.Run("later, from the account", func(t *testing.T) {
		h, aaa, bob := setup(t)
		enter(t, h, aaa, bob)
		h.clock.Advance(3 * 24 * time.Hour)
		if h.visit(bob).Split == nil {
			t.Fatal("the split is not on the account after the code's lifetime")
		}
		_, err := h.svc.ChooseSplit(ctx, bob, flows.SplitSignIn)
		wantProblem(t, err, flows.ProblemNoCode)
		out, err := h.svc.ChooseSplit(ctx, bob, flows.SplitNew)
		if err != nil || !out.SignedUp || out.Visitor.User == aaa {
			t.Fatalf("split new days later: %+v, %v", out, err)
		}
	})
	t.Run("not for a device that signed in otherwise", func(t *testing.T) {
		h, aaa, _ := setup(t)
		// Alice's own device signed in with her email: nothing to split.
		if sp := h.visit(device("alice")).Split; sp != nil {
			t.Fatalf("a split for the email sign-in: %+v", sp)
		}
		_, err := h.svc.ChooseSplit(ctx, device("alice"), flows.SplitNew)
		wantProblem(t, err, flows.ProblemNoCode)
		if o := h.owner("+14155552672", time.Time{}); o.User != aaa {
			t.Fatal("a refused split moved the phone")
		}
	})
	t.Run("no split when the account has no other phone", func(t *testing.T) {
		h := newHarness(t, flows.Policy{})
		h.account(device("alice"), "+14155552671")
		h.clock.Advance(time.Minute)
		out := h.signIn(device("bob"), "+14155552671")
		if out.Split != nil || !out.Visitor.Account || out.Visitor.Split != nil {
			t.Fatalf("a split with a single phone: %+v", out)
		}
		_, err := h.svc.ChooseSplit(ctx, device("bob"), flows.SplitNew)
		wantProblem(t, err, flows.ProblemNoCode)
	})
}

// The split stands only while the account has the address and another
// like it.
func TestSplitAfterTheAddressMoved(t *testing.T) {
	h := newHarness(t, flows.Policy{Governor: flows.Governor{AddressGap: time.Second}})
	alice, bob := device("alice"), device("bob")
	aaa := h.account(alice, "alice@example.com")
	h.addConfirmed(alice, "+14155552671")
	h.clock.Advance(2 * time.Second)
	h.addConfirmed(alice, "+14155552672")
	h.clock.Advance(time.Minute)
	iss, code := h.request(bob, "+14155552672")
	if out, err := h.svc.EnterCode(ctx, bob, iss.Letter, code); err != nil || out.Split == nil {
		t.Fatalf("no split: %+v, %v", out, err)
	}
	if _, err := h.svc.UnlinkAddress(ctx, alice, "+14155552671"); err != nil {
		t.Fatal(err)
	}
	h.svc.Wait() // the unlink's notices are delivered (and recorded)
	before := h.head()
	_, err := h.svc.ChooseSplit(ctx, bob, flows.SplitNew)
	wantProblem(t, err, flows.ProblemNoCode)
	if h.head() != before || h.visit(bob).User != aaa {
		t.Fatal("a split the account no longer qualifies for changed something")
	}
}

// Remembered keys do not count against the daily address limit.
func TestKeysDoNotCountAgainstAddressLimit(t *testing.T) {
	h := newHarness(t, flows.Policy{})
	dev := device("d")
	h.account(dev, "a@example.com")
	if err := h.svc.RememberKey(ctx, dev); err != nil {
		t.Fatal(err)
	}
	for i := range 4 {
		if _, err := h.svc.AddAddress(ctx, dev, fmt.Sprintf("extra%d@example.com", i)); err != nil {
			t.Fatalf("address %d: %v", i+2, err)
		}
	}
}

// A refused edit leaves the account exactly as it was: the old address is
// not ended when the new one cannot be added.
func TestRefusedEditChangesNothing(t *testing.T) {
	h := newHarness(t, flows.Policy{Governor: flows.Governor{AddressGap: time.Second}})
	dev := device("d")
	h.account(dev, "grace@example.com")
	if _, err := h.svc.AddAddress(ctx, dev, "+14155552671"); err != nil { // unconfirmed
		t.Fatal(err)
	}
	h.svc.Wait() // the code's delivery outcome is a fact too
	seq := h.head()
	// The new address is already confirmed on the account: [C2].
	_, err := h.svc.EditAddress(ctx, dev, "+14155552671", "grace@example.com")
	wantProblem(t, err, flows.ProblemNothingToDo)
	if h.head() != seq {
		t.Fatal("a refused edit wrote facts")
	}
	if n := len(h.visit(dev).Addresses); n != 2 {
		t.Fatalf("%d addresses after a refused edit, want 2", n)
	}
	_, err = h.svc.EditAddress(ctx, dev, "+14155552671", "+14155552671")
	wantProblem(t, err, flows.ProblemNothingToDo)
}

// A configured support contact is named where a refusal sends people to
// support.
func TestContactSupportNamesTheSupport(t *testing.T) {
	h := newHarness(t, flows.Policy{Governor: flows.Governor{AddressGap: time.Second}})
	h.support = "https://help.example.com/attest"
	h.restart(flows.Policy{Governor: flows.Governor{AddressGap: time.Second}})
	if h.svc.Support() != "https://help.example.com/attest" {
		t.Fatalf("support: %q", h.svc.Support())
	}
	alice, bob := device("alice"), device("bob")
	h.account(alice, "alice@example.com")
	h.account(bob, "bob@example.com")
	h.addConfirmed(bob, "+14155552671")
	h.clock.Advance(time.Minute)
	iss, err := h.svc.AddAddress(ctx, alice, "+14155552671")
	if err != nil {
		t.Fatal(err)
	}
	_, err = h.svc.EnterCode(ctx, alice, iss.Letter, h.codeOf(iss))
	p := wantProblem(t, err, flows.ProblemSupport)
	refused := h.facts(flows.KindSupportRefused)
	want := fmt.Sprintf("Please contact support at https://help.example.com/attest, quoting refusal %d of %s.",
		refused[len(refused)-1].Seq, h.clock.Now().UTC().Format("2006-01-02 15:04:05 UTC"))
	if !strings.HasSuffix(p.Msg, want) {
		t.Fatalf("message %q\nwant it to end %q", p.Msg, want)
	}
}

// What a person expects of "this phone is mine, not this account's":
// the stars and nickname Bob had on his phone before he signed in, which
// the sign-in merged into the account, go with him to his new account.
// The account keeps what it had itself, and loses what only the merge
// gave it; a star it starred again since stays.
func TestSplitTakesWhatTheDeviceBrought(t *testing.T) {
	for _, restar := range []bool{false, true} {
		t.Run(fmt.Sprintf("restarred=%v", restar), func(t *testing.T) {
			h := newHarness(t, flows.Policy{Governor: flows.Governor{AddressGap: time.Second}})
			grandma, bob := device("alice"), device("bob")
			aaa := h.account(grandma, "alice@example.com")
			h.addConfirmed(grandma, "+14155552671")
			h.clock.Advance(2 * time.Second)
			h.addConfirmed(grandma, "+14155552672")
			h.clock.Advance(time.Minute)
			if _, err := h.svc.Star(ctx, grandma, "rigel"); err != nil {
				t.Fatal(err)
			}
			for _, item := range []string{"vega", "rigel"} {
				if _, err := h.svc.Star(ctx, bob, item); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := h.svc.SetNickname(ctx, bob, "Bob"); err != nil {
				t.Fatal(err)
			}
			out := h.signIn(bob, "+14155552672")
			if out.Visitor.User != aaa || out.Merged == nil || strings.Join(out.Visitor.Stars, ",") != "rigel,vega" || out.Visitor.Nickname != "Bob" {
				t.Fatalf("the sign-in's merge: %+v", out)
			}
			want := "rigel"
			if restar { // Alice stars vega herself before the split
				if _, err := h.svc.Unstar(ctx, grandma, "vega"); err != nil {
					t.Fatal(err)
				}
				if _, err := h.svc.Star(ctx, grandma, "vega"); err != nil {
					t.Fatal(err)
				}
				want = "rigel,vega"
			}
			split, err := h.svc.ChooseSplit(ctx, bob, flows.SplitNew)
			if err != nil {
				t.Fatal(err)
			}
			if m := split.Merged; m == nil || strings.Join(m.Stars, ",") != "vega,rigel" || !m.NicknameTaken || m.VisitorNickname != "Bob" {
				t.Fatalf("the split does not say what came along: %+v", m)
			}
			if v := split.Visitor; v.User == aaa || strings.Join(v.Stars, ",") != "vega,rigel" || v.Nickname != "Bob" {
				t.Fatalf("Bob's new account: %+v", v)
			}
			if v := h.visit(grandma); strings.Join(v.Stars, ",") != want || v.Nickname != "" {
				t.Fatalf("Alice's account after the split: stars %q, nickname %q; want %q and none", v.Stars, v.Nickname, want)
			}
			chosen := h.facts(flows.KindSplitChosen)
			if len(chosen) != 1 || !strings.Contains(string(chosen[0].Body), `"stars":["vega","rigel"]`) {
				t.Fatalf("the choice does not say what went along: %s", chosen[0].Body)
			}
		})
	}
}
