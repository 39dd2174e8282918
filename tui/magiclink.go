package tui

import (
	"context"
	"time"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"

	"github.com/attest-dev/attest/flows"
	"github.com/attest-dev/attest/internal/inert"
)

// magicLink waits for a sign-in link to be used. The link opens a page in
// a browser that asks for the characters this screen shows, big, and
// signs this session in when they are typed and its one button pressed:
// nothing else shows them, so a link someone else asked for cannot sign
// that someone in with its holder's press (flows.ConfirmLinkChecked). The link
// works only while this session watches the device, which the root does
// for as long as the session lives, and the root moves the session on
// when the flows poke it (root.visited).
type magicLink struct {
	c    *common
	addr string // as typed, to ask again
	sent flows.LinkSent

	resending bool
	ended     bool      // a wrong check on the link's page ended it
	note      string    // what the last ctrl+r did
	problem   string    // why it did nothing
	nextAt    time.Time // when the governor lets another link go

	width, height int
}

func newMagicLink(c *common, addr string, sent flows.LinkSent) *magicLink {
	return &magicLink{c: c, addr: addr, sent: sent, nextAt: sent.NextAt}
}

// linkRefusedMsg says whether a wrong check ended the link with ticket.
type linkRefusedMsg struct {
	ticket  string
	refused bool
}

// linkRefused asks the flows whether a wrong check ended the link with
// ticket; an error reads as not (the link's expiry still ends the wait).
func (c *common) linkRefused(ticket string) tea.Cmd {
	ctx, svc := c.ctx, c.svc
	return func() tea.Msg {
		refused, err := svc.LinkRefused(ctx, ticket)
		return linkRefusedMsg{ticket: ticket, refused: err == nil && refused}
	}
}

// linkEndedText is what a waiting screen says once a wrong check ended
// its link.
const linkEndedText = "A wrong answer on the link's page ended it, and nobody was signed in by it. If that was not you, someone else opened the message: never give anyone these characters."

func (m *magicLink) poked() tea.Cmd { return m.c.linkRefused(m.sent.Ticket) }

func (m *magicLink) linked(v flows.Visitor) string {
	return "Signed in with the link as " + displayName(v) + "."
}

func (m *magicLink) Init() tea.Cmd             { return nil }
func (m *magicLink) SetSize(width, height int) { m.width, m.height = width, height }
func (m *magicLink) Title() string             { return "sign-in link" }
func (m *magicLink) Focused() bool             { return false }

func (m *magicLink) expired() bool { return !m.c.now().Before(m.sent.Expires) }

func (m *magicLink) canResend() bool { return !m.resending && !m.c.now().Before(m.nextAt) }

func (m *magicLink) Keys() helpKeys {
	resend := with(m.c.keys.Resend, "ctrl+r", "new link")
	resend.SetEnabled(m.canResend()) // hidden until the governor allows it
	b := []key.Binding{resend}
	return helpKeys{short: b, full: [][]key.Binding{b}}
}

func (m *magicLink) Update(msg tea.Msg) tea.Cmd {
	switch msg := msg.(type) {
	case tea.KeyPressMsg:
		if key.Matches(msg, m.c.keys.Resend) && m.canResend() {
			return m.resend()
		}
	case linkRefusedMsg:
		if msg.ticket == m.sent.Ticket && msg.refused {
			m.ended = true
		}
	case linkSentMsg:
		m.resending = false
		if msg.err != nil {
			if p, ok := flows.AsProblem(msg.err); ok && !p.RetryAt.IsZero() {
				m.nextAt = p.RetryAt
			}
			m.problem = problemText(msg.err)
			return nil
		}
		m.sent, m.nextAt, m.ended = msg.sent, msg.sent.NextAt, false
		m.note = "Sent a new link: its page asks for " + inert.String(msg.sent.Check) + "."
	}
	return nil
}

func (m *magicLink) resend() tea.Cmd {
	m.resending, m.note, m.problem = true, "", ""
	addr := m.addr
	return m.c.write(func(ctx context.Context, svc *flows.Service, dev flows.Device) tea.Msg {
		sent, err := svc.RequestMagicLink(ctx, dev, addr)
		return linkSentMsg{sent: sent, err: err}
	})
}

func (m *magicLink) View() string {
	st := m.c.st
	now := m.c.now()
	to, check := inert.Address(m.sent.To), inert.String(m.sent.Check)
	heading := "Sign-in link sent to " + to
	if m.sent.Channel != "" {
		heading += " by " + string(m.sent.Channel)
	}
	out := st.heading.Render(wrap(heading, m.width)) + "\n\n" +
		wrap("Sent a sign-in link to "+to+". Open it, type these characters on its page and press its button:", m.width) + "\n\n" +
		labelBox(st, check) + "\n\n"

	f := fields{st: st, width: m.width}
	f.add("Check", check+st.faint.Render(" · only this terminal shows it: never give it to anyone"))
	if m.expired() {
		f.add("Expires", st.bad.Render("expired "+flows.When(m.sent.Expires, now)))
	} else {
		f.add("Expires", flows.When(m.sent.Expires, now))
	}
	switch {
	case m.resending:
		f.add("New link", st.faint.Render("asking…"))
	case m.canResend():
		f.add("New link", st.key.Render("ctrl+r")+" sends one")
	default:
		f.add("New link", st.faint.Render("can be sent at "+flows.When(m.nextAt, now)))
	}
	out += f.String() + "\n\n"

	switch {
	case m.problem != "":
		out += st.bad.Render(wrap("✗ "+m.problem, m.width))
	case m.ended:
		out += st.bad.Render(wrap("✗ "+linkEndedText, m.width))
	case m.expired():
		out += st.warn.Render(wrap("This link has expired and no longer signs anyone in. Send another to try again.", m.width))
	case m.note != "":
		out += st.ok.Render(wrap("✓ "+m.note, m.width)) + "\n" +
			st.faint.Render(wrap("This screen moves on by itself once the button is pressed.", m.width))
	default:
		out += st.faint.Render(wrap("This screen moves on by itself once the button is pressed.", m.width))
	}
	return out
}

// labelBox is a link's check written big: spaced, in a box, to be typed
// on the link's page.
func labelBox(st *styles, label string) string {
	return st.big.Render(spaced(label))
}
