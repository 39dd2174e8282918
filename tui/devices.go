package tui

import (
	"time"

	"context"
	"strings"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"
	"charm.land/lipgloss/v2"

	"github.com/attest-dev/attest/flows"
	"github.com/attest-dev/attest/flows/address"
	"github.com/attest-dev/attest/internal/inert"
)

// devices lists the devices signed in to the account, and signs out this
// one or, after asking, all of them.
type devices struct {
	c       *common
	list    []flows.DeviceInfo
	loaded  bool
	problem string
	confirm int // 1: asking "sign out every device?"; 2: "also forget the keys?"; 3: "sign out this device?"
	busy    bool
	rows    scroll

	width, height int
}

// Messages of the devices screen.
type (
	devicesMsg struct {
		list []flows.DeviceInfo
		err  error
	}
	signedOutMsg struct {
		everywhere bool
		forgot     bool // the remembered keys too
		v          flows.Visitor
		err        error
	}
)

func (m signedOutMsg) result() (flows.Visitor, bool) { return m.v, m.err == nil }
func (m signedOutMsg) failure() error                { return m.err }

// notice is the news on the signed-out home.
func (m signedOutMsg) notice() string {
	switch {
	case m.everywhere && m.forgot:
		return "You signed out everywhere: every device of the account, this one included. Every remembered SSH key is forgotten too."
	case m.everywhere:
		return "You signed out everywhere: every device of the account, this one included."
	}
	return "You signed out of this device. What you stored stays with the account."
}

// signOut signs this device out; the root takes the session home when it
// is done.
func signOut(c *common) tea.Cmd {
	return c.write(func(ctx context.Context, svc *flows.Service, dev flows.Device) tea.Msg {
		if err := svc.SignOut(ctx, dev); err != nil {
			return signedOutMsg{err: err}
		}
		v, err := svc.Visit(ctx, dev)
		return signedOutMsg{v: v, err: err}
	})
}

// signOutEverywhere signs out every device of the account, and with
// forget forgets its remembered keys. It is a protected action.
func signOutEverywhere(c *common, forget bool) tea.Cmd {
	what := "sign out everywhere"
	if forget {
		what += " and forget every remembered SSH key"
	}
	return c.protected(what, func(ctx context.Context, svc *flows.Service, dev flows.Device) tea.Msg {
		if err := svc.SignOutEverywhere(ctx, dev, forget); err != nil {
			return signedOutMsg{everywhere: true, forgot: forget, err: err}
		}
		v, err := svc.Visit(ctx, dev)
		return signedOutMsg{everywhere: true, forgot: forget, v: v, err: err}
	})
}

// confirmKeys is the help of a y/N question.
func confirmKeys(k *keyMap) []key.Binding {
	return []key.Binding{k.Yes, key.NewBinding(key.WithKeys("n"), key.WithHelp("any other key", "no"))}
}

// hasKeys reports whether the account remembers any SSH key.
func hasKeys(v flows.Visitor) bool {
	for _, a := range v.Addresses {
		if a.Kind == address.SSHKey && a.Confirmed {
			return true
		}
	}
	return false
}

func newDevices(c *common) *devices { return &devices{c: c} }

func (d *devices) Init() tea.Cmd             { return d.load() }
func (d *devices) SetSize(width, height int) { d.width, d.height = width, height }
func (d *devices) Title() string             { return "devices" }
func (d *devices) Focused() bool             { return d.confirm > 0 }

func (d *devices) Keys() helpKeys {
	k := d.c.keys
	if d.confirm > 0 {
		b := confirmKeys(k)
		return helpKeys{short: b, full: [][]key.Binding{b}}
	}
	b := []key.Binding{with(k.SignOut, "o", "sign out this device"), k.Everywhere}
	return helpKeys{short: b, full: [][]key.Binding{{k.Up, k.Down}, b}}
}

func (d *devices) load() tea.Cmd {
	ctx, svc, dev := d.c.ctx, d.c.svc, d.c.dev
	return func() tea.Msg {
		list, err := svc.Devices(ctx, dev)
		return devicesMsg{list: list, err: err}
	}
}

func (d *devices) Update(msg tea.Msg) tea.Cmd {
	switch msg := msg.(type) {
	case refreshMsg:
		if !d.busy {
			return d.load()
		}
	case devicesMsg:
		d.loaded = true
		if msg.err != nil {
			d.problem = problemText(msg.err)
			return nil
		}
		d.list = msg.list
	case signedOutMsg:
		d.busy = false
		if msg.err != nil {
			d.problem = problemText(msg.err)
		}
	case tea.KeyPressMsg:
		k := d.c.keys
		if d.confirm > 0 {
			yes := key.Matches(msg, k.Yes)
			first, this := d.confirm == 1, d.confirm == 3
			d.confirm = 0
			switch {
			case this && yes:
				d.busy = true
				return signOut(d.c)
			case this:
			case first && yes && hasKeys(d.c.visitor):
				d.confirm = 2 // the second question
			case first && yes:
				d.busy = true
				return signOutEverywhere(d.c, false)
			case !first:
				d.busy = true
				return signOutEverywhere(d.c, yes)
			}
			return nil
		}
		switch {
		case d.busy:
		case d.rows.key(msg, k):
		case key.Matches(msg, k.SignOut):
			d.confirm, d.problem = 3, ""
		case key.Matches(msg, k.Everywhere):
			d.confirm, d.problem = 1, ""
		}
	}
	return nil
}

func (d *devices) View() string {
	st := d.c.st
	head := st.heading.Render("Devices signed in to this account")
	var foot string
	switch {
	case d.confirm == 1:
		foot = st.warn.Render("Sign out every device of this account? y/N")
	case d.confirm == 3:
		foot = st.warn.Render("Sign out of this device? y/N") + "\n" +
			st.faint.Render(wrap("What you stored stays with the account; signing in again brings it back.", d.width))
	case d.confirm == 2:
		foot = st.warn.Render("Sign out every device of this account? yes") + "\n" +
			st.warn.Render(wrap("Also forget remembered SSH keys? y/N", d.width)) + "\n" +
			st.faint.Render(wrap("Forgotten keys can no longer sign in with one keystroke; each device then signs in with a code.", d.width))
	case d.busy:
		foot = st.faint.Render("signing out…")
	case d.problem != "":
		foot = st.bad.Render(wrap("✗ "+d.problem, d.width))
	}
	if !d.loaded {
		return head + "\n\n" + st.faint.Render("reading…")
	}
	rows := max(d.height-lipgloss.Height(head)-2-lipgloss.Height(foot)-2, 1)
	body := d.table(rows)
	if foot != "" {
		body += "\n\n" + foot
	}
	return head + "\n\n" + body
}

// table renders the devices, one per row, dropping the less useful columns
// when the window is narrow.
func (d *devices) table(rows int) string {
	st := d.c.st
	now := d.c.now()
	type col struct {
		head  string
		cells []string
		drop  int // the order columns go in when space runs out; 0 stays
	}
	cols := []col{
		{head: "DEVICE"},
		{head: "VIA", drop: 2},
		{head: "FIRST SEEN", drop: 1},
		{head: "LAST SEEN"},
		{head: "SIGNS OUT"}, // unless used again: 30 days after its last use, at most a year after sign-in
		{head: ""},
	}
	for _, dv := range d.list {
		mark := ""
		if dv.Current {
			mark = "this device"
		}
		for i, cell := range []string{shortTag(dv.Tag), inert.String(dv.Method), ago(dv.FirstSeen, now), ago(dv.LastSeen, now), signsOut(dv.Until, now), mark} {
			cols[i].cells = append(cols[i].cells, cell)
		}
	}
	widths := func() (ws []int, total int) {
		for _, c := range cols {
			w := lipgloss.Width(c.head)
			for _, cell := range c.cells {
				w = max(w, lipgloss.Width(cell))
			}
			ws = append(ws, w)
			total += w + 2
		}
		return ws, total
	}
	ws, total := widths()
	for drop := 1; total > d.width+2 && drop <= 2; drop++ {
		for i := range cols {
			if cols[i].drop == drop {
				cols = append(cols[:i], cols[i+1:]...)
				break
			}
		}
		ws, total = widths()
	}
	line := func(cells []string, style func(i int, s string) string) string {
		var b strings.Builder
		for i, c := range cells {
			pad := ""
			if i < len(cells)-1 {
				pad = strings.Repeat(" ", ws[i]-lipgloss.Width(c)+2)
			}
			b.WriteString(style(i, c) + pad)
		}
		return strings.TrimRight(b.String(), " ")
	}
	var heads []string
	for _, c := range cols {
		heads = append(heads, c.head)
	}
	out := []string{line(heads, func(_ int, s string) string { return st.columnHead.Render(s) })}
	if len(d.list) == 0 {
		out = append(out, st.faint.Render("none"))
	}
	var body []string
	for r := range d.list {
		var cells []string
		for _, c := range cols {
			cells = append(cells, c.cells[r])
		}
		current := d.list[r].Current
		body = append(body, line(cells, func(i int, s string) string {
			switch {
			case current && i == len(cells)-1:
				return st.ok.Render(s)
			case current && i == 0:
				return st.selected.Render(s)
			case i > 0:
				return st.faint.Render(s)
			}
			return s
		}))
	}
	if len(body) > 0 {
		out = append(out, d.rows.view(st, body, d.width+2, rows-1))
	}
	return strings.Join(out, "\n")
}

// signsOut says when a device's sign-in lapses; an anonymous visit
// does not.
func signsOut(t, now time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return ago(t, now)
}
