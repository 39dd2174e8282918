package tui

import (
	"context"
	"strings"
	"time"

	"charm.land/bubbles/v2/key"
	"charm.land/bubbles/v2/textinput"
	tea "charm.land/bubbletea/v2"

	"github.com/attest-dev/attest/flows"
	"github.com/attest-dev/attest/internal/inert"
)

// pending is the answer of the one-stage login-or-register whenever the
// password did not sign in: a new account was just registered with the
// address ([D]), one already waits for it ([C]), or the address has an
// account and the password was not its own ([B]). All read alike, so that
// the screen tells nobody whether the address has an account: "we sent a
// link" (a confirmation link or a sign-in link; only the address's holder
// sees which). The page of a link that went out just now asks for the
// characters this screen shows (and nothing else does). Sending the link again takes the
// password once more (the flows' ResendVerification), in a masked field
// that is cleared as soon as it is sent. The link signs this session in;
// the root moves it on (root.visited).
type pending struct {
	c    *common
	addr string // as typed
	to   string // as the flows show it
	link *flows.LinkSent

	asking   bool // the password field is open
	password textinput.Model
	sending  bool
	ended    bool // a wrong check on the link's page ended it
	note     string
	problem  string
	// nextAt is the governor's answer to sending again: no link before
	// then. It is not taken from the link [D] sent, so that [C], which
	// sent none, reads the same.
	nextAt time.Time

	width, height int
}

func newPending(c *common, addr string, l flows.Login) *pending {
	p := &pending{c: c, addr: addr, to: l.To, link: l.Link}
	if p.to == "" {
		p.to = addr
	}
	p.password = newPasswordField("the password you chose")
	p.restyle()
	return p
}

func (p *pending) restyle()      { p.password.SetStyles(p.c.st.input) }
func (p *pending) Init() tea.Cmd { return nil }
func (p *pending) SetSize(width, height int) {
	p.width, p.height = width, height
	p.password.SetWidth(max(width-4, 10))
}
func (p *pending) Title() string { return "follow the link" }
func (p *pending) Focused() bool { return p.asking }

func (p *pending) canResend() bool { return !p.sending && !p.c.now().Before(p.nextAt) }

func (p *pending) Keys() helpKeys {
	k := p.c.keys
	if p.asking {
		b := []key.Binding{with(k.Submit, "enter", "send again"), k.Cancel}
		return helpKeys{short: b, full: [][]key.Binding{b}}
	}
	resend := with(k.Resend, "ctrl+r", "send again")
	resend.SetEnabled(p.canResend())
	b := []key.Binding{resend}
	return helpKeys{short: b, full: [][]key.Binding{b}}
}

// linked is the news when the link signed this session in. Only the
// address's holder can press it, so it may say what the link was.
func (p *pending) linked(v flows.Visitor) string {
	if p.link != nil && p.link.Purpose == flows.PurposeConfirm {
		return "Welcome — your account is ready"
	}
	return "Signed in with the link as " + displayName(v) + "."
}

func (p *pending) poked() tea.Cmd {
	if p.link == nil {
		return nil
	}
	return p.c.linkRefused(p.link.Ticket)
}

func (p *pending) Update(msg tea.Msg) tea.Cmd {
	switch msg := msg.(type) {
	case linkRefusedMsg:
		if p.link != nil && msg.ticket == p.link.Ticket && msg.refused {
			p.ended = true
		}
		return nil
	case tea.KeyPressMsg:
		k := p.c.keys
		if !p.asking {
			if key.Matches(msg, k.Resend) && p.canResend() {
				p.asking, p.note, p.problem = true, "", ""
				return p.password.Focus()
			}
			return nil
		}
		switch {
		case key.Matches(msg, k.Cancel):
			if !p.sending {
				p.closeField()
			}
			return nil
		case key.Matches(msg, k.Submit):
			return p.resend()
		}
	case linkSentMsg:
		p.sending = false
		if msg.err != nil {
			if pr, ok := flows.AsProblem(msg.err); ok && !pr.RetryAt.IsZero() {
				p.nextAt = pr.RetryAt
				p.closeField() // nothing to type until then
			}
			p.problem = problemText(msg.err)
			return nil
		}
		p.closeField()
		sent := msg.sent
		p.link, p.nextAt, p.ended = &sent, sent.NextAt, false
		p.note = "Sent a link again: its page asks for " + inert.String(sent.Check) + "."
		return nil
	}
	if !p.asking || p.sending {
		return nil
	}
	m := typedOnly(msg)
	if m == nil {
		return nil
	}
	if _, ok := m.(tea.KeyPressMsg); ok {
		p.problem = ""
	}
	var cmd tea.Cmd
	p.password, cmd = p.password.Update(m)
	return cmd
}

func (p *pending) closeField() {
	p.asking = false
	p.password.Reset()
	p.password.Blur()
}

// resend sends the registration's link again. The password leaves the
// field for the call and the field is cleared at once.
func (p *pending) resend() tea.Cmd {
	if p.sending {
		return nil
	}
	pw := p.password.Value()
	p.password.Reset()
	if strings.TrimSpace(pw) == "" {
		p.problem = "Type your password first."
		return nil
	}
	p.sending, p.problem = true, ""
	addr := p.addr
	return p.c.write(func(ctx context.Context, svc *flows.Service, dev flows.Device) tea.Msg {
		sent, err := svc.ResendVerification(ctx, dev, addr, pw)
		return linkSentMsg{sent: sent, err: err}
	})
}

// linkAway says what happens to the link if this screen goes, in words
// that fit every case: a sign-in link signs in only a waiting screen, a
// registration's link works within its lifetime whether or not one waits,
// for whoever has the characters its terminal showed (shown: this one).
func linkAway(shown bool) string {
	with := "the characters above"
	if !shown {
		with = "the characters its terminal showed"
	}
	return "If you close this, a link that makes your account still works with " + with +
		", and this device is signed in when it next connects; a link that signs in needs this screen open."
}

func (p *pending) View() string {
	st := p.c.st
	now := p.c.now()
	to := inert.Address(p.to)
	sent := "We sent a link to " + to + ": " + flows.LinkDoes + "."
	if p.link == nil {
		sent = "No new link could go to " + to + " just now (it had one moments ago); the latest one: " + flows.LinkDoes + "."
	}
	out := st.heading.Render("Follow the link") + "\n\n" +
		wrap("Not signed in with that password. "+sent, p.width) + "\n\n"
	if p.link != nil {
		check := inert.String(p.link.Check)
		out += wrap("Type these characters on its page, and never give them to anyone:", p.width) + "\n\n" +
			labelBox(st, check) + "\n\n"
		f := fields{st: st, width: p.width}
		if now.Before(p.link.Expires) {
			f.add("Expires", flows.When(p.link.Expires, now))
		} else {
			f.add("Expires", st.bad.Render("expired "+flows.When(p.link.Expires, now)))
		}
		out += f.String() + "\n\n"
	}
	switch {
	case p.asking:
		out += st.label.Render("Password, to send the link again") + "\n" + p.password.View() + "\n"
		switch {
		case p.sending:
			out += st.faint.Render("sending…")
		case p.problem != "":
			out += st.bad.Render(wrap("✗ "+p.problem, p.width))
		default:
			out += st.faint.Render("enter sends the link again; esc cancels")
		}
		return out
	case p.problem != "":
		out += st.bad.Render(wrap("✗ "+p.problem, p.width)) + "\n"
	case p.ended: // short: this screen has no line to spare
		out += st.bad.Render(wrap("✗ A wrong answer on its page ended the link; nobody was signed in.", p.width)) + "\n"
	case p.note != "":
		out += st.ok.Render(wrap("✓ "+p.note, p.width)) + "\n"
	}
	if p.canResend() {
		out += wrap("No link, or it expired? "+st.key.Render("ctrl+r")+" sends it again (it asks for your password).", p.width)
	} else {
		out += st.faint.Render(wrap("The link can be sent again at "+flows.When(p.nextAt, now)+".", p.width))
	}
	out += "\n" + st.faint.Render(wrap("This screen moves on by itself once the link's button is pressed. "+linkAway(p.link != nil), p.width))
	return out
}
