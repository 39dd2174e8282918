package server_test

import (
	"strings"
	"testing"

	gossh "golang.org/x/crypto/ssh"

	"github.com/attest-dev/attest/server/config"
	"github.com/attest-dev/attest/store"
)

// A server with email delivery only refuses phone numbers before anything
// is recorded, in the same words for every number, and its inbox@ says
// what it delivers.
func TestEmailOnlyServerRefusesPhones(t *testing.T) {
	ts := startServer(t, func(c *config.Config) {
		// Nothing listens there: no test here sends an email.
		c.Delivery.SMTPURL = "smtp://127.0.0.1:1"
		c.Delivery.SMTPFrom = "attest@example.org"
	})
	head := func() uint64 {
		t.Helper()
		var h uint64
		err := ts.app.Ledger.View(func(r store.Reader) error {
			var err error
			h, _, err = r.Head()
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	const want = "This server sends no text messages; use an email address."
	key := newKey(t)
	before := head()
	var answers []string
	for _, cmd := range []string{"signin +14155550000", "signin +14155552671", "signin --link +14155550000"} {
		out, errOut, code := run(t, ts.addr, key, cmd)
		if code == 0 || !strings.Contains(errOut, want) || strings.Contains(out+errOut, "sent to") {
			t.Fatalf("%s: exit %d, stdout %q, stderr %q", cmd, code, out, errOut)
		}
		answers = append(answers, errOut)
	}
	if answers[0] != answers[1] {
		t.Fatalf("two numbers, two answers:\n%q\n%q", answers[0], answers[1])
	}
	if after := head(); after != before {
		t.Fatalf("refused phone numbers appended %d facts", after-before)
	}

	c, err := dial(t, ts.addr, "inbox", gossh.PublicKeys(newKey(t)))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, errOut, code := runOn(t, c, "")
	if code == 0 || !strings.Contains(errOut, "this server delivers real email only, no SMS") {
		t.Fatalf("inbox@ on an email-only server: exit %d, %q", code, errOut)
	}
}
