package tui

import (
	"strings"
	"testing"

	tea "charm.land/bubbletea/v2"
)

// A look-alike domain (a Cyrillic "а" in exаmple.com) is shown in its
// xn-- form with a warning on the screens: the code screen, home and the
// account. The Unicode form that passes for example.com never appears.
func TestLookAlikeDomainIsShownWithAWarning(t *testing.T) {
	const typed = "ada@ex\u0430mple.com"
	e := newEnv(t)
	tr := e.open(laptop, "")
	tr.typeText("s")
	tr.waitFor("Email address")
	tr.typeText(typed)
	tr.press(tea.KeyEnter)
	screen := tr.waitFor("Code A sent to ada@xn--exmple-4nf.com (look-alike domain: it mixes Cyrillic\n", "and Latin letters) by email")
	tr.typeText(e.code("ada@xn--exmple-4nf.com", "A"))
	tr.press(tea.KeyEnter)
	home := tr.waitFor("signed in as ada@xn--exmple-4nf.com (look-alike domain: it mixes\n", "Cyrillic and Latin letters) · via code")
	tr.typeText("a")
	account := tr.waitFor("email  ada@xn--exmple-4nf.com  confirmed by code",
		"\n           look-alike domain: it mixes Cyrillic and Latin letters\n")
	for _, s := range []string{screen, home, account} {
		if strings.Contains(s, typed) || strings.Contains(s, "exаmple") {
			t.Errorf("the look-alike form is on the screen:\n%s", s)
		}
	}
}
