package flows_test

import (
	"strings"
	"testing"
	"time"

	"github.com/attest-dev/attest/flows"
)

// Seed 001's clean-up: registrations whose every challenge expired with
// nothing confirmed are listed, and cleaning up records that they were
// abandoned, deleting nothing. Runs on bbolt, and on PostgreSQL under
// ATTEST_TEST_LEDGER=postgres.
func TestUnactivatedRegistrationsCleanedUp(t *testing.T) {
	h := newHarness(t, flows.Policy{})
	register := func(dev flows.Device, addr string) {
		t.Helper()
		if l, err := h.svc.LoginOrRegister(ctx, dev, addr, goodPassword); err != nil || l.Link == nil || l.Link.Purpose != flows.PurposeConfirm {
			t.Fatalf("register %s: %+v, %v", addr, l, err)
		}
	}
	// Ada registers and never follows her link.
	register(device("ada"), "ada@example.com")
	// Bob registers and confirms.
	w := h.svc.Watch(device("bob").Tag)
	register(device("bob"), "bob@example.com")
	_, token := h.magicLinkToken("bob@example.com")
	if info, err := h.press(token); err != nil || info.State != flows.LinkLive {
		t.Fatalf("bob's link: %+v, %v", info, err)
	}
	w.Stop()
	// A visitor with a star registers as Dan, and never confirms.
	dan := device("dan")
	if _, err := h.svc.Star(ctx, dan, "vega"); err != nil {
		t.Fatal(err)
	}
	register(dan, "dan@example.com")
	danUser := h.visit(dan).User

	if list, err := h.svc.Unactivated(ctx, 0); err != nil || len(list) != 0 {
		t.Fatalf("listed while their links are live: %+v, %v", list, err)
	}
	h.clock.Advance(flows.LinkTTL)
	// Carol registers now: her link is live.
	register(device("carol"), "carol@example.com")

	list, err := h.svc.Unactivated(ctx, 0)
	if err != nil || len(list) != 2 {
		t.Fatalf("unactivated: %+v, %v", list, err)
	}
	if len(list[0].Addresses) != 1 || !strings.HasSuffix(list[0].Addresses[0], "@example.com") || strings.HasPrefix(list[0].Addresses[0], "ada") {
		t.Fatalf("the list (addresses masked): %+v", list)
	}
	if list[1].User != danUser || !list[0].Expired.Equal(start.Add(flows.LinkTTL)) {
		t.Fatalf("the list: %+v", list)
	}
	if l, _ := h.svc.Unactivated(ctx, time.Hour); len(l) != 0 {
		t.Fatalf("--older-than 1h listed %+v", l)
	}

	h.svc.Wait()
	cleaned, err := h.svc.Cleanup(ctx, 0)
	if err != nil || len(cleaned) != 2 {
		t.Fatalf("cleanup: %+v, %v", cleaned, err)
	}
	if n := len(h.facts(flows.KindRegistrationAbandoned)); n != 2 {
		t.Fatalf("%d abandoned facts", n)
	}
	if again, err := h.svc.Cleanup(ctx, 0); err != nil || len(again) != 0 {
		t.Fatalf("a second cleanup: %+v, %v", again, err)
	}
	// The derived state drops them; the ledger still answers.
	if o := h.owner("ada@example.com", time.Time{}); len(o.Pending) != 0 {
		t.Fatalf("ada's claim is still pending: %+v", o)
	}
	if o := h.owner("ada@example.com", start.Add(time.Minute)); len(o.Pending) != 1 {
		t.Fatalf("the ledger forgot ada's registration: %+v", o)
	}
	if v := h.visit(dan); v.User != danUser || len(v.Stars) != 1 {
		t.Fatalf("the visitor lost what it had: %+v", v)
	}
	if o := h.owner("bob@example.com", time.Time{}); o.User == "" {
		t.Fatal("bob's account was touched")
	}
	if l, _ := h.svc.Unactivated(ctx, 0); len(l) != 0 {
		t.Fatalf("listed after cleanup: %+v", l)
	}
	// Ada can register again, as new.
	h.clock.Advance(time.Minute)
	register(device("ada"), "ada@example.com")
}

// A registration whose link the governor held back (a message.held fact,
// no link sent) is unactivated too, for a visitor who registered under
// its own tag as well as for a new user.
func TestUnactivatedIncludesHeldRegistrations(t *testing.T) {
	h := newHarness(t, flows.Policy{})
	eve := device("eve")
	if _, err := h.svc.Star(ctx, eve, "vega"); err != nil {
		t.Fatal(err)
	}
	// A sign-in code a moment earlier: the address's next message waits a
	// minute, so the registration's link is held back.
	h.request(eve, "eve@example.com")
	l, err := h.svc.LoginOrRegister(ctx, eve, "eve@example.com", goodPassword)
	if err != nil || l.Link != nil || !l.Pending {
		t.Fatalf("register with the link held back: %+v, %v", l, err)
	}
	if n := len(h.facts(flows.KindMessageHeld)); n != 1 {
		t.Fatalf("%d message.held facts", n)
	}
	eveUser := h.visit(eve).User
	h.clock.Advance(10 * time.Minute) // the sign-in code (the only challenge that went) expires
	list, err := h.svc.Unactivated(ctx, 0)
	if err != nil || len(list) != 1 || list[0].User != eveUser || len(list[0].Addresses) != 1 {
		t.Fatalf("unactivated: %+v, %v", list, err)
	}
	if cleaned, err := h.svc.Cleanup(ctx, 0); err != nil || len(cleaned) != 1 {
		t.Fatalf("cleanup: %+v, %v", cleaned, err)
	}
	if o := h.owner("eve@example.com", time.Time{}); len(o.Pending) != 0 {
		t.Fatalf("eve's claim is still pending: %+v", o)
	}
}
