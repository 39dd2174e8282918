package tui

import (
	"context"
	"time"

	"charm.land/bubbles/v2/key"
	"charm.land/bubbles/v2/textinput"
	tea "charm.land/bubbletea/v2"
	"charm.land/lipgloss/v2"

	"github.com/attest-dev/attest/flows"
	"github.com/attest-dev/attest/flows/address"
)

// stepUp proves a second factor for protected actions: it says in one
// sentence what a step-up is, has the flows send a fresh code to one of
// the account's confirmed addresses, and then takes the code exactly as
// the code screen does (it is one, inside). The root pushes it when a
// protected action is refused for want of a step-up, and carries on with
// the action when the code is right (see continuation); the account
// screen also offers it on its own.
//
// An account with a password can step up with it instead, on a device
// that signed in some other way (the password is then a second factor):
// ctrl+p opens a masked field beside the code.
//
// An account with a confirmed wallet can step up by signing: ctrl+w asks
// the flows for a step-up challenge and shows it as the sign-in's wallet
// screen does (walletSign, inside). An account whose only ways in are
// wallets has no code to be sent, so it starts there.
type stepUp struct {
	c    *common
	what string // the action waiting for the step-up, if any
	code *code  // the code's screen, once one went out

	sending bool
	problem string
	retryAt time.Time // the governor's answer: no code before then

	withPW    bool // the password field is open and has the keyboard
	password  textinput.Model
	checking  bool
	pwProblem string

	wallet      *walletSign // the challenge's screen, once one came
	asking      bool        // a challenge was asked for
	walletFirst bool        // Init asks for a challenge rather than a code
	wProblem    string

	width, height int
}

// steppedUpMsg is the result of stepping up with the password.
type steppedUpMsg struct {
	until time.Time
	err   error
}

func newStepUp(c *common, what string) *stepUp {
	s := &stepUp{c: c, what: what}
	s.password = newPasswordField("your password")
	s.password.SetStyles(c.st.input)
	return s
}

// canPassword reports whether the password can be the second factor: the
// account has one and this device did not sign in with it.
func (s *stepUp) canPassword() bool {
	v := s.c.visitor
	return v.Account && v.HasPassword && v.Method != methodPassword
}

// canWallet reports whether a wallet can be the second factor: the
// account has one confirmed.
func (s *stepUp) canWallet() bool { return hasWallet(s.c) }

func hasWallet(c *common) bool {
	v := c.visitor
	if !v.Account {
		return false
	}
	for _, a := range v.Addresses {
		if a.Confirmed && a.Kind.IsWallet() {
			return true
		}
	}
	return false
}

// canCode reports whether a step-up code has somewhere to go: a confirmed
// email address or phone number.
func (s *stepUp) canCode() bool {
	for _, a := range s.c.visitor.Addresses {
		if a.Confirmed && (a.Kind == address.Email || a.Kind == address.Phone) {
			return true
		}
	}
	return false
}

func (s *stepUp) Init() tea.Cmd {
	switch {
	case s.wallet != nil:
		return s.wallet.Init()
	case s.code != nil:
		return s.code.Init()
	case s.asking:
		return nil
	case s.walletFirst || (s.canWallet() && !s.canCode()):
		return s.askWallet()
	}
	return s.request()
}

// askWallet asks for a step-up challenge for the account's first wallet.
func (s *stepUp) askWallet() tea.Cmd {
	if s.asking || (s.wallet != nil && s.wallet.checking) {
		return nil
	}
	s.asking, s.wProblem = true, ""
	return s.c.write(func(ctx context.Context, svc *flows.Service, dev flows.Device) tea.Msg {
		ch, err := svc.RequestWalletStepUp(ctx, dev, "")
		return challengeMsg{ch: ch, err: err}
	})
}

// leaveWallet goes back from the wallet to the code (asking for one if
// none went out yet); with no code to be had, it leaves the step-up.
func (s *stepUp) leaveWallet() tea.Cmd {
	if s.wallet.checking {
		return nil
	}
	s.wallet = nil
	s.SetSize(s.width, s.height)
	switch {
	case s.code != nil:
		return s.code.input.Focus()
	case !s.canCode():
		s.c.back()
	case !s.sending && s.problem == "":
		return s.request()
	}
	return nil
}

func (s *stepUp) request() tea.Cmd {
	s.sending, s.problem = true, ""
	return s.c.write(func(ctx context.Context, svc *flows.Service, dev flows.Device) tea.Msg {
		iss, err := svc.RequestStepUp(ctx, dev)
		return requestedMsg{iss: iss, err: err}
	})
}

func (s *stepUp) restyle() {
	s.password.SetStyles(s.c.st.input)
	if s.code != nil {
		s.code.restyle()
	}
}

func (s *stepUp) Title() string {
	if s.wallet != nil {
		return "step up · wallet"
	}
	if s.withPW {
		return "step up · password"
	}
	if s.code != nil {
		return "step up · code " + s.code.iss.Letter
	}
	return "step up"
}

func (s *stepUp) Focused() bool { return s.withPW || s.code != nil || s.wallet != nil }

func (s *stepUp) canRetry() bool {
	return !s.sending && s.code == nil && !s.c.now().Before(s.retryAt)
}

func (s *stepUp) Keys() helpKeys {
	k := s.c.keys
	if s.wallet != nil {
		back := "use a code"
		if !s.canCode() {
			back = "back"
		}
		b := []key.Binding{with(k.Submit, "enter", "check the signature"), with(k.UseWallet, "ctrl+w", "new message"), with(k.Cancel, "esc", back)}
		return helpKeys{short: b, full: [][]key.Binding{b}}
	}
	if s.withPW {
		b := []key.Binding{with(k.Submit, "enter", "check"), with(k.Cancel, "esc", "use the code")}
		return helpKeys{short: b, full: [][]key.Binding{b}}
	}
	usePW := with(k.UsePassword, "ctrl+p", "use your password")
	usePW.SetEnabled(s.canPassword())
	useProvider := with(k.Provider, "ctrl+o", "use a provider")
	useProvider.SetEnabled(s.canProvider())
	useWallet := k.UseWallet
	useWallet.SetEnabled(s.canWallet() && !s.asking)
	if s.code != nil {
		// The code's keys, with the password and the wallet second:
		// enter, ctrl+p, ctrl+w, …
		h := s.code.Keys().short
		b := append([]key.Binding{h[0], usePW, useWallet}, h[1:]...)
		return helpKeys{short: b, full: [][]key.Binding{b}}
	}
	retry := with(k.Resend, "ctrl+r", "send a code")
	retry.SetEnabled(s.canRetry() && s.problem != "")
	b := []key.Binding{retry, usePW, useWallet}
	return helpKeys{short: b, full: [][]key.Binding{b}}
}

func (s *stepUp) SetSize(width, height int) {
	s.width, s.height = width, height
	s.password.SetWidth(max(width-4, 10))
	if s.wallet != nil {
		intro := s.intro()
		if intro != "" {
			height -= lipgloss.Height(intro)
		}
		s.wallet.SetSize(width, max(height, 1))
	}
	if s.code != nil {
		s.code.SetSize(width, max(height-lipgloss.Height(s.intro())-1, 1))
	}
}

func (s *stepUp) Update(msg tea.Msg) tea.Cmd {
	switch msg := msg.(type) {
	case steppedUpMsg:
		s.checking = false
		if msg.err != nil {
			s.pwProblem = problemText(msg.err)
		}
		return nil // stepped up: the root carries on
	case challengeMsg:
		s.asking = false
		if msg.err != nil {
			s.wProblem = problemText(msg.err)
			s.SetSize(s.width, s.height)
			return nil
		}
		s.wallet = newWalletSign(s.c, msg.ch)
		if s.code != nil {
			s.code.input.Blur()
		}
		s.SetSize(s.width, s.height)
		return s.wallet.Init()
	case enteredMsg:
		// The signature's answer, unless a code's was under way.
		if s.wallet != nil && (s.wallet.checking || s.code == nil) {
			return s.wallet.Update(msg)
		}
	case tea.KeyPressMsg:
		if s.withPW {
			return s.passwordKey(msg)
		}
		if key.Matches(msg, s.c.keys.UseWallet) && s.canWallet() {
			return s.askWallet()
		}
		if s.wallet != nil {
			if key.Matches(msg, s.c.keys.Cancel) {
				return s.leaveWallet()
			}
			return s.wallet.Update(msg)
		}
		if key.Matches(msg, s.c.keys.Provider) && s.canProvider() {
			chooseProviderFor(s.c, flows.PurposeStepUp)
			return nil
		}
		if key.Matches(msg, s.c.keys.UsePassword) && s.canPassword() {
			s.withPW, s.pwProblem = true, ""
			if s.code != nil {
				s.code.input.Blur()
			}
			return s.password.Focus()
		}
	case tea.PasteMsg:
		if s.withPW {
			return s.typed(msg)
		}
		if s.wallet != nil {
			return s.wallet.Update(msg)
		}
	}
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

func (s *stepUp) passwordKey(msg tea.KeyPressMsg) tea.Cmd {
	k := s.c.keys
	switch {
	case key.Matches(msg, k.Cancel):
		if s.checking {
			return nil
		}
		s.withPW, s.pwProblem = false, ""
		s.password.Reset()
		s.password.Blur()
		if s.code != nil {
			return s.code.input.Focus()
		}
		return nil
	case key.Matches(msg, k.Submit):
		return s.checkPassword()
	}
	return s.typed(msg)
}

func (s *stepUp) typed(msg tea.Msg) tea.Cmd {
	if s.checking {
		return nil
	}
	m := typedOnly(msg)
	if m == nil {
		return nil
	}
	if typing(m) {
		s.pwProblem = ""
	}
	var cmd tea.Cmd
	s.password, cmd = s.password.Update(m)
	return cmd
}

// checkPassword steps up with the password. It leaves the field for the
// flow's call and the field is cleared at once.
func (s *stepUp) checkPassword() tea.Cmd {
	if s.checking {
		return nil
	}
	pw := s.password.Value()
	s.password.Reset()
	if pw == "" {
		s.pwProblem = "Type your password first."
		return nil
	}
	s.checking, s.pwProblem = true, ""
	return s.c.write(func(ctx context.Context, svc *flows.Service, dev flows.Device) tea.Msg {
		until, err := svc.StepUpWithPassword(ctx, dev, pw)
		return steppedUpMsg{until: until, err: err}
	})
}

// intro is the sentence that says what a step-up is, and what waits for it.
func (s *stepUp) intro() string {
	st := s.c.st
	if s.wallet != nil {
		// One line at most (the title says it is a step-up): the message
		// below needs the room to be copied whole.
		if s.what == "" {
			return ""
		}
		return st.faint.Render(wrap("Once the signature is right, this goes ahead: "+s.what+".", s.width))
	}
	out := st.heading.Render("Step up") + "\n\n" +
		wrap("A step-up proves it is you with a second factor, a fresh code to one of your addresses, and lets this device (and only this one) make protected changes for the next hour.", s.width)
	if s.what != "" {
		once := "Once the code is right"
		if s.canPassword() {
			once = "Once the code or your password is right"
		}
		out += "\n" + st.faint.Render(wrap(once+", this goes ahead: "+s.what+".", s.width))
	}
	if s.canPassword() && !s.withPW {
		out += "\n" + wrap("This account has a password: "+st.key.Render("ctrl+p")+" uses it instead of the code.", s.width)
	}
	if s.canProvider() && !s.withPW {
		out += "\n" + wrap(st.key.Render("ctrl+o")+" signs in afresh at a provider linked to this account instead.", s.width)
	}
	if s.canWallet() && !s.withPW {
		out += "\n" + wrap("This account has a wallet: "+st.key.Render("ctrl+w")+" signs a message with it instead.", s.width)
	}
	switch {
	case s.asking:
		out += "\n" + st.faint.Render("asking for a message to sign…")
	case s.wProblem != "":
		out += "\n" + st.bad.Render(wrap("✗ "+s.wProblem, s.width))
	}
	return out
}

func (s *stepUp) View() string {
	st := s.c.st
	if s.wallet != nil {
		if intro := s.intro(); intro != "" {
			return intro + "\n" + s.wallet.View()
		}
		return s.wallet.View()
	}
	out := s.intro() + "\n\n"
	switch {
	case s.withPW:
		out += st.label.Render("Your password") + "\n" + s.password.View() + "\n\n"
		switch {
		case s.checking:
			return out + st.faint.Render("checking…")
		case s.pwProblem != "":
			return out + st.bad.Render(wrap("✗ "+s.pwProblem, s.width))
		}
		return out + st.faint.Render("enter checks the password; esc goes back to the code")
	case s.code != nil:
		return out + s.code.View()
	case s.sending:
		return out + st.faint.Render("sending a code…")
	case s.problem == "":
		return out // the wallet first: the intro says how it goes
	}
	out += st.bad.Render(wrap("✗ "+s.problem, s.width))
	now := s.c.now()
	if s.retryAt.After(now) {
		out += "\n\n" + st.faint.Render("A code can be sent at "+flows.When(s.retryAt, now)+".")
	} else {
		out += "\n\n" + st.key.Render("ctrl+r") + " sends a code; " + st.key.Render("esc") + " goes back without stepping up"
	}
	return out
}
