package tui

import (
	"regexp"
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/decred/dcrd/dcrec/secp256k1/v4"

	"github.com/attest-dev/attest/flows"
	"github.com/attest-dev/attest/flows/address"
	"github.com/attest-dev/attest/flows/wallet"
)

// A third SSH key, for the split's second way.
var tablet = flows.KeyDevice("SHA256:T4bL3tKeyF1ngerpr1ntAAAAAAAAAAAAAAAAAAAAAAAA")

// A US number libphonenumber holds valid, and a second one.
const (
	phone1 = "+14155552671"
	phone2 = "+14155552672"
)

// The device that signed up is stepped up for its first hour: the badge
// counts down on every screen and goes when the hour is up.
func TestStepUpBadgeCountsDown(t *testing.T) {
	e := newEnv(t)
	e.signIn(laptop, grace)
	tr := e.open(laptop, "")
	screen := tr.waitFor("stepped up · 1h", "signed in as grace@example.com")
	tr.golden("home", screen)

	e.clock.Advance(18 * time.Minute)
	tr.send(tickMsg{n: -1})
	tr.waitFor("stepped up · 42m")
	tr.typeText("d")
	tr.waitFor("Devices signed in", "stepped up · 42m")
	tr.press(tea.KeyEscape)
	tr.typeText("a")
	screen = tr.waitFor("Step-up      until 10:00:00 UTC (in 42m) · this device only", "stepped up · 42m")
	tr.golden("account", screen)

	e.clock.Advance(59*time.Minute + 59*time.Second - 18*time.Minute)
	tr.send(tickMsg{n: -1})
	tr.waitFor("stepped up · 1s")
	e.clock.Advance(2 * time.Second)
	tr.send(tickMsg{n: -1})
	screen = tr.waitGone("stepped up")
	tr.golden("lapsed", screen)
	if !strings.Contains(screen, "Step-up      none: changes below ask for a code first") {
		t.Fatalf("the account still shows a step-up:\n%s", screen)
	}
}

// addOnAccount opens the account's add field and types an address.
func addOnAccount(tr *term, addr string) {
	tr.t.Helper()
	tr.typeText("a")
	tr.waitFor("Addresses", "a add")
	tr.typeText("a")
	tr.waitFor("Add an email address, or a phone number")
	tr.typeText(addr)
	tr.waitFor("> " + addr)
}

// The phone signed in second, so it has no step-up: adding a number opens
// the step-up screen, and once its code is right the add goes ahead from
// where it was, with the number typed.
func TestProtectedActionStepsUpThenResumes(t *testing.T) {
	e := newEnv(t)
	twoDevices(e)
	tr := e.open(phone, "")
	tr.waitFor("signed in as grace@example.com")
	if strings.Contains(tr.screen(), "stepped up") {
		t.Fatal("the second device shows a step-up it does not have")
	}
	addOnAccount(tr, phone1)
	tr.press(tea.KeyEnter)
	screen := tr.waitFor("A step-up proves it is you", "Code B sent to grace@example.com by email", "Delivery    sent",
		"this goes ahead: add +14155552671")
	tr.golden("stepup", screen)

	// q types in the code field; it is not a quit.
	tr.typeText("q")
	tr.waitFor("Code B  > q")
	tr.press(tea.KeyBackspace)
	tr.typeText(e.code(grace, "B"))
	tr.press(tea.KeyEnter)
	screen = tr.waitFor("Code C sent to +1 415-555-2671 by sms", "stepped up · 1h", "Delivery    sent")
	tr.golden("resumed", screen)
	if v, _ := e.svc.Visit(ctx, phone); len(v.Addresses) != 2 {
		t.Fatalf("the number was not added: %+v", v.Addresses)
	}

	tr.typeText(e.code("+14155552671", "C"))
	tr.press(tea.KeyEnter)
	screen = tr.waitFor("Confirmed +1 415-555-2671", "phone  +1 415-555-2671    confirmed by code, 09:07:00 UTC")
	tr.golden("confirmed", screen)
}

// Leaving the step-up screen gives the action's screen its refusal, with
// the field as it was.
func TestStepUpAbandoned(t *testing.T) {
	e := newEnv(t)
	twoDevices(e)
	tr := e.open(phone, "")
	addOnAccount(tr, phone1)
	tr.press(tea.KeyEnter)
	tr.waitFor("Code B sent to grace@example.com")
	tr.press(tea.KeyEscape)
	screen := tr.waitFor("✗ To change your addresses, first prove it is you", "> +14155552671")
	tr.golden("refused", screen)
	if v, _ := e.svc.Visit(ctx, phone); len(v.Addresses) != 1 {
		t.Fatalf("an address changed without a step-up: %+v", v.Addresses)
	}
}

// Sign out everywhere resumes after the step-up too: the answer to its
// question is not asked again.
func TestSignOutEverywhereStepsUpThenResumes(t *testing.T) {
	e := newEnv(t)
	twoDevices(e)
	tr := e.open(phone, "")
	tr.typeText("d")
	tr.waitFor("this device")
	tr.typeText("e")
	tr.waitFor("y/N")
	tr.typeText("y")
	tr.waitFor("this goes ahead: sign out everywhere", "Code B sent to grace@example.com")
	tr.typeText(e.code(grace, "B"))
	tr.press(tea.KeyEnter)
	tr.waitFor("You signed out everywhere", "anonymous visitor")
	for _, dev := range []flows.Device{laptop, phone} {
		if v, _ := e.svc.Visit(ctx, dev); v.Account {
			t.Fatalf("%s is still signed in", dev.Tag)
		}
	}
}

// The notes' enrolment: sign up with email (code A), then add a phone
// number: its code is code B, still 4 digits.
func TestAddPhoneAfterEmailIsCodeB(t *testing.T) {
	e := newEnv(t)
	tr := e.open(laptop, "")
	toCode(tr, grace)
	tr.typeText(e.code(grace, "A"))
	tr.press(tea.KeyEnter)
	tr.waitFor("Welcome — your account is ready")
	e.clock.Advance(time.Minute)

	addOnAccount(tr, "+1 415")
	tr.press(tea.KeyEnter)
	screen := tr.waitFor("✗ ", "> +1 415")
	tr.golden("invalid", screen)
	tr.typeText("5552671")
	tr.waitGone("✗ ")
	tr.press(tea.KeyEnter)
	screen = tr.waitFor("Code B sent to +1 415-555-2671 by sms", "Digits      4", "Delivery    sent")
	tr.golden("code B", screen)

	code := e.code("+14155552671", "B")
	if len(code) != 4 {
		t.Fatalf("code B has %d digits, want 4", len(code))
	}
	tr.typeText(code)
	tr.press(tea.KeyEnter)
	screen = tr.waitFor("Confirmed +1 415-555-2671", "confirmed by code")
	tr.golden("account", screen)
}

// An address added and left unconfirmed can be confirmed later from the
// account: c comes back to its code.
func TestConfirmLater(t *testing.T) {
	e := newEnv(t)
	e.signIn(laptop, grace)
	tr := e.open(laptop, "")
	addOnAccount(tr, "ada@example.com")
	tr.press(tea.KeyEnter)
	tr.waitFor("Code B sent to ada@example.com")
	// The email's link asks for a check only this account's screens show:
	// on the code's screen, and beside the address while the link works.
	v, err := e.svc.Visit(ctx, laptop)
	if err != nil || len(v.Addresses) != 2 || v.Addresses[1].LinkCheck == "" {
		t.Fatalf("visit: %+v, %v", v, err)
	}
	tr.waitFor("Link asks   " + v.Addresses[1].LinkCheck)
	tr.press(tea.KeyEscape)
	tr.waitFor("email  ada@example.com    unconfirmed · link asks " + v.Addresses[1].LinkCheck + " — enter its code")
	tr.press(tea.KeyDown)
	tr.typeText("c")
	tr.waitFor("Code B sent to ada@example.com")
	tr.typeText(e.code("ada@example.com", "B"))
	tr.press(tea.KeyEnter)
	tr.waitFor("Confirmed ada@example.com", "email  ada@example.com    confirmed by code")
}

func TestUnlinkLastAddressRefused(t *testing.T) {
	e := newEnv(t)
	e.signIn(laptop, grace)
	tr := e.open(laptop, "")
	tr.typeText("a")
	tr.waitFor("› email  grace@example.com")
	tr.typeText("x")
	screen := tr.waitFor("Unlink grace@example.com from your account? y/N")
	tr.golden("question", screen)
	tr.typeText("y")
	screen = tr.waitFor("✗ grace@example.com is the only confirmed address on your account")
	tr.golden("refused", screen)
	if v, _ := e.svc.Visit(ctx, laptop); len(v.Addresses) != 1 || !v.Addresses[0].Confirmed {
		t.Fatalf("the last address changed: %+v", v.Addresses)
	}
}

// confirmAddress adds an address to the device's account and confirms it
// through the flows.
func (e *env) confirmAddress(dev flows.Device, addr string) {
	e.t.Helper()
	iss, err := e.svc.AddAddress(ctx, dev, addr)
	if err != nil {
		e.t.Fatalf("add %s: %v", addr, err)
	}
	if _, err := e.svc.EnterCode(ctx, dev, iss.Letter, e.codeOf(iss)); err != nil {
		e.t.Fatalf("confirm %s: %v", addr, err)
	}
	e.svc.Wait()
}

func TestHistory(t *testing.T) {
	e := newEnv(t)
	e.signIn(laptop, grace)
	e.clock.Advance(2 * time.Minute)
	e.confirmAddress(laptop, phone1)
	e.clock.Advance(3 * time.Minute)
	if _, err := e.svc.AddAddress(ctx, laptop, "ada@example.com"); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(4 * time.Minute)
	if _, err := e.svc.UnlinkAddress(ctx, laptop, phone1); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(time.Minute)
	for _, addr := range []string{"bob@example.com", "cy@example.com"} {
		if _, err := e.svc.AddAddress(ctx, laptop, addr); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := e.svc.UnlinkAddress(ctx, laptop, "bob@example.com"); err != nil {
		t.Fatal(err)
	}
	e.svc.Wait()

	tr := e.open(laptop, "")
	tr.typeText("a")
	tr.waitFor("Addresses")
	tr.typeText("h")
	screen := tr.waitFor("Address history  newest first", "ended      phone  +1 415-555-2671    unlinked", "added      email  cy@example.com")
	tr.golden("history", screen)
	lines := strings.Split(screen, "\n")
	first, last := -1, -1
	for i, l := range lines {
		if strings.Contains(l, "09:10 UTC  ended") {
			first = i
		}
		if strings.Contains(l, "09:00 UTC  added") {
			last = i
		}
	}
	if first < 0 || last < 0 || first > last {
		t.Fatalf("the history is not newest first:\n%s", screen)
	}

	// In a small window it scrolls.
	tr.send(tea.WindowSizeMsg{Width: 80, Height: 15})
	screen = tr.waitFor("↓ 2 more")
	if strings.Contains(screen, "09:00 UTC  added") {
		t.Fatalf("the oldest change fits in a small window:\n%s", screen)
	}
	tr.press(tea.KeyDown)
	screen = tr.waitFor("09:00 UTC  added")
	if strings.Contains(screen, "09:10 UTC  ended") || strings.Contains(screen, "↓ ") {
		t.Fatalf("scrolled to the end, the newest change or a line of more below is still there:\n%s", screen)
	}
	tr.press(tea.KeyDown) // the end: it stays
	tr.press(tea.KeyUp)
	tr.waitFor("09:10 UTC  ended", "↓ 2 more")
}

func TestRememberKeyThenSignInWithKey(t *testing.T) {
	e := newEnv(t)
	e.signIn(laptop, grace)
	if _, err := e.svc.SetNickname(ctx, laptop, "Grace"); err != nil {
		t.Fatal(err)
	}
	tr := e.open(laptop, "")
	tr.typeText("a")
	tr.waitFor("none yet: r remembers the key this device connects with")
	tr.typeText("r")
	screen := tr.waitFor("Remember this device's key (SHA256:q8XkP2mV…xUvB)", "y/N")
	tr.golden("question", screen)
	tr.typeText("y")
	screen = tr.waitFor("✓ This key is remembered", "SHA256:q8XkP2mV…xUvB  this key · remembered here")
	tr.golden("remembered", screen)

	tr.press(tea.KeyEscape)
	tr.waitFor("signed in as Grace")
	tr.typeText("o")
	tr.waitFor("Sign out of this device? y/N")
	tr.typeText("y")
	screen = tr.waitFor("You signed out of this device", "Sign in as Grace with this key — press k")
	tr.golden("offer", screen)
	tr.typeText("k")
	screen = tr.waitFor("Signed in as Grace.", "signed in as Grace · via ssh")
	tr.golden("signed in", screen)
	if v, _ := e.svc.Visit(ctx, laptop); !v.Account || v.Method != "ssh" {
		t.Fatalf("k did not sign in with the key: %+v", v)
	}
}

var linkCodeRE = regexp.MustCompile(`([A-Z0-9] ){4}- ([A-Z0-9] ){3}[A-Z0-9]`)

// linkCodeOn reads the link code off a screen.
func linkCodeOn(t *testing.T, screen string) string {
	t.Helper()
	m := linkCodeRE.FindString(screen)
	if m == "" {
		t.Fatalf("no link code on the screen:\n%s", screen)
	}
	return strings.ReplaceAll(m, " ", "")
}

// The phone shows a link code; the laptop, signed in and stepped up,
// approves it; the phone's screen moves on by itself.
func TestDeviceLinkApprovedFromAnotherSession(t *testing.T) {
	e := newEnv(t)
	e.signIn(laptop, grace)
	desk := e.open(laptop, "")
	desk.waitFor("signed in as grace@example.com")

	tr := e.open(phone, "")
	tr.typeText("l")
	screen := tr.waitFor("Link this device to your account", "Expires  09:01:00 UTC (in 1m)")
	tr.golden("code", screen)
	lapsed := linkCodeOn(t, screen)

	// A minute on, the code has lapsed and a new one is offered.
	e.clock.Advance(61 * time.Second)
	tr.send(tickMsg{n: -1})
	screen = tr.waitFor("This code has lapsed. ctrl+r shows a new one.")
	tr.golden("lapsed", screen)
	tr.ctrl('r')
	screen = tr.waitFor("Expires  09:02:01 UTC (in 1m)")
	code := linkCodeOn(t, screen)
	if code == lapsed {
		t.Fatalf("the new link code is the old one: %s", code)
	}

	desk.typeText("a")
	desk.waitFor("l approve a device")
	desk.typeText("l")
	desk.waitFor("Link code")
	desk.typeText(lapsed)
	desk.press(tea.KeyEnter)
	desk.waitFor("✗ That link code expired")
	desk.press(tea.KeyBackspace) // the field keeps what was typed
	for range 16 {
		desk.press(tea.KeyBackspace)
	}
	desk.typeText(code)
	desk.press(tea.KeyEnter)
	screen = desk.waitFor("✓ Linked the device with key SHA256:Zx81kLmN…kH2Q")
	desk.golden("approved", screen)

	screen = tr.waitFor("This device is now linked to your account.", "signed in as grace@example.com · via device-link")
	tr.golden("linked", screen)
	lv, _ := e.svc.Visit(ctx, laptop)
	pv, _ := e.svc.Visit(ctx, phone)
	if !pv.Account || pv.User != lv.User {
		t.Fatalf("the phone is %+v, the laptop %s", pv, lv.User)
	}
}

// splitAccount is the notes' end note: an account with an email address
// and two confirmed phone numbers, made on the laptop.
func splitAccount(e *env) flows.Visitor {
	e.signIn(laptop, grace)
	e.clock.Advance(time.Minute)
	e.confirmAddress(laptop, phone1)
	e.clock.Advance(time.Minute)
	e.confirmAddress(laptop, phone2)
	e.clock.Advance(time.Minute)
	v, _ := e.svc.Visit(ctx, laptop)
	return v
}

// signInWith goes through the sign-in screens with a phone number, up to
// the right code entered.
func signInWith(e *env, tr *term, number, display string) {
	tr.t.Helper()
	tr.typeText("s")
	tr.waitFor("Email address or phone number")
	tr.typeText(number)
	tr.press(tea.KeyEnter)
	tr.waitFor("Code A sent to "+display, "Delivery    sent")
	tr.typeText(e.code(number, "A"))
	tr.press(tea.KeyEnter)
}

// A right code for a number on an account with another signs in, with no
// question; home then offers the split (m), which asks y/N.
func TestSplitOfferedAfterSignIn(t *testing.T) {
	e := newEnv(t)
	account := splitAccount(e)
	tr := e.open(tablet, "")
	signInWith(e, tr, phone2, "+1 415-555-2672")
	screen := tr.waitFor("Signed in as grace@example.com.", "signed in as grace@example.com · via code",
		"yours and not this account's? Press m", "the account keeps +1 •••-•••-2671.")
	tr.golden("offered", screen)
	if strings.Contains(screen, "Which account?") {
		t.Fatal("a question stands in the way of the sign-in")
	}
	if v, _ := e.svc.Visit(ctx, tablet); !v.Account || v.User != account.User {
		t.Fatalf("the right code did not sign in to the account: %+v", v)
	}

	// No leaves everything as it was.
	tr.typeText("m")
	tr.waitFor("Make +1 415-555-2672 an account of its own? y/N")
	tr.typeText("n")
	tr.waitFor("Press m")
	if v, _ := e.svc.Visit(ctx, tablet); v.User != account.User {
		t.Fatal("no split the device off")
	}

	tr.typeText("m")
	screen = tr.waitFor("• +1 415-555-2672 leaves the account you are signed in to, which keeps +1",
		"•••-•••-2671 and is told in a message.", "Make +1 415-555-2672 an account of its own? y/N")
	tr.golden("question", screen)
	tr.typeText("y")
	screen = tr.waitFor("+1 415-555-2672 is an account of its own now", "signed in as +1 415-555-2672 · via code")
	tr.golden("home", screen)
	if strings.Contains(screen, "Press m") {
		t.Fatal("the split is still offered after it was taken")
	}
	v, _ := e.svc.Visit(ctx, tablet)
	if !v.Account || v.User == account.User {
		t.Fatalf("the tablet is %+v; the old account is %s", v, account.User)
	}
	old, _ := e.svc.Visit(ctx, laptop)
	for _, a := range old.Addresses {
		if a.Kind == address.Phone && a.Display == "+1 415-555-2672" {
			t.Fatalf("the number is still on the old account: %+v", old.Addresses)
		}
	}
}

// After the code's lifetime home no longer offers the split; the account
// screen does, on the row of the number the device signed in with only.
func TestSplitFromAccountScreen(t *testing.T) {
	e := newEnv(t)
	account := splitAccount(e)
	e.signIn(tablet, phone2)
	e.clock.Advance(time.Hour)
	tr := e.open(tablet, "")
	screen := tr.waitFor("signed in as grace@example.com")
	if strings.Contains(screen, "Press m") {
		t.Fatalf("home offers the split after the code's lifetime:\n%s", screen)
	}
	tr.typeText("a")
	tr.waitFor("Addresses")
	tr.typeText("j") // +1 415-555-2671: not the one this device signed in with
	tr.typeText("m")
	tr.waitFor("› phone  +1 415-555-2671")
	if strings.Contains(tr.screen(), "y/N") {
		t.Fatal("m offered a split on another number's row")
	}
	tr.typeText("j")
	tr.waitFor("› phone  +1 415-555-2672", "m make it an account of its own")
	tr.typeText("m")
	tr.waitFor("Make +1 415-555-2672 an account of its own? y/N")
	tr.typeText("y")
	tr.waitFor("+1 415-555-2672 is an account of its own now")
	if v, _ := e.svc.Visit(ctx, tablet); !v.Account || v.User == account.User {
		t.Fatalf("the tablet is %+v", v)
	}
}

// Sign out everywhere asks a second question when the account remembers
// keys, and forgets them on y.
func TestSignOutEverywhereForgetsKeys(t *testing.T) {
	for _, forget := range []bool{true, false} {
		name := map[bool]string{true: "forget", false: "keep"}[forget]
		t.Run(name, func(t *testing.T) {
			e := newEnv(t)
			e.signIn(laptop, grace)
			if err := e.svc.RememberKey(ctx, laptop); err != nil {
				t.Fatal(err)
			}
			e.svc.Wait()
			tr := e.open(laptop, "")
			tr.typeText("d")
			tr.waitFor("this device")
			tr.typeText("e")
			tr.waitFor("Sign out every device of this account? y/N")
			tr.typeText("y")
			screen := tr.waitFor("Also forget remembered SSH keys? y/N")
			if forget {
				tr.golden("question", screen)
				tr.typeText("y")
				tr.waitFor("Every remembered SSH key is forgotten too.", "anonymous visitor")
				if strings.Contains(tr.screen(), "with this key") {
					t.Fatalf("a forgotten key is offered:\n%s", tr.screen())
				}
			} else {
				tr.typeText("n")
				tr.waitFor("You signed out everywhere", "Sign in as your account with this key — press k")
			}
			v, _ := e.svc.Visit(ctx, laptop)
			if v.Account || (v.KeyAccount == nil) == !forget {
				t.Fatalf("after sign-out everywhere (forget %v): %+v", forget, v)
			}
		})
	}
}

// The governor can hold the step-up code back: the screen says until
// when, and ctrl+r asks again once it may; the action still resumes.
func TestStepUpCodeHeldBack(t *testing.T) {
	e := newEnv(t)
	e.signIn(laptop, grace)
	e.clock.Advance(time.Minute)
	e.signIn(phone, grace) // a code to grace this very minute
	tr := e.open(phone, "")
	tr.typeText("d")
	tr.waitFor("this device")
	tr.typeText("e")
	tr.typeText("y")
	screen := tr.waitFor("✗ Next code at 09:02:00 UTC (in 1m).", "A code can be sent at 09:02:00 UTC (in 1m).")
	tr.golden("held back", screen)
	tr.ctrl('r') // too soon: nothing
	tr.settle()
	e.clock.Advance(time.Minute)
	tr.send(tickMsg{n: -1})
	tr.waitFor("ctrl+r sends a code")
	tr.ctrl('r')
	tr.waitFor("Code B sent to grace@example.com", "this goes ahead: sign out everywhere")
	tr.typeText(e.code(grace, "B"))
	tr.press(tea.KeyEnter)
	tr.waitFor("You signed out everywhere", "anonymous visitor")
}

// Edit: pick an address, type the one that replaces it. An unconfirmed
// address is replaced at once; the new one gets its code.
func TestEditAddress(t *testing.T) {
	e := newEnv(t)
	e.signIn(laptop, grace)
	if _, err := e.svc.AddAddress(ctx, laptop, "ada@example.com"); err != nil {
		t.Fatal(err)
	}
	e.svc.Wait()
	e.clock.Advance(time.Minute)
	tr := e.open(laptop, "")
	tr.typeText("a")
	tr.waitFor("email  ada@example.com")
	tr.press(tea.KeyDown)
	tr.typeText("e")
	tr.waitFor("Replace ada@example.com with")
	tr.typeText("ada@example.org")
	tr.press(tea.KeyEnter)
	tr.waitFor("Code C sent to ada@example.org by email")
	tr.press(tea.KeyEscape)
	screen := tr.waitFor("email  ada@example.org    unconfirmed")
	if strings.Contains(screen, "ada@example.com") {
		t.Fatalf("the unconfirmed address was not replaced:\n%s", screen)
	}
}

// walletOnAccount gives grace's account a confirmed Ethereum wallet, added
// by the laptop in its sign-up hour (so stepped up) and signed with key,
// then signs the phone in: the phone has no step-up.
func walletOnAccount(e *env) (*secp256k1.PrivateKey, string) {
	e.t.Helper()
	key := secp256k1.PrivKeyFromBytes(append(make([]byte, 31), 7))
	addr := address.EIP55(wallet.AddressOf(key.PubKey()))
	e.signIn(laptop, grace)
	ch, err := e.svc.AddWallet(ctx, laptop, addr)
	if err != nil {
		e.t.Fatalf("add the wallet: %v", err)
	}
	if _, err := e.svc.SubmitSignature(ctx, laptop, personalSign(key, ch.Message)); err != nil {
		e.t.Fatalf("sign for the wallet: %v", err)
	}
	e.svc.Wait()
	e.clock.Advance(5 * time.Minute)
	e.signIn(phone, grace)
	e.clock.Advance(2 * time.Minute)
	return key, addr
}

// A protected action on a device without a step-up: the step-up screen
// offers the wallet beside the code; the wallet's message copies whole,
// and a right signature steps the device up and the action goes ahead.
func TestStepUpWithWallet(t *testing.T) {
	e := newEnv(t)
	key, addr := walletOnAccount(e)
	tr := e.open(phone, "")
	addOnAccount(tr, phone1)
	tr.press(tea.KeyEnter)
	tr.waitFor("Code B sent to grace@example.com", "ctrl+w signs a message with it instead", "this goes ahead: add +14155552671")

	tr.ctrl('w')
	screen := tr.waitFor("step up · wallet", "Signature", "Expiration Time: ", "this goes ahead: add +14155552671",
		"ssh HOST stepup --wallet --json")
	tr.golden("wallet", screen)
	msg := messageOnScreen(t, screen)
	if !strings.HasPrefix(msg, "attest.test wants you to sign in with your Ethereum account:\n"+addr+
		"\n\nApprove protected changes to your account on this device for an hour.\n") {
		t.Fatalf("the message on the screen:\n%s", msg)
	}

	tr.send(tea.PasteMsg{Content: personalSign(key, msg)})
	tr.press(tea.KeyEnter)
	tr.waitFor("Code C sent to +1 415-555-2671 by sms", "stepped up · 1h")
	v, err := e.svc.Visit(ctx, phone)
	if err != nil || v.StepUpUntil.IsZero() || len(v.Addresses) != 3 {
		t.Fatalf("the phone is not stepped up, or the number not added: %+v, %v", v, err)
	}
}

// A signature by another key is refused and said so; the device stays
// without a step-up, nothing is added, and esc goes back to the code.
// The account's authenticator is not enrolled, so the code came first.
func TestStepUpWithWalletWrongSignature(t *testing.T) {
	e := newEnv(t)
	key, _ := walletOnAccount(e)
	tr := e.open(phone, "")
	addOnAccount(tr, phone1)
	tr.press(tea.KeyEnter)
	tr.waitFor("Code B sent to grace@example.com")
	tr.ctrl('w')
	msg := messageOnScreen(t, tr.waitFor("step up · wallet", "Expiration Time: "))

	other := secp256k1.PrivKeyFromBytes(append(make([]byte, 31), 8))
	tr.send(tea.PasteMsg{Content: personalSign(other, msg)})
	tr.press(tea.KeyEnter)
	tr.waitFor("✗ That signature is not by this address", "step up · wallet")
	// The right signature cut short: refused as such.
	right := personalSign(key, msg)
	tr.send(tea.PasteMsg{Content: right[:len(right)-2]})
	tr.press(tea.KeyEnter)
	tr.waitFor("✗ An Ethereum signature is 65 bytes (130 hex digits after 0x); that one is", "  64.")
	v, err := e.svc.Visit(ctx, phone)
	if err != nil || !v.StepUpUntil.IsZero() || len(v.Addresses) != 2 {
		t.Fatalf("a wrong signature changed something: %+v, %v", v, err)
	}

	tr.press(tea.KeyEscape)
	tr.waitFor("Code B sent to grace@example.com", "Code B  >")
	tr.typeText(e.code(grace, "B"))
	tr.press(tea.KeyEnter)
	tr.waitFor("Code C sent to +1 415-555-2671 by sms", "stepped up · 1h")
}

// With an authenticator app, its code is still asked for first; ctrl+w
// there signs with the wallet instead, from the account screen's own
// step-up.
func TestStepUpWithWalletAfterTheApp(t *testing.T) {
	e := newEnv(t)
	key := secp256k1.PrivKeyFromBytes(append(make([]byte, 31), 7))
	addr := address.EIP55(wallet.AddressOf(key.PubKey()))
	e.signIn(laptop, grace)
	ch, err := e.svc.AddWallet(ctx, laptop, addr)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.SubmitSignature(ctx, laptop, personalSign(key, ch.Message)); err != nil {
		t.Fatal(err)
	}
	enrolled(t, e, laptop)
	e.clock.Advance(time.Hour)

	tr := e.open(laptop, "")
	tr.waitFor("signed in as grace@example.com")
	tr.typeText("a")
	tr.waitFor("2nd factor")
	tr.typeText("s")
	tr.waitFor("step up · authenticator app", "ctrl+w signs a message with your wallet instead")
	tr.ctrl('w')
	msg := messageOnScreen(t, tr.waitFor("step up · wallet", "Expiration Time: "))
	tr.send(tea.PasteMsg{Content: personalSign(key, msg)})
	tr.press(tea.KeyEnter)
	tr.waitFor("Stepped up on this device until", "stepped up · 1h")
	if v, err := e.svc.Visit(ctx, laptop); err != nil || v.StepUpUntil.IsZero() {
		t.Fatalf("not stepped up: %+v, %v", v, err)
	}
}

// An account whose only way in is a wallet has no code to be sent: its
// step-up opens on the wallet's message.
func TestStepUpWalletOnlyAccount(t *testing.T) {
	e := newEnv(t)
	key := secp256k1.PrivKeyFromBytes(append(make([]byte, 31), 7))
	addr := address.EIP55(wallet.AddressOf(key.PubKey()))
	ch, err := e.svc.RequestWalletSignIn(ctx, laptop, addr)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.SubmitSignature(ctx, laptop, personalSign(key, ch.Message)); err != nil {
		t.Fatal(err)
	}
	e.svc.Wait()
	e.clock.Advance(time.Hour)

	tr := e.open(laptop, "")
	tr.waitFor("signed in as " + addr)
	tr.typeText("a")
	tr.waitFor("Step-up      none")
	tr.typeText("s")
	msg := messageOnScreen(t, tr.waitFor("step up · wallet", "Expiration Time: ", "esc back"))
	tr.send(tea.PasteMsg{Content: personalSign(key, msg)})
	tr.press(tea.KeyEnter)
	tr.waitFor("Stepped up on this device until", "stepped up · 1h")
	if v, err := e.svc.Visit(ctx, laptop); err != nil || v.StepUpUntil.IsZero() {
		t.Fatalf("not stepped up: %+v, %v", v, err)
	}
}
