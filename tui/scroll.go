package tui

import (
	"fmt"
	"strings"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"
	"charm.land/lipgloss/v2"
)

// scroll is the screens' one scrolling list: rows of one or more lines
// each, shown from the row at offset for as many as fit, with a last line
// saying how many more are below. The ledger panel, the address history
// and the devices table all scroll with it, so they answer the same keys.
type scroll struct {
	offset int
	page   int // rows shown at the last view: what page down moves
}

// scrollKeys are the keys a scrolling list answers to, for the help bar.
func scrollKeys(k *keyMap) []key.Binding {
	return []key.Binding{with(k.Up, "↑/k", "scroll up"), with(k.Down, "↓/j", "scroll down")}
}

// key moves the list for up, down, page up, page down, home and end, and
// reports whether msg was one of them. view keeps the offset in range.
func (s *scroll) key(msg tea.KeyPressMsg, k *keyMap) bool {
	switch {
	case key.Matches(msg, k.Up):
		s.offset = max(s.offset-1, 0)
	case key.Matches(msg, k.Down):
		s.offset++
	case msg.String() == "pgup":
		s.offset = max(s.offset-max(s.page, 1), 0)
	case msg.String() == "pgdown", msg.String() == "space":
		s.offset += max(s.page, 1)
	case msg.String() == "home", msg.String() == "g":
		s.offset = 0
	case msg.String() == "end", msg.String() == "G":
		s.offset = 1 << 30
	default:
		return false
	}
	return true
}

// view renders rows into at most height lines, each cut to width. The
// offset stops where the last row is in sight, so the list never scrolls
// into blank space.
func (s *scroll) view(st *styles, rows []string, width, height int) string {
	height = max(height, 1)
	heights := make([]int, len(rows))
	for i, r := range rows {
		heights[i] = lipgloss.Height(r)
	}
	// The furthest offset from which the rest fits in height.
	last, used := len(rows), 0
	for last > 0 && used+heights[last-1] <= height {
		last--
		used += heights[last]
	}
	s.offset = max(min(s.offset, last), 0)

	var out []string
	shown := 0
	for i := s.offset; i < len(rows); i++ {
		room := height - len(out)
		if i < len(rows)-1 {
			room-- // keep a line to say more are below
		}
		if heights[i] > room {
			if shown == 0 { // a row taller than the window: show its top
				for _, l := range strings.Split(rows[i], "\n")[:max(room, 1)] {
					out = append(out, fit(l, width))
				}
				shown++
			}
			break
		}
		for _, l := range strings.Split(rows[i], "\n") {
			out = append(out, fit(l, width))
		}
		shown++
	}
	s.page = max(shown, 1)
	if below := len(rows) - s.offset - shown; below > 0 {
		out = append(out, st.faint.Render(fmt.Sprintf("↓ %d more", below)))
	}
	return strings.Join(out, "\n")
}
