package tui

import (
	"context"
	"fmt"
	"strings"
	"time"

	"charm.land/bubbles/v2/key"
	"charm.land/bubbles/v2/textinput"
	tea "charm.land/bubbletea/v2"
	"charm.land/lipgloss/v2"

	"github.com/attest-dev/attest/flows"
	"github.com/attest-dev/attest/flows/address"
	"github.com/attest-dev/attest/internal/english"
	"github.com/attest-dev/attest/internal/inert"
)

// account shows what the account holds (its nickname, stars, email
// addresses and phone numbers, SSH keys and this device's step-up) and
// changes how it signs in: add, confirm, edit and unlink addresses,
// remember and forget keys, approve a new device, set the password.
// Those changes are protected actions; when the flows ask for a step-up
// first, the root takes care of it and comes back here (see
// continuation).
//
// The addresses and keys are one list with a cursor; the keys act on the
// row under it.
type account struct {
	c *common

	cursor int
	mode   accountMode
	input  textinput.Model
	tried  bool   // enter was pressed once: check as they type
	target string // the address being edited, or asked about

	question string         // the y/N question, in mode asking
	onYes    func() tea.Cmd // what y does
	busy     string         // a write in flight, said as "unlinking…"
	status   string         // the last thing done
	problem  string         // the last refusal, or what is wrong with the field

	width, height int
}

type accountMode int

const (
	browsing accountMode = iota
	adding               // the field takes a new address
	editing              // the field takes the address that replaces target
	asking               // a y/N question has the keyboard
)

// Results of the account screen's writes.
type (
	unlinkedMsg struct {
		addr    string
		changed bool
		err     error
	}
	keyMsg struct {
		forgot string // the fingerprint forgotten; "" when this key was remembered
		err    error
	}
)

func (m unlinkedMsg) failure() error { return m.err }
func (m keyMsg) failure() error      { return m.err }

// row is one line of the list: an email address or phone number, or a key.
type row struct {
	flows.AddressInfo
}

func (r row) isKey() bool { return r.Kind == address.SSHKey }

func newAccount(c *common) *account {
	a := &account{c: c}
	a.input = newField(254)
	a.restyle()
	return a
}

func (a *account) restyle()      { a.input.SetStyles(a.c.st.input) }
func (a *account) Init() tea.Cmd { return nil }
func (a *account) Title() string { return "account" }
func (a *account) Focused() bool { return a.mode != browsing }

func (a *account) SetSize(width, height int) {
	a.width, a.height = width, height
	a.input.SetWidth(max(width-4, 10))
}

// rows are the account's email addresses and phone numbers, then its SSH
// keys, in the order they were added.
func (a *account) rows() []row {
	var addrs, keys []row
	for _, ad := range a.c.visitor.Addresses {
		if ad.Kind == address.SSHKey {
			if ad.Confirmed {
				keys = append(keys, row{ad})
			}
			continue
		}
		addrs = append(addrs, row{ad})
	}
	return append(addrs, keys...)
}

// selected is the row under the cursor, kept in range.
func (a *account) selected() (row, bool) {
	rs := a.rows()
	if len(rs) == 0 {
		return row{}, false
	}
	a.cursor = max(min(a.cursor, len(rs)-1), 0)
	return rs[a.cursor], true
}

// keyRemembered reports whether this device's key signs in to the account.
func (a *account) keyRemembered() bool {
	for _, ad := range a.c.visitor.Addresses {
		if ad.Kind == address.SSHKey && ad.Confirmed && ad.Display == a.c.dev.Tag {
			return true
		}
	}
	return false
}

func (a *account) canRemember() bool { return !a.c.dev.Ephemeral && !a.keyRemembered() }

func (a *account) Keys() helpKeys {
	k := a.c.keys
	switch a.mode {
	case adding, editing:
		b := []key.Binding{with(k.Submit, "enter", "send a code"), k.Cancel}
		return helpKeys{short: b, full: [][]key.Binding{b}}
	case asking:
		no := key.NewBinding(key.WithKeys("n"), key.WithHelp("any other key", "no"))
		b := []key.Binding{k.Yes, no}
		return helpKeys{short: b, full: [][]key.Binding{b}}
	}
	var short []key.Binding
	if r, ok := a.selected(); ok {
		if r.isKey() {
			short = append(short, with(k.Remove, "x", "forget key"))
		} else {
			if !r.Confirmed {
				short = append(short, k.Confirm)
			}
			short = append(short, k.Edit, k.Remove)
			if a.splits(r) {
				short = append(short, k.Split)
			}
		}
	}
	pw := with(k.Password, "p", a.passwordAct())
	short = append(short, k.Add, k.History, k.Approve, pw)
	row := []key.Binding{k.Up, k.Down, k.Confirm, k.Edit, with(k.Remove, "x", "unlink / forget key")}
	acts := []key.Binding{k.Add, k.History, k.Approve, pw, k.TOTP}
	if a.canRemember() {
		acts = append(acts, k.Remember)
	}
	if stepUpLeft(a.c) <= 0 {
		acts = append(acts, k.StepUp)
	}
	return helpKeys{short: short, full: [][]key.Binding{row, acts}}
}

func (a *account) Update(msg tea.Msg) tea.Cmd {
	switch msg := msg.(type) {
	case tea.KeyPressMsg:
		switch a.mode {
		case asking:
			a.mode = browsing
			if key.Matches(msg, a.c.keys.Yes) {
				return a.onYes()
			}
			return nil
		case adding, editing:
			return a.fieldKey(msg)
		}
		return a.key(msg)
	case requestedMsg:
		return a.requested(msg)
	case challengeMsg:
		a.busy = ""
		if msg.err != nil {
			a.problem = problemText(msg.err)
			return nil
		}
		a.closeField()
		a.c.push(newWalletSign(a.c, msg.ch))
	case gateMsg:
		a.busy = ""
		if msg.err != nil {
			a.problem = problemText(msg.err)
			return nil
		}
		a.c.push(newSetPassword(a.c))
	case unlinkedMsg:
		a.busy = ""
		switch {
		case msg.err != nil:
			a.problem = problemText(msg.err)
		case msg.changed:
			a.status = inert.Address(msg.addr) + " is unlinked from your account."
		default:
			a.status = inert.Address(msg.addr) + " was not on your account: nothing to unlink."
		}
	case keyMsg:
		a.busy = ""
		switch {
		case msg.err != nil:
			a.problem = problemText(msg.err)
		case msg.forgot != "":
			a.status = "The key " + shortTag(msg.forgot) + " is forgotten: it no longer signs in to this account."
		default:
			a.status = "This key is remembered: signed out, this device can sign in again with one keystroke (k)."
		}
	default:
		if a.mode == adding || a.mode == editing {
			if m := typedOnly(msg); m != nil {
				var cmd tea.Cmd
				a.input, cmd = a.input.Update(m)
				return cmd
			}
		}
	}
	return nil
}

func (a *account) key(msg tea.KeyPressMsg) tea.Cmd {
	k := a.c.keys
	if a.busy != "" {
		return nil
	}
	r, any := a.selected()
	switch {
	case key.Matches(msg, k.Up):
		a.cursor = max(a.cursor-1, 0)
	case key.Matches(msg, k.Down):
		a.cursor++ // selected keeps it in range
		a.selected()
	case key.Matches(msg, k.Add):
		return a.openField(adding, "")
	case key.Matches(msg, k.Edit) && any && !r.isKey():
		return a.openField(editing, r.Display)
	case key.Matches(msg, k.Confirm) && any && !r.isKey():
		return a.confirm(r)
	case key.Matches(msg, k.Remove) && any:
		a.clear()
		if r.isKey() {
			fp := r.Display
			what := "the key " + shortTag(fp)
			if fp == a.c.dev.Tag {
				what = "this device's key (" + shortTag(fp) + ")"
			}
			a.ask("Forget "+what+"? It will no longer sign in to this account. y/N", func() tea.Cmd { return a.forget(fp) })
		} else {
			addr := r.Display
			a.ask("Unlink "+inert.Address(addr)+" from your account? y/N", func() tea.Cmd { return a.unlink(addr) })
		}
	case key.Matches(msg, k.Split) && any && a.splits(r):
		a.clear()
		a.c.push(newSplit(a.c, *a.c.visitor.Split))
	case key.Matches(msg, k.Remember) && a.canRemember():
		a.clear()
		a.ask("Remember this device's key ("+shortTag(a.c.dev.Tag)+") so that it signs in to this account with one keystroke? y/N", a.remember)
	case key.Matches(msg, k.History):
		a.c.push(newHistory(a.c))
	case key.Matches(msg, k.Approve):
		a.c.push(newApprove(a.c))
	case key.Matches(msg, k.Password):
		a.clear()
		cmd := openPasswordForm(a.c)
		if cmd != nil {
			a.busy = "checking this device's step-up…"
		}
		return cmd
	case key.Matches(msg, k.StepUp):
		if left := stepUpLeft(a.c); left > 0 {
			a.clear()
			a.status = "This device is already stepped up until " + flows.When(a.c.visitor.StepUpUntil, a.c.now()) + "."
			return nil
		}
		a.c.push(stepUpScreen(a.c, ""))
	case key.Matches(msg, k.TOTP):
		a.c.push(openTOTP(a.c))
	}
	return nil
}

func (a *account) clear() { a.status, a.problem = "", "" }

// splits reports whether the row is the address this device signed in
// with and may make an account of its own (see split).
func (a *account) splits(r row) bool {
	sp := a.c.visitor.Split
	return sp != nil && !r.isKey() && r.Display == sp.Display
}

// passwordAct is what p does: set a password, or change it.
func (a *account) passwordAct() string {
	if a.c.visitor.HasPassword {
		return "change password"
	}
	return "set a password"
}

func (a *account) ask(question string, yes func() tea.Cmd) {
	a.mode, a.question, a.onYes = asking, question, yes
}

func (a *account) openField(mode accountMode, target string) tea.Cmd {
	a.clear()
	a.mode, a.target, a.tried = mode, target, false
	a.input.Reset()
	a.input.Placeholder = "you@example.com or +1 415 555 2671"
	return a.input.Focus()
}

func (a *account) closeField() {
	a.mode, a.target, a.tried = browsing, "", false
	a.input.Blur()
	a.input.Reset()
}

func (a *account) fieldKey(msg tea.KeyPressMsg) tea.Cmd {
	k := a.c.keys
	switch {
	case key.Matches(msg, k.Cancel):
		if a.busy == "" {
			a.closeField()
			a.problem = ""
		}
		return nil
	case key.Matches(msg, k.Submit):
		return a.submit()
	}
	if a.busy != "" {
		return nil
	}
	m := typedOnly(msg)
	if m == nil {
		return nil
	}
	var cmd tea.Cmd
	a.input, cmd = a.input.Update(m)
	if a.tried {
		a.problem = a.check()
	}
	return cmd
}

// check is the inline validation: what the flows say of the address.
func (a *account) check() string {
	if _, err := a.c.svc.ParseAddress(strings.TrimSpace(a.input.Value())); err != nil {
		return problemText(err)
	}
	return ""
}

func (a *account) submit() tea.Cmd {
	if a.busy != "" {
		return nil
	}
	a.tried = true
	if a.problem = a.check(); a.problem != "" {
		return nil
	}
	typed := strings.TrimSpace(a.input.Value())
	if a.mode == editing {
		old := a.target
		a.busy = "sending a code…"
		return a.c.protected("replace "+inert.String(old)+" with "+inert.String(typed), func(ctx context.Context, svc *flows.Service, dev flows.Device) tea.Msg {
			iss, err := svc.EditAddress(ctx, dev, old, typed)
			return requestedMsg{iss: iss, err: err}
		})
	}
	if address.LooksLikeWallet(typed) && a.mode != editing {
		a.busy = "asking for a message to sign…"
		return a.c.protected("add "+inert.String(typed), func(ctx context.Context, svc *flows.Service, dev flows.Device) tea.Msg {
			ch, err := svc.AddWallet(ctx, dev, typed)
			return challengeMsg{ch: ch, err: err}
		})
	}
	a.busy = "sending a code…"
	return a.c.protected("add "+inert.String(typed), func(ctx context.Context, svc *flows.Service, dev flows.Device) tea.Msg {
		iss, err := svc.AddAddress(ctx, dev, typed)
		return requestedMsg{iss: iss, err: err}
	})
}

// confirm goes to the code of an unconfirmed address: the one this
// session is waiting for if it still can be entered, else a new one.
func (a *account) confirm(r row) tea.Cmd {
	a.clear()
	if r.Confirmed {
		a.status = inert.Address(r.Display) + " is confirmed already."
		return nil
	}
	if s, ok := a.c.confirming[r.Display]; ok && !s.usedUp && a.c.now().Before(s.iss.Expires) {
		a.c.push(s)
		return nil
	}
	addr := r.Display
	a.busy, a.target = "sending a code…", addr
	return a.c.protected("send a code to "+inert.Address(addr), func(ctx context.Context, svc *flows.Service, dev flows.Device) tea.Msg {
		iss, err := svc.ConfirmAddress(ctx, dev, addr)
		return requestedMsg{iss: iss, err: err}
	})
}

// requested is the answer to adding, editing or confirming: a code went
// out (its screen follows), or why not.
func (a *account) requested(msg requestedMsg) tea.Cmd {
	a.busy = ""
	inField := a.mode == adding || a.mode == editing
	if msg.err == nil {
		a.closeField()
		a.clear()
		s := newCode(a.c, msg.iss)
		a.c.confirming[msg.iss.To] = s
		a.c.push(s)
		return nil
	}
	p, ok := flows.AsProblem(msg.err)
	switch {
	case ok && p.Code == flows.ProblemNothingToDo:
		a.closeField()
		a.status = problemText(msg.err)
	case ok && p.Code == flows.ProblemThrottled && !p.RetryAt.IsZero():
		// The address is on the account, unconfirmed; its code waits
		// (c asks again), so the field has done its job.
		if inField {
			a.closeField()
		}
		a.problem = problemText(msg.err)
	default:
		a.problem = problemText(msg.err) // the field, if open, stays as typed
	}
	return nil
}

func (a *account) unlink(addr string) tea.Cmd {
	a.busy = "unlinking…"
	return a.c.protected("unlink "+inert.Address(addr), func(ctx context.Context, svc *flows.Service, dev flows.Device) tea.Msg {
		out, err := svc.UnlinkAddress(ctx, dev, addr)
		return unlinkedMsg{addr: addr, changed: out.Changed, err: err}
	})
}

func (a *account) forget(fp string) tea.Cmd {
	a.busy = "forgetting the key…"
	return a.c.protected("forget the key "+shortTag(fp), func(ctx context.Context, svc *flows.Service, dev flows.Device) tea.Msg {
		return keyMsg{forgot: fp, err: svc.ForgetKey(ctx, dev, fp)}
	})
}

func (a *account) remember() tea.Cmd {
	a.busy = "remembering this key…"
	return a.c.protected("remember this device's key", func(ctx context.Context, svc *flows.Service, dev flows.Device) tea.Msg {
		return keyMsg{err: svc.RememberKey(ctx, dev)}
	})
}

func (a *account) View() string {
	st := a.c.st
	bottom := a.footer()
	lines, at := a.list()
	// The footer (a field or a question) always shows, then as much of the
	// list as there is room for, then the profile; in a short window the
	// profile shrinks to the step-up line, or goes.
	heading := st.heading.Render("Account")
	tops := []string{heading + "\n\n" + a.profile(false), heading + "  " + a.profile(true), ""}
	top := ""
	usedBy := func(top string) int { // with a blank line after each part
		used := lipgloss.Height(bottom) + 1
		if top != "" {
			used += lipgloss.Height(top) + 1
		}
		return used
	}
	for _, t := range tops {
		top = t
		if a.height-usedBy(t) >= min(len(lines), 4) {
			break
		}
	}
	used := usedBy(top)
	room := max(a.height-used, 1)
	if len(lines) > room {
		from := max(min(at-room/2, len(lines)-room), 0)
		lines = lines[from : from+room]
	}
	out := strings.Join(lines, "\n") + "\n\n" + bottom
	if top != "" {
		out = top + "\n\n" + out
	}
	return out
}

// profile is the nickname, stars, this device and its step-up; short, it
// is the step-up alone.
func (a *account) profile(short bool) string {
	st := a.c.st
	v := a.c.visitor
	now := a.c.now()
	if short {
		if stepUpLeft(a.c) > 0 {
			return st.ok.Render("stepped up until " + flows.When(v.StepUpUntil, now))
		}
		return st.faint.Render("not stepped up (s)")
	}
	f := fields{st: st, width: a.width}
	if v.Nickname != "" {
		f.add("Nickname", inert.String(v.Nickname))
	} else {
		f.add("Nickname", st.faint.Render("none yet (set one on home)"))
	}
	var names []string
	for _, it := range a.c.svc.Catalogue() {
		for _, id := range v.Stars {
			if id == it.ID {
				names = append(names, inert.String(it.Name))
			}
		}
	}
	if len(names) > 0 {
		f.add("Stars", strings.Join(names, ", "))
	} else {
		f.add("Stars", st.faint.Render("none"))
	}
	device := "key " + shortTag(a.c.dev.Tag)
	if a.c.dev.Ephemeral {
		device = st.warn.Render("this connection only") + " (no SSH key)"
	}
	if !v.Since.IsZero() {
		device += fmt.Sprintf(" · signed in by %s, %s", inert.String(v.Method), flows.When(v.Since, now))
	}
	f.add("This device", device)
	if a.c.sshUser != "" {
		f.add("SSH user", inert.String(a.c.sshUser)+st.faint.Render(" · from your ssh client, a hint, not an identity"))
	}
	if stepUpLeft(a.c) > 0 {
		f.add("Step-up", st.ok.Render("until "+flows.When(v.StepUpUntil, now))+st.faint.Render(" · this device only"))
	} else {
		f.add("Step-up", st.faint.Render("none: changes below ask for a code first (s steps up now)"))
	}
	if v.HasPassword {
		f.add("Password", "set"+st.faint.Render(" · p changes it"))
	} else {
		f.add("Password", st.faint.Render("none · p sets one"))
	}
	if a := v.Authenticator; a != nil {
		f.add("2nd factor", "authenticator app, "+english.Count(a.RecoveryLeft, "recovery code", "recovery codes")+" left"+st.faint.Render(" · t"))
	} else {
		f.add("2nd factor", st.faint.Render("none · t adds an authenticator app"))
	}
	return f.String()
}

// list is the addresses and keys with their headings, and the line the
// cursor is on.
func (a *account) list() (lines []string, at int) {
	st := a.c.st
	now := a.c.now()
	rs := a.rows()
	a.selected()
	// The address column is as wide as the widest address, but leaves
	// room for the state: a longer address is cut (questions and fields
	// show it whole).
	w := 0
	for _, r := range rs {
		if !r.isKey() {
			w = max(w, lipgloss.Width(inert.String(r.Display)))
		}
	}
	w = min(w, max(a.width-2-5-2-2-lipgloss.Width(unconfirmedNote), 12))
	lines = append(lines, st.heading.Render("Addresses")+"  "+st.faint.Render("email addresses and phone numbers"))
	keysHead := false
	for i, r := range rs {
		if r.isKey() && !keysHead {
			keysHead = true
			lines = append(lines, "", st.heading.Render("SSH keys")+"  "+st.faint.Render("sign in with one keystroke"))
		}
		cur := "  "
		if i == a.cursor && a.mode == browsing {
			cur, at = st.cursor.Render("› "), len(lines)
		}
		var line string
		if r.isKey() {
			line = a.keyRow(r)
		} else {
			// The look-alike warning would not fit the column: it gets
			// a line of its own below the row.
			name := fit(inert.String(r.Display), w)
			kind := fmt.Sprintf("%-5s", inert.String(string(r.Kind)))
			line = st.label.Render(kind) + "  " + name + strings.Repeat(" ", w-lipgloss.Width(name)) + "  " + a.state(r, now)
		}
		if i == a.cursor && a.mode == browsing {
			line = st.selected.Render(line)
		}
		lines = append(lines, fit(cur+line, a.width))
		if why := address.LookAlikeOf(r.Display); why != "" && !r.isKey() {
			lines = append(lines, fit("         "+st.faint.Render("look-alike domain: "+why), a.width))
		}
	}
	if !keysHead {
		lines = append(lines, "", st.heading.Render("SSH keys")+"  "+st.faint.Render("sign in with one keystroke"))
		if a.canRemember() {
			lines = append(lines, "  "+st.faint.Render("none yet: r remembers the key this device connects with"))
		} else {
			lines = append(lines, "  "+st.faint.Render("none"))
		}
	}
	return lines, at
}

// unconfirmedNote is the state of an unconfirmed address, the widest.
const unconfirmedNote = "unconfirmed — enter its code / resend (c)"

// state says whether an address is confirmed, how and when, or what it
// waits for.
func (a *account) state(r row, now time.Time) string {
	st := a.c.st
	if r.Confirmed {
		return st.ok.Render("confirmed") + st.faint.Render(fmt.Sprintf(" by %s, %s", inert.String(r.Method), flows.When(r.ConfirmedAt, now)))
	}
	check := ""
	if r.LinkCheck != "" { // its link's page asks for it (flows.ConfirmLinkChecked); first, so a narrow row keeps it
		check = st.faint.Render(" · link asks ") + r.LinkCheck
	}
	return st.warn.Render("unconfirmed") + check + st.faint.Render(strings.TrimPrefix(unconfirmedNote, "unconfirmed"))
}

func (a *account) keyRow(r row) string {
	st := a.c.st
	how := "remembered on its own device"
	if r.Method == methodDeviceLink {
		how = "linked from another device"
	}
	mark := ""
	if r.Display == a.c.dev.Tag {
		mark = st.ok.Render("this key") + st.faint.Render(" · ")
		if r.Method != methodDeviceLink {
			how = "remembered here"
		}
	}
	return shortTag(r.Display) + "  " + mark + st.faint.Render(how+", "+flows.When(r.ConfirmedAt, a.c.now()))
}

// footer is the field, the question, or what happened last and the keys.
func (a *account) footer() string {
	st := a.c.st
	status := func(hint string) string {
		switch {
		case a.busy != "":
			return st.faint.Render(a.busy)
		case a.problem != "":
			return st.bad.Render(wrap("✗ "+a.problem, a.width))
		case a.status != "":
			return st.ok.Render(wrap("✓ "+a.status, a.width))
		}
		return wrap(hint, a.width)
	}
	switch a.mode {
	case adding:
		return st.label.Render("Add an email address, or a phone number with + and its country code") + "\n" +
			a.input.View() + "\n" + status(st.faint.Render("enter sends it a code to confirm it"))
	case editing:
		return st.label.Render(wrap("Replace "+inert.String(a.target)+" with", a.width)) + "\n" +
			a.input.View() + "\n" + status(st.faint.Render("enter sends the new one a code; a confirmed address stays until you unlink it"))
	case asking:
		return st.warn.Render(wrap(a.question, a.width))
	}
	k := func(key, what string) string { return st.key.Render(key) + " " + what }
	acts := []string{k("a", "add"), k("c", "confirm"), k("e", "edit"), k("x", "unlink")}
	if a.canRemember() {
		acts = append(acts, k("r", "remember this key"))
	}
	if r, ok := a.selected(); ok && a.splits(r) {
		acts = append(acts, k("m", "make it an account of its own"))
	}
	acts = append(acts, k("h", "history"), k("l", "approve a device"), k("p", a.passwordAct()), k("t", "authenticator app"))
	if stepUpLeft(a.c) <= 0 {
		acts = append(acts, k("s", "step up"))
	}
	return status(flow(acts, " · ", a.width))
}
