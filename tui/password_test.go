package tui

import (
	"strings"
	"testing"
	"time"

	"charm.land/bubbles/v2/textinput"
	tea "charm.land/bubbletea/v2"

	"github.com/attest-dev/attest/flows"
)

// Passwords the policy takes, and one it refuses.
const (
	goodPW  = "tangerine-voltage-harbor-917"
	otherPW = "orbit lantern quietly 58"
	weakPW  = "password1"
)

// setPasswordOn sets the account's password through the flows, on a
// device that is stepped up.
func (e *env) setPasswordOn(dev flows.Device, pw string) {
	e.t.Helper()
	if err := e.svc.SetPassword(ctx, dev, pw, false); err != nil {
		e.t.Fatalf("set a password: %v", err)
	}
	e.svc.Wait()
}

// masked fails the test when a screen shows a password.
func masked(t *testing.T, screen string, pws ...string) {
	t.Helper()
	for _, pw := range pws {
		if strings.Contains(screen, pw) {
			t.Fatalf("the screen shows a password:\n%s", screen)
		}
	}
}

// toPassword goes from home to the sign-in screen's password field.
func toPassword(tr *term, addr string) {
	tr.t.Helper()
	tr.typeText("s")
	tr.waitFor("Email address")
	tr.typeText(addr)
	tr.ctrl('p')
	tr.waitFor("Password", "> your password")
}

// [A]: the address is confirmed and the password right: signed in, and
// what the anonymous visit had comes along, as with a code.
func TestPasswordSignInMergesVisit(t *testing.T) {
	e := newEnv(t)
	e.signIn(laptop, grace)
	e.setPasswordOn(laptop, goodPW)

	tr := e.open(phone, "")
	tr.press(tea.KeyDown)
	tr.typeText(" ") // star Canopus
	tr.waitFor("1 of 10 starred")
	toPassword(tr, grace)
	tr.typeText(goodPW[:9])
	screen := tr.waitFor("> *********")
	masked(t, screen, goodPW[:9])
	tr.golden("password", screen)
	tr.typeText(goodPW[9:])
	tr.press(tea.KeyEnter)
	screen = tr.waitFor("Signed in as grace@example.com. 1 star came with you.", "signed in as grace@example.com · via password")
	tr.golden("home", screen)
	v, _ := e.svc.Visit(ctx, phone)
	if !v.Account || v.Method != "password" || len(v.Stars) != 1 {
		t.Fatalf("after the password: %+v", v)
	}
}

// [B]: a wrong password does not sign in, and reads as [D] does (see
// TestPasswordScreensDoNotEnumerate): a link went to the address. It is
// a sign-in link, so the owner who mistyped is signed in by pressing it.
func TestPasswordWrong(t *testing.T) {
	e := newEnv(t)
	e.signIn(laptop, grace)
	e.setPasswordOn(laptop, goodPW)
	e.clock.Advance(time.Minute)

	tr := e.open(phone, "")
	toPassword(tr, grace)
	tr.typeText(otherPW)
	tr.press(tea.KeyEnter)
	screen := tr.waitFor("Not signed in with that password.", "Type these characters on its page")
	tr.golden("wrong", screen)
	masked(t, screen, otherPW)

	token := e.link(grace, 1)
	e.confirmLink(token, checkOn(t, screen))
	tr.waitFor("Signed in with the link as grace@example.com.", "signed in as grace@example.com · via link")
}

// A new account's password is held to the policy for a password that is
// the only factor; the refusal is the flows' own words, and the field is
// empty again.
func TestPasswordRegisterRefusedByPolicy(t *testing.T) {
	e := newEnv(t)
	tr := e.open(laptop, "")
	toPassword(tr, grace)
	tr.typeText(weakPW)
	tr.press(tea.KeyEnter)
	screen := tr.waitFor("✗ Not signed in, and this password cannot make a new account.", "15 characters", "> your password")
	masked(t, screen, weakPW)
	// esc goes back to the address, which stays.
	tr.press(tea.KeyEscape)
	screen = tr.waitGone("Password")
	if !strings.Contains(screen, "> grace@example.com") {
		t.Fatalf("the address was lost:\n%s", screen)
	}
}

// [C] and [D] read alike: "we sent a link". [D] registers the address
// and sends a link for this session, whose label it shows; [C] (a
// registration already waits, another password) sends a sign-in link,
// and the screen differs only in the label. The registration's link moves
// the session on, signed up.
func TestPasswordRegisterFollowLink(t *testing.T) {
	e := newEnv(t)
	d := e.open(laptop, "")
	toPassword(d, grace)
	d.typeText(goodPW)
	d.press(tea.KeyEnter)
	dScreen := d.waitFor("Not signed in with that password.", "Type these characters on its page")
	d.golden("D", dScreen)
	masked(t, dScreen, goodPW)
	token := e.link(grace, 1)
	check := checkOn(t, dScreen)

	e.clock.Advance(time.Minute)
	c := e.open(phone, "")
	toPassword(c, grace)
	c.typeText(otherPW)
	c.press(tea.KeyEnter)
	cScreen := c.waitFor("Not signed in with that password.", "Type these characters on its page")
	c.golden("C", cScreen)
	e.link(grace, 2)
	cCheck := checkOn(t, cScreen)
	// The same screen, but for the check and the expiry (a minute later).
	a := strings.NewReplacer(spaced(cCheck), "CHECK").Replace(cScreen)
	b := strings.NewReplacer(spaced(check), "CHECK", "09:05:00", "09:06:00").Replace(dScreen)
	if a != b {
		t.Fatalf("[C] and [D] differ:\n%s\n\n%s", cScreen, dScreen)
	}

	e.confirmLink(token, check)
	screen := d.waitFor("Welcome — your account is ready", "signed in as grace@example.com · via link")
	d.golden("home", screen)
	if v, _ := e.svc.Visit(ctx, laptop); !v.Account || !v.HasPassword {
		t.Fatalf("after the link: %+v", v)
	}
}

// Sending the registration's link again asks for its password, in a
// masked field, and shows the governor's wait. Another password sends a
// sign-in link instead, in the same words.
func TestPasswordPendingSendAgain(t *testing.T) {
	e := newEnv(t)
	if _, err := e.svc.LoginOrRegister(ctx, laptop, grace, goodPW); err != nil {
		t.Fatal(err)
	}
	e.svc.Wait()
	tr := e.open(phone, "")
	toPassword(tr, grace)
	tr.typeText(goodPW)
	tr.press(tea.KeyEnter)
	tr.waitFor("Not signed in with that password. No new link could go to", "ctrl+r sends it again")

	tr.ctrl('r')
	tr.waitFor("Password, to send the link again")
	tr.typeText(otherPW)
	tr.press(tea.KeyEnter)
	screen := tr.waitFor("✗ Next link at 09:01:00 UTC (in 1m).", "The link can be sent again at 09:01:00 UTC (in 1m).")
	tr.golden("throttled", screen)
	masked(t, screen, otherPW)

	e.clock.Advance(61 * time.Second)
	tr.send(tickMsg{n: -1})
	tr.waitFor("ctrl+r sends it again")
	tr.ctrl('r')
	tr.waitFor("Password, to send the link again")
	tr.typeText(otherPW)
	tr.press(tea.KeyEnter)
	e.link(grace, 2)
	screen = tr.waitFor("✓ Sent a link again: its page asks for ")
	if check := checkOn(t, screen); !strings.Contains(screen, "its page asks for "+check+".") {
		t.Fatalf("the note and the box differ:\n%s", screen)
	}
	masked(t, screen, otherPW)

	e.clock.Advance(61 * time.Second)
	tr.send(tickMsg{n: -1})
	tr.waitFor("ctrl+r sends it again")
	tr.ctrl('r')
	tr.waitFor("Password, to send the link again")
	tr.typeText(goodPW)
	tr.press(tea.KeyEnter)
	token := e.link(grace, 3)
	screen = tr.waitFor("✓ Sent a link again: its page asks for ")
	tr.golden("sent", screen)
	masked(t, screen, goodPW)

	e.confirmLink(token, checkOn(t, screen))
	tr.waitFor("Welcome — your account is ready", "signed in as grace@example.com · via link")
}

// Setting a password is protected: the phone (signed in second, not
// stepped up) steps up first, and the form opens after; nothing typed
// waits through the step-up. The policy's refusal is a state; then the
// question, and the other device is signed out.
func TestSetPasswordStepsUpThenResumes(t *testing.T) {
	e := newEnv(t)
	twoDevices(e)
	desk := e.open(laptop, "")
	desk.waitFor("signed in as grace@example.com")

	tr := e.open(phone, "")
	tr.typeText("a")
	tr.waitFor("Password     none · p sets one")
	tr.typeText("p")
	tr.waitFor("this goes ahead: set a password", "Code B sent to grace@example.com")
	tr.typeText(e.code(grace, "B"))
	tr.press(tea.KeyEnter)
	screen := tr.waitFor("Set a password", "New password", "stepped up · 1h")
	tr.golden("form", screen)

	// The policy refuses, after the question, in its own words.
	tr.typeText(weakPW)
	tr.press(tea.KeyEnter)
	tr.typeText(weakPW)
	tr.press(tea.KeyEnter)
	tr.waitFor("Sign out every other device? y/N")
	tr.typeText("n")
	screen = tr.waitFor("✗ This password is too easy to guess")
	tr.golden("refused", screen)
	masked(t, screen, weakPW)

	// Two that differ start over.
	tr.typeText(goodPW)
	tr.press(tea.KeyEnter)
	tr.typeText(otherPW)
	tr.press(tea.KeyEnter)
	tr.waitFor("✗ The two passwords differ.")

	tr.typeText(goodPW)
	tr.press(tea.KeyEnter)
	tr.typeText(goodPW)
	tr.press(tea.KeyEnter)
	screen = tr.waitFor("Sign out every other device? y/N")
	tr.golden("question", screen)
	masked(t, screen, goodPW)
	tr.typeText("q") // neither quits nor answers
	tr.settle()
	if s := tr.screen(); !strings.Contains(s, "Sign out every other device? y/N") {
		t.Fatalf("a stray key answered the question:\n%s", s)
	}
	tr.typeText("y")
	screen = tr.waitFor("Your password is set", "Every other device is signed out.", "Password     set · p changes it")
	tr.golden("account", screen)

	desk.waitFor("You were signed out", "anonymous visitor")
	if v, _ := e.svc.Visit(ctx, laptop); v.Account {
		t.Fatal("the other device is still signed in")
	}
	v, _ := e.svc.Visit(ctx, phone)
	if !v.Account || !v.HasPassword {
		t.Fatalf("the phone after setting a password: %+v", v)
	}
	// And it signs in.
	if _, err := e.svc.LoginOrRegister(ctx, laptop, grace, goodPW); err != nil {
		t.Fatalf("sign in with the new password: %v", err)
	}
}

// Changing the password on a stepped-up device opens the form at once;
// without signing out others, the other device stays.
func TestChangePassword(t *testing.T) {
	e := newEnv(t)
	twoDevices(e)
	e.setPasswordOn(laptop, goodPW)
	tr := e.open(laptop, "")
	tr.typeText("a")
	tr.waitFor("Password     set · p changes it")
	tr.typeText("p")
	tr.waitFor("Change your password")
	tr.typeText(otherPW)
	tr.press(tea.KeyEnter)
	tr.typeText(otherPW)
	tr.press(tea.KeyEnter)
	tr.waitFor("Sign out every other device? y/N")
	tr.press(tea.KeyEnter) // not y: no
	screen := tr.waitFor("Your password is changed.", "Password     set · p changes it")
	if strings.Contains(screen, "signed out") {
		t.Fatalf("no means no:\n%s", screen)
	}
	if v, _ := e.svc.Visit(ctx, phone); !v.Account {
		t.Fatal("the other device was signed out")
	}
}

// The phone signed in with a code and has no step-up; the account has a
// password, so the step-up screen offers it beside the code, and the
// action resumes once it is right.
func TestStepUpWithPassword(t *testing.T) {
	e := newEnv(t)
	twoDevices(e)
	e.setPasswordOn(laptop, goodPW)
	tr := e.open(phone, "")
	addOnAccount(tr, phone1)
	tr.press(tea.KeyEnter)
	screen := tr.waitFor("Code B sent to grace@example.com", "Delivery    sent", "ctrl+p uses it instead of the code",
		"Once the code or your password is right, this goes ahead: add +14155552671.")
	tr.golden("offer", screen)

	tr.ctrl('p')
	tr.waitFor("Your password", "> your password")
	tr.typeText(otherPW)
	tr.press(tea.KeyEnter)
	screen = tr.waitFor("✗ Wrong password.")
	tr.golden("wrong", screen)
	masked(t, screen, otherPW)
	tr.typeText(goodPW)
	tr.press(tea.KeyEnter)
	tr.waitFor("Code C sent to +1 415-555-2671 by sms", "stepped up · 1h")
	if v, _ := e.svc.Visit(ctx, phone); len(v.Addresses) != 2 {
		t.Fatalf("the number was not added: %+v", v.Addresses)
	}
}

// A device that signed in with the password cannot step up with it: the
// step-up screen offers only the code.
func TestStepUpNoPasswordOfferAfterPasswordSignIn(t *testing.T) {
	e := newEnv(t)
	e.signIn(laptop, grace)
	e.setPasswordOn(laptop, goodPW)
	if _, err := e.svc.LoginOrRegister(ctx, phone, grace, goodPW); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(time.Minute)
	tr := e.open(phone, "")
	tr.typeText("a")
	tr.waitFor("signed in by password")
	tr.typeText("s")
	screen := tr.waitFor("Code A sent to grace@example.com")
	if strings.Contains(screen, "ctrl+p") {
		t.Fatalf("the password is offered as its own second factor:\n%s", screen)
	}
	tr.ctrl('p') // does nothing
	tr.settle()
	if strings.Contains(tr.screen(), "Your password") {
		t.Fatal("ctrl+p opened a password field")
	}
}

// ctrl+v in a field would read the server's clipboard: it does nothing.
// A bracketed paste from the visitor's terminal still arrives.
func TestCtrlVDoesNotReadTheServerClipboard(t *testing.T) {
	for _, in := range []textinput.Model{newField(10), newPasswordField("")} {
		in.Focus()
		if _, cmd := in.Update(tea.KeyPressMsg{Code: 'v', Mod: tea.ModCtrl}); cmd != nil {
			t.Fatalf("ctrl+v started a command: %T", cmd())
		}
		in, _ = in.Update(tea.PasteMsg{Content: "pasted"})
		if in.Value() != "pasted" {
			t.Fatalf("a paste gave %q", in.Value())
		}
	}
}

// A wrong check on the page of the link the follow-the-link screen waits
// for ends it; the screen says so, and this session stays signed out.
func TestPasswordPendingLinkEndedByAWrongCheck(t *testing.T) {
	e := newEnv(t)
	tr := e.open(laptop, "")
	toPassword(tr, grace)
	tr.typeText(goodPW)
	tr.press(tea.KeyEnter)
	check := checkOn(t, tr.waitFor("Not signed in with that password.", "Type these characters on its page"))
	token := e.link(grace, 1)
	wrong := "AAAA"
	if check == wrong {
		wrong = "BBBB"
	}
	if info, err := e.svc.ConfirmLinkChecked(ctx, token, wrong); err != nil || info.State != flows.LinkEnded {
		t.Fatalf("a wrong check: %+v, %v", info, err)
	}
	tr.waitFor("✗ A wrong answer on its page ended the link; nobody was signed in.", "Follow the link")
	if v, _ := e.svc.Visit(ctx, laptop); v.Account {
		t.Fatal("the session was signed in")
	}
}
