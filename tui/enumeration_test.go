package tui

import (
	"regexp"
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"

	"github.com/attest-dev/attest/flows"
)

// The screens' one-stage sign-in tells a stranger nothing about whether an
// address has an account (ASVS 5.0 6.3.8): typed by two new devices at
// the same moment, an address with an account (and no message for over a
// day) and a new address of the same length show the same screens, but
// for the address itself and the link's random check. The screens call
// the flows' LoginOrRegister and ResendVerification, whose timing flows'
// TestLoginTimingDoesNotTellWhoHasAnAccount measures.
func TestPasswordScreensDoNotEnumerate(t *testing.T) {
	const unknown = "grape@example.com"
	e := newEnv(t)
	e.signIn(laptop, grace)
	e.setPasswordOn(laptop, goodPW)
	e.clock.Advance(25 * time.Hour)
	e.svc.Wait()

	addrs := []string{grace, unknown}
	terms := []*term{e.open(flows.KeyDevice("SHA256:stranger-1"), ""), e.open(flows.KeyDevice("SHA256:stranger-2"), "")}
	labels := regexp.MustCompile(`asks for [A-Z2-9]{4}|│  [A-Z2-9] [A-Z2-9] [A-Z2-9] [A-Z2-9]  │`)
	// alike does act on each terminal in turn, waits for its screen to
	// show want, and compares the two screens.
	alike := func(what string, act func(tr *term, addr string), want ...string) {
		t.Helper()
		var got []string
		for i, tr := range terms {
			act(tr, addrs[i])
			s := tr.waitFor(want...)
			got = append(got, labels.ReplaceAllString(strings.ReplaceAll(s, addrs[i], "ADDRESS"), "LABEL"))
		}
		if got[0] != got[1] {
			t.Fatalf("%s: an address with an account shows\n%s\nand one without\n%s", what, got[0], got[1])
		}
	}

	alike("a weak password", func(tr *term, addr string) {
		toPassword(tr, addr)
		tr.typeText("password1234567")
		tr.press(tea.KeyEnter)
	}, "✗ Not signed in, and this password cannot make a new account.")
	// A wrong one that would do for a new account.
	alike("a wrong password", func(tr *term, _ string) {
		tr.typeText(otherPW)
		tr.press(tea.KeyEnter)
	}, "Not signed in with that password. We sent a link", "Type these characters on its page")
	// Sending it again, too soon and then in time.
	alike("send again, too soon", func(tr *term, _ string) {
		tr.ctrl('r')
		tr.waitFor("Password, to send the link again")
		tr.typeText(otherPW)
		tr.press(tea.KeyEnter)
	}, "✗ Next link at")
	e.clock.Advance(61 * time.Second)
	alike("send again", func(tr *term, _ string) {
		tr.send(tickMsg{n: -1})
		tr.waitFor("ctrl+r sends it again")
		tr.ctrl('r')
		tr.waitFor("Password, to send the link again")
		tr.typeText(otherPW)
		tr.press(tea.KeyEnter)
	}, "✓ Sent a link again: its page asks for ")
}
