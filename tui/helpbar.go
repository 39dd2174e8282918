package tui

import (
	"strings"

	"charm.land/bubbles/v2/help"
	"charm.land/bubbles/v2/key"
	"charm.land/lipgloss/v2"
)

// sharedKeys are the keys of the root that the help bar shows.
func (r *root) sharedKeys() []key.Binding {
	k := r.c.keys
	if r.top().Focused() {
		if r.help.ShowAll {
			return []key.Binding{with(k.Ledger, "ctrl+g", "ledger"), k.ForceQuit}
		}
		return []key.Binding{k.ForceQuit}
	}
	var shared []key.Binding
	if len(r.stack) > 1 {
		shared = append(shared, k.Back)
	}
	h := k.Help
	if r.help.ShowAll {
		h = with(h, "?", "less")
	}
	// L works everywhere; the short bar leaves it to ? and to home's
	// line about it, so every screen's own keys keep their room.
	if _, open := r.top().(*ledger); !open && r.help.ShowAll {
		shared = append(shared, k.Ledger)
	}
	return append(shared, h, k.Quit)
}

// helpView is the help bar: the top screen's keys, then the shared ones,
// which stay in sight however narrow the window (the screen's are cut
// first, and ? shows them all).
func (r *root) helpView() string {
	own, shared := r.top().Keys(), r.sharedKeys()
	if r.help.ShowAll {
		return r.help.FullHelpView(append(own.full[:len(own.full):len(own.full)], shared))
	}
	tail := shortHelp(r.help, shared, r.help.Width())
	if !anyEnabled(own.short) {
		return tail
	}
	sep := r.help.Styles.ShortSeparator.Render(r.help.ShortSeparator)
	return shortHelp(r.help, own.short, r.help.Width()-lipgloss.Width(tail)-lipgloss.Width(sep)) + sep + tail
}

// shortHelp is a one-line help of as many bindings as fit in width, with
// … when some did not. (help.Model's own line overflows when the … itself
// does not fit.)
func shortHelp(h help.Model, bindings []key.Binding, width int) string {
	st := h.Styles
	sep := st.ShortSeparator.Render(h.ShortSeparator)
	more := " " + st.Ellipsis.Render(h.Ellipsis)
	var shown []key.Binding
	for _, kb := range bindings {
		if kb.Enabled() {
			shown = append(shown, kb)
		}
	}
	var b strings.Builder
	used := 0
	for i, kb := range shown {
		item := st.ShortKey.Render(kb.Help().Key) + " " + st.ShortDesc.Render(kb.Help().Desc)
		if used > 0 {
			item = sep + item
		}
		limit := width
		if i < len(shown)-1 {
			limit -= lipgloss.Width(more) // keep room to say that more did not fit
		}
		if used+lipgloss.Width(item) > limit {
			if used > 0 {
				b.WriteString(more)
			}
			break
		}
		used += lipgloss.Width(item)
		b.WriteString(item)
	}
	return b.String()
}

func anyEnabled(bindings []key.Binding) bool {
	for _, kb := range bindings {
		if kb.Enabled() {
			return true
		}
	}
	return false
}
