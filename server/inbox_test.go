package server

import (
	"strings"
	"testing"

	"github.com/charmbracelet/x/ansi"

	"github.com/attest-dev/attest/flows/message"
)

// The inbox on a terminal wraps a message's long lines, and the
// governor's note, under its indent; a word wider than the window (a
// link) stays whole.
func TestInboxBlockWrapsUnderTheIndent(t *testing.T) {
	link := "http://127.0.0.1:23235/link/" + strings.Repeat("a", 26)
	m := message.Message{Channel: message.Email, To: "grace@example.com", Subject: "Your attest sign-in link",
		Text: "To sign in to attest, open this link and press the button for terminal session K7QX:\n\n" + link + "\n\nThe link works once.\n"}
	var b strings.Builder
	note := "governor: sent; the next to this address can go at 10:01:00 UTC (one a minute to an address); 3 requests held back before it"
	if err := writeInboxBlock(&b, m, note, 40); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimRight(b.String(), "\r\n"), "\r\n")
	for _, l := range lines[1:] {
		l = ansi.Strip(l)
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
	if plain := ansi.Strip(b.String()); !strings.Contains(strings.Join(strings.Fields(plain), " "), "an address); 3 requests held back before it To sign in") {
		t.Errorf("the note's words were lost:\n%s", plain)
	}
	if !strings.Contains(b.String(), inboxIndent+link+"\r\n") {
		t.Errorf("the link was cut:\n%s", b.String())
	}
	if !strings.Contains(b.String(), "\r\n"+inboxIndent+"session K7QX:") && !strings.Contains(b.String(), "terminal session K7QX:") {
		t.Errorf("the words were lost:\n%s", b.String())
	}
}
