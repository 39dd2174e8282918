package server

import (
	"strings"
	"testing"

	"github.com/attest-dev/attest/flows/message"
)

// The inbox on a terminal wraps a message's long lines under its indent;
// a word wider than the window (a link) stays whole.
func TestInboxBlockWrapsUnderTheIndent(t *testing.T) {
	link := "http://127.0.0.1:23235/link/" + strings.Repeat("a", 26)
	m := message.Message{Channel: message.Email, To: "grace@example.com", Subject: "Your attest sign-in link",
		Text: "To sign in to attest, open this link and press the button for terminal session K7QX:\n\n" + link + "\n\nThe link works once.\n"}
	var b strings.Builder
	if err := writeInboxBlock(&b, m, "", 40); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimRight(b.String(), "\r\n"), "\r\n")
	for _, l := range lines[1:] {
		if l == "" || l == inboxIndent {
			continue
		}
		if !strings.HasPrefix(l, inboxIndent) || strings.HasPrefix(l, inboxIndent+" ") {
			t.Errorf("a body line is not under the indent: %q", l)
		}
		if len(l) > 40 && strings.TrimSpace(l) != link {
			t.Errorf("a body line is %d wide in a 40-column window: %q", len(l), l)
		}
	}
	if !strings.Contains(b.String(), inboxIndent+link+"\r\n") {
		t.Errorf("the link was cut:\n%s", b.String())
	}
	if !strings.Contains(b.String(), "\r\n"+inboxIndent+"session K7QX:") && !strings.Contains(b.String(), "terminal session K7QX:") {
		t.Errorf("the words were lost:\n%s", b.String())
	}
}
