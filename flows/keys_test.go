package flows_test

import (
	"strings"
	"testing"
	"time"

	"github.com/attest-dev/attest/flows"
)

// "remember this key": the handshake is the proof; a signed-out device
// whose key is remembered is offered sign-in with one keystroke.
func TestRememberedKeySignsIn(t *testing.T) {
	h := newHarness(t, flows.Policy{})
	dev := device("laptop")
	user := h.account(dev, "grace@example.com")
	h.svc.SetNickname(ctx, dev, "Grace")

	if err := h.svc.RememberKey(ctx, dev); err != nil {
		t.Fatal(err)
	}
	keys, err := h.svc.Keys(ctx, dev)
	if err != nil || len(keys) != 1 || keys[0].Fingerprint != dev.Tag || !keys[0].Current || keys[0].Method != "ssh" {
		t.Fatalf("keys: %+v, %v", keys, err)
	}
	confirmed := h.facts(flows.KindAddressConfirmed)
	if !strings.Contains(string(confirmed[len(confirmed)-1].Body), `"method":"ssh"`) {
		t.Fatal("the key's attestation does not record the method ssh")
	}
	wantProblem(t, h.svc.RememberKey(ctx, dev), flows.ProblemNothingToDo)

	if err := h.svc.SignOut(ctx, dev); err != nil {
		t.Fatal(err)
	}
	v := h.visit(dev)
	if v.Account || v.KeyAccount == nil || v.KeyAccount.User != user || v.KeyAccount.Nickname != "Grace" {
		t.Fatalf("signed out, the key is not offered: %+v", v)
	}
	out, err := h.svc.SignInWithKey(ctx, dev)
	if err != nil || out.Visitor.User != user || out.Visitor.Method != "ssh" || out.Visitor.KeyAccount != nil {
		t.Fatalf("sign in with the key: %+v, %v", out.Visitor, err)
	}
	// Another key is not remembered.
	_, err = h.svc.SignInWithKey(ctx, device("stranger"))
	wantProblem(t, err, flows.ProblemInput)
}

func TestRememberAndForgetKeysAreProtected(t *testing.T) {
	h := newHarness(t, flows.Policy{})
	dev := device("laptop")
	h.account(dev, "grace@example.com")
	h.clock.Advance(2 * time.Hour)
	wantProblem(t, h.svc.RememberKey(ctx, dev), flows.ProblemStepUp)
	h.stepUp(dev)
	if err := h.svc.RememberKey(ctx, dev); err != nil {
		t.Fatal(err)
	}
	h.clock.Advance(2 * time.Hour)
	wantProblem(t, h.svc.ForgetKey(ctx, dev, dev.Tag), flows.ProblemStepUp)
	h.stepUp(dev)
	if err := h.svc.ForgetKey(ctx, dev, dev.Tag); err != nil {
		t.Fatal(err)
	}
	if keys, _ := h.svc.Keys(ctx, dev); len(keys) != 0 {
		t.Fatalf("keys after forgetting: %+v", keys)
	}
	wantProblem(t, h.svc.ForgetKey(ctx, dev, "SHA256:nope"), flows.ProblemInput)
	// A keyless connection has nothing to remember.
	eph, _ := h.svc.EphemeralDevice()
	wantProblem(t, h.svc.RememberKey(ctx, eph), flows.ProblemInput)
}

// A key belongs to one account at a time.
func TestKeyRememberedByAnotherAccount(t *testing.T) {
	h := newHarness(t, flows.Policy{})
	shared := device("shared")
	h.account(shared, "first@example.com")
	if err := h.svc.RememberKey(ctx, shared); err != nil {
		t.Fatal(err)
	}
	if err := h.svc.SignOut(ctx, shared); err != nil {
		t.Fatal(err)
	}
	h.clock.Advance(time.Minute)
	h.account(shared, "second@example.com")
	wantProblem(t, h.svc.RememberKey(ctx, shared), flows.ProblemSupport)
}

// Sign-out everywhere offers to forget remembered keys too.
func TestSignOutEverywhereCanForgetKeys(t *testing.T) {
	h := newHarness(t, flows.Policy{})
	desk := device("desk")
	h.account(desk, "grace@example.com")
	if err := h.svc.RememberKey(ctx, desk); err != nil {
		t.Fatal(err)
	}
	if err := h.svc.SignOutEverywhere(ctx, desk, true); err != nil {
		t.Fatal(err)
	}
	if v := h.visit(desk); v.Account || v.KeyAccount != nil {
		t.Fatalf("after sign-out everywhere with keys forgotten: %+v", v)
	}
}

// Linking a new device: a short code on the new device, approved on a
// signed-in one; the new device's key is remembered and it is signed in.
func TestDeviceLink(t *testing.T) {
	h := newHarness(t, flows.Policy{})
	desk, phone := device("desk"), device("phone")
	user := h.account(desk, "grace@example.com")
	h.svc.Star(ctx, phone, "vega") // the phone has anonymous data

	link, err := h.svc.RequestDeviceLink(ctx, phone)
	if err != nil {
		t.Fatal(err)
	}
	if len(link.Code) != 9 || link.Code[4] != '-' || !link.Expires.Equal(h.clock.Now().Add(time.Minute)) {
		t.Fatalf("link: %+v", link)
	}
	for _, f := range h.facts(flows.KindLinkRequested) {
		if strings.Contains(string(f.Body), strings.ReplaceAll(link.Code, "-", "")) || strings.Contains(f.Ticket, link.Code) {
			t.Fatal("the ledger holds the link code")
		}
	}
	w := h.svc.Watch(phone.Tag)
	defer w.Stop()

	// The code does not work on the device that shows it.
	_, err = h.svc.ApproveDeviceLink(ctx, phone, link.Code)
	if err == nil {
		t.Fatal("the new device approved itself")
	}
	got, err := h.svc.ApproveDeviceLink(ctx, desk, strings.ToLower(strings.ReplaceAll(link.Code, "-", " ")))
	if err != nil || got != phone.Tag {
		t.Fatalf("approve: %q, %v", got, err)
	}
	select {
	case <-w.C:
	default:
		t.Fatal("the waiting new device was not told")
	}
	v := h.visit(phone)
	if v.User != user || !v.Account || v.Method != "device-link" || !hasAll(v.Stars, "vega") {
		t.Fatalf("the new device: %+v", v)
	}
	keys, _ := h.svc.Keys(ctx, desk)
	if len(keys) != 1 || keys[0].Fingerprint != phone.Tag || keys[0].Method != "device-link" {
		t.Fatalf("keys: %+v", keys)
	}
	// Used once.
	_, err = h.svc.ApproveDeviceLink(ctx, desk, link.Code)
	wantProblem(t, err, flows.ProblemCodeUsed)
}

func TestDeviceLinkExpiresAfterAMinute(t *testing.T) {
	h := newHarness(t, flows.Policy{})
	desk, phone := device("desk"), device("phone")
	h.account(desk, "grace@example.com")
	link, _ := h.svc.RequestDeviceLink(ctx, phone)
	h.clock.Advance(time.Minute + time.Second)
	_, err := h.svc.ApproveDeviceLink(ctx, desk, link.Code)
	p := wantProblem(t, err, flows.ProblemCodeUsed)
	if !strings.Contains(p.Msg, "expired") {
		t.Fatalf("message %q", p.Msg)
	}
	if h.visit(phone).Account {
		t.Fatal("an expired link signed the device in")
	}
	_, err = h.svc.ApproveDeviceLink(ctx, desk, "ABCD-EFGH")
	wantProblem(t, err, flows.ProblemNoCode)
	_, err = h.svc.ApproveDeviceLink(ctx, desk, "not a code")
	wantProblem(t, err, flows.ProblemInput)
}

// Approving a device is protected.
func TestDeviceLinkApprovalIsProtected(t *testing.T) {
	h := newHarness(t, flows.Policy{})
	desk, phone := device("desk"), device("phone")
	h.account(desk, "grace@example.com")
	h.clock.Advance(2 * time.Hour)
	link, _ := h.svc.RequestDeviceLink(ctx, phone)
	_, err := h.svc.ApproveDeviceLink(ctx, desk, link.Code)
	wantProblem(t, err, flows.ProblemStepUp)
}
