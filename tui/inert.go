package tui

import (
	"strings"

	tea "charm.land/bubbletea/v2"

	"github.com/attest-dev/attest/internal/inert"
)

// typedOnly drops, from a key press or paste headed for a text field, the
// characters inert would have to escape. The text fields already drop
// control characters; this also drops invisible formatting, so what a
// field shows is exactly what it holds. It returns nil when nothing is
// left to type.
func typedOnly(msg tea.Msg) tea.Msg {
	clean := func(s string) string {
		return strings.Map(func(r rune) rune {
			if inert.Hazardous(r) {
				return -1
			}
			return r
		}, s)
	}
	switch m := msg.(type) {
	case tea.KeyPressMsg:
		if m.Text == "" || strings.IndexFunc(m.Text, inert.Hazardous) < 0 {
			return m
		}
		if m.Text = clean(m.Text); m.Text == "" {
			return nil
		}
		return m
	case tea.PasteMsg:
		m.Content = clean(m.Content)
		return m
	}
	return msg
}

// typing reports whether msg is something typed (a key or a paste), as
// opposed to the messages a screen also gets when time moves or its data
// changed elsewhere: those must not clear what a screen said about the
// last thing typed.
func typing(msg tea.Msg) bool {
	switch msg.(type) {
	case tea.KeyPressMsg, tea.PasteMsg:
		return true
	}
	return false
}
