package tui

import (
	"context"
	"strings"

	"charm.land/bubbles/v2/key"
	"charm.land/bubbles/v2/textinput"
	tea "charm.land/bubbletea/v2"

	"github.com/attest-dev/attest/flows"
)

// signIn asks for an address and sends it a code: the notes' first stage
// of login-or-register. Whether the address has an account is not asked
// and not shown; the code screen that follows is the same either way.
type signIn struct {
	c       *common
	input   textinput.Model
	problem string // why the address cannot be used, or why no code went
	tried   bool   // enter was pressed once: from then on, check as they type
	sending bool

	width, height int
}

// requestedMsg is the result of asking for a sign-in code.
type requestedMsg struct {
	iss flows.Issued
	err error
}

func newSignIn(c *common) *signIn {
	s := &signIn{c: c}
	s.input = textinput.New()
	s.input.Prompt = "> "
	s.input.Placeholder = "you@example.com"
	s.input.CharLimit = 254
	s.restyle()
	return s
}

func (s *signIn) restyle()      { s.input.SetStyles(s.c.st.input) }
func (s *signIn) Init() tea.Cmd { return s.input.Focus() }
func (s *signIn) Title() string { return "sign in or sign up" }
func (s *signIn) Focused() bool { return true }

func (s *signIn) SetSize(width, height int) {
	s.width, s.height = width, height
	s.input.SetWidth(max(width-4, 10))
}

func (s *signIn) Keys() helpKeys {
	k := s.c.keys
	b := []key.Binding{with(k.Submit, "enter", "send a code"), k.Back}
	return helpKeys{short: b, full: [][]key.Binding{b}}
}

func (s *signIn) Update(msg tea.Msg) tea.Cmd {
	switch msg := msg.(type) {
	case tea.KeyPressMsg:
		switch k := s.c.keys; {
		case key.Matches(msg, k.Back):
			s.c.back()
			return nil
		case key.Matches(msg, k.Submit):
			return s.submit()
		}
	case requestedMsg:
		s.sending = false
		if msg.err != nil {
			// Throttled, already signed in, or an address the flows
			// refuse: the message says which, and the field stays.
			s.problem = problemText(msg.err)
			return nil
		}
		s.c.push(newCode(s.c, msg.iss))
		return nil
	}
	m := typedOnly(msg)
	if m == nil {
		return nil
	}
	var cmd tea.Cmd
	s.input, cmd = s.input.Update(m)
	if _, ok := m.(tea.KeyPressMsg); ok && s.tried {
		s.problem = s.check()
	}
	return cmd
}

// check is the inline validation: what the flows say of the address.
func (s *signIn) check() string {
	if _, err := s.c.svc.ParseAddress(strings.TrimSpace(s.input.Value())); err != nil {
		return problemText(err)
	}
	return ""
}

func (s *signIn) submit() tea.Cmd {
	if s.sending {
		return nil
	}
	s.tried = true
	if s.problem = s.check(); s.problem != "" {
		return nil
	}
	s.sending = true
	addr := strings.TrimSpace(s.input.Value())
	return s.c.write(func(ctx context.Context, svc *flows.Service, dev flows.Device) tea.Msg {
		iss, err := svc.RequestSignIn(ctx, dev, addr)
		return requestedMsg{iss: iss, err: err}
	})
}

func (s *signIn) View() string {
	st := s.c.st
	var status string
	switch {
	case s.problem != "":
		status = st.bad.Render(wrap("✗ "+s.problem, s.width))
	case s.sending:
		status = st.faint.Render("sending a code…")
	default:
		status = st.faint.Render("enter sends a code")
	}
	return st.heading.Render("Sign in or sign up") + "\n\n" +
		wrap("Type your email address, or your phone number with + and its country code. We send it a one-time code: entering the code signs you in, or makes you an account if the address is new.", s.width) +
		"\n\n" + st.label.Render("Email address or phone number") + "\n" + s.input.View() + "\n\n" + status
}
