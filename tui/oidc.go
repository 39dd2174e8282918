package tui

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"
	"charm.land/lipgloss/v2"

	"github.com/attest-dev/attest/flows"
	"github.com/attest-dev/attest/flows/address"
	"github.com/attest-dev/attest/flows/openid"
	"github.com/attest-dev/attest/internal/inert"
)

// Sign-in with an OpenID Provider. The sign-in screen lists the
// providers (ctrl+o); with several, a chooser picks one. The waiting
// screen starts the attempt and shows what to do: with the device grant,
// the provider's URL and the code to enter there; with the code flow, a
// link and the characters its page asks for, big, as for a magic link:
// only this screen shows them (flows.ConfirmOIDCChecked), so a start link
// someone else sends cannot sign that someone in. Either way the screen
// moves on by itself once the provider has answered, or says why the
// attempt ended (a wrong answer on the link's page, another browser).

// providerChooser lists the configured providers, numbered.
type providerChooser struct {
	c             *common
	purpose       string // flows.PurposeSignIn (the default) or PurposeStepUp
	providers     []flows.ProviderInfo
	problem       string
	width, height int
}

func newProviderChooser(c *common, ps []flows.ProviderInfo) *providerChooser {
	return &providerChooser{c: c, providers: ps}
}

func (p *providerChooser) Init() tea.Cmd             { return nil }
func (p *providerChooser) SetSize(width, height int) { p.width, p.height = width, height }
func (p *providerChooser) Title() string             { return "sign in with a provider" }
func (p *providerChooser) Focused() bool             { return false }

func (p *providerChooser) Keys() helpKeys {
	pick := key.NewBinding(key.WithKeys("1"), key.WithHelp("1-9", "choose"))
	b := []key.Binding{pick}
	return helpKeys{short: b, full: [][]key.Binding{b}}
}

func (p *providerChooser) Update(msg tea.Msg) tea.Cmd {
	k, ok := msg.(tea.KeyPressMsg)
	if !ok {
		return nil
	}
	n, err := strconv.Atoi(k.String())
	if err != nil || n < 1 || n > len(p.providers) {
		return nil
	}
	pr := p.providers[n-1]
	if !pr.Available {
		p.problem = inert.String(pr.DisplayName) + " is unavailable right now; choose another."
		return nil
	}
	purpose := p.purpose
	if purpose == "" {
		purpose = flows.PurposeSignIn
	}
	p.c.back() // the chosen provider's screen takes the chooser's place
	p.c.push(newOIDCWait(p.c, pr, purpose))
	return nil
}

func (p *providerChooser) View() string {
	st := p.c.st
	out := st.heading.Render("Sign in with a provider") + "\n\n" +
		wrap("Your account at the provider signs you in here; the first time, it makes you an account.", p.width) + "\n\n"
	for i, pr := range p.providers {
		line := st.key.Render(strconv.Itoa(i+1)) + "  " + inert.String(pr.DisplayName)
		if !pr.Available {
			line += st.faint.Render("  unavailable right now")
		}
		out += line + "\n"
	}
	if p.problem != "" {
		out += "\n" + st.bad.Render(wrap("✗ "+p.problem, p.width))
	}
	return out
}

// oidcWait starts an attempt with a provider and waits for its outcome.
type oidcWait struct {
	c        *common
	provider flows.ProviderInfo
	purpose  string

	started bool // the start came back
	st      flows.OIDCStart
	modules [][]bool // the QR code of the device grant's complete URL
	problem string
	cancel  context.CancelFunc // ends the wait when the screen is left

	width, height int
}

// Messages of the waiting screen.
type (
	oidcStartedMsg struct {
		st  flows.OIDCStart
		err error
	}
	oidcDoneMsg struct {
		ticket string
		res    flows.OIDCResult
		err    error
	}
)

func (m oidcStartedMsg) failure() error { return m.err }

func newOIDCWait(c *common, p flows.ProviderInfo, purpose string) *oidcWait {
	return &oidcWait{c: c, provider: p, purpose: purpose}
}

func (o *oidcWait) Init() tea.Cmd { return o.start() }

func (o *oidcWait) start() tea.Cmd {
	o.started, o.problem, o.st = false, "", flows.OIDCStart{}
	name, purpose := o.provider.Name, o.purpose
	return o.c.protected("use "+o.provider.DisplayName, func(ctx context.Context, svc *flows.Service, dev flows.Device) tea.Msg {
		st, err := svc.StartOIDC(ctx, dev, name, purpose)
		return oidcStartedMsg{st: st, err: err}
	})
}

func (o *oidcWait) SetSize(width, height int) { o.width, o.height = width, height }
func (o *oidcWait) Title() string             { return "with " + inert.String(o.provider.DisplayName) }
func (o *oidcWait) Focused() bool             { return false }

func (o *oidcWait) Keys() helpKeys {
	again := with(o.c.keys.Resend, "ctrl+r", "start again")
	again.SetEnabled(o.problem != "")
	b := []key.Binding{again}
	return helpKeys{short: b, full: [][]key.Binding{b}}
}

// leaver is a screen with work under way that must end when it leaves
// the stack (root.left, and the way home).
type leaver interface{ leave() }

// leave ends the wait for the provider.
func (o *oidcWait) leave() {
	if o.cancel != nil {
		o.cancel()
		o.cancel = nil
	}
}

func (o *oidcWait) Update(msg tea.Msg) tea.Cmd {
	switch msg := msg.(type) {
	case tea.KeyPressMsg:
		if key.Matches(msg, o.c.keys.Resend) && o.problem != "" {
			return o.start()
		}
	case oidcStartedMsg:
		if msg.err != nil {
			o.problem = problemText(msg.err)
			return nil
		}
		o.started, o.st, o.modules = true, msg.st, nil
		if msg.st.VerificationURIComplete != "" {
			// A phone scans it rather than typing the URL and the code;
			// without it (encoding failed) the URL and code still do.
			o.modules, _ = qrModules(msg.st.VerificationURIComplete)
		}
		// The wait is no write: it can take minutes, and the root must
		// keep applying what it reads meanwhile.
		ctx, cancel := context.WithCancel(o.c.ctx)
		o.cancel = cancel
		svc, dev, st := o.c.svc, o.c.dev, msg.st
		return func() tea.Msg {
			res, err := svc.WaitOIDC(ctx, dev, st)
			return oidcDoneMsg{ticket: st.Ticket, res: res, err: err}
		}
	case oidcDoneMsg:
		if msg.ticket != o.st.Ticket {
			return nil // an attempt this screen gave up
		}
		o.leave()
		if msg.err != nil {
			o.problem = problemText(msg.err)
			return o.c.read()
		}
		return tea.Batch(o.done(msg.res), o.c.read())
	}
	return nil
}

// done routes the session on after the provider answered.
func (o *oidcWait) done(res flows.OIDCResult) tea.Cmd {
	name := inert.String(res.Provider)
	note := ""
	if res.Note != "" {
		note = " " + inert.String(res.Note)
	}
	switch {
	case o.purpose == flows.PurposeLink:
		o.c.back()
		o.c.tell(name + " is linked: it signs in to this account from now on." + note)
	case o.purpose == flows.PurposeStepUp:
		// Back on the step-up screen, the step-up lands as a write, so
		// the root carries on with the action that asked for it.
		o.c.back()
		until := res.Entered.StepUpUntil
		return o.c.write(func(context.Context, *flows.Service, flows.Device) tea.Msg {
			return steppedUpMsg{until: until}
		})
	case res.Entered.Visitor.Waiting != nil:
		// The account's authenticator app holds the sign-in: the root
		// asks for its code when it reads the device (root.visited).
	default:
		msg := welcome(res.Entered)
		if !strings.HasSuffix(msg, ".") {
			msg += "."
		}
		if res.Email != "" {
			msg += " " + inert.String(res.Email) + " is on your account, confirmed by " + name + "."
		}
		o.c.home(msg + note)
	}
	return nil
}

func (o *oidcWait) View() string {
	st := o.c.st
	name := inert.String(o.provider.DisplayName)
	now := o.c.now()
	out := st.heading.Render(wrap(map[string]string{
		flows.PurposeSignIn: "Sign in with " + name,
		flows.PurposeLink:   "Link " + name + " to your account",
		flows.PurposeStepUp: "Step up with " + name,
	}[o.purpose], o.width)) + "\n\n"
	switch {
	case o.problem != "":
		return out + st.bad.Render(wrap("✗ "+o.problem, o.width)) + "\n\n" +
			st.faint.Render(wrap("ctrl+r starts again; esc goes back.", o.width))
	case !o.started:
		return out + st.faint.Render("asking "+name+"…")
	}
	if o.st.Flow == openid.FlowDevice && o.modules != nil {
		// The code beside the words, when the window has room for both.
		cols, rows := qrSize(len(o.modules))
		if textW := o.width - cols - 2; textW >= 34 && o.height >= rows {
			qr := drawQR(o.modules, st.qrLight)
			for i, r := range qr {
				qr[i] = st.qr.Render(r)
			}
			return lipgloss.JoinHorizontal(lipgloss.Top, out+o.deviceText(textW, true), "  ", strings.Join(qr, "\n"))
		}
	}
	if o.st.Flow == openid.FlowDevice {
		return out + o.deviceText(o.width, false)
	}
	f := fields{st: st, width: o.width}
	check := inert.String(o.st.Check)
	out += wrap(fmt.Sprintf("Open this link, type these characters on its page and continue with %s:", name), o.width) + "\n" +
		st.key.Render(wrap(inert.String(o.st.Link), o.width)) + "\n\n" + labelBox(st, check) + "\n\n"
	f.add("Check", check+st.faint.Render(" · type these on its page, never give them to anyone"))
	o.expiry(&f, now)
	out += f.String() + "\n\n"
	return out + st.faint.Render(wrap("This screen moves on by itself once "+name+" has answered.", o.width))
}

func (o *oidcWait) expiry(f *fields, now time.Time) {
	if !now.Before(o.st.Expires) {
		f.add("Expires", o.c.st.bad.Render("expired "+flows.When(o.st.Expires, now)))
	} else {
		f.add("Expires", flows.When(o.st.Expires, now))
	}
}

// deviceText is what the device grant asks of the person, in width
// columns; withQR says the QR code is beside it.
func (o *oidcWait) deviceText(width int, withQR bool) string {
	st := o.c.st
	name := inert.String(o.provider.DisplayName)
	out := wrap("On your phone or computer, open", width) + "\n" +
		st.key.Render(wrap(inert.String(o.st.VerificationURI), width)) + "\n" +
		wrap("and enter this code:", width) + "\n\n" + labelBox(st, inert.String(o.st.UserCode)) + "\n\n"
	if withQR {
		out += wrap("or scan the QR code with your phone.", width) + "\n\n"
	}
	f := fields{st: st, width: width}
	o.expiry(&f, o.c.now())
	return out + f.String() + "\n\n" + st.faint.Render(wrap("This screen moves on by itself once "+name+" has answered.", width))
}

// providerLine is the sign-in screen's line for the providers.
func providerLine(ps []flows.ProviderInfo) string {
	names := make([]string, 0, len(ps))
	for _, p := range ps {
		n := inert.String(p.DisplayName)
		if !p.Available {
			n += " (unavailable)"
		}
		names = append(names, n)
	}
	return "sign in with " + strings.Join(names, ", ")
}

// chooseProvider is ctrl+o on the sign-in screen: the only provider at
// once, or the chooser.
func chooseProvider(c *common) { chooseProviderFor(c, flows.PurposeSignIn) }

// chooseProviderFor is chooseProvider for a sign-in, or a step-up with a
// linked provider.
func chooseProviderFor(c *common, purpose string) {
	ps := c.svc.Providers()
	switch {
	case len(ps) == 1 && ps[0].Available:
		c.push(newOIDCWait(c, ps[0], purpose))
	case len(ps) > 0:
		ch := newProviderChooser(c, ps)
		ch.purpose = purpose
		c.push(ch)
	}
}

// canProvider reports whether a provider can step this account up: one
// is configured, and the account has a provider's identity linked.
func (s *stepUp) canProvider() bool {
	if len(s.c.svc.Providers()) == 0 {
		return false
	}
	for _, a := range s.c.visitor.Addresses {
		if a.Kind == address.OIDC && a.Confirmed {
			return true
		}
	}
	return false
}
