package tui

import (
	"fmt"
	"strings"

	tea "charm.land/bubbletea/v2"
	"charm.land/lipgloss/v2"

	"github.com/attest-dev/attest/tui/inert"
)

// The frame around the screens: the title bar, the notice, the body the top
// screen draws, and the help bar, laid out to the window.

func (r *root) tooSmall() bool { return r.width < minWidth || r.height < minHeight }

// layout gives every screen the size of the body.
func (r *root) layout() {
	r.help.SetWidth(max(r.width-2*margin, 1))
	w, h := r.bodySize()
	for _, s := range r.stack {
		s.SetSize(w, h)
	}
}

// bodySize is what the top screen has to draw in: the window less the
// margins, the title bar, the notice and the help bar, with a blank line
// between each.
func (r *root) bodySize() (width, height int) {
	width = max(r.width-2*margin, 1)
	height = r.height - 3 - lipgloss.Height(r.helpView())
	if r.notice != "" {
		height -= lipgloss.Height(r.noticeView(width)) + 1
	}
	return width, max(height, 1)
}

func (r *root) View() tea.View {
	v := tea.NewView(r.render())
	v.AltScreen = true
	v.WindowTitle = "attest"
	return v
}

func (r *root) render() string {
	if r.quitting {
		return ""
	}
	if r.tooSmall() {
		return r.tooSmallView()
	}
	w, bodyH := r.bodySize()
	out := []string{r.titleBar(w), ""}
	if r.notice != "" {
		out = append(out, strings.Split(r.noticeView(w), "\n")...)
		out = append(out, "")
	}
	body := strings.Split(r.top().View(), "\n")
	for i := range bodyH {
		line := ""
		if i < len(body) {
			line = fit(body[i], w)
		}
		out = append(out, line)
	}
	out = append(out, "")
	for _, l := range strings.Split(r.helpView(), "\n") {
		out = append(out, fit(l, w))
	}

	pad := strings.Repeat(" ", margin)
	for i, l := range out {
		if l != "" {
			out[i] = pad + l
		}
	}
	return strings.Join(out, "\n")
}

// titleBar is "attest", the screen's name, and who this is on the right.
func (r *root) titleBar(w int) string {
	st := r.c.st
	left := st.logo.Render("attest") + "  " + st.crumb.Render(r.top().Title())
	right := st.identity.Render(fit(r.identity(), max(w-lipgloss.Width(left)-2, 0)))
	gap := w - lipgloss.Width(left) - lipgloss.Width(right)
	if gap < 1 {
		return fit(left, w)
	}
	return left + strings.Repeat(" ", gap) + right
}

// identity is the short form of who this is, for the title bar.
func (r *root) identity() string {
	v := r.c.visitor
	switch {
	case v.Account:
		return displayName(v)
	case v.Nickname != "":
		return inert.String(v.Nickname) + " (anonymous)"
	}
	return "anonymous"
}

func (r *root) noticeView(w int) string {
	return r.c.st.notice.Render(wrap(r.notice, w))
}

func (r *root) tooSmallView() string {
	st := r.c.st
	msg := fmt.Sprintf("window too small (need at least %dx%d, have %dx%d)", minWidth, minHeight, r.width, r.height)
	w := max(r.width, 1)
	text := st.warn.Render(wrap(msg, w)) + "\n\n" + st.faint.Render(wrap("make it larger, or press q to quit", w))
	return lipgloss.Place(w, max(r.height, 1), lipgloss.Center, lipgloss.Center, text)
}
