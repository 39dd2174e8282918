package main

import (
	"encoding/json"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"
)

// anyCodeRE is a code in an email ("Code B: 4821") or a text ("attest
// code B: 4821 to ...").
var anyCodeRE = regexp.MustCompile(`[Cc]ode ([A-Z]+): (\d+)`)

// inboxTexts reads the demo inbox as JSON lines, as a script would.
func (e *e2e) inboxTexts() []string {
	e.t.Helper()
	out, err := exec.Command("ssh", e.sshArgs(e.key("reader"), "inbox")...).Output()
	if err != nil {
		e.t.Fatalf("read the inbox: %v", err)
	}
	var texts []string
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		var m struct{ Text string }
		if json.Unmarshal([]byte(line), &m) == nil {
			texts = append(texts, m.Text)
		}
	}
	return texts
}

// anyCode returns the digits of the n-th code (from 1) with the letter,
// emailed or texted, waiting for it.
func (e *e2e) anyCode(letter string, n int) string {
	e.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		texts := e.inboxTexts()
		var found []string
		for _, t := range texts {
			if c := anyCodeRE.FindStringSubmatch(t); c != nil && c[1] == letter {
				found = append(found, c[2])
			}
		}
		if len(found) >= n {
			return found[n-1]
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("no code %s number %d in the inbox:\n%s", letter, n, strings.Join(texts, "\n"))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (e *e2e) must(key string, args ...string) string {
	e.t.Helper()
	out, err := e.command(key, args...)
	if err != nil {
		e.t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// Seed 002's account split, with the OpenSSH client. Grace's account has
// her email and two phones. A right code for either phone signs in, with
// no question in the way: a script sees "Signed in", and can stay (split
// signin); on the screens, Bob's sign-in with his phone goes home, which
// offers the split (m); y/N; then the phone is an account of its own and
// Grace's account, which keeps her phone, is told.
func TestE2ESplitOfferedAfterSignIn(t *testing.T) {
	e := startE2E(t)
	desk := e.key("desk")
	e.must(desk, "signin", "grace@example.com")
	e.must(desk, "code", "A-"+e.anyCode("A", 1))
	e.must(desk, "address", "add", "+14155552671")
	e.must(desk, "code", "B-"+e.anyCode("B", 1))
	e.must(desk, "address", "add", "+14155552672")
	e.must(desk, "code", "C-"+e.anyCode("C", 1))
	e.advance("61s") // the governor's gap between codes to one address

	// A script signs in with Grace's phone: signed in, told of the split.
	tablet := e.key("tablet")
	e.must(tablet, "signin", "+14155552671")
	out := e.must(tablet, "code", "A-"+e.anyCode("A", 2))
	if !strings.HasPrefix(out, "Signed in as your account.\n") || !strings.Contains(out, "`split new`") {
		t.Fatalf("code for a phone of an account with two:\n%s", out)
	}
	if out := e.must(tablet, "split", "signin"); out != "Signed in as your account.\n" {
		t.Fatalf("split signin: %q", out)
	}

	// Bob, on the screens, with his phone.
	bob := e.key("bob")
	e.window("bob", bob, "bob")
	e.waitFor("bob", "anonymous visitor", 10*time.Second)
	e.keys("bob", "s")
	e.waitFor("bob", "Email address", 5*time.Second)
	e.keys("bob", "+14155552672", "Enter")
	e.waitFor("bob", "Code A sent to", 5*time.Second)
	e.keys("bob", e.anyCode("A", 3), "Enter")
	s := e.waitFor("bob", "Signed in as grace@example.com.", 5*time.Second)
	if strings.Contains(s, "Which account") || strings.Contains(s, "y/N") {
		t.Fatalf("a question stands in the way of the sign-in:\n%s", s)
	}
	e.waitFor("bob", "Press m", 5*time.Second)
	if out := e.must(bob, "whoami"); !strings.Contains(out, "+1 415-555-2671 (confirmed)") {
		t.Fatalf("bob's device is not on Grace's account:\n%s", out)
	}
	e.keys("bob", "m")
	e.waitFor("bob", "Make +1 415-555-2672 an account of its own? y/N", 5*time.Second)
	e.keys("bob", "y")
	e.waitFor("bob", "+1 415-555-2672 is an account of its own now", 5*time.Second)

	if out := e.must(desk, "addresses"); strings.Contains(out, "2672") || !strings.Contains(out, "2671") {
		t.Fatalf("Grace's addresses after the split:\n%s", out)
	}
	if out := e.must(bob, "addresses"); !strings.Contains(out, "+1 415-555-2672") || strings.Contains(out, "grace") {
		t.Fatalf("Bob's addresses after the split:\n%s", out)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		told := false
		for _, m := range e.inboxTexts() {
			told = told || strings.Contains(m, "left your attest account") && strings.Contains(m, "Your account keeps +1")
		}
		if told {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Grace was not told:\n%s", strings.Join(e.inboxTexts(), "\n"))
		}
		time.Sleep(50 * time.Millisecond)
	}
}
