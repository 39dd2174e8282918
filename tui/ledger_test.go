package tui

import (
	"regexp"
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
)

// L opens the ledger on any screen: the device's and its account's facts,
// newest first, each saying why it was written the way it was; it moves
// when a fact lands, and shows nothing secret.
func TestLedgerPanel(t *testing.T) {
	e := newEnv(t)
	tr := e.open(laptop, "")
	tr.waitFor("anonymous visitor")
	tr.typeText(" ") // a star: the visitor's first write
	tr.waitFor("1 of")
	tr.typeText("L")
	screen := tr.waitFor("Ledger", "star.added", "user.created")
	if !strings.Contains(flat(screen), "first write") {
		t.Fatalf("the user tag's fact does not say why it came to be:\n%s", screen)
	}
	if strings.Index(screen, "star.added") > strings.Index(screen, "user.created") {
		t.Fatalf("not newest first:\n%s", screen)
	}

	// A code asked for in another terminal lands on the open panel.
	iss, err := e.svc.RequestSignIn(ctx, laptop, grace)
	if err != nil {
		t.Fatal(err)
	}
	screen = tr.waitFor("code.emailed", "g•••@example.com", "code A emailed")
	for _, want := range []string{"4 digits: this device's first code in 24 h", "the next can go at 09:01:00 UTC"} {
		if !strings.Contains(flat(screen), want) {
			t.Fatalf("the code's fact does not say %q:\n%s", want, screen)
		}
	}
	code := e.codeOf(iss)

	// Asked again at once, the governor holds it back: that is a fact too.
	if _, err := e.svc.RequestSignIn(ctx, laptop, grace); err == nil {
		t.Fatal("a second code went out within the minute")
	}
	screen = tr.waitFor("message.held", "governor: code held back")
	if !strings.Contains(flat(screen), "the next code can go at 09:01:00 UTC: one message a minute") {
		t.Fatalf("the held message does not say when and why:\n%s", screen)
	}

	// Signing in merges the visitor: the panel says what moved.
	if _, err := e.svc.EnterCode(ctx, laptop, iss.Letter, code); err != nil {
		t.Fatal(err)
	}
	screen = tr.waitFor("device.signed_in", "a right one-time code", "grace@example.com") // the title bar: signed in
	tr.golden("panel", screen)

	// Nothing secret: no code, no MAC, no sealed copy, and no raw address
	// below the title bar (which names the account by it).
	panel := screen[strings.Index(screen, "\n"):]
	for _, secret := range []string{code, grace, `"mac"`, "sealed"} {
		if strings.Contains(panel, secret) {
			t.Fatalf("the panel shows %q:\n%s", secret, screen)
		}
	}
	if regexp.MustCompile(`[A-Za-z0-9+/=_-]{40,}`).MatchString(screen) {
		t.Fatalf("the panel shows something like a MAC or a sealed copy:\n%s", screen)
	}

	// It scrolls like every list: down hides the newest, end shows the
	// oldest.
	tr.press(tea.KeyDown)
	tr.waitGone("stepup.granted")
	tr.press(tea.KeyEnd)
	tr.waitFor("user.created")

	// Esc goes back to where L was pressed.
	tr.press(tea.KeyEscape)
	tr.waitFor("Stars")
}

// A merge says what it brought over and whose nickname won.
func TestLedgerPanelExplainsMerge(t *testing.T) {
	e := newEnv(t)
	e.signIn(phone, grace)
	if _, err := e.svc.SetNickname(ctx, phone, "Grace"); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(time.Minute)
	for _, id := range []string{e.svc.Catalogue()[0].ID, e.svc.Catalogue()[1].ID} {
		if _, err := e.svc.Star(ctx, laptop, id); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := e.svc.SetNickname(ctx, laptop, "gh"); err != nil {
		t.Fatal(err)
	}
	e.signIn(laptop, grace)
	tr := e.open(laptop, "")
	tr.typeText("L")
	tr.waitUntil("the merge explained", func(s string) bool {
		return strings.Contains(flat(s), "merge: 2 stars brought over, the account's nickname kept")
	})
}

// flat is a screen as one line of words: what the panel wraps reads whole.
func flat(screen string) string { return strings.Join(strings.Fields(screen), " ") }

// In a text field L is a letter; ctrl+g opens the ledger from there, and
// Esc comes back to the field as it was.
func TestLedgerFromAField(t *testing.T) {
	e := newEnv(t)
	tr := e.open(laptop, "")
	tr.typeText("s")
	tr.waitFor("Sign in")
	tr.typeText("aL")
	tr.waitFor("> aL")
	tr.ctrl('g')
	tr.waitFor("Ledger", "what this device and its account wrote")
	tr.press(tea.KeyEscape)
	tr.waitFor("> aL")
}
