package tui

import (
	"context"
	"strings"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"

	"github.com/attest-dev/attest/flows"
	"github.com/attest-dev/attest/internal/inert"
)

// split asks, y/N, whether to take the design notes' account split: the
// address this device signed in with leaves the account (which keeps its
// other address of the kind, and is told) and becomes an account of its
// own, to which this device is then signed in. It is opened only by a key
// (m on home after such a sign-in, and on the account screen's row for
// that address), never by a sign-in itself.
type split struct {
	c       *common
	offer   flows.Split
	busy    bool
	problem string

	width, height int
}

// splitTookMsg is the result of taking the split.
type splitTookMsg struct {
	e   flows.Entered
	err error
}

func (m splitTookMsg) result() (flows.Visitor, bool) { return m.e.Visitor, m.err == nil }

func newSplit(c *common, offer flows.Split) *split { return &split{c: c, offer: offer} }

func (s *split) Init() tea.Cmd             { return nil }
func (s *split) SetSize(width, height int) { s.width, s.height = width, height }
func (s *split) Title() string             { return "account of its own" }
func (s *split) Focused() bool             { return !s.busy } // y/N has the keyboard

func (s *split) Keys() helpKeys {
	k := s.c.keys
	no := key.NewBinding(key.WithKeys("n"), key.WithHelp("any other key", "no"))
	b := []key.Binding{k.Yes, no}
	return helpKeys{short: b, full: [][]key.Binding{b}}
}

func (s *split) Update(msg tea.Msg) tea.Cmd {
	switch msg := msg.(type) {
	case splitTookMsg:
		s.busy = false
		if msg.err != nil {
			s.problem = problemText(msg.err)
			return nil
		}
		s.c.home(tookNote(msg.e))
	case tea.KeyPressMsg:
		switch {
		case s.busy:
		case s.problem == "" && key.Matches(msg, s.c.keys.Yes):
			return s.take()
		default:
			s.c.back() // no, or the refusal read: nothing happened
		}
	}
	return nil
}

func (s *split) take() tea.Cmd {
	s.busy = true
	return s.c.write(func(ctx context.Context, svc *flows.Service, dev flows.Device) tea.Msg {
		e, err := svc.ChooseSplit(ctx, dev, flows.SplitNew)
		return splitTookMsg{e: e, err: err}
	})
}

// leaving names the account an address would leave.
func leaving(o flows.Split) string {
	if o.Account != "" {
		return "the account " + inert.String(o.Account)
	}
	return "the account you are signed in to"
}

// keeps names what the account keeps.
func keeps(o flows.Split) string {
	out := make([]string, len(o.Keeps))
	for i, k := range o.Keeps {
		out[i] = inert.String(k)
	}
	return strings.Join(out, ", ")
}

// tookNote is what home says after the split.
func tookNote(e flows.Entered) string {
	o := e.Took
	if o == nil {
		return "Welcome — your account is ready"
	}
	left := "The account it left"
	if o.Account != "" {
		left = "The account " + inert.String(o.Account)
	}
	return inert.Address(o.Display) + " is an account of its own now, and this device is signed in to it. " +
		left + " keeps " + keeps(*o) + " and was told."
}

func (s *split) View() string {
	st := s.c.st
	o := s.offer
	addr := inert.Address(o.Display)
	var b strings.Builder
	b.WriteString(st.heading.Render("An account of its own") + "\n\n")
	b.WriteString(wrap("If "+addr+" belongs to you and not to "+leaving(o)+", it can leave that account and become an account of its own.", s.width) + "\n\n")
	for _, l := range []string{
		addr + " leaves " + leaving(o) + ", which keeps " + keeps(o) + " and is told in a message.",
		"This device is signed out of that account and signed in to a new one that has only " + addr + ".",
		"Stars, nickname, password and devices stay with " + leaving(o) + ".",
	} {
		b.WriteString("• " + strings.Join(strings.Split(wrap(l, max(s.width-2, 10)), "\n"), "\n  ") + "\n")
	}
	switch {
	case s.busy:
		b.WriteString("\n" + st.faint.Render("one moment…"))
	case s.problem != "":
		b.WriteString("\n" + st.bad.Render(wrap("✗ "+s.problem, s.width)) + "\n" + st.faint.Render("any key goes back"))
	default:
		b.WriteString("\n" + st.warn.Render(wrap("Make "+addr+" an account of its own? y/N", s.width)))
	}
	return strings.TrimRight(b.String(), "\n")
}
