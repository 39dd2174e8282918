package flows_test

import (
	"testing"
	"time"

	"github.com/attest-dev/attest/flows"
	"github.com/attest-dev/attest/flows/message"
)

// A server with no SMS delivery refuses phone numbers in every flow that
// would send to one, before anything is recorded or counted, in the same
// words for every number; email still works. And the other way round.
func TestUndeliverableChannelRefusedBeforeAnything(t *testing.T) {
	h := newHarness(t, flows.Policy{})
	h.channels = []message.Channel{message.Email}
	h.restart(flows.Policy{})
	owner := device("owner")
	h.signIn(owner, "ada@example.com")
	h.clock.Advance(time.Minute)

	const noSMS = "This server sends no text messages; use an email address."
	dev := device("d")
	before := h.head()
	for name, try := range map[string]func() error{
		"signin":   func() error { _, err := h.svc.RequestSignIn(ctx, dev, "+14155550000"); return err },
		"signin 2": func() error { _, err := h.svc.RequestSignIn(ctx, dev, "+14155552671"); return err },
		"link":     func() error { _, err := h.svc.RequestMagicLink(ctx, dev, "+14155550000"); return err },
		"login": func() error {
			_, err := h.svc.LoginOrRegister(ctx, dev, "+14155550000", "correct horse battery")
			return err
		},
		"add":        func() error { _, err := h.svc.AddAddress(ctx, owner, "+14155550000"); return err },
		"admin":      func() error { _, err := h.svc.RegisterUser(ctx, "+14155550000", "", "admin"); return err },
		"other form": func() error { _, err := h.svc.RequestSignIn(ctx, dev, "+1 (415) 555-0000"); return err },
	} {
		p := wantProblem(t, try(), flows.ProblemInput)
		if p.Msg != noSMS {
			t.Errorf("%s: %q, want %q", name, p.Msg, noSMS)
		}
	}
	if h.head() != before {
		t.Fatalf("refusals appended facts: head %d to %d", before, h.head())
	}
	if n := h.bag.count(); n != 1 {
		t.Fatalf("%d messages sent, want only the owner's code", n)
	}
	// The device's letters did not move: its first code is still A.
	iss, _ := h.request(dev, "grace@example.com")
	if iss.Letter != "A" {
		t.Fatalf("first code after the refusals is %s", iss.Letter)
	}

	h2 := newHarness(t, flows.Policy{})
	h2.channels = []message.Channel{message.SMS}
	h2.restart(flows.Policy{})
	_, err := h2.svc.RequestSignIn(ctx, dev, "grace@example.com")
	if p := wantProblem(t, err, flows.ProblemInput); p.Msg != "This server sends no email; use a phone number." {
		t.Fatalf("email on an SMS-only server: %q", p.Msg)
	}
	h2.request(dev, "+14155550000")
}

// A step-up code goes only to an address the server can reach: with SMS
// gone from the configuration, an account with a phone and an email gets
// its step-up by email.
func TestStepUpSkipsUndeliverableAddresses(t *testing.T) {
	h := newHarness(t, flows.Policy{Governor: flows.Governor{DevicePerHour: -1}})
	dev := device("owner")
	h.signIn(dev, "ada@example.com")
	h.clock.Advance(time.Minute)
	iss, err := h.svc.AddAddress(ctx, dev, "+14155552671")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.svc.EnterCode(ctx, dev, iss.Letter, h.codeOf(iss)); err != nil {
		t.Fatal(err)
	}
	// Signed in with the email, the step-up would go to the phone.
	h.clock.Set(start.Add(2 * time.Hour))
	if got := h.stepUp(dev); got.Channel != message.SMS {
		t.Fatalf("step-up by %s, want sms while SMS is configured", got.Channel)
	}
	h.channels = []message.Channel{message.Email}
	h.restart(flows.Policy{Governor: flows.Governor{DevicePerHour: -1}})
	h.clock.Set(start.Add(4 * time.Hour))
	if got := h.stepUp(dev); got.Channel != message.Email {
		t.Fatalf("step-up by %s, want email with no SMS configured", got.Channel)
	}
}
