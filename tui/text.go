package tui

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"charm.land/lipgloss/v2"
	"github.com/charmbracelet/x/ansi"

	"github.com/attest-dev/attest/flows/message"
	"github.com/attest-dev/attest/internal/inert"
)

// channelNoun names the kind of address a message went to.
func channelNoun(ch message.Channel) string {
	if ch == message.SMS {
		return "phone number"
	}
	return "email address"
}

// shortTag shortens a device tag for a row: an SSH key's fingerprint keeps
// its head and tail ("SHA256:q8XkP2mV…UvB"), enough to tell keys apart.
// The tag is passed through inert.
func shortTag(tag string) string {
	tag = inert.String(tag)
	const head, tail = 15, 4
	r := []rune(tag)
	if len(r) <= head+tail+1 {
		return tag
	}
	return string(r[:head]) + "…" + string(r[len(r)-tail:])
}

// ago is a short relative time for table cells ("just now", "4m ago",
// "in 30s"); full times use flows.When.
func ago(t, now time.Time) string {
	d := now.Sub(t).Round(time.Second)
	future := d < 0
	if future {
		d = -d
	}
	var s string
	switch {
	case d < 5*time.Second:
		return "just now"
	case d < time.Minute:
		s = fmt.Sprintf("%ds", int(d/time.Second))
	case d < time.Hour:
		s = fmt.Sprintf("%dm", int(d/time.Minute))
	case d < 48*time.Hour:
		s = fmt.Sprintf("%dh", int(d/time.Hour))
	default:
		s = fmt.Sprintf("%dd", int(d/(24*time.Hour)))
	}
	if future {
		return "in " + s
	}
	return s + " ago"
}

// wrap breaks text into lines no wider than width, at spaces when it can.
func wrap(s string, width int) string {
	if width < 1 {
		return s
	}
	return ansi.Wrap(s, width, "")
}

// fit cuts a (possibly styled) line to width, ending it with … when cut.
func fit(s string, width int) string {
	if width < 1 {
		return ""
	}
	return ansi.Truncate(s, width, "…")
}

// fields lays out label/value rows with the labels in one column. A value
// that does not fit wraps under itself, never under the labels.
type fields struct {
	st    *styles
	width int
	rows  [][2]string
	memo  *fieldsMemo // if set, the last layout, reused while nothing changed
}

// fieldsMemo is a screen's last layout of its fields: a screen drawn again
// for a key that changes something else lays them out once.
type fieldsMemo struct {
	width int
	rows  [][2]string
	out   string
}

func (f *fields) add(label, value string) { f.rows = append(f.rows, [2]string{label, value}) }

func (f *fields) String() string {
	if m := f.memo; m != nil {
		if m.width == f.width && slices.Equal(m.rows, f.rows) {
			return m.out
		}
		out := f.layout()
		*m = fieldsMemo{width: f.width, rows: f.rows, out: out}
		return out
	}
	return f.layout()
}

func (f *fields) layout() string {
	lw := 0
	for _, r := range f.rows {
		lw = max(lw, lipgloss.Width(r[0]))
	}
	lw += 2
	var b strings.Builder
	for i, r := range f.rows {
		if i > 0 {
			b.WriteByte('\n')
		}
		label := f.st.label.Render(r[0] + strings.Repeat(" ", lw-lipgloss.Width(r[0])))
		lines := strings.Split(wrap(r[1], f.width-lw), "\n")
		for j, l := range lines {
			if j > 0 {
				b.WriteByte('\n')
				label = strings.Repeat(" ", lw)
			}
			b.WriteString(label + l)
		}
	}
	return b.String()
}

// flow lays items out in lines no wider than width, joined by sep, never
// breaking an item (unless it is wider than a line on its own).
func flow(items []string, sep string, width int) string {
	var lines []string
	line := ""
	for _, it := range items {
		switch {
		case line == "":
			line = it
		case lipgloss.Width(line+sep+it) <= width:
			line += sep + it
		default:
			lines = append(lines, line)
			line = it
		}
	}
	if line != "" {
		lines = append(lines, line)
	}
	return wrap(strings.Join(lines, "\n"), width)
}
