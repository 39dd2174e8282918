package tui

import (
	"context"
	"strings"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"

	"github.com/attest-dev/attest/flows"
	"github.com/attest-dev/attest/flows/address"
	"github.com/attest-dev/attest/tui/inert"
)

// split is the choice the design notes' end note offers when a right
// sign-in code is for an address confirmed on an account that has another
// of its kind: sign in to that account, or start a new one with this
// address, which leaves the other account (that keeps its other one).
// Nothing is signed in until the person chooses.
type split struct {
	c       *common
	offer   flows.Split
	cursor  int // 0: the existing account, 1: a new one
	busy    bool
	problem string

	width, height int
}

func newSplit(c *common, offer flows.Split) *split { return &split{c: c, offer: offer} }

func (s *split) Init() tea.Cmd             { return nil }
func (s *split) SetSize(width, height int) { s.width, s.height = width, height }
func (s *split) Title() string             { return "which account" }
func (s *split) Focused() bool             { return false }

func (s *split) Keys() helpKeys {
	k := s.c.keys
	b := []key.Binding{k.Existing, k.Fresh, k.Choose}
	return helpKeys{short: b, full: [][]key.Binding{{k.Up, k.Down, k.Choose}, {k.Existing, k.Fresh}}}
}

// options are the two choices, in the notes' words.
func (s *split) options() [2]string {
	noun, other := "email address", "address"
	if s.offer.Kind == address.Phone {
		noun, other = "phone number", "number"
	}
	return [2]string{
		"Sign in to the existing account",
		"Start a new account with this " + noun + " (it leaves the other account, which keeps its other " + other + ")",
	}
}

func (s *split) Update(msg tea.Msg) tea.Cmd {
	switch msg := msg.(type) {
	case enteredMsg:
		s.busy = false
		if msg.err != nil {
			s.problem = problemText(msg.err)
		}
		return nil // chosen: the root takes the session home
	case tea.KeyPressMsg:
		if s.busy {
			return nil
		}
		switch k := s.c.keys; {
		case key.Matches(msg, k.Up):
			s.cursor = 0
		case key.Matches(msg, k.Down):
			s.cursor = 1
		case key.Matches(msg, k.Existing):
			return s.choose(0)
		case key.Matches(msg, k.Fresh):
			return s.choose(1)
		case key.Matches(msg, k.Choose):
			return s.choose(s.cursor)
		}
	}
	return nil
}

func (s *split) choose(i int) tea.Cmd {
	s.cursor, s.busy, s.problem = i, true, ""
	choice := flows.SplitSignIn
	if i == 1 {
		choice = flows.SplitNew
	}
	return s.c.write(func(ctx context.Context, svc *flows.Service, dev flows.Device) tea.Msg {
		e, err := svc.ChooseSplit(ctx, dev, choice)
		return enteredMsg{entered: e, err: err}
	})
}

func (s *split) View() string {
	st := s.c.st
	noun := kindNoun(s.offer.Kind)
	var b strings.Builder
	b.WriteString(st.heading.Render("Which account?") + "\n\n")
	b.WriteString(wrap("The code is right. "+inert.String(s.offer.Address)+" is on an account that has another "+noun+
		" too: sign in to that account, or start one of your own with this "+noun+".", s.width) + "\n\n")
	for i, o := range s.options() {
		cur, num := "  ", st.key.Render(string(rune('1'+i)))+"  "
		lines := strings.Split(wrap(o, max(s.width-5, 10)), "\n")
		if i == s.cursor {
			cur = st.cursor.Render("› ")
			for j := range lines {
				lines[j] = st.selected.Render(lines[j])
			}
		}
		b.WriteString(cur + num + strings.Join(lines, "\n"+strings.Repeat(" ", 5)) + "\n")
	}
	switch {
	case s.busy:
		b.WriteString("\n" + st.faint.Render("one moment…"))
	case s.problem != "":
		b.WriteString("\n" + st.bad.Render(wrap("✗ "+s.problem, s.width)))
	default:
		b.WriteString("\n" + st.faint.Render(wrap("Either way this device is signed in once you choose. The choice waits as long as the code would have lasted.", s.width)))
	}
	return strings.TrimRight(b.String(), "\n")
}
