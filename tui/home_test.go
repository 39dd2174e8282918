package tui

import (
	"slices"
	"strings"
	"testing"

	tea "charm.land/bubbletea/v2"
)

func TestHomeAnonymous(t *testing.T) {
	e := newEnv(t)
	tr := e.open(laptop, "grace")
	screen := tr.waitFor("anonymous visitor", "Sirius")
	tr.golden("home", screen)
}

// The first screen says what attest is, and in demo mode where the codes
// go; the key's fingerprint and the SSH user name are on the account
// screen, not here.
func TestHomeDemoMode(t *testing.T) {
	e := newEnv(t)
	e.inbox = "ssh -p 23234 inbox@localhost"
	tr := e.open(laptop, "grace")
	screen := tr.waitFor("attest signs you in over ssh", "Demo mode", "ssh -p 23234 inbox@localhost")
	tr.golden("home", screen)
	for _, moved := range []string{"SHA256:", "SSH user"} {
		if strings.Contains(screen, moved) {
			t.Errorf("the first screen still shows %q:\n%s", moved, screen)
		}
	}
}

func TestHomeKeyless(t *testing.T) {
	e := newEnv(t)
	dev, err := e.svc.EphemeralDevice()
	if err != nil {
		t.Fatal(err)
	}
	tr := e.open(dev, "")
	screen := tr.waitFor("this connection only", "after you disconnect")
	tr.golden("home", screen)
}

func TestNicknameAndStars(t *testing.T) {
	e := newEnv(t)
	tr := e.open(laptop, "")
	tr.typeText("n")
	tr.waitFor("1 to 32 characters")
	tr.typeText("Grace Hopper")
	tr.press(tea.KeyEnter)
	tr.waitFor("Nickname  Grace Hopper")

	tr.press(tea.KeyDown)
	tr.typeText(" ")
	tr.waitFor("1 of 10 starred")
	tr.press(tea.KeyDown)
	tr.press(tea.KeyDown)
	tr.typeText(" ")
	tr.waitFor("2 of 10 starred")
	screen := tr.waitGone("saving")
	tr.golden("home", screen)

	v, err := e.svc.Visit(ctx, laptop)
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(v.Stars)
	if v.Nickname != "Grace Hopper" || !slices.Equal(v.Stars, []string{"canopus", "vega"}) {
		t.Fatalf("the ledger holds %q and %v", v.Nickname, v.Stars)
	}

	// Space again takes the star back.
	tr.typeText(" ")
	tr.waitFor("1 of 10 starred")
}

func TestNicknameRefusedInline(t *testing.T) {
	e := newEnv(t)
	tr := e.open(laptop, "")
	tr.typeText("n")
	tr.typeText(strings.Repeat("x", 33))
	tr.waitFor("at most 32 characters, not 33")
	tr.press(tea.KeyEnter) // refused before any write
	tr.press(tea.KeyBackspace)
	screen := tr.waitGone("at most 32")
	if !strings.Contains(screen, "1 to 32 characters") {
		t.Fatalf("the hint did not come back:\n%s", screen)
	}
	tr.press(tea.KeyEscape)
	tr.waitFor("none yet")
	if v, _ := e.svc.Visit(ctx, laptop); v.User != "" {
		t.Fatalf("a refused nickname wrote: %+v", v)
	}
}
