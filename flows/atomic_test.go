package flows_test

import (
	"errors"
	"testing"
	"time"

	"github.com/attest-dev/attest/flows"
)

// A registration's link confirms the address and signs the device in in
// one transaction: when signing in fails, the confirmation is not kept
// and the link still works.
func TestConfirmLinkFailingSignInKeepsNothing(t *testing.T) {
	h := newHarness(t, flows.Policy{})
	dev := device("laptop")
	w := h.svc.Watch(dev.Tag)
	defer w.Stop()
	if _, err := h.svc.LoginOrRegister(ctx, dev, "grace@example.com", goodPassword); err != nil {
		t.Fatal(err)
	}
	_, token := h.magicLinkToken("grace@example.com")

	svc := h.rebuild(&failingLedger{Ledger: h.ledger, failAt: map[string]int{flows.KindDeviceSignedIn: 1}})
	w2 := svc.Watch(dev.Tag) // a link is live only while its terminal waits
	defer w2.Stop()
	before := h.head()
	if _, err := svc.ConfirmLinkChecked(ctx, token, svc.CheckOfToken(token)); !errors.Is(err, errInjected) {
		t.Fatalf("want the injected failure, got %v", err)
	}
	if h.head() != before {
		t.Fatalf("a failed confirmation left %d facts", h.head()-before)
	}
	if o := h.owner("grace@example.com", time.Time{}); o.User != "" {
		t.Fatalf("the address was confirmed by a failed link: %+v", o)
	}
	if h.visit(dev).Account {
		t.Fatal("the device signed in through a failed link")
	}
	if info, err := h.press(token); err != nil || info.State != flows.LinkLive {
		t.Fatalf("the link was used up by the failure: %+v, %v", info, err)
	}
	if !h.visit(dev).Account {
		t.Fatal("the retried link did not sign the device in")
	}
}

// Choosing "a new account with this phone" ends the old account's claim
// and signs up in one transaction: when the sign-up fails, the phone stays
// where it was, the device on the account, and the split still open.
func TestChooseSplitFailingSignUpKeepsNothing(t *testing.T) {
	h := newHarness(t, flows.Policy{Governor: flows.Governor{AddressGap: time.Second}})
	grandma, bob := device("alice"), device("bob")
	aaa := h.account(grandma, "alice@example.com")
	h.addConfirmed(grandma, "+14155552671")
	h.clock.Advance(2 * time.Second)
	h.addConfirmed(grandma, "+14155552672")
	h.clock.Advance(time.Minute)
	iss, code := h.request(bob, "+14155552672")
	if out, err := h.svc.EnterCode(ctx, bob, iss.Letter, code); err != nil || out.Split == nil {
		t.Fatalf("no split offered: %+v, %v", out, err)
	}

	svc := h.rebuild(&failingLedger{Ledger: h.ledger, failAt: map[string]int{flows.KindDeviceSignedIn: 1}})
	before := h.head()
	if _, err := svc.ChooseSplit(ctx, bob, flows.SplitNew); !errors.Is(err, errInjected) {
		t.Fatalf("want the injected failure, got %v", err)
	}
	if h.head() != before {
		t.Fatalf("a failed split left %d facts", h.head()-before)
	}
	if o := h.owner("+14155552672", time.Time{}); o.User != aaa {
		t.Fatalf("the phone left the account through a failed split: %+v", o)
	}
	out, err := h.svc.ChooseSplit(ctx, bob, flows.SplitNew)
	if err != nil || !out.SignedUp || out.Visitor.User == aaa {
		t.Fatalf("the retried choice: %+v, %v", out, err)
	}
}
