package tui

import (
	"strings"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"
	"charm.land/lipgloss/v2"

	"github.com/attest-dev/attest/flows"
	"github.com/attest-dev/attest/flows/address"
	"github.com/attest-dev/attest/internal/inert"
)

// history is the account's addresses over time, newest first: every
// address added, confirmed and ended, from the ledger's facts.
type history struct {
	c       *common
	events  []flows.AddressEvent // newest first
	loaded  bool
	problem string
	list    scroll

	width, height int
}

type historyMsg struct {
	events []flows.AddressEvent
	err    error
}

func newHistory(c *common) *history { return &history{c: c} }

func (h *history) Init() tea.Cmd             { return h.load() }
func (h *history) SetSize(width, height int) { h.width, h.height = width, height }
func (h *history) Title() string             { return "address history" }
func (h *history) Focused() bool             { return false }

func (h *history) Keys() helpKeys {
	k := h.c.keys
	b := scrollKeys(k)
	return helpKeys{short: b, full: [][]key.Binding{b}}
}

func (h *history) load() tea.Cmd {
	ctx, svc, dev := h.c.ctx, h.c.svc, h.c.dev
	return func() tea.Msg {
		evs, err := svc.History(ctx, dev)
		return historyMsg{events: evs, err: err}
	}
}

func (h *history) Update(msg tea.Msg) tea.Cmd {
	switch msg := msg.(type) {
	case refreshMsg:
		return h.load()
	case historyMsg:
		h.loaded = true
		if msg.err != nil {
			h.problem = problemText(msg.err)
			return nil
		}
		h.problem = ""
		// The flows list oldest first; the newest is what people look for.
		h.events = h.events[:0]
		for i := len(msg.events) - 1; i >= 0; i-- {
			h.events = append(h.events, msg.events[i])
		}
	case tea.KeyPressMsg:
		h.list.key(msg, h.c.keys)
	}
	return nil
}

func (h *history) View() string {
	st := h.c.st
	head := st.heading.Render("Address history") + "  " + st.faint.Render("newest first")
	switch {
	case h.problem != "":
		return head + "\n\n" + st.bad.Render(wrap("✗ "+h.problem, h.width))
	case !h.loaded:
		return head + "\n\n" + st.faint.Render("reading…")
	case len(h.events) == 0:
		return head + "\n\n" + st.faint.Render("none")
	}
	cells := [][]string{{"WHEN", "WHAT", "KIND", "ADDRESS", "HOW"}}
	for _, ev := range h.events {
		cells = append(cells, []string{
			ev.Time.UTC().Format("2006-01-02 15:04 UTC"),
			inert.String(ev.Event),
			inert.String(string(ev.Kind)),
			shortAddress(ev.Kind, ev.Display),
			inert.String(ev.Detail),
		})
	}
	ws := make([]int, len(cells[0]))
	for _, r := range cells {
		for i, c := range r {
			ws[i] = max(ws[i], lipgloss.Width(c))
		}
	}
	var out []string
	for n, r := range cells {
		var b strings.Builder
		for i, c := range r {
			if i > 0 {
				b.WriteString("  ")
			}
			pad := strings.Repeat(" ", ws[i]-lipgloss.Width(c))
			switch {
			case n == 0:
				b.WriteString(st.columnHead.Render(c) + pad)
			case i == 0 || i == 4:
				b.WriteString(st.faint.Render(c) + pad)
			default:
				b.WriteString(c + pad)
			}
		}
		out = append(out, strings.TrimRight(b.String(), " "))
	}
	// The heading, a blank line and the column heads stay; the rows scroll.
	return head + "\n\n" + fit(out[0], h.width) + "\n" + h.list.view(st, out[1:], h.width, h.height-3)
}

// shortAddress is an address for a narrow cell: a key's fingerprint is
// shortened, the rest shown whole. The result is inert.
func shortAddress(k address.Kind, display string) string {
	if k == address.SSHKey {
		return shortTag(display)
	}
	return inert.Address(display)
}
