package flows_test

import (
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/attest-dev/attest/flows"
)

var linkRE = regexp.MustCompile(`/link/([a-z2-7]{26})`)

// magicLink asks for a link for dev (which must be watching) and returns
// what was sent and the token from the message.
func (h *harness) magicLink(dev flows.Device, addr string) (flows.LinkSent, string) {
	h.t.Helper()
	sent, err := h.svc.RequestMagicLink(ctx, dev, addr)
	if err != nil {
		h.t.Fatalf("request link: %v", err)
	}
	h.svc.Wait()
	msgs := h.bag.to(strings.ToLower(addr))
	if len(msgs) == 0 {
		h.t.Fatal("no link message")
	}
	m := msgs[len(msgs)-1]
	tok := linkRE.FindStringSubmatch(m.Text)
	if tok == nil || sent.Check != h.svc.CheckOfToken(tok[1]) || strings.Contains(m.Text, sent.Check) {
		h.t.Fatalf("link message %q; the terminal shows %q", m.Text, sent.Check)
	}
	return sent, tok[1]
}

// press types on a link's page the check its terminal shows and presses
// the button.
func (h *harness) press(token string) (flows.LinkInfo, error) {
	return h.svc.ConfirmLinkChecked(ctx, token, h.svc.CheckOfToken(token))
}

// "A user supplies their email and a smart-link is sent to that email. On
// clicking that link, the user will be signed in."
func TestMagicLinkSignsInTheWaitingSession(t *testing.T) {
	h := newHarness(t, flows.Policy{})
	dev := device("laptop")
	w := h.svc.Watch(dev.Tag) // the waiting terminal
	defer w.Stop()

	sent, token := h.magicLink(dev, "grace@example.com")
	if len(sent.Check) != flows.LinkCheckLen || !sent.Expires.Equal(start.Add(5*time.Minute)) {
		t.Fatalf("sent: %+v", sent)
	}
	// The ledger keeps no token.
	for _, f := range h.facts(flows.KindLinkEmailed) {
		if strings.Contains(string(f.Body), token) || strings.Contains(f.Ticket, token) {
			t.Fatal("the ledger holds the link token")
		}
	}
	// Opening the page (a GET, or a mail scanner) uses nothing.
	for range 10 {
		info, err := h.svc.PeekLink(ctx, token)
		if err != nil || info.State != flows.LinkLive {
			t.Fatalf("peek: %+v, %v", info, err)
		}
	}
	if h.visit(dev).Account {
		t.Fatal("peeking signed in")
	}
	info, err := h.press(token)
	if err != nil || info.State != flows.LinkLive {
		t.Fatalf("confirm: %+v, %v", info, err)
	}
	select {
	case <-w.C:
	default:
		t.Fatal("the waiting session was not told")
	}
	v := h.visit(dev)
	if !v.Account || v.Method != "link" {
		t.Fatalf("after the link: %+v", v)
	}
	// A second use says so and changes nothing.
	seq := h.head()
	info, _ = h.press(token)
	if info.State != flows.LinkUsed || h.head() != seq {
		t.Fatalf("second use: %+v", info)
	}
}

// Exactly one of 20 parallel presses signs in.
func TestMagicLinkSingleUseUnderARace(t *testing.T) {
	h := newHarness(t, flows.Policy{})
	dev := device("laptop")
	w := h.svc.Watch(dev.Tag)
	defer w.Stop()
	_, token := h.magicLink(dev, "grace@example.com")
	var wg sync.WaitGroup
	var mu sync.Mutex
	live, used := 0, 0
	for range 20 {
		wg.Go(func() {
			info, err := h.press(token)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err != nil:
				t.Errorf("confirm: %v", err)
			case info.State == flows.LinkLive:
				live++
			case info.State == flows.LinkUsed:
				used++
			}
		})
	}
	wg.Wait()
	if live != 1 || used != 19 {
		t.Fatalf("%d sign-ins and %d already-used, want 1 and 19", live, used)
	}
	if n := len(h.facts(flows.KindLinkUsed)); n != 1 {
		t.Fatalf("%d link.used facts", n)
	}
	if n := len(h.facts(flows.KindDeviceSignedIn)); n != 1 {
		t.Fatalf("%d sign-ins recorded", n)
	}
}

// "expire in 5 minutes": at 5:00 - 1 s the link works, at 5:00 + 1 s not.
func TestMagicLinkExpiry(t *testing.T) {
	for _, c := range []struct {
		after time.Duration
		want  string
	}{{5*time.Minute - time.Second, flows.LinkLive}, {5*time.Minute + time.Second, flows.LinkExpired}} {
		h := newHarness(t, flows.Policy{})
		dev := device("laptop")
		w := h.svc.Watch(dev.Tag)
		_, token := h.magicLink(dev, "grace@example.com")
		h.clock.Advance(c.after)
		info, err := h.press(token)
		if err != nil || info.State != c.want {
			t.Errorf("at +%s: %+v, %v; want %s", c.after, info, err, c.want)
		}
		if got := h.visit(dev).Account; got != (c.want == flows.LinkLive) {
			t.Errorf("at +%s: signed in %v", c.after, got)
		}
		w.Stop()
	}
}

// A link for a session that has gone says so and changes nothing.
func TestMagicLinkForAGoneSession(t *testing.T) {
	h := newHarness(t, flows.Policy{})
	dev := device("laptop")
	w := h.svc.Watch(dev.Tag)
	_, token := h.magicLink(dev, "grace@example.com")
	w.Stop() // the terminal disconnected
	info, err := h.press(token)
	if err != nil || info.State != flows.LinkGone || h.visit(dev).Account {
		t.Fatalf("gone session: %+v, %v", info, err)
	}
	for _, bad := range []string{"", "short", strings.Repeat("a", 26), "../../etc/passwd", strings.Repeat("A", 26)} {
		if info, _ := h.svc.PeekLink(ctx, bad); info.State != flows.LinkUnknown {
			t.Errorf("token %q: %s", bad, info.State)
		}
	}
}

// Links are governed like codes: asking for one right after a code waits.
func TestMagicLinkIsGoverned(t *testing.T) {
	h := newHarness(t, flows.Policy{})
	dev := device("laptop")
	h.request(dev, "grace@example.com")
	_, err := h.svc.RequestMagicLink(ctx, dev, "grace@example.com")
	wantProblem(t, err, flows.ProblemThrottled)
}

// "an administrator can register a user": the address is confirmed by
// the method admin, and it is welcomed.
func TestAdministratorRegistersAUser(t *testing.T) {
	h := newHarness(t, flows.Policy{})
	reg, err := h.svc.RegisterUser(ctx, "Ada@Example.com", "Ada", "operator")
	if err != nil {
		t.Fatal(err)
	}
	if reg.Address != "ada@example.com" || reg.Nickname != "Ada" || reg.User == "" {
		t.Fatalf("registered: %+v", reg)
	}
	o := h.owner("ada@example.com", time.Time{})
	if o.User != reg.User || o.Method != "admin" {
		t.Fatalf("owner: %+v", o)
	}
	h.svc.Wait()
	welcome := h.bag.to("ada@example.com")
	if len(welcome) != 1 || welcome[0].Subject != "Welcome to attest" {
		t.Fatalf("welcome: %+v", welcome)
	}
	// The person signs in with a code as usual and finds the account.
	if v := h.signIn(device("ada"), "ada@example.com").Visitor; v.User != reg.User || v.Nickname != "Ada" {
		t.Fatalf("sign-in after registration: %+v", v)
	}
	// An address with an owner is refused; nothing is written.
	seq := h.head()
	_, err = h.svc.RegisterUser(ctx, "ada@example.com", "", "operator")
	wantProblem(t, err, flows.ProblemSupport)
	if h.head() != seq {
		t.Fatal("a refused registration wrote facts")
	}
	_, err = h.svc.RegisterUser(ctx, "bob@example.com", "\x1b[2J", "operator")
	wantProblem(t, err, flows.ProblemInput)
}

// A late press does not switch a session that has since signed in to
// another account.
func TestStaleLinkDoesNotSwitchAccounts(t *testing.T) {
	h := newHarness(t, flows.Policy{})
	dev := device("laptop")
	w := h.svc.Watch(dev.Tag)
	defer w.Stop()
	_, token := h.magicLink(dev, "ada@example.com")
	grace := h.signIn(dev, "grace@example.com").Visitor.User
	_, err := h.press(token)
	wantProblem(t, err, flows.ProblemSignedIn)
	if v := h.visit(dev); v.User != grace {
		t.Fatalf("the link switched the session to %s", v.User)
	}
}

// Seed 001's "update details, then verify the email by link": adding an
// email sends one message with a code and a link; either confirms it.
// The link works once, for 5 minutes, for that account and address only,
// and the ledger keeps only its MAC.
func TestAddedEmailConfirmedByLink(t *testing.T) {
	h := newHarness(t, flows.Policy{})
	dev := device("laptop")
	user := h.account(dev, "grace@example.com")
	before := h.bag.count()
	iss, err := h.svc.AddAddress(ctx, dev, "work@example.com")
	if err != nil {
		t.Fatal(err)
	}
	h.svc.Wait()
	if h.bag.count() != before+1 {
		t.Fatalf("%d messages for one added email", h.bag.count()-before)
	}
	msgs := h.bag.to("work@example.com")
	m := msgs[len(msgs)-1]
	tok := linkRE.FindStringSubmatch(m.Text)
	if tok == nil || !strings.Contains(m.Text, "Code "+iss.Letter+": ") {
		t.Fatalf("the message does not carry both the code and a link:\n%s", m.Text)
	}
	for _, f := range h.facts(flows.KindLinkAttached) {
		if strings.Contains(string(f.Body), tok[1]) || f.User != user {
			t.Fatalf("the link fact: %+v", f)
		}
	}
	if info, err := h.svc.PeekLink(ctx, tok[1]); err != nil || info.State != flows.LinkLive || info.Purpose != flows.PurposeConfirmAddress {
		t.Fatalf("peek: %+v, %v", info, err)
	}
	if len(iss.LinkCheck) != flows.LinkCheckLen || strings.Contains(m.Text, iss.LinkCheck) {
		t.Fatalf("the check %q: the terminal must show it and the message must not:\n%s", iss.LinkCheck, m.Text)
	}
	info, err := h.svc.ConfirmLinkChecked(ctx, tok[1], " "+strings.ToLower(iss.LinkCheck[:2])+"-"+iss.LinkCheck[2:])
	if err != nil || info.State != flows.LinkLive {
		t.Fatalf("press: %+v, %v", info, err)
	}
	if o := h.owner("work@example.com", time.Time{}); o.User != user {
		t.Fatalf("the address is not confirmed on the account: %+v", o)
	}
	if info, _ := h.svc.ConfirmLinkChecked(ctx, tok[1], iss.LinkCheck); info.State != flows.LinkUsed {
		t.Fatalf("a second press: %+v", info)
	}
	// The code of the same message finds nothing left to do, and the
	// account's other address is told once.
	if _, err := h.svc.EnterCode(ctx, dev, iss.Letter, h.codeOf(iss)); err != nil {
		t.Fatalf("the code after the link: %v", err)
	}
	h.svc.Wait()
	told := 0
	for _, m := range h.bag.to("grace@example.com") {
		if strings.Contains(m.Text, "was confirmed") {
			told++
		}
	}
	if told != 1 {
		t.Fatalf("the account was told %d times of one confirmation", told)
	}

	// A link for an address the account dropped does nothing; one pressed
	// after its 5 minutes neither.
	h.clock.Advance(time.Minute)
	if _, err := h.svc.AddAddress(ctx, dev, "old@example.com"); err != nil {
		t.Fatal(err)
	}
	_, dropped := h.magicLinkToken("old@example.com")
	droppedCheck := h.pendingCheck(dev, "old@example.com")
	if _, err := h.svc.UnlinkAddress(ctx, dev, "old@example.com"); err != nil {
		t.Fatal(err)
	}
	_, err = h.svc.ConfirmLinkChecked(ctx, dropped, droppedCheck)
	wantProblem(t, err, flows.ProblemInput)
	h.clock.Advance(time.Minute)
	if _, err := h.svc.AddAddress(ctx, dev, "late@example.com"); err != nil {
		t.Fatal(err)
	}
	_, late := h.magicLinkToken("late@example.com")
	lateCheck := h.pendingCheck(dev, "late@example.com")
	h.clock.Advance(flows.LinkTTL)
	if h.pendingCheck(dev, "late@example.com") != "" {
		t.Fatal("the home screen still shows the check of an expired link")
	}
	if info, err := h.svc.ConfirmLinkChecked(ctx, late, lateCheck); err != nil || info.State != flows.LinkExpired {
		t.Fatalf("a late link: %+v, %v", info, err)
	}
	if o := h.owner("late@example.com", time.Time{}); o.User != "" {
		t.Fatal("a late link confirmed the address")
	}
	// A phone gets its code alone.
	h.clock.Advance(time.Minute)
	if _, err := h.svc.AddAddress(ctx, dev, "+14155552671"); err != nil {
		t.Fatal(err)
	}
	h.svc.Wait()
	texts := h.bag.to("+14155552671")
	if strings.Contains(texts[len(texts)-1].Text, "/link/") {
		t.Fatalf("a text carries a link: %s", texts[len(texts)-1].Text)
	}
}

// pendingCheck is what the account's screens show beside an unconfirmed
// address: the check its live link's page asks for ("" for none).
func (h *harness) pendingCheck(dev flows.Device, addr string) string {
	h.t.Helper()
	for _, a := range h.visit(dev).Addresses {
		if a.Display == addr {
			return a.LinkCheck
		}
	}
	h.t.Fatalf("%s is not on the account", addr)
	return ""
}

// The pre-account-takeover the link's check stops: Mallory adds Vic's
// email to Mallory's account; the message goes to Vic, who presses the
// link's button. Without the characters only Mallory's terminal shows,
// the press does nothing; a wrong guess ends the link for good; Vic's
// later sign-in with the address makes Vic an account of Vic's own. The
// code typed in the adding terminal still works after the link ended.
func TestAddressLinkNeedsTheTerminalsCheck(t *testing.T) {
	h := newHarness(t, flows.Policy{})
	mallory := device("mallory")
	attacker := h.account(mallory, "mallory@example.com")
	iss, err := h.svc.AddAddress(ctx, mallory, "vic@example.com")
	if err != nil {
		t.Fatal(err)
	}
	if shown := h.pendingCheck(mallory, "vic@example.com"); shown != iss.LinkCheck || shown == "" {
		t.Fatalf("the home screen shows %q, the adding terminal %q", shown, iss.LinkCheck)
	}
	_, token := h.magicLinkToken("vic@example.com")

	// Vic presses the button alone, or types nonsense: refused, and the
	// link is as it was (a typing slip costs nothing).
	before := h.head()
	for _, typed := range []string{"", "12", "ABCDE", strings.Repeat("A", 100), "\x1b[2J"} {
		info, err := h.svc.ConfirmLinkChecked(ctx, token, typed)
		wantProblem(t, err, flows.ProblemInput)
		if !info.Mistyped {
			t.Fatalf("%q: not reported as mistyped: %+v", typed, info)
		}
	}
	_, err = h.svc.ConfirmLinkChecked(ctx, token, "")
	wantProblem(t, err, flows.ProblemInput)
	if h.head() != before {
		t.Fatal("a malformed check wrote facts")
	}
	// A well-formed guess is wrong: the link ends.
	guess := "AAAA"
	if iss.LinkCheck == guess {
		guess = "BBBB"
	}
	info, err := h.svc.ConfirmLinkChecked(ctx, token, guess)
	if err != nil || info.State != flows.LinkEnded {
		t.Fatalf("a wrong check: %+v, %v", info, err)
	}
	if len(h.facts(flows.KindLinkRefused)) != 1 {
		t.Fatal("the wrong check is not in the ledger")
	}
	if info, err := h.svc.ConfirmLinkChecked(ctx, token, iss.LinkCheck); err != nil || info.State != flows.LinkEnded {
		t.Fatalf("the right check after a wrong one: %+v, %v", info, err)
	}
	if info, err := h.svc.PeekLink(ctx, token); err != nil || info.State != flows.LinkEnded {
		t.Fatalf("peek after a wrong check: %+v, %v", info, err)
	}
	if o := h.owner("vic@example.com", time.Time{}); o.User != "" {
		t.Fatalf("the address was confirmed: %+v", o)
	}
	if h.pendingCheck(mallory, "vic@example.com") != "" {
		t.Fatal("the home screen still shows the check of an ended link")
	}
	// Vic signs in with the address: an account of Vic's own.
	h.clock.Advance(time.Minute) // the governor's gap after the last message
	vic := h.signIn(device("vic"), "vic@example.com")
	if vic.Visitor.User == attacker {
		t.Fatal("Vic's sign-in landed in the attacker's account")
	}
	for _, f := range h.facts(flows.KindLinkAttached, flows.KindLinkRefused) {
		if strings.Contains(string(f.Body), iss.LinkCheck) {
			t.Fatalf("the check is in the ledger: %+v", f)
		}
	}

	// The code in the same message still confirms, for its own account.
	h2 := newHarness(t, flows.Policy{})
	dev := device("laptop")
	user := h2.account(dev, "grace@example.com")
	iss2, err := h2.svc.AddAddress(ctx, dev, "work@example.com")
	if err != nil {
		t.Fatal(err)
	}
	_, token2 := h2.magicLinkToken("work@example.com")
	wrong := "ZZZZ"
	if iss2.LinkCheck == wrong {
		wrong = "YYYY"
	}
	if info, err := h2.svc.ConfirmLinkChecked(ctx, token2, wrong); err != nil || info.State != flows.LinkEnded {
		t.Fatalf("a wrong check: %+v, %v", info, err)
	}
	if _, err := h2.svc.EnterCode(ctx, dev, iss2.Letter, h2.codeOf(iss2)); err != nil {
		t.Fatalf("the code after the link ended: %v", err)
	}
	if o := h2.owner("work@example.com", time.Time{}); o.User != user {
		t.Fatalf("the code did not confirm: %+v", o)
	}
}

// A code sent again for an added email carries a new link and a new
// check: like the code before it, the link before it works no more, so
// the check the screens show is the only one there is.
func TestAddressLinkReplacedBySendingAgain(t *testing.T) {
	h := newHarness(t, flows.Policy{})
	dev := device("laptop")
	user := h.account(dev, "grace@example.com")
	first, err := h.svc.AddAddress(ctx, dev, "work@example.com")
	if err != nil {
		t.Fatal(err)
	}
	_, old := h.magicLinkToken("work@example.com")
	h.clock.Advance(time.Minute)
	again, err := h.svc.ConfirmAddress(ctx, dev, "work@example.com")
	if err != nil {
		t.Fatal(err)
	}
	_, fresh := h.magicLinkToken("work@example.com")
	if fresh == old || again.LinkCheck == "" || h.pendingCheck(dev, "work@example.com") != again.LinkCheck {
		t.Fatalf("the new link: %q %q, checks %q %q", old, fresh, first.LinkCheck, again.LinkCheck)
	}
	if info, err := h.svc.PeekLink(ctx, old); err != nil || info.State != flows.LinkReplaced {
		t.Fatalf("peek at the old link: %+v, %v", info, err)
	}
	before := h.head()
	for _, check := range []string{first.LinkCheck, again.LinkCheck} {
		if info, err := h.svc.ConfirmLinkChecked(ctx, old, check); err != nil || info.State != flows.LinkReplaced {
			t.Fatalf("the old link with %s: %+v, %v", check, info, err)
		}
	}
	if h.head() != before {
		t.Fatal("pressing a replaced link wrote facts")
	}
	if info, err := h.svc.ConfirmLinkChecked(ctx, fresh, again.LinkCheck); err != nil || info.State != flows.LinkLive {
		t.Fatalf("the new link: %+v, %v", info, err)
	}
	if o := h.owner("work@example.com", time.Time{}); o.User != user {
		t.Fatalf("not confirmed: %+v", o)
	}
}

// The device-code phishing a link's check stops (RFC 8628 section 5.4):
// Mallory asks for a sign-in link to Vic's address and waits in Mallory's
// terminal; Vic gets the message and presses the button. The message
// holds nothing the page asks for, so Vic's press without the check,
// or with a malformed one, leaves Mallory's session signed out and the
// link as it was; a well-formed wrong check ends the link for good, and
// even the right check cannot use it then.
func TestSignInLinkNeedsTheTerminalsCheck(t *testing.T) {
	h := newHarness(t, flows.Policy{})
	vic := device("vic")
	victim := h.account(vic, "vic@example.com")
	h.clock.Advance(time.Hour) // past the governor's wait after Vic's own code
	mallory := device("mallory")
	w := h.svc.Watch(mallory.Tag) // Mallory's waiting terminal
	defer w.Stop()
	sent, token := h.magicLink(mallory, "vic@example.com")
	msg, _ := h.magicLinkToken("vic@example.com")
	if strings.Contains(msg, sent.Check) || strings.Contains(strings.ToLower(msg), "terminal session") {
		t.Fatalf("the message gives Vic what the page asks for:\n%s", msg)
	}

	before := h.head()
	for _, typed := range []string{"", "1O", "ABCDE", strings.Repeat("A", 100), "\x1b[2J"} {
		info, err := h.svc.ConfirmLinkChecked(ctx, token, typed)
		wantProblem(t, err, flows.ProblemInput)
		if !info.Mistyped || info.State != flows.LinkLive {
			t.Fatalf("%q: %+v", typed, info)
		}
	}
	if h.head() != before || h.visit(mallory).Account {
		t.Fatal("a press without the check changed something")
	}
	if refused, err := h.svc.LinkRefused(ctx, sent.Ticket); err != nil || refused {
		t.Fatalf("refused before any check: %v, %v", refused, err)
	}
	guess := "AAAA"
	if sent.Check == guess {
		guess = "BBBB"
	}
	info, err := h.svc.ConfirmLinkChecked(ctx, token, guess)
	if err != nil || info.State != flows.LinkEnded {
		t.Fatalf("a wrong check: %+v, %v", info, err)
	}
	if refused, err := h.svc.LinkRefused(ctx, sent.Ticket); err != nil || !refused {
		t.Fatalf("the waiting terminal cannot tell the link ended: %v, %v", refused, err)
	}
	select {
	case <-w.C: // the waiting terminal hears that its link ended
	default:
		t.Fatal("the waiting terminal was not told")
	}
	refused := h.facts(flows.KindLinkRefused)
	if len(refused) != 1 || refused[0].Device != mallory.Tag {
		t.Fatalf("the wrong check is not in the ledger as the asker's: %+v", refused)
	}
	if info, err := h.press(token); err != nil || info.State != flows.LinkEnded {
		t.Fatalf("the right check after a wrong one: %+v, %v", info, err)
	}
	if info, _ := h.svc.PeekLink(ctx, token); info.State != flows.LinkEnded {
		t.Fatalf("peek of an ended link: %+v", info)
	}
	if v := h.visit(mallory); v.Account || v.User == victim {
		t.Fatalf("Mallory's session signed in: %+v", v)
	}
	if v := h.visit(vic); !v.Account || v.User != victim {
		t.Fatalf("Vic's own session changed: %+v", v)
	}
}

// A registration's link needs its check too, so a press of the owner of
// the address cannot make the account whose password the registrant
// chose: the registering terminal alone shows it (Login.Link.Check).
func TestRegistrationLinkNeedsTheTerminalsCheck(t *testing.T) {
	h := newHarness(t, flows.Policy{})
	mallory := device("mallory")
	l, err := h.svc.LoginOrRegister(ctx, mallory, "vic@example.com", goodPassword)
	if err != nil || l.Link == nil || l.Link.Purpose != flows.PurposeConfirm || len(l.Link.Check) != flows.LinkCheckLen {
		t.Fatalf("register: %+v, %v", l, err)
	}
	msg, token := h.magicLinkToken("vic@example.com")
	if strings.Contains(msg, l.Link.Check) || h.svc.CheckOfToken(token) != l.Link.Check {
		t.Fatalf("the terminal shows %q; the message:\n%s", l.Link.Check, msg)
	}
	_, err = h.svc.ConfirmLinkChecked(ctx, token, "")
	wantProblem(t, err, flows.ProblemInput)
	wrong := "AAAA"
	if l.Link.Check == wrong {
		wrong = "BBBB"
	}
	if info, err := h.svc.ConfirmLinkChecked(ctx, token, wrong); err != nil || info.State != flows.LinkEnded {
		t.Fatalf("a wrong check: %+v, %v", info, err)
	}
	if o := h.owner("vic@example.com", time.Time{}); o.User != "" {
		t.Fatalf("the address has an owner: %+v", o)
	}
	if h.visit(mallory).Account {
		t.Fatal("the registering terminal is signed in")
	}
}
