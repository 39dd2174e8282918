package tui

import (
	"strings"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"
	"charm.land/lipgloss/v2"

	"github.com/attest-dev/attest/flows/explain"
	"github.com/attest-dev/attest/internal/inert"
)

// ledgerLimit is how many facts the panel reads: the newest, which are
// what a demo or a newcomer looks at; `facts` has them all.
const ledgerLimit = 200

// ledger is the panel that L opens on every screen: the facts this
// device's and its account's actions wrote, newest first, each in plain
// words (what, about what, and why it was written so). It reads them
// again whenever the flows say the device or its user changed, so it
// moves as facts land.
type ledger struct {
	c       *common
	lines   []explain.Line
	loaded  bool
	problem string
	list    scroll

	width, height int
}

type ledgerMsg struct {
	lines []explain.Line
	err   error
}

func newLedger(c *common) *ledger { return &ledger{c: c} }

func (l *ledger) Init() tea.Cmd             { return l.load() }
func (l *ledger) SetSize(width, height int) { l.width, l.height = width, height }
func (l *ledger) Title() string             { return "ledger" }
func (l *ledger) Focused() bool             { return false }

func (l *ledger) Keys() helpKeys {
	b := scrollKeys(l.c.keys)
	return helpKeys{short: b, full: [][]key.Binding{b}}
}

func (l *ledger) load() tea.Cmd {
	ctx, svc, dev := l.c.ctx, l.c.svc, l.c.dev
	return func() tea.Msg {
		rec, err := svc.RecentFacts(ctx, dev, ledgerLimit)
		if err != nil {
			return ledgerMsg{err: err}
		}
		lines := make([]explain.Line, len(rec.Facts))
		for i, f := range rec.Facts {
			lines[i] = explain.Fact(f, func(h string) string { return rec.Masked[h] })
		}
		return ledgerMsg{lines: lines}
	}
}

func (l *ledger) Update(msg tea.Msg) tea.Cmd {
	switch msg := msg.(type) {
	case refreshMsg:
		return l.load()
	case ledgerMsg:
		l.loaded = true
		if msg.err != nil {
			l.problem = problemText(msg.err)
			return nil
		}
		l.problem = ""
		if l.list.offset > 0 && len(msg.lines) > len(l.lines) {
			// Keep what the reader looks at in place as new facts land above.
			l.list.offset += len(msg.lines) - len(l.lines)
		}
		l.lines = msg.lines
	case tea.KeyPressMsg:
		l.list.key(msg, l.c.keys)
	}
	return nil
}

func (l *ledger) View() string {
	st := l.c.st
	head := st.heading.Render("Ledger") + "  " + st.faint.Render("what this device and its account wrote, newest first")
	switch {
	case l.problem != "":
		return head + "\n\n" + st.bad.Render(wrap("✗ "+l.problem, l.width))
	case !l.loaded:
		return head + "\n\n" + st.faint.Render("reading…")
	case len(l.lines) == 0:
		return head + "\n\n" + st.faint.Render("nothing yet: star something, set a nickname or sign in, and watch it land here")
	}
	rows := make([]string, len(l.lines))
	for i, ln := range l.lines {
		rows[i] = l.row(ln)
	}
	return head + "\n\n" + l.list.view(st, rows, l.width, l.height-lipgloss.Height(head)-1)
}

// row is one fact: its time, kind and what it is about on the first line,
// what happened and why below, indented. Everything from the ledger is
// made inert: masked addresses, nicknames and item ids are its users'.
func (l *ledger) row(ln explain.Line) string {
	st := l.c.st
	first := st.faint.Render(ln.Time.UTC().Format("15:04:05")) + "  " + st.key.Render(inert.String(ln.Kind))
	if ln.About != "" {
		first += "  " + inert.String(ln.About)
	}
	text := inert.String(ln.What)
	if ln.Why != "" {
		text += ": " + inert.String(ln.Why)
	}
	const indent = "          "
	body := wrap(text, max(l.width-len(indent), 10))
	out := fit(first, l.width)
	for _, line := range strings.Split(body, "\n") {
		out += "\n" + indent + st.faint.Render(line)
	}
	return out
}
