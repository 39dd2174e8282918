package server_test

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"time"

	gossh "golang.org/x/crypto/ssh"

	"github.com/attest-dev/attest/flows/clock"
)

// TestCommandsKeepASignInAlive: a command over SSH is a use of the device,
// so a device that ran one on day 29 is still signed in on day 31, and
// one left alone for 30 days after that is not. Connecting many times a
// day writes one fact.
func TestCommandsKeepASignInAlive(t *testing.T) {
	ts := startServer(t, nil)
	fake, ok := ts.app.Clock.(*clock.Fake)
	if !ok {
		t.Fatalf("the test server's clock is a %T", ts.app.Clock)
	}
	key := newKey(t)
	if _, errOut, code := run(t, ts.addr, key, "signin grace@example.com"); code != 0 {
		t.Fatalf("signin: %s", errOut)
	}
	ts.app.Service.Wait()
	c, err := dial(t, ts.addr, "inbox", gossh.PublicKeys(newKey(t)))
	if err != nil {
		t.Fatal(err)
	}
	out, _, _ := runOn(t, c, "")
	c.Close()
	var msg struct{ Text string }
	if err := json.Unmarshal([]byte(strings.SplitN(out, "\n", 2)[0]), &msg); err != nil {
		t.Fatalf("inbox: %q", out)
	}
	m := regexp.MustCompile(`Code A: (\d+)`).FindStringSubmatch(msg.Text)
	if m == nil {
		t.Fatalf("no code in %q", msg.Text)
	}
	if _, errOut, code := run(t, ts.addr, key, "code A-"+m[1]); code != 0 {
		t.Fatalf("code: %s", errOut)
	}
	signedIn := func() bool {
		out, errOut, code := run(t, ts.addr, key, "whoami --json")
		var v struct{ Account bool }
		if code != 0 || json.Unmarshal([]byte(out), &v) != nil {
			t.Fatalf("whoami: exit %d, %q, %q", code, out, errOut)
		}
		return v.Account
	}

	fake.Advance(29 * 24 * time.Hour)
	facts := func() int {
		out, _, _ := run(t, ts.addr, key, "facts")
		return strings.Count(out, `"device.seen"`)
	}
	for range 3 {
		if !signedIn() {
			t.Fatal("signed out on day 29")
		}
	}
	if n := facts(); n != 1 {
		t.Fatalf("four connections on day 29 wrote %d device.seen facts, want 1", n)
	}
	fake.Advance(2 * 24 * time.Hour)
	if !signedIn() {
		t.Fatal("signed out on day 31, two days after a command")
	}
	fake.Advance(30 * 24 * time.Hour)
	if signedIn() {
		t.Fatal("still signed in 30 days after the last command")
	}
}
