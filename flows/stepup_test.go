package flows_test

import (
	"strings"
	"testing"
	"time"

	"github.com/attest-dev/attest/flows"
	"github.com/attest-dev/attest/flows/message"
)

// Seed 000: "a new user gets codes to validate their email address and
// then sms number; the second code they get is code B; the third code
// they get is 6 digits, not 4".
func TestNewUserValidatesEmailThenPhone(t *testing.T) {
	h := newHarness(t, flows.Policy{})
	dev := device("laptop")

	iss, code := h.request(dev, "grace@example.com")
	if iss.Letter != "A" || iss.Digits != 4 || iss.Channel != message.Email {
		t.Fatalf("email code: %+v", iss)
	}
	if _, err := h.svc.EnterCode(ctx, dev, "A", code); err != nil {
		t.Fatal(err)
	}

	// The device that made the account may add its phone at once.
	sms, err := h.svc.AddAddress(ctx, dev, "+1 415 555 2671")
	if err != nil {
		t.Fatal(err)
	}
	if sms.Letter != "B" || sms.Digits != 4 || sms.Channel != message.SMS || sms.Purpose != flows.PurposeConfirm {
		t.Fatalf("sms code: %+v", sms)
	}
	smsCode := h.codeOf(sms)
	msg := h.bag.to("+14155552671")
	if len(msg) != 1 || msg[0].Channel != message.SMS || !strings.Contains(msg[0].Text, "attest code B: "+smsCode) {
		t.Fatalf("sms: %+v", msg)
	}
	if _, err := h.svc.EnterCode(ctx, dev, "B", smsCode); err != nil {
		t.Fatal(err)
	}
	v := h.visit(dev)
	if len(v.Addresses) != 2 || !v.Addresses[1].Confirmed || v.Addresses[1].Display != "+1 415-555-2671" {
		t.Fatalf("addresses: %+v", v.Addresses)
	}

	// The third code the device gets has 6 digits, though the address is new.
	c, err := h.svc.AddAddress(ctx, dev, "second@example.com")
	if err != nil {
		t.Fatal(err)
	}
	if c.Letter != "C" || c.Digits != 6 {
		t.Fatalf("third code: %+v", c)
	}
}

// "a signed-in user authenticates with another factor to perform a
// protected action... these permissions only extend to their current
// device. An hour later, their permission level on that device returns to
// normal."
func TestStepUpIsPerDeviceAndLapsesAfterAnHour(t *testing.T) {
	h := newHarness(t, flows.Policy{})
	desk, phone := device("desk"), device("phone")
	h.signIn(desk, "grace@example.com")
	h.clock.Advance(2 * time.Minute)
	h.signIn(phone, "grace@example.com")

	// Signing in to an existing account grants nothing.
	_, err := h.svc.AddAddress(ctx, phone, "+14155552671")
	wantProblem(t, err, flows.ProblemStepUp)
	if !h.visit(phone).StepUpUntil.IsZero() {
		t.Fatal("a sign-in stepped the device up")
	}

	h.clock.Advance(2 * time.Hour) // the desk's enrolment hour is over too
	h.stepUp(phone)
	stepped := h.clock.Now()
	if until := h.visit(phone).StepUpUntil; !until.Equal(stepped.Add(time.Hour)) {
		t.Fatalf("stepped up until %s", until)
	}
	// Only this device.
	if !h.visit(desk).StepUpUntil.IsZero() {
		t.Fatal("another device of the account was elevated")
	}
	_, err = h.svc.AddAddress(ctx, desk, "+14155552671")
	wantProblem(t, err, flows.ProblemStepUp)

	// Allowed at 59:59, refused at 60:01.
	h.clock.Set(stepped.Add(59*time.Minute + 59*time.Second))
	if _, err := h.svc.AddAddress(ctx, phone, "+14155552671"); err != nil {
		t.Fatalf("at 59:59: %v", err)
	}
	h.clock.Set(stepped.Add(60*time.Minute + time.Second))
	_, err = h.svc.AddAddress(ctx, phone, "+447400123456")
	wantProblem(t, err, flows.ProblemStepUp)
}

func TestSignOutClearsStepUp(t *testing.T) {
	h := newHarness(t, flows.Policy{})
	dev := device("desk")
	h.signIn(dev, "grace@example.com")
	h.clock.Advance(2 * time.Hour)
	h.stepUp(dev)
	if err := h.svc.SignOut(ctx, dev); err != nil {
		t.Fatal(err)
	}
	h.clock.Advance(2 * time.Minute)
	h.signIn(dev, "grace@example.com")
	if !h.visit(dev).StepUpUntil.IsZero() {
		t.Fatal("a step-up survived signing out and in again")
	}
}

// The step-up code goes to a confirmed address other than the one the
// device signed in with, when the account has one; it is always 6 digits.
func TestStepUpUsesAnotherFactor(t *testing.T) {
	h := newHarness(t, flows.Policy{})
	dev := device("desk")
	h.signIn(dev, "grace@example.com")
	sms, _ := h.svc.AddAddress(ctx, dev, "+14155552671")
	if _, err := h.svc.EnterCode(ctx, dev, sms.Letter, h.codeOf(sms)); err != nil {
		t.Fatal(err)
	}
	h.clock.Advance(2 * time.Hour)
	iss := h.stepUp(dev)
	if iss.Channel != message.SMS || iss.To != "+1 415-555-2671" {
		t.Fatalf("the step-up code went to %s by %s; want the phone, not the email the device signed in with", iss.To, iss.Channel)
	}
	// Signing in with the phone makes the email the second factor.
	other := device("other")
	h.clock.Advance(2 * time.Hour)
	h.signIn(other, "+14155552671")
	if iss := h.stepUp(other); iss.Channel != message.Email {
		t.Fatalf("step-up after a phone sign-in went by %s", iss.Channel)
	}
}

// An account with a single address steps up with a fresh 6-digit code to
// that address; a 4-digit code never counts.
func TestStepUpWithOneAddress(t *testing.T) {
	h := newHarness(t, flows.Policy{})
	dev := device("desk")
	h.signIn(dev, "grace@example.com")
	h.clock.Advance(2 * time.Hour)
	iss := h.stepUp(dev)
	if iss.Digits != 6 || iss.To != "grace@example.com" {
		t.Fatalf("step-up: %+v", iss)
	}
}

// A step-up code cannot be used by another device or for another account.
func TestStepUpCodeIsBoundToItsDevice(t *testing.T) {
	h := newHarness(t, flows.Policy{})
	desk, phone := device("desk"), device("phone")
	h.signIn(desk, "grace@example.com")
	h.clock.Advance(2 * time.Minute)
	h.signIn(phone, "grace@example.com")
	h.clock.Advance(2 * time.Hour)
	iss, err := h.svc.RequestStepUp(ctx, desk)
	if err != nil {
		t.Fatal(err)
	}
	_, err = h.svc.EnterCode(ctx, phone, iss.Letter, h.codeOf(iss))
	if err == nil || !h.visit(phone).StepUpUntil.IsZero() {
		t.Fatalf("another device used the desk's step-up code: %v", err)
	}
	// A signed-out device cannot ask for one.
	_, err = h.svc.RequestStepUp(ctx, device("stranger"))
	wantProblem(t, err, flows.ProblemSignedOut)
}

// Every change to how an account signs in tells its other confirmed
// addresses, with no secret in the message.
func TestChangesNotifyOtherAddresses(t *testing.T) {
	h := newHarness(t, flows.Policy{})
	dev := device("desk")
	h.signIn(dev, "grace@example.com")
	sms, _ := h.svc.AddAddress(ctx, dev, "+14155552671")
	smsCode := h.codeOf(sms)
	if _, err := h.svc.EnterCode(ctx, dev, sms.Letter, smsCode); err != nil {
		t.Fatal(err)
	}
	h.svc.Wait()
	notices := h.bag.to("grace@example.com")[1:] // after the sign-in code
	if len(notices) != 1 || !strings.Contains(notices[0].Text, "phone number") || notices[0].Subject != "Your attest account changed" {
		t.Fatalf("notices to the email: %+v", notices)
	}
	if strings.Contains(notices[0].Text, smsCode) || strings.Contains(notices[0].Text, "4155552671") {
		t.Fatalf("the notice holds a secret or the full number: %q", notices[0].Text)
	}
	if len(h.bag.to("+14155552671")) != 1 {
		t.Fatal("the phone was told about itself")
	}
	// Unlinking the phone tells both: the email, and the phone that left.
	if _, err := h.svc.UnlinkAddress(ctx, dev, "+14155552671"); err != nil {
		t.Fatal(err)
	}
	h.svc.Wait()
	if n := len(h.bag.to("grace@example.com")); n != 3 {
		t.Fatalf("the email got %d messages, want 3", n)
	}
	if n := len(h.bag.to("+14155552671")); n != 2 {
		t.Fatalf("the removed phone got %d messages, want 2", n)
	}
}
