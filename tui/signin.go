package tui

import (
	"context"
	"strings"

	"charm.land/bubbles/v2/key"
	"charm.land/bubbles/v2/textinput"
	tea "charm.land/bubbletea/v2"

	"github.com/attest-dev/attest/flows"
	"github.com/attest-dev/attest/flows/address"
)

// signIn asks for an address and then how to prove it: a one-time code
// to it (enter, the notes' two stages), a sign-in link to open in a
// browser (ctrl+l), or a password typed here (ctrl+p, the notes'
// one-stage login-or-register). Whether the address has an account is
// not asked: a code and a link answer the same either way, and a
// password signs in or registers.
type signIn struct {
	c        *common
	input    textinput.Model
	password textinput.Model
	withPW   bool   // the password field is open and has the keyboard
	problem  string // why the address cannot be used, or why nothing went
	tried    bool   // a way was chosen once: from then on, check as they type
	sending  string // what is under way: "sending a code…"

	width, height int
}

// Results of the sign-in screen's writes.
type (
	// requestedMsg is the result of asking for a sign-in code.
	requestedMsg struct {
		iss flows.Issued
		err error
	}
	// linkSentMsg is the result of asking for a sign-in link, or for a
	// registration's link again.
	linkSentMsg struct {
		sent flows.LinkSent
		err  error
	}
	// loginMsg is the result of the one-stage login-or-register.
	loginMsg struct {
		addr  string // as typed
		login flows.Login
		err   error
	}
)

func (m loginMsg) result() (flows.Visitor, bool) {
	return m.login.Visitor, m.err == nil && m.login.SignedIn
}

func newSignIn(c *common) *signIn {
	s := &signIn{c: c}
	s.input = newField(254)
	s.input.Placeholder = "you@example.com"
	s.password = newPasswordField("your password")
	s.restyle()
	return s
}

func (s *signIn) restyle() {
	s.input.SetStyles(s.c.st.input)
	s.password.SetStyles(s.c.st.input)
}

func (s *signIn) Init() tea.Cmd { return s.input.Focus() }
func (s *signIn) Title() string { return "sign in or sign up" }
func (s *signIn) Focused() bool { return true }

func (s *signIn) SetSize(width, height int) {
	s.width, s.height = width, height
	s.input.SetWidth(max(width-4, 10))
	s.password.SetWidth(max(width-4, 10))
}

func (s *signIn) Keys() helpKeys {
	k := s.c.keys
	if s.withPW {
		b := []key.Binding{with(k.Submit, "enter", "sign in"), with(k.Cancel, "esc", "back to the address")}
		return helpKeys{short: b, full: [][]key.Binding{b}}
	}
	// Short, so that every way (and esc) fits one line: ? types here.
	short := []key.Binding{with(k.Submit, "enter", "code"), with(k.MagicLink, "ctrl+l", "link"),
		with(k.UsePassword, "ctrl+p", "password"), k.Back}
	full := []key.Binding{with(k.Submit, "enter", "send a code"), k.MagicLink, k.UsePassword, k.Back}
	if len(s.c.svc.Providers()) > 0 {
		short = append(short[:3:3], with(k.Provider, "ctrl+o", "provider"), k.Back)
		full = append(full[:3:3], k.Provider, k.Back)
	}
	return helpKeys{short: short, full: [][]key.Binding{full}}
}

func (s *signIn) Update(msg tea.Msg) tea.Cmd {
	switch msg := msg.(type) {
	case tea.KeyPressMsg:
		if s.withPW {
			return s.passwordKey(msg)
		}
		switch k := s.c.keys; {
		case key.Matches(msg, k.Back):
			s.c.back()
			return nil
		case key.Matches(msg, k.Submit):
			return s.sendCode()
		case key.Matches(msg, k.MagicLink):
			return s.sendLink()
		case key.Matches(msg, k.UsePassword):
			return s.openPassword()
		case key.Matches(msg, k.Provider) && s.sending == "":
			chooseProvider(s.c)
			return nil
		}
	case requestedMsg:
		s.sending = ""
		if msg.err != nil {
			// Throttled, already signed in, or an address the flows
			// refuse: the message says which, and the field stays.
			s.problem = problemText(msg.err)
			return nil
		}
		s.c.push(newCode(s.c, msg.iss))
		return nil
	case challengeMsg:
		s.sending = ""
		if msg.err != nil {
			s.problem = problemText(msg.err)
			return nil
		}
		s.c.push(newWalletSign(s.c, msg.ch))
		return nil
	case linkSentMsg:
		s.sending = ""
		if msg.err != nil {
			s.problem = problemText(msg.err)
			return nil
		}
		s.c.push(newMagicLink(s.c, strings.TrimSpace(s.input.Value()), msg.sent))
		return nil
	case loginMsg:
		s.sending = ""
		switch {
		case msg.err != nil:
			// A back-off, too many tries from this device, a password
			// the policy refuses for a new account: the field was
			// cleared on enter, and the reason stays until they type
			// again. (A wrong password is not an error: it is pending,
			// as for a new address.)
			s.problem = problemText(msg.err)
		case msg.login.Pending:
			s.closePassword()
			s.c.push(newPending(s.c, msg.addr, msg.login))
		}
		return nil // signed in: the root takes the session home
	}
	m := typedOnly(msg)
	if m == nil {
		return nil
	}
	var cmd tea.Cmd
	if s.withPW {
		s.password, cmd = s.password.Update(m)
		return cmd
	}
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

// ready checks the address before a way to prove it is chosen.
func (s *signIn) ready() (string, bool) {
	if s.sending != "" {
		return "", false
	}
	s.tried = true
	if s.problem = s.check(); s.problem != "" {
		return "", false
	}
	return strings.TrimSpace(s.input.Value()), true
}

func (s *signIn) sendCode() tea.Cmd {
	addr, ok := s.ready()
	if !ok {
		return nil
	}
	if address.LooksLikeWallet(addr) {
		// A wallet gets no code: it signs a challenge.
		s.sending = "asking for a message to sign…"
		return s.c.write(func(ctx context.Context, svc *flows.Service, dev flows.Device) tea.Msg {
			ch, err := svc.RequestWalletSignIn(ctx, dev, addr)
			return challengeMsg{ch: ch, err: err}
		})
	}
	s.sending = "sending a code…"
	return s.c.write(func(ctx context.Context, svc *flows.Service, dev flows.Device) tea.Msg {
		iss, err := svc.RequestSignIn(ctx, dev, addr)
		return requestedMsg{iss: iss, err: err}
	})
}

func (s *signIn) sendLink() tea.Cmd {
	addr, ok := s.ready()
	if !ok {
		return nil
	}
	s.sending = "sending a link…"
	return s.c.write(func(ctx context.Context, svc *flows.Service, dev flows.Device) tea.Msg {
		sent, err := svc.RequestMagicLink(ctx, dev, addr)
		return linkSentMsg{sent: sent, err: err}
	})
}

func (s *signIn) openPassword() tea.Cmd {
	if _, ok := s.ready(); !ok {
		return nil
	}
	s.withPW = true
	s.input.Blur()
	return s.password.Focus()
}

func (s *signIn) closePassword() {
	s.withPW = false
	s.password.Reset()
	s.password.Blur()
}

func (s *signIn) passwordKey(msg tea.KeyPressMsg) tea.Cmd {
	k := s.c.keys
	switch {
	case key.Matches(msg, k.Cancel):
		if s.sending != "" {
			return nil
		}
		s.closePassword()
		s.problem = ""
		return s.input.Focus()
	case key.Matches(msg, k.Submit):
		return s.login()
	}
	if s.sending != "" {
		return nil
	}
	m := typedOnly(msg)
	if m == nil {
		return nil
	}
	if typing(m) {
		s.problem = ""
	}
	var cmd tea.Cmd
	s.password, cmd = s.password.Update(m)
	return cmd
}

// login is the one-stage login-or-register. The password leaves the
// field for the flow's call and the field is cleared at once.
func (s *signIn) login() tea.Cmd {
	addr, ok := s.ready()
	if !ok {
		return nil
	}
	pw := s.password.Value()
	s.password.Reset()
	if strings.TrimSpace(pw) == "" {
		s.problem = "Type your password first."
		return nil
	}
	s.sending = "signing in…"
	return s.c.write(func(ctx context.Context, svc *flows.Service, dev flows.Device) tea.Msg {
		l, err := svc.LoginOrRegister(ctx, dev, addr, pw)
		return loginMsg{addr: addr, login: l, err: err}
	})
}

func (s *signIn) View() string {
	st := s.c.st
	out := st.heading.Render("Sign in or sign up") + "\n\n" +
		wrap("Type your email address, or your phone number with + and its country code, then choose how to prove it is yours. The first time, this makes you an account.", s.width) +
		"\n\n" + st.label.Render("Email address or phone number") + "\n" + s.input.View() + "\n\n"
	if s.withPW {
		out += st.label.Render("Password") + "\n" + s.password.View() + "\n\n"
	}
	switch {
	case s.problem != "":
		out += st.bad.Render(wrap("✗ "+s.problem, s.width))
	case s.sending != "":
		out += st.faint.Render(s.sending)
	case s.withPW:
		out += st.faint.Render(wrap("enter signs in with this password; if the address is new, it makes an account with it and sends a link to confirm the address", s.width))
	case address.LooksLikeWallet(s.input.Value()):
		out += st.key.Render("enter ") + "  " + "show the message to sign with this wallet"
	default:
		ways := [][2]string{
			{"enter ", "send a one-time code"},
			{"ctrl+l", "send a sign-in link, to open in a browser"},
			{"ctrl+p", "use a password"},
		}
		if ps := s.c.svc.Providers(); len(ps) > 0 {
			ways = append(ways, [2]string{"ctrl+o", providerLine(ps)})
		}
		for i, w := range ways {
			if i > 0 {
				out += "\n"
			}
			out += st.key.Render(w[0]) + "  " + w[1]
		}
	}
	return out
}
