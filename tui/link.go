package tui

import (
	"context"
	"strings"

	"charm.land/bubbles/v2/key"
	"charm.land/bubbles/v2/textinput"
	tea "charm.land/bubbletea/v2"

	"github.com/attest-dev/attest/flows"
	"github.com/attest-dev/attest/internal/inert"
)

// Linking a device: the new device shows a short code (link), a device
// already signed in types it (approve), and the new device moves on by
// itself, told by the flows' watch (root.visited).

// link shows, on a signed-out device, the code that links it to an
// account, with its one-minute countdown; a lapsed code is replaced on
// request.
type link struct {
	c       *common
	code    flows.DeviceLink
	asking  bool
	problem string

	width, height int
}

// linkMsg is the result of asking for a link code.
type linkMsg struct {
	link flows.DeviceLink
	err  error
}

func newLink(c *common) *link { return &link{c: c} }

func (l *link) Init() tea.Cmd             { return l.request() }
func (l *link) SetSize(width, height int) { l.width, l.height = width, height }
func (l *link) Title() string             { return "link this device" }
func (l *link) Focused() bool             { return false }

func (l *link) lapsed() bool {
	return l.code.Code != "" && !l.c.now().Before(l.code.Expires)
}

// canRenew: a new code only once the last one lapsed (or none came), so
// that holding ctrl+r does not fill the ledger.
func (l *link) canRenew() bool { return !l.asking && (l.code.Code == "" || l.lapsed()) }

func (l *link) Keys() helpKeys {
	renew := with(l.c.keys.Resend, "ctrl+r", "new code")
	renew.SetEnabled(l.canRenew())
	b := []key.Binding{renew}
	return helpKeys{short: b, full: [][]key.Binding{b}}
}

func (l *link) request() tea.Cmd {
	l.asking, l.problem = true, ""
	return l.c.write(func(ctx context.Context, svc *flows.Service, dev flows.Device) tea.Msg {
		dl, err := svc.RequestDeviceLink(ctx, dev)
		return linkMsg{link: dl, err: err}
	})
}

func (l *link) Update(msg tea.Msg) tea.Cmd {
	switch msg := msg.(type) {
	case linkMsg:
		l.asking = false
		if msg.err != nil {
			l.problem = problemText(msg.err)
			return nil
		}
		l.code = msg.link
	case tea.KeyPressMsg:
		if key.Matches(msg, l.c.keys.Resend) && l.canRenew() {
			return l.request()
		}
	}
	return nil
}

// spaced writes a code with room between its characters, to be read off
// one screen and typed on another.
func spaced(code string) string {
	return strings.Join(strings.Split(code, ""), " ")
}

func (l *link) View() string {
	st := l.c.st
	now := l.c.now()
	out := st.heading.Render("Link this device to your account") + "\n\n"
	switch {
	case l.problem != "":
		return out + st.bad.Render(wrap("✗ "+l.problem, l.width))
	case l.code.Code == "":
		return out + st.faint.Render("asking for a code…")
	}
	out += st.big.Render(spaced(inert.String(l.code.Code))) + "\n\n"
	f := fields{st: st, width: l.width}
	if l.lapsed() {
		f.add("Expires", st.bad.Render("expired "+flows.When(l.code.Expires, now)))
	} else {
		f.add("Expires", flows.When(l.code.Expires, now))
	}
	out += f.String() + "\n\n" +
		wrap("Enter this code on a device that is already signed in (account → approve a device).", l.width) + "\n\n"
	switch {
	case l.asking:
		out += st.faint.Render("asking for a new code…")
	case l.lapsed():
		out += st.warn.Render("This code has lapsed. ") + st.key.Render("ctrl+r") + " shows a new one."
	default:
		out += st.faint.Render(wrap("This screen moves on by itself once the code is approved.", l.width))
	}
	return out
}

// approve takes, on a signed-in device, the code a new device shows, and
// links that device: its key is remembered for the account and it is
// signed in. It is a protected action.
type approve struct {
	c       *common
	input   textinput.Model
	busy    bool
	problem string
	done    string // the device linked last

	width, height int
}

// approvedMsg is the result of approving a link code.
type approvedMsg struct {
	device string
	err    error
}

func (m approvedMsg) failure() error { return m.err }

func newApprove(c *common) *approve {
	a := &approve{c: c}
	a.input = newField(32)
	a.input.Placeholder = "K7QX-M2PA"
	a.restyle()
	return a
}

func (a *approve) restyle()      { a.input.SetStyles(a.c.st.input) }
func (a *approve) Init() tea.Cmd { return a.input.Focus() }
func (a *approve) Title() string { return "approve a device" }
func (a *approve) Focused() bool { return true }

func (a *approve) SetSize(width, height int) {
	a.width, a.height = width, height
	a.input.SetWidth(20)
}

func (a *approve) Keys() helpKeys {
	k := a.c.keys
	b := []key.Binding{with(k.Submit, "enter", "approve"), k.Back}
	return helpKeys{short: b, full: [][]key.Binding{b}}
}

func (a *approve) Update(msg tea.Msg) tea.Cmd {
	switch msg := msg.(type) {
	case tea.KeyPressMsg:
		switch k := a.c.keys; {
		case key.Matches(msg, k.Back):
			a.c.back()
			return nil
		case key.Matches(msg, k.Submit):
			return a.submit()
		}
	case approvedMsg:
		a.busy = false
		if msg.err != nil {
			a.problem = problemText(msg.err)
			return nil
		}
		a.done = msg.device
		a.input.Reset()
		return nil
	}
	m := typedOnly(msg)
	if m == nil {
		return nil
	}
	var cmd tea.Cmd
	a.input, cmd = a.input.Update(m)
	if _, ok := m.(tea.KeyPressMsg); ok {
		a.problem = ""
	}
	return cmd
}

func (a *approve) submit() tea.Cmd {
	typed := strings.TrimSpace(a.input.Value())
	if a.busy {
		return nil
	}
	if typed == "" {
		a.problem = "Type the code the new device shows first."
		return nil
	}
	a.busy, a.problem, a.done = true, "", ""
	return a.c.protected("approve the device showing "+inert.String(typed), func(ctx context.Context, svc *flows.Service, dev flows.Device) tea.Msg {
		tag, err := svc.ApproveDeviceLink(ctx, dev, typed)
		return approvedMsg{device: tag, err: err}
	})
}

func (a *approve) View() string {
	st := a.c.st
	var status string
	switch {
	case a.busy:
		status = st.faint.Render("approving…")
	case a.problem != "":
		status = st.bad.Render(wrap("✗ "+a.problem, a.width))
	case a.done != "":
		status = st.ok.Render(wrap("✓ Linked the device with key "+shortTag(a.done)+": it is signed in to this account now, and its key is remembered.", a.width))
	default:
		status = st.faint.Render("enter approves; only approve a device you are holding")
	}
	return st.heading.Render("Approve a new device") + "\n\n" +
		wrap("On the new device, press l on its home screen: it shows a code for one minute. Type that code here to sign the device in to this account.", a.width) +
		"\n\n" + st.label.Render("Link code") + "\n" + a.input.View() + "\n\n" + status
}
