package tui

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"

	"charm.land/bubbles/v2/key"
	"charm.land/bubbles/v2/textinput"
	tea "charm.land/bubbletea/v2"
	"charm.land/lipgloss/v2"

	"github.com/attest-dev/attest/flows"
	"github.com/attest-dev/attest/internal/inert"
)

// home is who you are, your nickname and the catalogue to star, and the
// way to everything else.
type home struct {
	c     *common
	items []flows.Item

	cursor, offset int
	pending        map[string]bool // stars being written: the state asked for
	lastWrite      chan struct{}   // closed when the newest star or nickname write is done (see ordered)
	starErr        string

	editing bool // the nickname field has focus
	leaving bool // asking "sign out of this device? y/N"
	saving  bool
	signing bool // signing in with the key
	// input is the nickname field, made the first time it is wanted
	// (see field): most screens never edit a nickname, and a text field
	// is about 8 KB, with as much again on the stack that builds it.
	input   *textinput.Model
	nickErr string

	width, height int
	memo          fieldsMemo // the fields as last laid out
}

// Results of home's writes.
type (
	nicknameMsg struct {
		v   flows.Visitor
		err error
	}
	starMsg struct {
		item string
		v    flows.Visitor
		err  error
	}
)

func (m nicknameMsg) result() (flows.Visitor, bool) { return m.v, m.err == nil }
func (m starMsg) result() (flows.Visitor, bool)     { return m.v, m.err == nil }

func newHome(c *common) *home {
	return &home{c: c, items: c.svc.Catalogue(), pending: map[string]bool{}}
}

// field is the nickname field, made on first use.
func (h *home) field() *textinput.Model {
	if h.input == nil {
		f := newField(2 * flows.MaxNicknameLen) // the flows say how long is too long
		f.Placeholder = "the name others see"
		h.input = &f
		h.restyle()
		h.SetSize(h.width, h.height)
	}
	return h.input
}

func (h *home) restyle() {
	if h.input != nil {
		h.input.SetStyles(h.c.st.input)
	}
}
func (h *home) Init() tea.Cmd { return nil }
func (h *home) SetSize(width, height int) {
	h.width, h.height = width, height
	if h.input != nil {
		h.input.SetWidth(max(width-16, 10))
	}
}
func (h *home) Title() string { return "home" }
func (h *home) Focused() bool { return h.editing || h.leaving }

func (h *home) Keys() helpKeys {
	k := h.c.keys
	if h.leaving {
		b := confirmKeys(k)
		return helpKeys{short: b, full: [][]key.Binding{b}}
	}
	if h.editing {
		b := []key.Binding{k.Save, k.Cancel}
		return helpKeys{short: b, full: [][]key.Binding{b}}
	}
	short := []key.Binding{k.Star, with(k.Nickname, "n", "name")}
	acts := []key.Binding{k.Nickname}
	up := k.Up
	switch {
	case h.c.signedIn():
		short = append(short, k.Account, k.Devices, k.SignOut)
		acts = append(acts, k.Account, k.Devices, k.SignOut)
		if h.splitOffer() != nil {
			acts = append(acts, k.Split)
		}
	case h.keyOffer():
		// k signs in here, so it is not up.
		up = with(up, "↑", "up")
		short = append([]key.Binding{k.KeySignIn}, short...)
		acts = append(acts, k.KeySignIn, k.SignIn)
	default:
		short = append(short, k.SignIn)
		acts = append(acts, k.SignIn)
	}
	if h.canLink() {
		acts = append(acts, k.Link)
	}
	return helpKeys{short: short, full: [][]key.Binding{{up, k.Down, k.Star}, acts}}
}

// keyOffer reports whether this signed-out device's key is remembered for
// an account, so that k signs in to it.
func (h *home) keyOffer() bool { return !h.c.signedIn() && h.c.visitor.KeyAccount != nil }

// splitOffer is the split offered right after a sign-in, while the code
// (or link) that signed in would still be live; afterwards the account
// screen offers it on the address's row.
func (h *home) splitOffer() *flows.Split {
	sp := h.c.visitor.Split
	if sp == nil || !h.c.signedIn() || !h.c.svc.Now().Before(sp.OfferedUntil) {
		return nil
	}
	return sp
}

// canLink reports whether this device can be linked to an account: it is
// signed out and has a key to remember.
func (h *home) canLink() bool { return !h.c.signedIn() && !h.c.dev.Ephemeral }

func (h *home) Update(msg tea.Msg) tea.Cmd {
	switch msg := msg.(type) {
	case tea.KeyPressMsg:
		if h.leaving {
			// Anything but y says no, even q: the question has the keyboard.
			h.leaving = false
			if key.Matches(msg, h.c.keys.Yes) && h.c.signedIn() {
				return signOut(h.c)
			}
			return nil
		}
		if h.editing {
			return h.editKey(msg)
		}
		return h.key(msg)
	case nicknameMsg:
		h.saving = false
		if msg.err != nil {
			h.nickErr = problemText(msg.err)
			return nil
		}
		h.editing, h.nickErr = false, ""
		h.field().Blur()
	case starMsg:
		delete(h.pending, msg.item)
		h.starErr = ""
		if msg.err != nil {
			h.starErr = problemText(msg.err)
		}
	case signedOutMsg:
		if msg.err != nil {
			h.starErr = problemText(msg.err)
		}
	case enteredMsg:
		h.signing = false
		if msg.err != nil {
			h.starErr = problemText(msg.err)
		}
	default:
		if h.editing {
			if m := typedOnly(msg); m != nil {
				f := h.field()
				var cmd tea.Cmd
				*f, cmd = f.Update(m)
				return cmd
			}
		}
	}
	return nil
}

func (h *home) key(msg tea.KeyPressMsg) tea.Cmd {
	k := h.c.keys
	in := h.c.signedIn()
	switch {
	case key.Matches(msg, k.KeySignIn) && h.keyOffer():
		return h.signInWithKey()
	case key.Matches(msg, k.Link) && h.canLink():
		h.c.push(newLink(h.c))
	case key.Matches(msg, k.Up):
		h.cursor = max(h.cursor-1, 0)
	case key.Matches(msg, k.Down):
		h.cursor = min(h.cursor+1, len(h.items)-1)
	case key.Matches(msg, k.Star):
		return h.toggle()
	case key.Matches(msg, k.Nickname):
		h.editing, h.nickErr = true, ""
		f := h.field()
		f.SetValue(h.c.visitor.Nickname)
		f.CursorEnd()
		return f.Focus()
	case key.Matches(msg, k.SignIn) && !in:
		h.c.push(newSignIn(h.c))
	case key.Matches(msg, k.Account) && in:
		h.c.push(newAccount(h.c))
	case key.Matches(msg, k.Devices) && in:
		h.c.push(newDevices(h.c))
	case key.Matches(msg, k.SignOut) && in:
		h.leaving, h.starErr = true, ""
	case key.Matches(msg, k.Split) && h.splitOffer() != nil:
		h.c.push(newSplit(h.c, *h.splitOffer()))
	}
	return nil
}

// signInWithKey signs in with the key this device connected with: the
// handshake proved it, so there is nothing to type. The root takes the
// session home when it is done.
func (h *home) signInWithKey() tea.Cmd {
	if h.signing {
		return nil
	}
	h.signing, h.starErr = true, ""
	return h.c.write(func(ctx context.Context, svc *flows.Service, dev flows.Device) tea.Msg {
		e, err := svc.SignInWithKey(ctx, dev)
		return enteredMsg{entered: e, err: err}
	})
}

// toggle stars or unstars the item under the cursor. While one write for
// an item is on its way, further presses on it wait for it.
func (h *home) toggle() tea.Cmd {
	if len(h.items) == 0 {
		return nil
	}
	id := h.items[h.cursor].ID
	if _, busy := h.pending[id]; busy {
		return nil
	}
	on := !h.starred(id)
	h.pending[id] = on
	return h.c.write(h.ordered(func(ctx context.Context, svc *flows.Service, dev flows.Device) tea.Msg {
		var v flows.Visitor
		var err error
		if on {
			v, err = svc.Star(ctx, dev, id)
		} else {
			v, err = svc.Unstar(ctx, dev, id)
		}
		return starMsg{item: id, v: v, err: err}
	}))
}

// ordered makes fn wait for the home screen's write before it, so that
// stars and nickname commit in the order they were asked. The root applies
// only the newest write's visitor, which the flows read in that write's
// own transaction: committed last, it holds every earlier one. Without the
// order, two quick stars could commit newest first, and the screen would
// show the first star taken back (and keep showing it, as a re-read asked
// for while writes are in flight is dropped).
func (h *home) ordered(fn writeFn) writeFn {
	prev, done := h.lastWrite, make(chan struct{})
	h.lastWrite = done
	var once sync.Once
	return func(ctx context.Context, svc *flows.Service, dev flows.Device) tea.Msg {
		defer once.Do(func() { close(done) })
		if prev != nil {
			select {
			case <-prev:
			case <-ctx.Done(): // the session ended: nothing waits for the order
			}
		}
		return fn(ctx, svc, dev)
	}
}

func (h *home) starred(id string) bool {
	if on, ok := h.pending[id]; ok {
		return on
	}
	return slices.Contains(h.c.visitor.Stars, id)
}

func (h *home) editKey(msg tea.KeyPressMsg) tea.Cmd {
	k := h.c.keys
	switch {
	case key.Matches(msg, k.Cancel):
		h.editing, h.nickErr = false, ""
		h.field().Blur()
		return nil
	case key.Matches(msg, k.Save):
		if h.saving {
			return nil
		}
		name, err := flows.NormalizeNickname(h.field().Value())
		if err != nil {
			h.nickErr = problemText(err)
			return nil
		}
		h.saving, h.nickErr = true, ""
		return h.c.write(h.ordered(func(ctx context.Context, svc *flows.Service, dev flows.Device) tea.Msg {
			v, err := svc.SetNickname(ctx, dev, name)
			return nicknameMsg{v: v, err: err}
		}))
	}
	m := typedOnly(msg)
	if m == nil {
		return nil
	}
	f := h.field()
	var cmd tea.Cmd
	*f, cmd = f.Update(m)
	// Say what is wrong while typing, but not that an empty field is
	// empty: that is only wrong on enter.
	h.nickErr = ""
	if strings.TrimSpace(f.Value()) != "" {
		if _, err := flows.NormalizeNickname(f.Value()); err != nil {
			h.nickErr = problemText(err)
		}
	}
	return cmd
}

func (h *home) View() string {
	st := h.c.st
	v := h.c.visitor
	f := fields{st: st, width: h.width, memo: &h.memo}

	// For someone who never read the README: what this is, and in demo
	// mode where the codes go. The key's fingerprint and the SSH user name
	// are details: the account screen has them.
	about := wrap(intro, h.width)
	if h.c.inbox != "" {
		about += "\n" + wrap("Demo mode: codes and links go to a built-in inbox, not to real addresses. Watch it from another terminal: "+st.key.Render(h.c.inbox), h.width)
	}
	if h.c.dev.Ephemeral {
		f.add("Device", st.warn.Render("this connection only")+": you connected without an SSH key, so nothing you do here can be found again after you disconnect")
	}
	if v.Account {
		f.add("Status", fmt.Sprintf("signed in as %s · via %s", displayName(v), inert.String(v.Method)))
	} else {
		f.add("Status", "anonymous visitor")
	}
	switch {
	case h.editing:
		f.add("Nickname", h.field().View())
		switch {
		case h.nickErr != "":
			f.add("", st.bad.Render("✗ "+h.nickErr))
		case h.saving:
			f.add("", st.faint.Render("saving…"))
		default:
			f.add("", st.faint.Render(fmt.Sprintf("1 to %d characters, shown to others as typed", flows.MaxNicknameLen)))
		}
	case v.Nickname != "":
		f.add("Nickname", inert.String(v.Nickname))
	default:
		f.add("Nickname", st.faint.Render("none yet"))
	}
	if h.keyOffer() {
		name := "your account"
		if n := h.c.visitor.KeyAccount.Nickname; n != "" {
			name = inert.String(n)
		}
		offer := "Sign in as " + name + " with this key — press " + st.key.Render("k")
		if h.signing {
			offer += st.faint.Render(" · signing in…")
		}
		f.add("", offer)
	}
	if h.canLink() {
		f.add("", "Link this device to my account — press "+st.key.Render("l"))
	}
	if sp := h.splitOffer(); sp != nil {
		f.add("", "Is "+inert.Address(sp.Display)+" yours and not this account's? Press "+st.key.Render("m")+
			" to make it an account of its own; the account keeps "+keeps(*sp)+"."+
			st.faint.Render(" Here until "+flows.When(sp.OfferedUntil, h.c.svc.Now())+", then on the account screen."))
	}

	if h.leaving {
		f.add("", st.warn.Render("Sign out of this device? y/N"))
		f.add("", st.faint.Render("What you stored stays with the account; signing in again brings it back."))
	}

	count := fmt.Sprintf("%d of %d starred", h.countStarred(), len(h.items))
	if len(h.pending) > 0 {
		count += " · saving…"
	}
	head := f.String() + "\n\n" + st.heading.Render("Stars") + "  " + st.faint.Render(count)
	if h.starErr != "" {
		head += "\n" + st.bad.Render(wrap("✗ "+h.starErr, h.width))
	}
	// The introduction gives way to the stars in a short window.
	if h.height-lipgloss.Height(head)-lipgloss.Height(about)-1 >= 3 {
		head = st.faint.Render(about) + "\n\n" + head
	}
	rows := max(h.height-lipgloss.Height(head), 1)
	return head + "\n" + h.list(rows)
}

func (h *home) countStarred() int {
	n := 0
	for _, it := range h.items {
		if h.starred(it.ID) {
			n++
		}
	}
	return n
}

// intro is the first screen's one sentence of what attest is.
const intro = "attest signs you in over ssh: the key you connect with is this device, a one-time code to your email or phone proves the address is yours, and every step is a fact in its ledger (press L to watch)."

// list renders the catalogue in rows lines, scrolled to keep the cursor in
// sight (the window is remembered so it moves only when it must).
func (h *home) list(rows int) string {
	st := h.c.st
	if h.cursor < h.offset {
		h.offset = h.cursor
	}
	if h.cursor >= h.offset+rows {
		h.offset = h.cursor - rows + 1
	}
	h.offset = max(min(h.offset, len(h.items)-rows), 0)

	// The rows' parts are drawn once per look and shared by every
	// session (the catalogue is the server's, not a visitor's); a row is
	// cut to the width only when it is wider.
	nameW := 0
	for _, it := range h.items {
		_, w := st.drawnW("name\x00"+it.Name, func() string { return inert.String(it.Name) })
		nameW = max(nameW, w)
	}
	var out []string
	for i := h.offset; i < len(h.items) && i < h.offset+rows; i++ {
		it := h.items[i]
		sel := i == h.cursor && !h.editing
		cur, curW := "  ", 2
		name, w := st.drawnW("name\x00"+it.Name, func() string { return inert.String(it.Name) })
		if sel {
			cur, curW = st.drawnW("cursor", func() string { return st.cursor.Render("› ") })
			name, _ = st.drawnW("selected\x00"+it.Name, func() string { return st.selected.Render(inert.String(it.Name)) })
		}
		pad := strings.Repeat(" ", nameW-w)
		star, starW := st.drawnW("star-off", func() string { return st.starOff.Render("☆") })
		if h.starred(it.ID) {
			star, starW = st.drawnW("star-on", func() string { return st.starOn.Render("★") })
		}
		note, noteW := st.drawnW("note\x00"+it.Note, func() string { return st.faint.Render(inert.String(it.Note)) })
		row := cur + star + " " + name + pad + "  " + note
		if curW+starW+1+nameW+2+noteW > h.width {
			row = fit(row, h.width)
		}
		out = append(out, row)
	}
	return strings.Join(out, "\n")
}

// displayName is how a signed-in visitor is named: the nickname, else the
// first confirmed address, made inert.
func displayName(v flows.Visitor) string {
	if v.Nickname != "" {
		return inert.String(v.Nickname)
	}
	for _, a := range v.Addresses {
		if a.Confirmed {
			return inert.Address(a.Display)
		}
	}
	return "your account"
}
