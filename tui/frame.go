package tui

import (
	"fmt"
	"strings"
	"time"

	tea "charm.land/bubbletea/v2"
	"charm.land/lipgloss/v2"

	"github.com/attest-dev/attest/internal/freshstack"
	"github.com/attest-dev/attest/internal/inert"
)

// The frame around the screens: the title bar, the notice, the body the top
// screen draws, and the help bar, laid out to the window.

func (r *root) tooSmall() bool { return r.width < minWidth || r.height < minHeight }

// layout draws the help bar for the state the last message left, and
// gives every screen the size of the body that leaves.
func (r *root) layout() {
	r.drawn = false
	r.helpBar = r.helpView()
	w, h := r.bodySize()
	for _, s := range r.stack {
		s.SetSize(w, h)
	}
	if fw, ok := r.top().(fullWindow); ok && fw.fullWindow(r.width, r.height) {
		r.top().SetSize(r.width, r.height)
	}
}

// bodySize is what the top screen has to draw in: the window less the
// margins, the title bar, the notice and the help bar, with a blank line
// between each.
func (r *root) bodySize() (width, height int) {
	width = max(r.width-2*margin, 1)
	height = r.height - 3 - lipgloss.Height(r.helpBar)
	if r.shownNotice() != "" {
		height -= lipgloss.Height(r.noticeView(width)) + 1
	}
	return width, max(height, 1)
}

// View is the frame as last drawn: Bubble Tea asks for it after every
// message, and the root draws it at the end of its Update (see plan).
func (r *root) View() tea.View {
	if !r.drawn {
		freshstack.Run(r.draw)
	}
	v := tea.NewView(r.frame)
	v.AltScreen = true
	v.WindowTitle = "attest"
	return v
}

// draw renders the frame, and notes how soon it changes by itself (0: not
// until something happens).
func (r *root) draw() {
	r.c.wake = 0
	r.frame, r.drawn = r.render(), true
	r.wake = r.c.wake
}

func (r *root) render() string {
	if r.quitting {
		return ""
	}
	if r.tooSmall() {
		return r.tooSmallView()
	}
	if fw, ok := r.top().(fullWindow); ok && fw.fullWindow(r.width, r.height) {
		// No bars: the screen needs every row (a QR code at 80x24).
		return r.top().View()
	}
	w, bodyH := r.bodySize()
	out := []string{r.titleBar(w), ""}
	if r.shownNotice() != "" {
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
	for _, l := range strings.Split(r.helpBar, "\n") {
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

// titleBar is "attest", the screen's name, and on the right the step-up
// badge, if any, and who this is.
// It is laid out again only when one of those, the width or the look
// changed.
func (r *root) titleBar(w int) string {
	key := titleKey{w: w, st: r.c.st, title: r.top().Title(), badge: r.badge(), who: r.identity()}
	if r.title.key != key {
		r.title = titleMemo{key: key, out: key.layout()}
	}
	return r.title.out
}

// titleKey is what the title bar shows; titleMemo, the bar as laid out.
type (
	titleKey struct {
		w                 int
		st                *styles
		title, badge, who string
	}
	titleMemo struct {
		key titleKey
		out string
	}
)

func (k titleKey) layout() string {
	st, w := k.st, k.w
	left := st.logo.Render("attest") + "  " + st.crumb.Render(k.title)
	room := max(w-lipgloss.Width(left)-2, 0)
	right := ""
	if b := k.badge; b != "" && lipgloss.Width(b)+2 <= room {
		right = st.badge.Render(b) + "  "
		room -= lipgloss.Width(b) + 2
	}
	right += st.identity.Render(fit(k.who, room))
	gap := w - lipgloss.Width(left) - lipgloss.Width(right)
	if gap < 1 {
		return fit(left, w)
	}
	return left + strings.Repeat(" ", gap) + right
}

// badge says, while the device is stepped up, for how much longer. It is
// worked out at every drawing from the service's clock, and drawn again
// when its countdown's text changes (a minute at a time, then seconds),
// which also takes it away when it lapses.
func (r *root) badge() string {
	left := stepUpLeft(r.c)
	if left <= 0 {
		return ""
	}
	return "stepped up · " + countdown(left)
}

// stepUpLeft is how long the device stays stepped up (0: it is not).
// What is drawn from it is drawn again when its countdown would change,
// the moment it lapses included.
func stepUpLeft(c *common) time.Duration {
	if !c.visitor.Account {
		return 0
	}
	left := max(c.visitor.StepUpUntil.Sub(c.svc.Now()), 0)
	if left > 0 {
		c.redrawIn(countdownChanges(left))
	}
	return left
}

// countdown is a short time left: "1h", "42m", "9s" (seconds rounded up,
// so the last second still shows).
func countdown(d time.Duration) string {
	switch {
	case d >= time.Hour:
		return fmt.Sprintf("%dh", int(d/time.Hour))
	case d >= time.Minute:
		return fmt.Sprintf("%dm", int(d/time.Minute))
	}
	return fmt.Sprintf("%ds", int((d+time.Second-1)/time.Second))
}

// countdownChanges is how soon countdown(left) says something else: at
// the next whole hour or minute below left (they round down), or the next
// whole second (it rounds up).
func countdownChanges(left time.Duration) time.Duration {
	unit := time.Second
	switch {
	case left >= time.Hour:
		unit = time.Hour
	case left >= time.Minute:
		unit = time.Minute
	}
	d := left % unit
	if unit == time.Second {
		if d == 0 {
			d = unit
		}
		return d
	}
	return d + 1 // strictly below the whole unit
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
	return r.c.st.notice.Render(wrap(r.shownNotice(), w))
}

func (r *root) tooSmallView() string {
	st := r.c.st
	msg := fmt.Sprintf("window too small (need at least %dx%d, have %dx%d)", minWidth, minHeight, r.width, r.height)
	w := max(r.width, 1)
	text := st.warn.Render(wrap(msg, w)) + "\n\n" + st.faint.Render(wrap("make it larger, or press q to quit", w))
	if lipgloss.Height(text) > r.height {
		// A very small window keeps the way out in view.
		text = st.warn.Render(wrap(fmt.Sprintf("too small (need %dx%d)", minWidth, minHeight), w)) + "\n" + st.faint.Render(wrap("q quits", w))
	}
	return lipgloss.Place(w, max(r.height, 1), lipgloss.Center, lipgloss.Center, text)
}
