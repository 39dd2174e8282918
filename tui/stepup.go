package tui

import (
	"context"
	"time"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"
	"charm.land/lipgloss/v2"

	"github.com/attest-dev/attest/flows"
)

// stepUp proves a second factor for protected actions: it says in one
// sentence what a step-up is, has the flows send a fresh code to one of
// the account's confirmed addresses, and then takes the code exactly as
// the code screen does (it is one, inside). The root pushes it when a
// protected action is refused for want of a step-up, and carries on with
// the action when the code is right (see continuation); the account
// screen also offers it on its own.
type stepUp struct {
	c    *common
	what string // the action waiting for the step-up, if any
	code *code  // the code's screen, once one went out

	sending bool
	problem string
	retryAt time.Time // the governor's answer: no code before then

	width, height int
}

func newStepUp(c *common, what string) *stepUp { return &stepUp{c: c, what: what} }

func (s *stepUp) Init() tea.Cmd {
	if s.code != nil {
		return s.code.Init()
	}
	return s.request()
}

func (s *stepUp) request() tea.Cmd {
	s.sending, s.problem = true, ""
	return s.c.write(func(ctx context.Context, svc *flows.Service, dev flows.Device) tea.Msg {
		iss, err := svc.RequestStepUp(ctx, dev)
		return requestedMsg{iss: iss, err: err}
	})
}

func (s *stepUp) restyle() {
	if s.code != nil {
		s.code.restyle()
	}
}

func (s *stepUp) Title() string {
	if s.code != nil {
		return "step up · code " + s.code.iss.Letter
	}
	return "step up"
}

func (s *stepUp) Focused() bool { return s.code != nil }

func (s *stepUp) canRetry() bool {
	return !s.sending && s.code == nil && !s.c.svc.Now().Before(s.retryAt)
}

func (s *stepUp) Keys() helpKeys {
	if s.code != nil {
		return s.code.Keys()
	}
	k := s.c.keys
	retry := with(k.Resend, "ctrl+r", "send a code")
	retry.SetEnabled(s.canRetry() && s.problem != "")
	b := []key.Binding{retry}
	return helpKeys{short: b, full: [][]key.Binding{b}}
}

func (s *stepUp) SetSize(width, height int) {
	s.width, s.height = width, height
	if s.code != nil {
		s.code.SetSize(width, max(height-lipgloss.Height(s.intro())-1, 1))
	}
}

func (s *stepUp) Update(msg tea.Msg) tea.Cmd {
	if s.code != nil {
		return s.code.Update(msg)
	}
	switch msg := msg.(type) {
	case requestedMsg:
		s.sending = false
		if msg.err != nil {
			s.problem = problemText(msg.err)
			if p, ok := flows.AsProblem(msg.err); ok {
				s.retryAt = p.RetryAt
			}
			return nil
		}
		s.code = newCode(s.c, msg.iss)
		s.SetSize(s.width, s.height)
		return s.code.Init()
	case tea.KeyPressMsg:
		if key.Matches(msg, s.c.keys.Resend) && s.canRetry() && s.problem != "" {
			return s.request()
		}
	}
	return nil
}

// intro is the sentence that says what a step-up is, and what waits for it.
func (s *stepUp) intro() string {
	st := s.c.st
	out := st.heading.Render("Step up") + "\n\n" +
		wrap("A step-up proves it is you with a second factor, a fresh code to one of your addresses, and lets this device (and only this one) make protected changes for the next hour.", s.width)
	if s.what != "" {
		out += "\n" + st.faint.Render(wrap("Once the code is right, this goes ahead: "+s.what+".", s.width))
	}
	return out
}

func (s *stepUp) View() string {
	st := s.c.st
	out := s.intro() + "\n\n"
	switch {
	case s.code != nil:
		return out + s.code.View()
	case s.sending:
		return out + st.faint.Render("sending a code…")
	}
	out += st.bad.Render(wrap("✗ "+s.problem, s.width))
	now := s.c.svc.Now()
	if s.retryAt.After(now) {
		out += "\n\n" + st.faint.Render("A code can be sent at "+flows.When(s.retryAt, now)+".")
	} else {
		out += "\n\n" + st.key.Render("ctrl+r") + " sends a code; " + st.key.Render("esc") + " goes back without stepping up"
	}
	return out
}
