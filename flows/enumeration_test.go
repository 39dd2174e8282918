package flows_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/attest-dev/attest/flows"
	"github.com/attest-dev/attest/flows/password"
)

// Answers never tell a stranger whether an address has an account (ASVS
// 5.0 6.3.8): an address with an account and one without, typed by a new
// device at the same moment, get the same answer and cost the same work.
// The two addresses have the same length, so that nothing that depends on
// the text itself (the policy's hints, the masked form) differs.
const (
	knownAddr   = "grace@example.com"
	unknownAddr = "grape@example.com"
)

// enumerationHarness has an account for knownAddr with a password, whose
// messages are all more than a day old, and nothing for unknownAddr.
func enumerationHarness(t *testing.T) *harness {
	h := newHarness(t, flows.Policy{})
	desk := device("desk")
	h.account(desk, knownAddr)
	if err := h.svc.SetPassword(ctx, desk, goodPassword, false); err != nil {
		t.Fatal(err)
	}
	h.clock.Advance(25 * time.Hour)
	h.svc.Wait()
	return h
}

// alike runs ask for each address from a new device, and fails unless the
// answers are the same once the address (and what is random: tickets,
// labels) is taken out, and the hasher did the same work.
func alike(t *testing.T, h *harness, passwords *password.Hasher, what string, ask func(dev flows.Device, addr string) any) {
	t.Helper()
	var answers []string
	var work []password.Work
	for _, addr := range []string{knownAddr, unknownAddr} {
		before := passwords.Work()
		got := ask(device(what+" from a stranger to "+addr), addr)
		after := passwords.Work()
		work = append(work, password.Work{Hashes: after.Hashes - before.Hashes, Checks: after.Checks - before.Checks})
		answers = append(answers, strings.ReplaceAll(fmt.Sprintf("%+v", got), addr, "ADDRESS"))
	}
	if answers[0] != answers[1] {
		t.Errorf("%s: an address with an account answers\n%s\nand one without\n%s", what, answers[0], answers[1])
	}
	if work[0] != work[1] {
		t.Errorf("%s: an address with an account costs %+v, one without %+v", what, work[0], work[1])
	}
}

// anonymous takes out of an answer what is random per request, and the
// link's purpose, which only the address's holder sees (on the link's
// page and in the message).
func anonymous(v any, err error) any {
	switch x := v.(type) {
	case flows.Login:
		var link any = "none"
		if x.Link != nil {
			l := *x.Link
			l.Ticket, l.Check, l.Purpose = "", "", ""
			link = l
		}
		x.Link = nil
		v = fmt.Sprintf("%+v link %+v", x, link)
	case flows.LinkSent:
		x.Ticket, x.Check, x.Purpose = "", "", ""
		v = x
	case flows.Issued:
		x.Ticket = ""
		v = x
	}
	return fmt.Sprintf("%+v / %v", v, err)
}

func TestAnswersDoNotTellWhoHasAnAccount(t *testing.T) {
	h := enumerationHarness(t)
	pw := cheapPasswordsOf(h)
	alike(t, h, pw, "signin", func(dev flows.Device, addr string) any {
		return anonymous(h.svc.RequestSignIn(ctx, dev, addr))
	})
	h.clock.Advance(2 * time.Minute)
	alike(t, h, pw, "login, a wrong password", func(dev flows.Device, addr string) any {
		return anonymous(h.svc.LoginOrRegister(ctx, dev, addr, "wrong horse battery staple"))
	})
	h.clock.Advance(2 * time.Minute)
	alike(t, h, pw, "resend, a wrong password", func(dev flows.Device, addr string) any {
		return anonymous(h.svc.ResendVerification(ctx, dev, addr, "wrong horse battery staple"))
	})
	alike(t, h, pw, "login, a weak password", func(dev flows.Device, addr string) any {
		return anonymous(h.svc.LoginOrRegister(ctx, dev, addr, "password1234567"))
	})
	alike(t, h, pw, "login, held back by the governor", func(dev flows.Device, addr string) any {
		return anonymous(h.svc.LoginOrRegister(ctx, dev, addr, "another wrong horse battery"))
	})
	// Four tries that did not sign in so far; six more reach the back-off.
	for i := range 6 {
		alike(t, h, pw, fmt.Sprint("login, try ", 6+i), func(dev flows.Device, addr string) any {
			return anonymous(h.svc.LoginOrRegister(ctx, dev, addr, fmt.Sprintf("wrong guess %d at the password", i)))
		})
	}
	alike(t, h, pw, "login, backed off", func(dev flows.Device, addr string) any {
		return anonymous(h.svc.LoginOrRegister(ctx, dev, addr, goodPassword))
	})
	alike(t, h, pw, "resend, backed off", func(dev flows.Device, addr string) any {
		return anonymous(h.svc.ResendVerification(ctx, dev, addr, goodPassword))
	})
}

// cheapPasswordsOf returns the hasher the harness's service uses, so its
// work can be counted: the harness builds it, and a second service on the
// same ledger with the same secret shares everything else.
func cheapPasswordsOf(h *harness) *password.Hasher {
	h.t.Helper()
	pw := cheapPasswords(h.t)
	svc, err := flows.New(flows.Config{Ledger: h.ledger, Secret: h.secret, Clock: h.clock, Sender: h.bag, Passwords: pw})
	if err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(func() { svc.Close() })
	h.svc = svc
	return pw
}
