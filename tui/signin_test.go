package tui

import (
	"errors"
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"

	"github.com/attest-dev/attest/flows"
)

const grace = "grace@example.com"

// toCode goes from home to the code screen for an address.
func toCode(tr *term, addr string) string {
	tr.t.Helper()
	tr.typeText("s")
	tr.waitFor("Email address")
	tr.typeText(addr)
	tr.press(tea.KeyEnter)
	return tr.waitFor("Code A sent to "+addr, "Delivery    sent")
}

func TestSignInThroughCodeToHome(t *testing.T) {
	e := newEnv(t)
	tr := e.open(laptop, "")

	tr.typeText("s")
	tr.waitFor("Email address")
	tr.typeText("grace@")
	tr.press(tea.KeyEnter)
	screen := tr.waitFor("✗")
	tr.golden("invalid", screen)
	tr.typeText("example.com")
	tr.waitGone("✗")
	tr.press(tea.KeyEnter)

	screen = tr.waitFor("Code A sent to "+grace, "Delivery    sent")
	tr.golden("code", screen)

	tr.typeText(e.code(grace, "A"))
	tr.press(tea.KeyEnter)
	screen = tr.waitFor("Welcome — your account is ready", "signed in as grace@example.com · via code")
	tr.golden("home", screen)

	v, err := e.svc.Visit(ctx, laptop)
	if err != nil || !v.Account {
		t.Fatalf("the device is not signed in: %+v, %v", v, err)
	}
}

func TestWrongCodeShowsTriesLeft(t *testing.T) {
	e := newEnv(t)
	tr := e.open(laptop, "")
	toCode(tr, grace)
	good := e.code(grace, "A")
	bad := []byte(good)
	bad[0] = '0' + (bad[0]-'0'+1)%10
	tr.typeText(string(bad))
	tr.press(tea.KeyEnter)
	screen := tr.waitFor("That is not code A. 2 tries left.", "Tries left  2")
	tr.golden("code", screen)

	// The right code still works after a wrong one.
	tr.typeText(good)
	tr.press(tea.KeyEnter)
	tr.waitFor("Welcome — your account is ready")
}

func TestResendThrottled(t *testing.T) {
	e := newEnv(t)
	tr := e.open(laptop, "")
	toCode(tr, grace)

	// Too soon: ctrl+r does nothing and the screen says when.
	tr.ctrl('r')
	tr.settle()
	screen := tr.waitFor("Code A sent", "can be sent at 09:01:00 UTC (in 1m)")
	if strings.Contains(screen, "ctrl+r new code") {
		t.Fatalf("the help offers ctrl+r before the governor allows it:\n%s", screen)
	}
	tr.golden("waiting", screen)

	// A minute on, the screen offers it; but another device has just had a
	// code sent to the same address, and the governor says no.
	e.clock.Advance(61 * time.Second)
	tr.send(tickMsg{n: -1})
	tr.waitFor("ctrl+r sends one")
	if _, err := e.svc.RequestSignIn(ctx, phone, grace); err != nil {
		t.Fatal(err)
	}
	tr.ctrl('r')
	screen = tr.waitFor("Next code at 09:02:01 UTC (in 1m).", "can be sent at 09:02:01 UTC (in 1m)")
	tr.golden("throttled", screen)

	// Once the governor allows it, the new code is code B, and it works.
	e.clock.Advance(61 * time.Second)
	tr.send(tickMsg{n: -1})
	tr.waitFor("ctrl+r sends one")
	tr.ctrl('r')
	screen = tr.waitFor("Code B sent to "+grace, "Code B sent; code A no longer works.", "Delivery    sent")
	tr.golden("resent", screen)
	tr.typeText(e.code(grace, "B"))
	tr.press(tea.KeyEnter)
	tr.waitFor("Welcome — your account is ready")
}

// The governor holds a second code to the same address back: the screen
// says until when, and keeps what was typed.
func TestSignInThrottled(t *testing.T) {
	e := newEnv(t)
	if _, err := e.svc.RequestSignIn(ctx, phone, grace); err != nil {
		t.Fatal(err)
	}
	tr := e.open(laptop, "")
	tr.typeText("s")
	tr.waitFor("Email address")
	tr.typeText(grace)
	tr.press(tea.KeyEnter)
	screen := tr.waitFor("✗ Next code at 09:01:00 UTC (in 1m).", "> grace@example.com")
	tr.golden("signin", screen)
}

func TestCodeDeliveryFailed(t *testing.T) {
	e := newEnv(t)
	e.bag.fail = errors.New("smtp: 550 mailbox unavailable")
	tr := e.open(laptop, "")
	tr.typeText("s")
	tr.waitFor("Email address")
	tr.typeText(grace)
	tr.press(tea.KeyEnter)
	tr.waitFor("Delivery    failed: smtp: 550 mailbox unavailable")
}

func TestCodeExpires(t *testing.T) {
	e := newEnv(t)
	tr := e.open(laptop, "")
	toCode(tr, grace)
	code := e.code(grace, "A")
	e.clock.Advance(9*time.Minute + 30*time.Second)
	tr.send(tickMsg{n: -1})
	tr.waitFor("Expires     09:10:00 UTC (in 30s)")
	e.clock.Advance(time.Minute)
	tr.send(tickMsg{n: -1})
	tr.waitFor("Expires     expired 09:10:00 UTC (30s ago)")
	tr.typeText(code)
	tr.press(tea.KeyEnter)
	screen := tr.waitFor("✗ Code A expired at 09:10:00 UTC (30s ago). Ask for a new code.", "Tries left  none")
	tr.golden("code", screen)
}

func TestCodeUsedUpAndBackoff(t *testing.T) {
	e := newEnv(t)
	tr := e.open(laptop, "")
	toCode(tr, grace)
	good := e.code(grace, "A")
	bad := string('0'+(good[0]-'0'+1)%10) + good[1:]
	for _, want := range []string{"2 tries left", "1 try left", "it is now used up"} {
		tr.typeText(bad)
		tr.press(tea.KeyEnter)
		tr.waitFor(want)
	}
	tr.waitFor("Tries left  none: ask for a new code")

	// A back-off says when the next try can be, and counts down.
	r := New(Session{Service: e.svc, Device: laptop}).(*root)
	defer r.live.stop()
	s := newCode(r.c, flows.Issued{Letter: "A", Digits: 4, To: grace, Tries: 3})
	s.refused(&flows.Problem{Code: flows.ProblemBackoff, RetryAt: start.Add(30 * time.Second), Msg: "Too many wrong codes for this address."})
	s.SetSize(76, 20)
	if v := plain(s.View()); !strings.Contains(v, "Next try    09:00:30 UTC (in 30s)") {
		t.Fatalf("no back-off countdown:\n%s", v)
	}
}

// The same key signed in from another session meanwhile: the flows say so,
// and the field stays.
func TestSignInAlreadySignedIn(t *testing.T) {
	e := newEnv(t)
	tr := e.open(laptop, "")
	tr.typeText("s")
	tr.waitFor("Email address")
	e.signIn(laptop, "ada@example.com")
	e.clock.Advance(time.Hour)
	tr.typeText(grace)
	tr.press(tea.KeyEnter)
	tr.waitFor("✗ This device is already signed in.", "> grace@example.com")
}
