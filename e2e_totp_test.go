package main

// End-to-end test of issue 10: an authenticator app, enrolled on the
// screens over the real OpenSSH client, whose codes come from Debian's
// oathtool (an RFC 6238 implementation that is not ours), then used as
// every sign-in's second factor from command mode.

import (
	"encoding/json"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/attest-dev/attest/tui/qrtest"
)

// oathtool computes the app's code for the secret at the server's time
// (the test clock: the system clock moved by `attest clock advance`).
func oathtool(t *testing.T, secret string, at time.Time) string {
	t.Helper()
	out, err := exec.Command("oathtool", "--totp", "-b", secret, "--now", at.UTC().Format("2006-01-02 15:04:05 UTC")).CombinedOutput()
	if err != nil {
		t.Fatalf("oathtool: %v\n%s", err, out)
	}
	code := strings.TrimSpace(string(out))
	if len(code) != 6 {
		t.Fatalf("oathtool printed %q", out)
	}
	return code
}

// advance moves the server's clock and returns its new time.
func (e *e2e) advance(d string) time.Time {
	e.t.Helper()
	out := e.operator("clock", "advance", d)
	m := regexp.MustCompile(`test clock now (\S+)`).FindStringSubmatch(out)
	if m == nil {
		e.t.Fatalf("clock advance said %q", out)
	}
	at, err := time.Parse(time.RFC3339, m[1])
	if err != nil {
		e.t.Fatal(err)
	}
	return at
}

// inboxCode reads the inbox as JSON lines, as a script would (the
// window scrolls), and returns the digits of the n-th code with the
// letter, waiting for it.
func (e *e2e) inboxCode(letter string, n int) string {
	e.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		out, err := exec.Command("ssh", e.sshArgs(e.key("reader"), "inbox")...).Output()
		if err != nil {
			e.t.Fatalf("read the inbox: %v", err)
		}
		var found []string
		for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
			var m struct{ Text string }
			if json.Unmarshal([]byte(line), &m) != nil {
				continue
			}
			if c := codeRE.FindStringSubmatch(m.Text); c != nil && c[1] == letter {
				found = append(found, c[2])
			}
		}
		if len(found) >= n {
			return found[n-1]
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("no code %s number %d in the inbox:\n%s", letter, n, out)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

var keyGroupsRE = regexp.MustCompile(`([A-Z2-7]{4} [A-Z2-7]{4} [A-Z2-7]{4} [A-Z2-7]{4})\s*\n[^\n]*?([A-Z2-7]{4} [A-Z2-7]{4} [A-Z2-7]{4} [A-Z2-7]{4})`)

func TestE2EAuthenticatorApp(t *testing.T) {
	if _, err := exec.LookPath("oathtool"); err != nil {
		t.Fatalf("oathtool is needed for this test (./test.sh installs it): %v", err)
	}
	e := startE2E(t)
	e.openInbox()
	desk := e.key("desk")
	e.signUpIn("desk", desk, "grace@example.com", 1) // stepped up for its first hour

	// Enrol on the screen, at 80x24: the QR code and the key beside it.
	e.keys("desk", "a")
	e.waitFor("desk", "2nd factor", 5*time.Second)
	e.keys("desk", "t")
	s := e.waitFor("desk", "Scan the code with Google", 5*time.Second)
	// What the terminal shows decodes, with a decoder that is not the
	// encoder, to the URI of the key written beside it.
	rows, err := qrtest.Rows(s)
	if err != nil {
		t.Fatalf("%v:\n%s", err, s)
	}
	uri, err := qrtest.Decode(rows, true)
	if err != nil {
		t.Fatalf("the QR code in the terminal does not decode: %v\n%s", err, s)
	}
	m := keyGroupsRE.FindStringSubmatch(s)
	if m == nil {
		t.Fatalf("no key on the screen:\n%s", s)
	}
	secret := strings.ReplaceAll(m[1]+m[2], " ", "")
	if !strings.HasPrefix(uri, "otpauth://totp/attest:grace@example.com?secret="+secret+"&issuer=attest") {
		t.Fatalf("the code says %q, the key beside it %s", uri, secret)
	}
	now := e.advance("1m") // and the next sign-in code to the address may go
	e.keys("desk", oathtool(t, secret, now), "Enter")
	s = e.waitFor("desk", "Recovery codes", 5*time.Second)
	codes := regexp.MustCompile(`\b[0-9a-z]{4}-[0-9a-z]{4}-[0-9a-z]{4}\b`).FindAllString(s, -1)
	if len(codes) != 10 {
		t.Fatalf("%d recovery codes on the screen:\n%s", len(codes), s)
	}
	e.keys("desk", "Enter")
	e.waitFor("desk", "authenticator app, 10 recovery codes left", 5*time.Second)

	// Another key signs in with a code and waits for the app.
	phone := e.key("phone")
	if out, err := e.command(phone, "signin", "grace@example.com"); err != nil {
		t.Fatalf("signin: %v\n%s", err, out)
	}
	out, err := e.command(phone, "code", "A-"+e.inboxCode("A", 2))
	if err != nil || !strings.Contains(out, "First factor accepted (with a code)") {
		t.Fatalf("code: %v\n%s", err, out)
	}
	out, err = e.command(phone, "whoami", "--json")
	var who struct {
		Account bool `json:"account"`
		Waiting *struct {
			For string `json:"for"`
		} `json:"waiting"`
	}
	if err != nil || json.Unmarshal([]byte(out), &who) != nil || who.Account || who.Waiting == nil || who.Waiting.For != "totp" {
		t.Fatalf("whoami --json while waiting: %v\n%s", err, out)
	}
	if out, err := e.command(phone, "addresses"); err == nil {
		t.Fatalf("a waiting device listed the addresses:\n%s", out)
	}

	// A third key waits too (a minute on: the governor's gap between
	// codes to one address).
	tablet := e.key("tablet")
	e.advance("1m")
	if out, err := e.command(tablet, "signin", "grace@example.com"); err != nil {
		t.Fatalf("signin: %v\n%s", err, out)
	}
	if out, err := e.command(tablet, "code", "A-"+e.inboxCode("A", 3)); err != nil {
		t.Fatalf("code: %v\n%s", err, out)
	}

	// The app's current code signs the phone in; the same code on the
	// tablet is a replay.
	now = e.advance("1s")
	code := oathtool(t, secret, now)
	out, err = e.command(phone, "totp", code)
	if err != nil || !strings.Contains(out, "Signed in as") {
		t.Fatalf("totp: %v\n%s", err, out)
	}
	out, err = e.command(tablet, "totp", code)
	if err == nil || !strings.Contains(out, "already used") {
		t.Fatalf("a replayed code: %v\n%s", err, out)
	}
	// A recovery code works there instead.
	out, err = e.command(tablet, "recovery", codes[4])
	if err != nil || !strings.Contains(out, "9 recovery codes left") {
		t.Fatalf("recovery: %v\n%s", err, out)
	}

	// An hour on, the desk steps up with the app's code.
	now = e.advance("61m")
	out, err = e.command(desk, "stepup", "--totp", oathtool(t, secret, now))
	if err != nil || !strings.Contains(out, "Stepped up until") {
		t.Fatalf("stepup --totp: %v\n%s", err, out)
	}
}
