package main

// End-to-end tests of issue 4: step-up before a protected change, and
// linking a second key to an account. They reuse the helpers of
// e2e_test.go.

import (
	"regexp"
	"strings"
	"testing"
	"time"
)

// waitForAny polls a window until its screen contains one of wants, and
// returns the screen and which one it showed.
func (e *e2e) waitForAny(window string, within time.Duration, wants ...string) (screen, shown string) {
	e.t.Helper()
	deadline := time.Now().Add(within)
	for {
		s := e.screen(window)
		for _, w := range wants {
			if strings.Contains(s, w) {
				return s, w
			}
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("window %s showed none of %q within %s; it shows:\n%s\nserver stderr:\n%s", window, wants, within, s, e.stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// smsRE is a code in a text message: "attest code C: 123456 to …".
var smsRE = regexp.MustCompile(`attest code ([A-Z]+): (\d+)`)

// smsCodeIn waits for the inbox window to show a text with the code of
// the letter, and returns its digits.
func (e *e2e) smsCodeIn(inbox, letter string) string {
	e.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		s := e.screen(inbox)
		for _, m := range smsRE.FindAllStringSubmatch(s, -1) {
			if m[1] == letter {
				return m[2]
			}
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("no texted code %s in the inbox:\n%s", letter, s)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// signUpIn signs a window's key up with an address, reading code A from
// the inbox (the n-th code A there).
func (e *e2e) signUpIn(window, key, addr string, nth int) {
	e.t.Helper()
	e.window(window, key, "grace")
	e.waitFor(window, "anonymous visitor", 10*time.Second)
	e.keys(window, "s")
	e.waitFor(window, "Email address", 5*time.Second)
	e.keys(window, addr, "Enter")
	e.waitFor(window, "Code A sent to "+addr, 5*time.Second)
	e.keys(window, e.codeIn("inbox", "A", nth), "Enter")
	e.waitFor(window, "your account is ready", 5*time.Second)
}

func (e *e2e) openInbox() {
	e.t.Helper()
	e.window("inbox", e.key("watcher"), "inbox")
	e.waitFor("inbox", "demo inbox", 10*time.Second)
}

// Seed 000: a protected change needs a second factor on this device, and
// an hour later the permission is gone.
func TestE2EStepUp(t *testing.T) {
	e := startE2E(t)
	e.openInbox()
	e.signUpIn("desk", e.key("desk"), "grace@example.com", 1)
	e.waitFor("desk", "stepped up", 5*time.Second) // the sign-up's first hour
	e.operator("clock", "advance", "61m")

	e.keys("desk", "a")
	e.waitFor("desk", "Addresses", 5*time.Second)
	e.keys("desk", "a")
	e.waitFor("desk", "Add an email address, or a phone number", 5*time.Second)
	e.keys("desk", "+14155552671", "Enter")
	e.waitFor("desk", "A step-up proves it is you", 5*time.Second)
	e.waitFor("desk", "Code B sent to grace@example.com", 5*time.Second)
	e.keys("desk", e.codeIn("inbox", "B", 1), "Enter")

	// The add goes ahead by itself: the number's own code is on its way.
	e.waitFor("desk", "Code C sent to +1 415-555-2671 by sms", 5*time.Second)
	e.waitFor("desk", "stepped up", 5*time.Second)
	e.keys("desk", e.smsCodeIn("inbox", "C"), "Enter")
	e.waitFor("desk", "Confirmed +1 415-555-2671", 5*time.Second)

	// An hour on, the same kind of change asks again.
	e.operator("clock", "advance", "61m")
	e.keys("desk", "a")
	e.waitFor("desk", "Add an email address, or a phone number", 5*time.Second)
	e.keys("desk", "ada@example.com", "Enter")
	s := e.waitFor("desk", "A step-up proves it is you", 5*time.Second)
	if !strings.Contains(s, "this goes ahead: add ada@example.com") {
		t.Fatalf("the step-up screen does not say what waits for it:\n%s", s)
	}
}

// linkCodeRE is the link code as the new device shows it: "K 7 Q X - M 2 P A".
var linkCodeRE = regexp.MustCompile(`([A-Z0-9] ){4}- ([A-Z0-9] ){3}[A-Z0-9]`)

var userRE = regexp.MustCompile(`(?m)^user:\s+(\S+)`)

// whoamiUser is the user tag `whoami` reports for a key.
func (e *e2e) whoamiUser(key string) string {
	e.t.Helper()
	out, err := e.command(key, "whoami")
	m := userRE.FindStringSubmatch(out)
	if err != nil || m == nil {
		e.t.Fatalf("whoami: %v\n%s", err, out)
	}
	return m[1]
}

// Two keys, one account: the new key shows a code, the signed-in desk
// approves it, and the new session moves on by itself.
func TestE2EDeviceLinkWithTwoKeys(t *testing.T) {
	e := startE2E(t)
	desk, fresh := e.key("desk"), e.key("new")
	e.openInbox()
	e.signUpIn("desk", desk, "grace@example.com", 1)

	e.window("new", fresh, "grace")
	e.waitFor("new", "Link this device to my account — press l", 10*time.Second)
	e.keys("new", "l")
	s := e.waitFor("new", "Enter this code on a device that is already signed in", 5*time.Second)
	m := linkCodeRE.FindString(s)
	if m == "" {
		t.Fatalf("no link code on the new device:\n%s", s)
	}
	code := strings.ReplaceAll(m, " ", "")

	e.keys("desk", "a")
	e.waitFor("desk", "approve a device", 5*time.Second)
	e.keys("desk", "l")
	e.waitFor("desk", "Link code", 5*time.Second)
	e.keys("desk", code, "Enter")
	if _, shown := e.waitForAny("desk", 5*time.Second, "✓ Linked the device", "A step-up proves it is you"); shown != "✓ Linked the device" {
		e.waitFor("desk", "Code B sent to grace@example.com", 5*time.Second)
		e.keys("desk", e.codeIn("inbox", "B", 1), "Enter")
		e.waitFor("desk", "✓ Linked the device", 5*time.Second)
	}
	linked := time.Now()
	e.waitFor("new", "This device is now linked to your account.", 5*time.Second)
	t.Logf("the new session moved on %s after the approval", time.Since(linked).Round(time.Millisecond))
	e.waitFor("new", "signed in as grace@example.com", 5*time.Second)

	if a, b := e.whoamiUser(desk), e.whoamiUser(fresh); a != b {
		t.Fatalf("the desk key is user %s, the new key %s", a, b)
	}
}
