package flows_test

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/attest-dev/attest/flows"
)

const goodPassword = "correct horse battery staple"

// The notes' one-stage login-or-register, case by case.
func TestLoginOrRegisterCases(t *testing.T) {
	h := newHarness(t, flows.Policy{})
	dev := device("laptop")
	w := h.svc.Watch(dev.Tag) // the terminal waits for the link
	defer w.Stop()

	// [D] unknown address: user created, password saved, address added
	// unconfirmed, a verification link sent; answered as [C].
	d, err := h.svc.LoginOrRegister(ctx, dev, "grace@example.com", goodPassword)
	if err != nil {
		t.Fatal(err)
	}
	if !d.Pending || d.SignedIn || d.Link == nil || d.Link.Purpose != flows.PurposeConfirm || d.To != "grace@example.com" {
		t.Fatalf("[D]: %+v", d)
	}
	if n := len(h.facts(flows.KindPasswordSet)); n != 1 {
		t.Fatalf("[D] saved %d passwords", n)
	}
	for _, f := range h.facts(flows.KindPasswordSet) {
		if strings.Contains(string(f.Body), "horse") || !strings.Contains(string(f.Body), "$argon2id$v=19$") {
			t.Fatalf("the password is not stored as a PHC hash: %s", f.Body)
		}
	}
	if h.visit(dev).Account {
		t.Fatal("[D] signed in before the address was confirmed")
	}

	// [C] added but unconfirmed: the password is not even checked.
	other := device("other")
	c, err := h.svc.LoginOrRegister(ctx, other, "grace@example.com", "anything at all")
	if err != nil || !c.Pending || c.Link != nil || c.To != d.To {
		t.Fatalf("[C]: %+v, %v", c, err)
	}

	// Following the link confirms the address and signs the terminal in.
	_, token := h.magicLinkToken("grace@example.com")
	if info, err := h.svc.ConfirmLink(ctx, token); err != nil || info.State != flows.LinkLive {
		t.Fatalf("confirm: %+v, %v", info, err)
	}
	v := h.visit(dev)
	if !v.Account || v.Method != "link" || !v.HasPassword {
		t.Fatalf("after the link: %+v", v)
	}

	// [A] confirmed, right password: signed in.
	h.clock.Advance(time.Minute)
	a, err := h.svc.LoginOrRegister(ctx, other, "Grace@Example.com", goodPassword)
	if err != nil || !a.SignedIn || a.Visitor.User != v.User || a.Visitor.Method != "password" {
		t.Fatalf("[A]: %+v, %v", a, err)
	}
	// [B] confirmed, wrong password.
	_, err = h.svc.LoginOrRegister(ctx, device("third"), "grace@example.com", "wrong horse battery staple")
	p := wantProblem(t, err, flows.ProblemWrongPassword)
	if p.Msg != "Wrong password." {
		t.Fatalf("[B]: %q", p.Msg)
	}
}

// magicLinkToken reads the newest link to an address from the mailbag.
func (h *harness) magicLinkToken(addr string) (string, string) {
	h.t.Helper()
	h.svc.Wait()
	msgs := h.bag.to(addr)
	for i := len(msgs) - 1; i >= 0; i-- {
		if m := linkRE.FindStringSubmatch(msgs[i].Text); m != nil {
			return msgs[i].Text, m[1]
		}
	}
	h.t.Fatalf("no link to %s", addr)
	return "", ""
}

// [C] and [D] answer in the same words; [D] refuses a weak password
// without writing anything.
func TestRegistrationPasswordPolicy(t *testing.T) {
	h := newHarness(t, flows.Policy{})
	for _, weak := range []string{"short", "grace@example.com", "password1234567", "passwordpassword"} {
		_, err := h.svc.LoginOrRegister(ctx, device("d"), "grace@example.com", weak)
		p := wantProblem(t, err, flows.ProblemInput)
		if strings.Contains(p.Msg, weak) {
			t.Fatalf("the refusal repeats the password: %q", p.Msg)
		}
	}
	if h.head() != 0 {
		t.Fatal("a refused registration wrote facts")
	}
	// A password alone signs in a new account: 15 characters at least.
	_, err := h.svc.LoginOrRegister(ctx, device("d"), "grace@example.com", "Zq8#mK2!pL9x")
	wantProblem(t, err, flows.ProblemInput)
}

// Wrong passwords share the address's back-off with wrong codes.
func TestWrongPasswordsBackOff(t *testing.T) {
	h := newHarness(t, flows.Policy{})
	dev := device("d")
	h.account(dev, "grace@example.com")
	if err := h.svc.SetPassword(ctx, dev, goodPassword, false); err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		_, err := h.svc.LoginOrRegister(ctx, device("guesser"), "grace@example.com", fmt.Sprintf("guess number %d here", i))
		wantProblem(t, err, flows.ProblemWrongPassword)
	}
	_, err := h.svc.LoginOrRegister(ctx, device("guesser"), "grace@example.com", goodPassword)
	p := wantProblem(t, err, flows.ProblemBackoff)
	h.clock.Set(p.RetryAt)
	if out, err := h.svc.LoginOrRegister(ctx, device("guesser"), "grace@example.com", goodPassword); err != nil || !out.SignedIn {
		t.Fatalf("after the back-off: %+v, %v", out, err)
	}
}

// "a passwordless user can set a password (a protected action: step-up
// first)"; changing it offers to sign out every other device and tells
// the account's addresses.
func TestSetAndChangePassword(t *testing.T) {
	h := newHarness(t, flows.Policy{})
	desk, phone := device("desk"), device("phone")
	h.account(desk, "grace@example.com")
	h.clock.Advance(2 * time.Minute)
	h.signIn(phone, "grace@example.com")
	h.clock.Advance(2 * time.Hour)

	wantProblem(t, h.svc.SetPassword(ctx, desk, goodPassword, false), flows.ProblemStepUp)
	h.stepUp(desk)
	// 8 characters are enough when the password is not the only factor.
	if err := h.svc.SetPassword(ctx, desk, "Zq8#mK2!", false); err != nil {
		t.Fatal(err)
	}
	if err := h.svc.SetPassword(ctx, desk, "Zq8#mK2", false); err == nil {
		t.Fatal("a 7-character password was accepted")
	}
	if !h.visit(phone).Account {
		t.Fatal("setting a password signed another device out")
	}
	if err := h.svc.SetPassword(ctx, desk, goodPassword, true); err != nil {
		t.Fatal(err)
	}
	if h.visit(phone).Account || !h.visit(desk).Account {
		t.Fatal("changing the password with sign-out did not sign out exactly the other devices")
	}
	h.svc.Wait()
	var notices []string
	for _, m := range h.bag.to("grace@example.com") {
		if m.Subject == "Your attest account changed" {
			notices = append(notices, m.Text)
		}
	}
	if len(notices) != 2 || !strings.Contains(notices[1], "password was changed") || strings.Contains(notices[1], "horse") {
		t.Fatalf("notices: %q", notices)
	}
	// The new password signs in.
	h.clock.Advance(time.Minute)
	if out, err := h.svc.LoginOrRegister(ctx, phone, "grace@example.com", goodPassword); err != nil || !out.SignedIn {
		t.Fatalf("sign in with the new password: %+v, %v", out, err)
	}
}

// The password plugs into step-up as another factor.
func TestStepUpWithPassword(t *testing.T) {
	h := newHarness(t, flows.Policy{})
	desk := device("desk")
	h.account(desk, "grace@example.com")
	if err := h.svc.SetPassword(ctx, desk, goodPassword, false); err != nil {
		t.Fatal(err)
	}
	h.clock.Advance(2 * time.Hour)
	if _, err := h.svc.StepUpWithPassword(ctx, desk, "wrong horse battery staple"); err == nil {
		t.Fatal("a wrong password stepped up")
	}
	until, err := h.svc.StepUpWithPassword(ctx, desk, goodPassword)
	if err != nil || !until.Equal(h.clock.Now().Add(time.Hour)) {
		t.Fatalf("step up: %s, %v", until, err)
	}
	// A device that signed in with the password must use another factor.
	phone := device("phone")
	if out, err := h.svc.LoginOrRegister(ctx, phone, "grace@example.com", goodPassword); err != nil || !out.SignedIn {
		t.Fatal(err)
	}
	_, err = h.svc.StepUpWithPassword(ctx, phone, goodPassword)
	wantProblem(t, err, flows.ProblemInput)
}

// Send again needs the registration's password: otherwise anyone could
// have a link sent that signs their own terminal in to the new account.
func TestResendVerificationNeedsThePassword(t *testing.T) {
	h := newHarness(t, flows.Policy{})
	owner := device("owner")
	w := h.svc.Watch(owner.Tag)
	defer w.Stop()
	if _, err := h.svc.LoginOrRegister(ctx, owner, "grace@example.com", goodPassword); err != nil {
		t.Fatal(err)
	}
	h.clock.Advance(2 * time.Minute)
	_, err := h.svc.ResendVerification(ctx, device("attacker"), "grace@example.com", "a guess at the password")
	wantProblem(t, err, flows.ProblemWrongPassword)
	sent, err := h.svc.ResendVerification(ctx, owner, "grace@example.com", goodPassword)
	if err != nil || sent.Purpose != flows.PurposeConfirm {
		t.Fatalf("resend: %+v, %v", sent, err)
	}
}

// 100 parallel password sign-ins all get the right answer (the hasher
// runs two at a time; see flows/password for the bound itself).
func TestParallelPasswordSignIns(t *testing.T) {
	h := newHarness(t, flows.Policy{})
	desk := device("desk")
	h.account(desk, "grace@example.com")
	if err := h.svc.SetPassword(ctx, desk, goodPassword, false); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	in, wrongs := 0, 0
	for i := range 100 {
		wg.Go(func() {
			pw := goodPassword
			if i%10 == 0 {
				pw = "wrong horse battery staple"
			}
			out, err := h.svc.LoginOrRegister(ctx, device(fmt.Sprint("d", i)), "grace@example.com", pw)
			mu.Lock()
			defer mu.Unlock()
			switch p, _ := flows.AsProblem(err); {
			case err == nil && out.SignedIn:
				in++
			case p != nil && p.Code == flows.ProblemWrongPassword:
				wrongs++
			default:
				t.Errorf("sign-in %d: %+v, %v", i, out, err)
			}
		})
	}
	wg.Wait()
	if in != 90 || wrongs != 10 {
		t.Fatalf("%d signed in and %d wrong, want 90 and 10", in, wrongs)
	}
}

// Wrong passwords at "send again" count against the address too.
func TestResendVerificationBacksOff(t *testing.T) {
	h := newHarness(t, flows.Policy{})
	owner := device("owner")
	w := h.svc.Watch(owner.Tag)
	defer w.Stop()
	if _, err := h.svc.LoginOrRegister(ctx, owner, "grace@example.com", goodPassword); err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		_, err := h.svc.ResendVerification(ctx, device("attacker"), "grace@example.com", fmt.Sprintf("guess number %d", i))
		wantProblem(t, err, flows.ProblemWrongPassword)
	}
	_, err := h.svc.ResendVerification(ctx, owner, "grace@example.com", goodPassword)
	wantProblem(t, err, flows.ProblemBackoff)
}
