package tui

import (
	"strings"

	"charm.land/bubbles/v2/key"
	"charm.land/lipgloss/v2"
)

// sharedKeys are the keys of the root that the help bar shows.
func (r *root) sharedKeys() []key.Binding {
	k := r.c.keys
	if r.top().Focused() {
		if r.showAll {
			return []key.Binding{with(k.Ledger, "ctrl+g", "ledger"), k.ForceQuit}
		}
		return []key.Binding{k.ForceQuit}
	}
	var shared []key.Binding
	if len(r.stack) > 1 {
		shared = append(shared, k.Back)
	}
	h := k.Help
	if r.showAll {
		h = with(h, "?", "less")
	}
	// L works everywhere; the short bar leaves it to ? and to home's
	// line about it, so every screen's own keys keep their room.
	if _, open := r.top().(*ledger); !open && r.showAll {
		shared = append(shared, k.Ledger)
	}
	return append(shared, h, k.Quit)
}

// helpView is the help bar: the top screen's keys, then the shared ones,
// which stay in sight however narrow the window (the screen's are cut
// first, and ? shows them all).
func (r *root) helpView() string {
	own, shared := r.top().Keys(), r.sharedKeys()
	width := max(r.width-2*margin, 1)
	if r.showAll {
		// The look's model, at this window's width: a copy, made only
		// while the full help shows (a help.Model is 4.6 KB, too much to
		// keep one in every session).
		h := r.c.st.help
		h.SetWidth(width)
		return h.FullHelpView(append(own.full[:len(own.full):len(own.full)], shared))
	}
	tail := shortHelp(r.c.st, shared, width)
	if !anyEnabled(own.short) {
		return tail
	}
	sep, sepW := helpSep(r.c.st)
	return shortHelp(r.c.st, own.short, width-lipgloss.Width(tail)-sepW) + sep + tail
}

func helpSep(st *styles) (string, int) {
	h := &st.help
	return st.drawnW("help-sep", func() string { return h.Styles.ShortSeparator.Render(h.ShortSeparator) })
}

// shortHelp is a one-line help of as many bindings as fit in width, with
// … when some did not. (help.Model's own line overflows when the … itself
// does not fit.) Each item is drawn once per look (see styles.drawn).
func shortHelp(looks *styles, bindings []key.Binding, width int) string {
	h := &looks.help
	st := &h.Styles
	sep, sepW := helpSep(looks)
	more, moreW := looks.drawnW("help-more", func() string { return " " + st.Ellipsis.Render(h.Ellipsis) })
	var shown []key.Binding
	for _, kb := range bindings {
		if kb.Enabled() {
			shown = append(shown, kb)
		}
	}
	var b strings.Builder
	used := 0
	for i, kb := range shown {
		kh := kb.Help()
		item, itemW := looks.drawnW("help\x00"+kh.Key+"\x00"+kh.Desc, func() string {
			return st.ShortKey.Render(kh.Key) + " " + st.ShortDesc.Render(kh.Desc)
		})
		if used > 0 {
			item, itemW = sep+item, sepW+itemW
		}
		limit := width
		if i < len(shown)-1 {
			limit -= moreW // keep room to say that more did not fit
		}
		if used+itemW > limit {
			if used > 0 {
				b.WriteString(more)
			}
			break
		}
		used += itemW
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
