package flows_test

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/attest-dev/attest/flows"
	"github.com/attest-dev/attest/flows/password"
	"github.com/attest-dev/attest/store"
)

const goodPassword = "correct horse battery staple"

// The notes' one-stage login-or-register, case by case.
func TestLoginOrRegisterCases(t *testing.T) {
	h := newHarness(t, flows.Policy{})
	dev := device("laptop")
	w := h.svc.Watch(dev.Tag) // the terminal waits for the link
	defer w.Stop()

	// [D] unknown address: user created, password saved, address added
	// unconfirmed, a confirmation link sent.
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

	// [C] added but unconfirmed, another password: answered alike, with a
	// sign-in link rather than the registration's.
	h.clock.Advance(2 * time.Minute)
	other := device("other")
	c, err := h.svc.LoginOrRegister(ctx, other, "grace@example.com", "another long passphrase entirely")
	if err != nil || !c.Pending || c.Link == nil || c.Link.Purpose != flows.PurposeSignIn || c.To != d.To {
		t.Fatalf("[C]: %+v, %v", c, err)
	}
	// [C] with the registration's password: its confirmation link again.
	h.clock.Advance(2 * time.Minute)
	c, err = h.svc.LoginOrRegister(ctx, dev, "grace@example.com", goodPassword)
	if err != nil || !c.Pending || c.Link == nil || c.Link.Purpose != flows.PurposeConfirm {
		t.Fatalf("[C] with the registration's password: %+v, %v", c, err)
	}

	// Following the link confirms the address and signs the terminal in.
	_, token := h.magicLinkToken("grace@example.com")
	if info, err := h.press(token); err != nil || info.State != flows.LinkLive {
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
	// [B] confirmed, wrong password: answered as [D], and the link that
	// went to the address signs the terminal in when its owner presses it.
	third := device("third")
	w3 := h.svc.Watch(third.Tag)
	defer w3.Stop()
	b, err := h.svc.LoginOrRegister(ctx, third, "grace@example.com", "wrong horse battery staple")
	if err != nil || !b.Pending || b.SignedIn || b.Link == nil || b.Link.Purpose != flows.PurposeSignIn || b.To != d.To {
		t.Fatalf("[B]: %+v, %v", b, err)
	}
	if h.visit(third).Account {
		t.Fatal("[B] signed in")
	}
	_, token = h.magicLinkToken("grace@example.com")
	if info, err := h.press(token); err != nil || info.State != flows.LinkLive {
		t.Fatalf("press [B]'s link: %+v, %v", info, err)
	}
	if got := h.visit(third); !got.Account || got.User != v.User {
		t.Fatalf("[B]'s link did not sign the terminal in to the account: %+v", got)
	}
}

// [B] tells the owner's other addresses nothing: the one message goes to
// the address typed, as `signin --link` would send it, and the governor
// keeps it to one a minute however often a stranger tries.
func TestWrongPasswordMessagesOnlyTheAddress(t *testing.T) {
	h := newHarness(t, flows.Policy{})
	desk := device("desk")
	h.account(desk, "grace@example.com")
	h.addConfirmed(desk, "+14155552671")
	if err := h.svc.SetPassword(ctx, desk, goodPassword, false); err != nil {
		t.Fatal(err)
	}
	h.clock.Advance(25 * time.Hour)
	h.svc.Wait()
	mails, texts := len(h.bag.to("grace@example.com")), len(h.bag.to("+14155552671"))
	for i := range 5 {
		if _, err := h.svc.LoginOrRegister(ctx, device(fmt.Sprint("stranger", i)), "grace@example.com", fmt.Sprintf("guess number %d, a long one", i)); err != nil {
			t.Fatal(err)
		}
	}
	h.svc.Wait()
	got := h.bag.to("grace@example.com")[mails:]
	if len(got) != 1 || !strings.Contains(got[0].Text, "sign in to attest") || strings.Contains(got[0].Text, "guess") {
		t.Fatalf("the address got %d messages, want 1 sign-in link: %q", len(got), got)
	}
	if n := len(h.bag.to("+14155552671")) - texts; n != 0 {
		t.Fatalf("the account's phone got %d messages from wrong passwords", n)
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

// A password the policy refuses for a new account is refused whatever
// the address, and makes nothing: no account, no password, no address.
// The try counts against the address, as every answer but [A] does.
func TestRegistrationPasswordPolicy(t *testing.T) {
	h := newHarness(t, flows.Policy{})
	for _, weak := range []string{"short", "grace@example.com", "password1234567", "passwordpassword"} {
		_, err := h.svc.LoginOrRegister(ctx, device("d"), "grace@example.com", weak)
		p := wantProblem(t, err, flows.ProblemInput)
		if strings.Contains(p.Msg, weak) || !strings.HasPrefix(p.Msg, "Not signed in, and this password cannot make a new account. ") {
			t.Fatalf("refusal %q", p.Msg)
		}
	}
	// A password alone signs in a new account: 15 characters at least.
	_, err := h.svc.LoginOrRegister(ctx, device("d"), "grace@example.com", "Zq8#mK2!pL9x")
	wantProblem(t, err, flows.ProblemInput)
	if n, failed := h.head(), len(h.facts(flows.KindPasswordFailed)); n != 5 || failed != 5 {
		t.Fatalf("refused registrations wrote %d facts, %d of them failed tries; want 5 failed tries and nothing else", n, failed)
	}
}

// Every answer but [A] shares the address's back-off with wrong codes,
// for an address with an account and for one without alike.
func TestWrongPasswordsBackOff(t *testing.T) {
	h := newHarness(t, flows.Policy{})
	dev := device("d")
	h.account(dev, "grace@example.com")
	if err := h.svc.SetPassword(ctx, dev, goodPassword, false); err != nil {
		t.Fatal(err)
	}
	for _, addr := range []string{"grace@example.com", "grape@example.com"} {
		for i := range 10 {
			out, err := h.svc.LoginOrRegister(ctx, device(fmt.Sprint("guesser", i)), addr, fmt.Sprintf("guess number %d here", i))
			if err != nil || !out.Pending {
				t.Fatalf("%s, try %d: %+v, %v", addr, i+1, out, err)
			}
		}
		_, err := h.svc.LoginOrRegister(ctx, device("owner of "+addr), addr, goodPassword)
		p := wantProblem(t, err, flows.ProblemBackoff)
		if addr == "grace@example.com" {
			h.clock.Set(p.RetryAt)
			if out, err := h.svc.LoginOrRegister(ctx, device("owner of "+addr), addr, goodPassword); err != nil || !out.SignedIn {
				t.Fatalf("after the back-off: %+v, %v", out, err)
			}
		}
	}
}

// One device, and one source network, get PasswordTries: a burst, then
// one a period. The refusal comes before the address is looked at.
func TestPasswordTriesPerDeviceAndSource(t *testing.T) {
	h := newHarness(t, flows.Policy{PasswordTries: flows.PasswordTries{DeviceBurst: 3, DeviceEvery: time.Minute, SourceBurst: 5, SourceEvery: time.Minute}})
	dev := flows.Device{Tag: "SHA256:guesser", Source: "192.0.2.7"}
	for i := range 3 {
		if _, err := h.svc.LoginOrRegister(ctx, dev, fmt.Sprintf("new%d@example.com", i), goodPassword); err != nil {
			t.Fatalf("try %d: %v", i+1, err)
		}
	}
	h.svc.Wait() // the links' delivery outcomes are facts too, written after
	before := h.head()
	_, err := h.svc.LoginOrRegister(ctx, dev, "grace@example.com", goodPassword)
	p := wantProblem(t, err, flows.ProblemThrottled)
	if !p.RetryAt.Equal(h.clock.Now().Add(time.Minute)) || h.head() != before {
		t.Fatalf("the fourth try: retry at %v (now %v), %d facts written", p.RetryAt, h.clock.Now(), h.head()-before)
	}
	// Other devices from the same network share its budget: 2 left.
	for i := range 3 {
		_, err := h.svc.LoginOrRegister(ctx, flows.Device{Tag: fmt.Sprint("SHA256:other", i), Source: "192.0.2.7"}, fmt.Sprintf("other%d@example.com", i), goodPassword)
		if p, _ := flows.AsProblem(err); (i < 2) == (p != nil && p.Code == flows.ProblemThrottled) {
			t.Fatalf("device %d from the network: %v", i+1, err)
		}
	}
	// The device's next try is due a minute later.
	h.clock.Advance(time.Minute)
	if _, err := h.svc.LoginOrRegister(ctx, dev, "new9@example.com", goodPassword); err != nil {
		t.Fatalf("after the wait: %v", err)
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
// Without it, the address gets a sign-in link (pressing it signs nobody
// in to the registration), and the answer reads the same.
func TestResendVerificationNeedsThePassword(t *testing.T) {
	h := newHarness(t, flows.Policy{})
	owner := device("owner")
	w := h.svc.Watch(owner.Tag)
	defer w.Stop()
	if _, err := h.svc.LoginOrRegister(ctx, owner, "grace@example.com", goodPassword); err != nil {
		t.Fatal(err)
	}
	h.clock.Advance(2 * time.Minute)
	sent, err := h.svc.ResendVerification(ctx, device("attacker"), "grace@example.com", "a guess at the password")
	if err != nil || sent.Purpose != flows.PurposeSignIn {
		t.Fatalf("resend with a wrong password: %+v, %v", sent, err)
	}
	h.clock.Advance(2 * time.Minute)
	sent, err = h.svc.ResendVerification(ctx, owner, "grace@example.com", goodPassword)
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
			switch {
			case err == nil && out.SignedIn:
				in++
			case err == nil && out.Pending:
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

// Every "send again" counts against the address, as a login does.
func TestResendVerificationBacksOff(t *testing.T) {
	h := newHarness(t, flows.Policy{})
	owner := device("owner")
	w := h.svc.Watch(owner.Tag)
	defer w.Stop()
	if _, err := h.svc.LoginOrRegister(ctx, owner, "grace@example.com", goodPassword); err != nil {
		t.Fatal(err)
	}
	// The registration was the first try that did not sign in; 9 more
	// make the 10 after which the address waits.
	for i := range 9 {
		_, err := h.svc.ResendVerification(ctx, device(fmt.Sprint("attacker", i)), "grace@example.com", fmt.Sprintf("guess number %d", i))
		if p, _ := flows.AsProblem(err); err != nil && p.Code != flows.ProblemThrottled {
			t.Fatalf("resend %d: %v", i+1, err)
		}
	}
	_, err := h.svc.ResendVerification(ctx, owner, "grace@example.com", goodPassword)
	wantProblem(t, err, flows.ProblemBackoff)
}

// gatedLedger holds the first update after arm until release is closed,
// so a test can act between a flow's password check (unlocked, slow) and
// its transaction.
type gatedLedger struct {
	store.Ledger
	armed   atomic.Bool
	entered chan struct{} // closed when the gated update arrives
	release chan struct{}
}

func gate(l store.Ledger) *gatedLedger {
	return &gatedLedger{Ledger: l, entered: make(chan struct{}), release: make(chan struct{})}
}

func (g *gatedLedger) Update(fn func(store.Tx) error) error {
	if g.armed.CompareAndSwap(true, false) {
		close(g.entered)
		<-g.release
	}
	return g.Ledger.Update(fn)
}

// serviceOn is a second Service on the harness's ledger, through l.
func (h *harness) serviceOn(l store.Ledger) *flows.Service {
	h.t.Helper()
	svc, err := flows.New(flows.Config{Ledger: l, Secret: h.secret, Clock: h.clock,
		Rand: rand.NewChaCha8([32]byte{0xfe}), Sender: h.bag, Passwords: cheapPasswords(h.t)})
	if err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(func() { svc.Close() })
	return svc
}

// A password changed while a login checks the old one (the check takes
// ~90 ms and holds no lock) does not let the old password in: the login's
// transaction finds another hash and answers as for any wrong password.
// The same for a step-up with the password.
func TestPasswordChangedDuringCheck(t *testing.T) {
	h := newHarness(t, flows.Policy{})
	desk := device("desk")
	h.account(desk, "grace@example.com")
	if err := h.svc.SetPassword(ctx, desk, goodPassword, false); err != nil {
		t.Fatal(err)
	}
	const newPassword = "a different horse, a different staple"

	g := gate(h.ledger)
	svc := h.serviceOn(g)
	phone := device("phone")
	g.armed.Store(true)
	type result struct {
		out flows.Login
		err error
	}
	done := make(chan result, 1)
	go func() {
		out, err := svc.LoginOrRegister(ctx, phone, "grace@example.com", goodPassword)
		done <- result{out, err}
	}()
	<-g.entered // the old password matched the hash read before; the commit waits
	if err := h.svc.SetPassword(ctx, desk, newPassword, false); err != nil {
		t.Fatal(err)
	}
	close(g.release)
	r := <-done
	if r.err != nil || r.out.SignedIn || !r.out.Pending {
		t.Fatalf("the old password, checked before the change and committed after: %+v, %v", r.out, r.err)
	}
	if v := h.visit(phone); v.Account {
		t.Fatalf("the old password signed the phone in: %+v", v)
	}
	if got := h.facts(flows.KindPasswordAccepted); len(got) != 0 {
		t.Fatalf("password.accepted facts: %+v", got)
	}
	if got := h.facts(flows.KindPasswordFailed); len(got) != 1 || got[0].Device != phone.Tag {
		t.Fatalf("the old password did not count as a wrong one: %+v", got)
	}
	// The new password works; the old one, asked again, does not.
	if out, err := h.svc.LoginOrRegister(ctx, device("tablet"), "grace@example.com", goodPassword); err != nil || out.SignedIn {
		t.Fatalf("the old password afterwards: %+v, %v", out, err)
	}
	if out, err := h.svc.LoginOrRegister(ctx, phone, "grace@example.com", newPassword); err != nil || !out.SignedIn {
		t.Fatalf("the new password: %+v, %v", out, err)
	}

	// Step-up: desk signed in with a code, so its password is a second
	// factor. The password changes during the check: refused, counted.
	h.clock.Advance(2 * time.Hour) // desk's step-up from signing in has lapsed
	g2 := gate(h.ledger)
	svc2 := h.serviceOn(g2)
	g2.armed.Store(true)
	stepped := make(chan error, 1)
	go func() {
		_, err := svc2.StepUpWithPassword(ctx, desk, newPassword)
		stepped <- err
	}()
	<-g2.entered
	// Another device of the account, stepped up, changes the password.
	laptop := device("laptop")
	h.signIn(laptop, "grace@example.com")
	h.clock.Advance(time.Minute) // the address's next code
	h.stepUp(laptop)
	if err := h.svc.SetPassword(ctx, laptop, "yet another horse and its staple", false); err != nil {
		t.Fatal(err)
	}
	close(g2.release)
	wantProblem(t, <-stepped, flows.ProblemWrongPassword)
	if v := h.visit(desk); v.StepUpUntil.After(h.clock.Now()) {
		t.Fatalf("the old password stepped desk up until %s", v.StepUpUntil)
	}
}

// A registration's link works whenever it is pressed within its 5
// minutes, whether or not the terminal that asked still waits: the
// account is confirmed and the device is signed in, which it finds when
// it next connects. A sign-in link, by contrast, signs in only a waiting
// session.
func TestRegistrationLinkAfterTheTerminalLeft(t *testing.T) {
	h := newHarness(t, flows.Policy{})
	dev := device("laptop")
	w := h.svc.Watch(dev.Tag)
	d, err := h.svc.LoginOrRegister(ctx, dev, "grace@example.com", goodPassword)
	if err != nil || d.Link == nil || d.Link.Purpose != flows.PurposeConfirm {
		t.Fatalf("[D]: %+v, %v", d, err)
	}
	w.Stop() // the terminal closed
	_, token := h.magicLinkToken("grace@example.com")
	h.clock.Advance(flows.LinkTTL - time.Second)
	if info, err := h.svc.PeekLink(ctx, token); err != nil || info.State != flows.LinkLive {
		t.Fatalf("the page of a registration's link after its terminal left: %+v, %v", info, err)
	}
	info, err := h.press(token)
	if err != nil || info.State != flows.LinkLive || !info.Away {
		t.Fatalf("pressed after the terminal left: %+v, %v", info, err)
	}
	if o := h.owner("grace@example.com", time.Time{}); o.User == "" {
		t.Fatal("the address is not confirmed")
	}
	v := h.visit(dev) // the device connects again
	if !v.Account || v.Method != "link" {
		t.Fatalf("the device that asked is not signed in: %+v", v)
	}
	if info, _ := h.press(token); info.State != flows.LinkUsed {
		t.Fatalf("a second press: %+v", info)
	}

	// Past its 5 minutes, it does nothing.
	other := device("desk")
	if _, err := h.svc.LoginOrRegister(ctx, other, "ada@example.com", goodPassword); err != nil {
		t.Fatal(err)
	}
	_, late := h.magicLinkToken("ada@example.com")
	h.clock.Advance(flows.LinkTTL)
	if info, err := h.press(late); err != nil || info.State != flows.LinkExpired || h.visit(other).Account {
		t.Fatalf("a late registration link: %+v, %v", info, err)
	}
}

// passwordHashes lists the PHC strings of the user's password.set facts,
// oldest first, each with its rehash mark.
func (h *harness) passwordHashes(user string) (phcs []string, rehash []bool) {
	h.t.Helper()
	for _, f := range h.facts(flows.KindPasswordSet) {
		if f.User != user {
			continue
		}
		var b struct {
			PHC    string `json:"phc"`
			Rehash bool   `json:"rehash"`
		}
		if err := f.Decode(&b); err != nil {
			h.t.Fatal(err)
		}
		phcs, rehash = append(phcs, b.PHC), append(rehash, b.Rehash)
	}
	return phcs, rehash
}

// A password hashed at OWASP's floor (argon2id m=19456 KiB, t=2, p=1) is
// hashed again at the server's current costs when it is next typed right,
// at sign-in or at step-up, in the transaction that accepts it: a
// password.set fact marked rehash. A rehash is no change: a right
// password checked against the old hash while it landed still signs in,
// and nobody is told. A real change meanwhile still refuses the old one.
func TestOldPasswordHashIsUpgraded(t *testing.T) {
	h := newHarness(t, flows.Policy{})
	desk := device("desk")
	user := h.account(desk, "grace@example.com")
	if err := h.svc.SetPassword(ctx, desk, goodPassword, false); err != nil {
		t.Fatal(err)
	}
	floor, _ := h.passwordHashes(user)
	if len(floor) != 1 || !strings.HasPrefix(floor[0], "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Fatalf("the password was not hashed at OWASP's floor: %q", floor)
	}

	// The server now hashes at t=3 (a restart with new parameters).
	stronger, err := password.NewHasher(password.Params{Memory: password.MinMemory, Time: 3, Threads: 1, SaltLen: 16, KeyLen: 32}, 2)
	if err != nil {
		t.Fatal(err)
	}
	h.passwords = stronger
	h.restart(flows.Policy{})
	h.clock.Advance(time.Minute)
	h.svc.Wait()
	mails := h.bag.count()

	// A wrong password rehashes nothing.
	if _, err := h.svc.LoginOrRegister(ctx, device("stranger"), "grace@example.com", "not the password at all, no"); err != nil {
		t.Fatal(err)
	}
	if phcs, _ := h.passwordHashes(user); len(phcs) != 1 {
		t.Fatalf("a wrong password rehashed: %q", phcs)
	}

	// Two right passwords at once: while the first (from the laptop) is
	// checked against the old hash, the phone's sign-in lands and
	// rehashes. The laptop's still signs in, and writes no second rehash.
	laptop, phone := device("laptop"), device("phone")
	h.beforeUpdate.Store(new(func() {
		out, err := h.svc.LoginOrRegister(ctx, phone, "grace@example.com", goodPassword)
		if err != nil || !out.SignedIn {
			t.Errorf("the phone's sign-in: %+v, %v", out, err)
		}
	}))
	out, err := h.svc.LoginOrRegister(ctx, laptop, "grace@example.com", goodPassword)
	if err != nil || !out.SignedIn || out.Visitor.User != user {
		t.Fatalf("the laptop's sign-in, with a rehash landing meanwhile: %+v, %v", out, err)
	}
	phcs, rehash := h.passwordHashes(user)
	if len(phcs) != 2 || !rehash[1] || !strings.HasPrefix(phcs[1], "$argon2id$v=19$m=19456,t=3,p=1$") {
		t.Fatalf("after the sign-ins: %q %v", phcs, rehash)
	}
	if ok, err := stronger.Verify(ctx, goodPassword, phcs[1]); err != nil || !ok {
		t.Fatalf("the new hash is not the password's: %v %v", ok, err)
	}

	// The new hash signs in, and needs no rehash.
	tablet := device("tablet")
	if out, err := h.svc.LoginOrRegister(ctx, tablet, "grace@example.com", goodPassword); err != nil || !out.SignedIn {
		t.Fatalf("sign-in with the new hash: %+v, %v", out, err)
	}
	if phcs, _ := h.passwordHashes(user); len(phcs) != 2 {
		t.Fatalf("a current hash was rehashed: %q", phcs)
	}
	h.svc.Wait()
	if h.bag.count() != mails+1 { // the stranger's sign-in link, nothing else
		t.Fatalf("%d messages; a rehash tells nobody", h.bag.count()-mails)
	}

	// Step-up rehashes too (the hasher moves on to t=4), and a rehash
	// landing meanwhile does not make the password wrong.
	strongest, err := password.NewHasher(password.Params{Memory: password.MinMemory, Time: 4, Threads: 1, SaltLen: 16, KeyLen: 32}, 2)
	if err != nil {
		t.Fatal(err)
	}
	h.passwords = strongest
	h.restart(flows.Policy{})
	h.beforeUpdate.Store(new(func() {
		if out, err := h.svc.LoginOrRegister(ctx, device("watch"), "grace@example.com", goodPassword); err != nil || !out.SignedIn {
			t.Errorf("the watch's sign-in: %+v, %v", out, err)
		}
	}))
	if _, err := h.svc.StepUpWithPassword(ctx, desk, goodPassword); err != nil {
		t.Fatalf("step-up with a rehash landing meanwhile: %v", err)
	}
	phcs, rehash = h.passwordHashes(user)
	if len(phcs) != 3 || !rehash[2] || !strings.HasPrefix(phcs[2], "$argon2id$v=19$m=19456,t=4,p=1$") {
		t.Fatalf("after the step-up: %q %v", phcs, rehash)
	}

	// A real change while a sign-in is checked still makes the typed
	// password an old one.
	h.clock.Advance(time.Minute)
	h.beforeUpdate.Store(new(func() {
		if err := h.svc.SetPassword(ctx, desk, "a brand new passphrase, quite long", false); err != nil {
			t.Errorf("change the password: %v", err)
		}
	}))
	out, err = h.svc.LoginOrRegister(ctx, device("late"), "grace@example.com", goodPassword)
	if err != nil || out.SignedIn {
		t.Fatalf("the old password after a change: %+v, %v", out, err)
	}
}
