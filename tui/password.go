package tui

import (
	"context"
	"time"

	"charm.land/bubbles/v2/key"
	"charm.land/bubbles/v2/textinput"
	tea "charm.land/bubbletea/v2"

	"github.com/attest-dev/attest/flows"
)

// Setting or changing the account's password is a protected action. The
// step-up comes first, before anything is typed: the account screen asks
// the flows whether the device is stepped up (passwordGate), and a "no"
// takes the usual detour through the step-up screen, whose resume runs
// the gate again and opens the form. So the password is never what waits
// in the root's continuation during a step-up; it lives in the form's
// masked fields until the one call that sets it, which clears them.

// gateMsg is the gate's answer: nil, or the step-up refusal.
type gateMsg struct{ err error }

func (m gateMsg) failure() error { return m.err }

// passwordGate answers whether the device may set a password now.
func passwordGate(what string) writeFn {
	return func(ctx context.Context, svc *flows.Service, dev flows.Device) tea.Msg {
		until, err := svc.StepUpUntil(ctx, dev)
		if err == nil && until.IsZero() {
			err = &flows.Problem{Code: flows.ProblemStepUp,
				Msg: "To " + what + ", first prove it is you with a second factor (step up); the permission lasts " +
					countdown(svc.Policy().StepUpTTL) + " on this device only."}
		}
		return gateMsg{err: err}
	}
}

// passwordWhat names the action for the step-up screen.
func passwordWhat(c *common) string {
	if c.visitor.HasPassword {
		return "change your password"
	}
	return "set a password"
}

// openPasswordForm opens the form when the device is stepped up, or asks
// the flows (and, through the root, for a step-up) first.
func openPasswordForm(c *common) tea.Cmd {
	if stepUpLeft(c) > time.Second {
		c.push(newSetPassword(c))
		return nil
	}
	return c.protected(passwordWhat(c), passwordGate(passwordWhat(c)))
}

// setPassword is the form: the new password twice, masked, then whether
// to sign out every other device.
type setPassword struct {
	c       *common
	change  bool // the account has a password: this changes it
	first   textinput.Model
	again   textinput.Model
	step    passwordStep
	busy    bool
	problem string

	width, height int
}

type passwordStep int

const (
	typingFirst passwordStep = iota
	typingAgain
	askingOthers // "sign out every other device? y/N"
)

// passwordSetMsg is the result of setting the password. It is not a
// failedResult on purpose: a step-up that ran out while the form was
// being filled in must not send the password on the root's detour, so
// the form asks for the step-up again itself, emptied.
type passwordSetMsg struct {
	signedOut bool
	err       error
}

func newSetPassword(c *common) *setPassword {
	s := &setPassword{c: c, change: c.visitor.HasPassword}
	s.first = newPasswordField("at least 8 characters")
	s.again = newPasswordField("the same again")
	s.restyle()
	return s
}

func (s *setPassword) restyle() {
	s.first.SetStyles(s.c.st.input)
	s.again.SetStyles(s.c.st.input)
}

func (s *setPassword) Init() tea.Cmd { return s.first.Focus() }
func (s *setPassword) Focused() bool { return true }

func (s *setPassword) Title() string {
	if s.change {
		return "change password"
	}
	return "set a password"
}

func (s *setPassword) SetSize(width, height int) {
	s.width, s.height = width, height
	s.first.SetWidth(max(width-4, 10))
	s.again.SetWidth(max(width-4, 10))
}

func (s *setPassword) Keys() helpKeys {
	k := s.c.keys
	if s.step == askingOthers {
		b := []key.Binding{k.Yes, s.no(), with(k.Cancel, "esc", "back")}
		return helpKeys{short: b, full: [][]key.Binding{b}}
	}
	b := []key.Binding{with(k.Submit, "enter", "next"), k.Cancel}
	return helpKeys{short: b, full: [][]key.Binding{b}}
}

// no is the question's default answer: keep the other devices signed in.
func (s *setPassword) no() key.Binding {
	return key.NewBinding(key.WithKeys("n", "N", "enter"), key.WithHelp("n/enter", "no"))
}

// clear empties both fields and starts over at the first.
func (s *setPassword) clear() tea.Cmd {
	s.first.Reset()
	s.again.Reset()
	s.again.Blur()
	s.step = typingFirst
	return s.first.Focus()
}

func (s *setPassword) Update(msg tea.Msg) tea.Cmd {
	switch msg := msg.(type) {
	case tea.KeyPressMsg:
		if s.busy {
			return nil
		}
		return s.key(msg)
	case gateMsg:
		// The step-up asked for after a lapse is done (or refused).
		if msg.err != nil {
			s.problem = problemText(msg.err)
		}
		return nil
	case passwordSetMsg:
		s.busy = false
		if msg.err == nil {
			s.c.back()
			s.c.tell(s.done(msg.signedOut))
			return nil
		}
		cmd := s.clear()
		if needsStepUp(msg.err) {
			s.problem = "The step-up ran out before the password was saved. Step up again, then type the new password again."
			return tea.Batch(cmd, s.c.protected(passwordWhat(s.c), passwordGate(passwordWhat(s.c))))
		}
		// The policy's refusal, in the flows' words.
		s.problem = problemText(msg.err)
		return cmd
	}
	if s.busy || s.step == askingOthers {
		return nil
	}
	return s.typed(msg)
}

func (s *setPassword) typed(msg tea.Msg) tea.Cmd {
	m := typedOnly(msg)
	if m == nil {
		return nil
	}
	if _, ok := m.(tea.KeyPressMsg); ok {
		s.problem = ""
	}
	var cmd tea.Cmd
	if s.step == typingAgain {
		s.again, cmd = s.again.Update(m)
	} else {
		s.first, cmd = s.first.Update(m)
	}
	return cmd
}

func (s *setPassword) key(msg tea.KeyPressMsg) tea.Cmd {
	k := s.c.keys
	switch s.step {
	case askingOthers:
		switch {
		case key.Matches(msg, k.Cancel):
			s.step = typingAgain
			return s.again.Focus()
		case key.Matches(msg, k.Yes):
			return s.save(true)
		case key.Matches(msg, s.no()):
			return s.save(false)
		}
		// Any other key: the question waits. The password is saved
		// either way, so a stray key (a q meant to quit) must not.
		return nil
	case typingFirst:
		switch {
		case key.Matches(msg, k.Cancel):
			s.first.Reset()
			s.again.Reset()
			s.c.back()
			return nil
		case key.Matches(msg, k.Submit):
			if s.first.Value() == "" {
				s.problem = "Type the new password first."
				return nil
			}
			s.problem = ""
			s.step = typingAgain
			s.first.Blur()
			return s.again.Focus()
		}
	case typingAgain:
		switch {
		case key.Matches(msg, k.Cancel):
			s.again.Reset()
			s.again.Blur()
			s.step = typingFirst
			return s.first.Focus()
		case key.Matches(msg, k.Submit):
			if s.again.Value() != s.first.Value() {
				cmd := s.clear()
				s.problem = "The two passwords differ. Type the new password again, twice."
				return cmd
			}
			s.problem = ""
			s.step = askingOthers
			s.again.Blur()
			return nil
		}
	}
	return s.typed(msg)
}

// save sets the password. It leaves the fields for the flow's call and
// both are cleared at once.
func (s *setPassword) save(signOutOthers bool) tea.Cmd {
	pw := s.first.Value()
	s.first.Reset()
	s.again.Reset()
	s.busy, s.problem = true, ""
	return s.c.write(func(ctx context.Context, svc *flows.Service, dev flows.Device) tea.Msg {
		return passwordSetMsg{signedOut: signOutOthers, err: svc.SetPassword(ctx, dev, pw, signOutOthers)}
	})
}

// done is the news once the password is saved.
func (s *setPassword) done(signedOut bool) string {
	msg := "Your password is set: sign in with it after your address (ctrl+p on the sign-in screen)."
	if s.change {
		msg = "Your password is changed."
	}
	if signedOut {
		msg += " Every other device is signed out."
	}
	return msg
}

func (s *setPassword) View() string {
	st := s.c.st
	heading := "Set a password"
	if s.change {
		heading = "Change your password"
	}
	out := st.heading.Render(heading) + "\n\n" +
		wrap("With a password you can sign in by typing it after your address, and step up with it on a device that signed in another way. Your addresses are told when it changes.", s.width) +
		"\n\n" + st.label.Render("New password") + "\n" + s.first.View() + "\n" +
		st.label.Render("The same again") + "\n" + s.again.View() + "\n\n"
	switch {
	case s.busy:
		return out + st.faint.Render("saving…")
	case s.step == askingOthers:
		return out + st.warn.Render(wrap("Sign out every other device? y/N", s.width))
	case s.problem != "":
		return out + st.bad.Render(wrap("✗ "+s.problem, s.width))
	case s.step == typingAgain:
		return out + st.faint.Render("type it again; enter goes on")
	}
	return out + st.faint.Render("enter goes on to typing it again")
}
