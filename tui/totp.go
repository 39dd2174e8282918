package tui

import (
	"context"
	"fmt"
	"strings"

	"charm.land/bubbles/v2/key"
	"charm.land/bubbles/v2/textinput"
	tea "charm.land/bubbletea/v2"
	"charm.land/lipgloss/v2"

	"github.com/attest-dev/attest/flows"
	"github.com/attest-dev/attest/internal/inert"
)

// Authenticator apps on the screens: enrolling one (a QR code to scan, the
// key to type), the second factor a held sign-in waits for, and a step-up
// that asks for the app's code before sending one.

// Messages of the authenticator screens.
type (
	totpAddedMsg struct {
		e   flows.Enrolment
		err error
	}
	totpConfirmedMsg struct {
		codes []string
		err   error
	}
	// secondFactorMsg is the result of the app's code or a recovery code
	// on a held sign-in.
	secondFactorMsg struct {
		entered  flows.Entered
		recovery bool
		left     int
		err      error
	}
	totpRemovedMsg   struct{ err error }
	recoveryCodesMsg struct {
		codes []string
		err   error
	}
)

func (m totpAddedMsg) failure() error     { return m.err }
func (m totpConfirmedMsg) failure() error { return m.err }
func (m totpRemovedMsg) failure() error   { return m.err }
func (m recoveryCodesMsg) failure() error { return m.err }
func (m secondFactorMsg) result() (flows.Visitor, bool) {
	return m.entered.Visitor, m.err == nil
}

// isTOTP tells the app's 6 digits from a recovery code in one field.
func isTOTP(typed string) bool {
	d := strings.NewReplacer(" ", "", "-", "").Replace(typed)
	return len(d) == 6 && strings.Trim(d, "0123456789") == ""
}

// fullWindow is a screen that draws the whole window itself, without the
// title and help bars, when it needs every row (a QR code at 80x24).
type fullWindow interface {
	fullWindow(width, height int) bool
}

// awaitSecondFactor shows the screen a held sign-in waits on.
func (r *root) awaitSecondFactor() {
	r.c.home("")
	r.c.push(newSecondFactor(r.c))
}

// --- enrolment ---

type enrolState int

const (
	enrolStarting enrolState = iota
	enrolScanning
	enrolDone
)

type totpEnrol struct {
	c       *common
	state   enrolState
	e       flows.Enrolment
	modules [][]bool
	codes   []string
	input   textinput.Model

	checking bool
	problem  string

	width, height int // the body's size, or the window's in full-window mode
	winW, winH    int
}

func newTOTPEnrol(c *common) *totpEnrol {
	s := &totpEnrol{c: c, input: newField(16)}
	s.input.Placeholder = "6 digits"
	s.restyle()
	return s
}

func (s *totpEnrol) restyle()      { s.input.SetStyles(s.c.st.input) }
func (s *totpEnrol) Title() string { return "authenticator app" }
func (s *totpEnrol) Focused() bool { return s.state == enrolScanning }

func (s *totpEnrol) Init() tea.Cmd {
	return s.c.protected("add an authenticator app", func(ctx context.Context, svc *flows.Service, dev flows.Device) tea.Msg {
		e, err := svc.AddTOTP(ctx, dev)
		return totpAddedMsg{e: e, err: err}
	})
}

func (s *totpEnrol) SetSize(width, height int) {
	s.width, s.height = width, height
	s.input.SetWidth(12)
}

// qrFits reports whether the code and its text fit the window: the code's
// columns and a text column of 30 beside it, and its rows.
func (s *totpEnrol) qrFits(width, height int) bool {
	if s.modules == nil {
		return false
	}
	cols, rows := qrSize(len(s.modules))
	return width >= cols+2+30 && height >= rows
}

func (s *totpEnrol) fullWindow(width, height int) bool {
	s.winW, s.winH = width, height
	return s.state == enrolScanning && s.qrFits(width, height)
}

func (s *totpEnrol) Keys() helpKeys {
	k := s.c.keys
	var b []key.Binding
	switch s.state {
	case enrolScanning:
		b = []key.Binding{with(k.Submit, "enter", "confirm"), with(k.Back, "esc", "cancel")}
	case enrolDone:
		b = []key.Binding{with(k.Submit, "enter", "done")}
	default:
		b = []key.Binding{k.Back}
	}
	return helpKeys{short: b, full: [][]key.Binding{b}}
}

func (s *totpEnrol) Update(msg tea.Msg) tea.Cmd {
	switch msg := msg.(type) {
	case totpAddedMsg:
		if msg.err != nil {
			s.problem = problemText(msg.err)
			return nil
		}
		modules, err := qrModules(msg.e.URI)
		if err != nil {
			s.problem = problemText(err)
			return nil
		}
		s.e, s.modules, s.state = msg.e, modules, enrolScanning
		return s.input.Focus()
	case totpConfirmedMsg:
		s.checking = false
		if msg.err != nil {
			s.problem = problemText(msg.err)
			s.input.Reset()
			return nil
		}
		s.codes, s.state, s.problem = msg.codes, enrolDone, ""
		s.input.Blur()
		return nil
	case tea.KeyPressMsg:
		k := s.c.keys
		switch {
		case s.state == enrolDone && (key.Matches(msg, k.Submit) || key.Matches(msg, k.Back)):
			s.c.back()
			s.c.tell("The authenticator app is on: signing in now asks for its code.")
			return nil
		case key.Matches(msg, k.Back):
			s.c.back() // an enrolment left unconfirmed changes nothing
			return nil
		case s.state == enrolScanning && key.Matches(msg, k.Submit):
			return s.confirm()
		}
	}
	if s.state != enrolScanning || s.checking {
		return nil
	}
	m := typedOnly(msg)
	if m == nil {
		return nil
	}
	if typing(m) { // not a tick or a refresh
		s.problem = ""
	}
	var cmd tea.Cmd
	s.input, cmd = s.input.Update(m)
	return cmd
}

func (s *totpEnrol) confirm() tea.Cmd {
	typed := strings.TrimSpace(s.input.Value())
	if typed == "" {
		s.problem = "Type the 6-digit code your app shows first."
		return nil
	}
	s.checking, s.problem = true, ""
	return s.c.protected("add an authenticator app", func(ctx context.Context, svc *flows.Service, dev flows.Device) tea.Msg {
		codes, err := svc.ConfirmTOTP(ctx, dev, typed)
		return totpConfirmedMsg{codes: codes, err: err}
	})
}

// instructions is the text beside (or, in a small window, instead of)
// the QR code, wrapped to width.
func (s *totpEnrol) instructions(width int, small bool) string {
	st := s.c.st
	var b strings.Builder
	b.WriteString(st.heading.Render("Add an authenticator app") + "\n\n")
	if small {
		cols, rows := qrSize(len(s.modules))
		b.WriteString(st.warn.Render(wrap(fmt.Sprintf("This window is too small for the QR code (it needs %dx%d, this is %dx%d): make it larger to scan it, or type the key into the app.",
			cols+2+30, rows, s.winW, s.winH), width)) + "\n\n")
	} else {
		b.WriteString(wrap("Scan the code with Google Authenticator, Authy, 1Password or another app, or type the key:", width) + "\n\n")
	}
	groups := strings.Fields(flows.SecretGroups(s.e.Secret))
	half := (len(groups) + 1) / 2
	b.WriteString(st.heading.Render(strings.Join(groups[:half], " ")) + "\n")
	b.WriteString(st.heading.Render(strings.Join(groups[half:], " ")) + "\n\n")
	b.WriteString(st.label.Render("account ") + inert.String(s.e.Label) + "\n")
	b.WriteString(st.label.Render("issuer  ") + inert.String(s.e.Issuer) + "\n\n")
	b.WriteString(wrap("Then type the code it shows:", width) + "\n" + s.input.View() + "\n\n")
	switch {
	case s.checking:
		b.WriteString(st.faint.Render("checking…"))
	case s.problem != "":
		b.WriteString(st.bad.Render(wrap("✗ "+s.problem, width)))
	default:
		b.WriteString(st.faint.Render(wrap("enter confirms · esc cancels (nothing changes until confirmed)", width)))
	}
	return b.String()
}

func (s *totpEnrol) View() string {
	st := s.c.st
	switch s.state {
	case enrolStarting:
		if s.problem != "" {
			return st.bad.Render(wrap("✗ "+s.problem, s.width))
		}
		return st.faint.Render("starting…")
	case enrolDone:
		var b strings.Builder
		b.WriteString(st.heading.Render("Recovery codes") + "\n\n")
		b.WriteString(wrap("Shown this once. Each works once where the app's code would, if the phone is lost. Keep them apart from it: printed, or in a password manager.", s.width) + "\n\n")
		for i, c := range s.codes {
			b.WriteString(fmt.Sprintf("  %2d. %s\n", i+1, st.heading.Render(c)))
		}
		b.WriteString("\n" + st.faint.Render("enter when they are saved"))
		return b.String()
	}
	if !s.qrFits(s.winW, s.winH) {
		return s.instructions(s.width, true)
	}
	// Full window: the code on the left, everything else beside it.
	cols, _ := qrSize(len(s.modules))
	rows := drawQR(s.modules, st.qrLight)
	for i, r := range rows {
		rows[i] = st.qr.Render(r)
	}
	text := s.instructions(max(s.winW-cols-2, 1), false)
	return lipgloss.JoinHorizontal(lipgloss.Top, strings.Join(rows, "\n"), "  ", text)
}

// --- the second factor of a held sign-in ---

type secondFactor struct {
	c        *common
	input    textinput.Model
	checking bool
	problem  string
	width    int
}

func newSecondFactor(c *common) *secondFactor {
	s := &secondFactor{c: c, input: newField(40)}
	s.input.Placeholder = "123456 or a recovery code"
	s.restyle()
	return s
}

func (s *secondFactor) restyle()         { s.input.SetStyles(s.c.st.input) }
func (s *secondFactor) Title() string    { return "second factor" }
func (s *secondFactor) Focused() bool    { return true }
func (s *secondFactor) Init() tea.Cmd    { return s.input.Focus() }
func (s *secondFactor) SetSize(w, _ int) { s.width = w; s.input.SetWidth(30) }

func (s *secondFactor) Keys() helpKeys {
	k := s.c.keys
	b := []key.Binding{with(k.Submit, "enter", "check"), with(k.Back, "esc", "give up")}
	return helpKeys{short: b, full: [][]key.Binding{b}}
}

func (s *secondFactor) lapsed() bool {
	w := s.c.visitor.Waiting
	return w == nil || !s.c.now().Before(w.Until)
}

func (s *secondFactor) Update(msg tea.Msg) tea.Cmd {
	switch msg := msg.(type) {
	case secondFactorMsg:
		s.checking = false
		if msg.err != nil {
			s.problem = problemText(msg.err)
			s.input.Reset()
		}
		return nil // signed in: the root takes the session home
	case tea.KeyPressMsg:
		k := s.c.keys
		switch {
		case key.Matches(msg, k.Back):
			s.c.back()
			return nil
		case key.Matches(msg, k.Submit):
			return s.submit()
		}
	}
	if s.checking {
		return nil
	}
	m := typedOnly(msg)
	if m == nil {
		return nil
	}
	if typing(m) { // not a tick or a refresh
		s.problem = ""
	}
	var cmd tea.Cmd
	s.input, cmd = s.input.Update(m)
	return cmd
}

func (s *secondFactor) submit() tea.Cmd {
	typed := strings.TrimSpace(s.input.Value())
	s.input.Reset()
	if typed == "" || s.checking || s.lapsed() {
		return nil
	}
	s.checking, s.problem = true, ""
	return s.c.write(func(ctx context.Context, svc *flows.Service, dev flows.Device) tea.Msg {
		if isTOTP(typed) {
			e, err := svc.EnterTOTP(ctx, dev, typed)
			return secondFactorMsg{entered: e, err: err}
		}
		r, err := svc.UseRecoveryCode(ctx, dev, typed)
		if err == nil && r.Entered == nil {
			err = &flows.Problem{Code: flows.ProblemNoCode, Msg: "This device is not waiting for a second factor any more."}
		}
		m := secondFactorMsg{recovery: true, left: r.Left, err: err}
		if r.Entered != nil {
			m.entered = *r.Entered
		}
		return m
	})
}

func (s *secondFactor) View() string {
	st := s.c.st
	now := s.c.now()
	w := s.c.visitor.Waiting
	var b strings.Builder
	b.WriteString(st.heading.Render("Waiting for your authenticator app") + "\n\n")
	if s.lapsed() {
		b.WriteString(st.bad.Render(wrap("This sign-in waited 10 minutes for the app's code and lapsed. Sign in again.", s.width)))
		return b.String()
	}
	b.WriteString(wrap(fmt.Sprintf("Signed in %s, but this account has an authenticator app: this device can do nothing with the account until you type the 6-digit code the app shows now.",
		methodWords(w.Method)), s.width) + "\n\n")
	f := fields{st: st, width: s.width}
	f.add("Waits until", flows.When(w.Until, now))
	f.add("Lost the phone?", "type one of your recovery codes instead")
	b.WriteString(f.String() + "\n\n" + st.label.Render("Code") + "  " + s.input.View() + "\n\n")
	switch {
	case s.checking:
		b.WriteString(st.faint.Render("checking…"))
	case s.problem != "":
		b.WriteString(st.bad.Render(wrap("✗ "+s.problem, s.width)))
	default:
		b.WriteString(st.faint.Render("enter checks the code"))
	}
	return b.String()
}

// methodWords says how a first factor was proven.
func methodWords(m string) string {
	switch m {
	case "code":
		return "with a code"
	case "ssh":
		return "with this device's key"
	case methodDeviceLink:
		return "by a device link"
	case methodPassword:
		return "with your password"
	case methodLink:
		return "with a sign-in link"
	}
	return "by " + inert.String(m)
}

// --- step-up: the app's code first ---

// stepUpScreen is the step-up the root and the account screen open: the
// app's code (or a recovery code) when the account has an authenticator,
// with a code to an address (or a wallet's signature) one key away;
// otherwise the code at once.
func stepUpScreen(c *common, what string) screen {
	if c.visitor.Authenticator != nil {
		return newTOTPStepUp(c, what)
	}
	return newStepUp(c, what)
}

type totpStepUp struct {
	c        *common
	what     string
	input    textinput.Model
	checking bool
	problem  string
	width    int
	height   int
	// inner is the code step-up, once asked for: everything goes to it.
	inner *stepUp
}

func newTOTPStepUp(c *common, what string) *totpStepUp {
	s := &totpStepUp{c: c, what: what, input: newField(40)}
	s.input.Placeholder = "123456 or a recovery code"
	s.restyle()
	return s
}

func (s *totpStepUp) restyle() {
	s.input.SetStyles(s.c.st.input)
	if s.inner != nil {
		s.inner.restyle()
	}
}

func (s *totpStepUp) Title() string {
	if s.inner != nil {
		return s.inner.Title()
	}
	return "step up · authenticator app"
}

func (s *totpStepUp) Focused() bool { return s.inner == nil || s.inner.Focused() }

func (s *totpStepUp) Init() tea.Cmd {
	if s.inner != nil {
		return s.inner.Init()
	}
	return s.input.Focus()
}

func (s *totpStepUp) SetSize(width, height int) {
	s.width, s.height = width, height
	s.input.SetWidth(30)
	if s.inner != nil {
		s.inner.SetSize(width, height)
	}
}

func (s *totpStepUp) Keys() helpKeys {
	if s.inner != nil {
		return s.inner.Keys()
	}
	k := s.c.keys
	useWallet := k.UseWallet
	useWallet.SetEnabled(s.inner == nil && hasWallet(s.c))
	b := []key.Binding{with(k.Submit, "enter", "check"), with(k.Resend, "ctrl+r", "send a code instead"), useWallet, k.Back}
	return helpKeys{short: b, full: [][]key.Binding{b}}
}

func (s *totpStepUp) Update(msg tea.Msg) tea.Cmd {
	if s.inner != nil {
		return s.inner.Update(msg)
	}
	switch msg := msg.(type) {
	case steppedUpMsg:
		s.checking = false
		if msg.err != nil {
			s.problem = problemText(msg.err)
		}
		return nil // stepped up: the root carries on
	case tea.KeyPressMsg:
		k := s.c.keys
		switch {
		case key.Matches(msg, k.Back):
			s.c.back()
			return nil
		case key.Matches(msg, k.Resend) && !s.checking:
			s.inner = newStepUp(s.c, s.what)
			s.inner.SetSize(s.width, s.height)
			return s.inner.Init()
		case key.Matches(msg, k.UseWallet) && !s.checking:
			inner := newStepUp(s.c, s.what)
			if !inner.canWallet() {
				return nil
			}
			inner.walletFirst = true
			s.inner = inner
			s.inner.SetSize(s.width, s.height)
			return s.inner.Init()
		case key.Matches(msg, k.Submit):
			return s.submit()
		}
	}
	if s.checking {
		return nil
	}
	m := typedOnly(msg)
	if m == nil {
		return nil
	}
	if typing(m) { // not a tick or a refresh
		s.problem = ""
	}
	var cmd tea.Cmd
	s.input, cmd = s.input.Update(m)
	return cmd
}

func (s *totpStepUp) submit() tea.Cmd {
	typed := strings.TrimSpace(s.input.Value())
	s.input.Reset()
	if typed == "" || s.checking {
		return nil
	}
	s.checking, s.problem = true, ""
	return s.c.write(func(ctx context.Context, svc *flows.Service, dev flows.Device) tea.Msg {
		if isTOTP(typed) {
			until, err := svc.StepUpWithTOTP(ctx, dev, typed)
			return steppedUpMsg{until: until, err: err}
		}
		r, err := svc.UseRecoveryCode(ctx, dev, typed)
		return steppedUpMsg{until: r.StepUpUntil, err: err}
	})
}

func (s *totpStepUp) View() string {
	if s.inner != nil {
		return s.inner.View()
	}
	st := s.c.st
	var b strings.Builder
	b.WriteString(st.heading.Render("Step up") + "\n\n")
	b.WriteString(wrap("A step-up proves it is you with a second factor and lets this device (and only this one) make protected changes for the next hour. Type the 6-digit code your authenticator app shows, or a recovery code.", s.width) + "\n")
	if s.what != "" {
		b.WriteString(st.faint.Render(wrap("Once it is right, this goes ahead: "+s.what+".", s.width)) + "\n")
	}
	b.WriteString("\n" + st.label.Render("Code") + "  " + s.input.View() + "\n\n")
	switch {
	case s.checking:
		b.WriteString(st.faint.Render("checking…"))
	case s.problem != "":
		b.WriteString(st.bad.Render(wrap("✗ "+s.problem, s.width)))
	default:
		b.WriteString(st.faint.Render(wrap("enter checks · "+st.key.Render("ctrl+r")+" sends a code to one of your addresses instead", s.width)))
		if hasWallet(s.c) {
			b.WriteString("\n" + st.faint.Render(wrap(st.key.Render("ctrl+w")+" signs a message with your wallet instead", s.width)))
		}
	}
	return b.String()
}

// --- managing an enrolled app, from the account screen ---

type totpManage struct {
	c       *common
	asking  bool
	busy    bool
	problem string
	codes   []string
	width   int
}

func newTOTPManage(c *common) *totpManage { return &totpManage{c: c} }

func (s *totpManage) Title() string    { return "authenticator app" }
func (s *totpManage) Focused() bool    { return s.asking }
func (s *totpManage) Init() tea.Cmd    { return nil }
func (s *totpManage) SetSize(w, _ int) { s.width = w }

func (s *totpManage) Keys() helpKeys {
	k := s.c.keys
	b := []key.Binding{with(k.Resend, "r", "new recovery codes"), with(k.Remove, "x", "remove the app"), k.Back}
	if s.asking {
		b = []key.Binding{k.Yes, key.NewBinding(key.WithKeys("n"), key.WithHelp("any other key", "no"))}
	}
	return helpKeys{short: b, full: [][]key.Binding{b}}
}

var newCodesKey = key.NewBinding(key.WithKeys("r"), key.WithHelp("r", "new recovery codes"))

func (s *totpManage) Update(msg tea.Msg) tea.Cmd {
	switch msg := msg.(type) {
	case recoveryCodesMsg:
		s.busy = false
		if msg.err != nil {
			s.problem = problemText(msg.err)
			return nil
		}
		s.codes, s.problem = msg.codes, ""
	case totpRemovedMsg:
		s.busy = false
		if msg.err != nil {
			s.problem = problemText(msg.err)
			return nil
		}
		s.c.back()
		s.c.tell("The authenticator app is removed; your addresses were told.")
	case tea.KeyPressMsg:
		k := s.c.keys
		if s.asking {
			s.asking = false
			if key.Matches(msg, k.Yes) {
				s.busy = true
				return s.c.protected("remove the authenticator app", func(ctx context.Context, svc *flows.Service, dev flows.Device) tea.Msg {
					return totpRemovedMsg{err: svc.RemoveTOTP(ctx, dev)}
				})
			}
			return nil
		}
		switch {
		case s.busy:
		case key.Matches(msg, newCodesKey):
			s.busy, s.problem = true, ""
			return s.c.protected("make new recovery codes", func(ctx context.Context, svc *flows.Service, dev flows.Device) tea.Msg {
				codes, err := svc.NewRecoveryCodes(ctx, dev)
				return recoveryCodesMsg{codes: codes, err: err}
			})
		case key.Matches(msg, k.Remove):
			s.asking, s.problem = true, ""
		case key.Matches(msg, k.Back):
			s.c.back()
		}
	}
	return nil
}

func (s *totpManage) View() string {
	st := s.c.st
	a := s.c.visitor.Authenticator
	var b strings.Builder
	b.WriteString(st.heading.Render("Authenticator app") + "\n\n")
	if a == nil {
		return b.String() + st.faint.Render("none")
	}
	f := fields{st: st, width: s.width}
	f.add("Since", flows.When(a.Since, s.c.now()))
	f.add("Recovery codes", fmt.Sprintf("%d left · r makes new ones (the old stop working)", a.RecoveryLeft))
	b.WriteString(f.String() + "\n\n")
	if s.codes != nil {
		b.WriteString(wrap("New recovery codes, shown this once:", s.width) + "\n")
		for i, c := range s.codes {
			b.WriteString(fmt.Sprintf("  %2d. %s\n", i+1, c))
		}
		b.WriteString("\n")
	}
	switch {
	case s.asking:
		b.WriteString(st.warn.Render(wrap("Remove the authenticator app and its recovery codes? Signing in will no longer ask for its code. y/N", s.width)))
	case s.busy:
		b.WriteString(st.faint.Render("working…"))
	case s.problem != "":
		b.WriteString(st.bad.Render(wrap("✗ "+s.problem, s.width)))
	}
	return b.String()
}

// openTOTP is the account screen's t: enrol an app, or manage the one
// there is.
func openTOTP(c *common) screen {
	if c.visitor.Authenticator != nil {
		return newTOTPManage(c)
	}
	return newTOTPEnrol(c)
}
