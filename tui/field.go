package tui

import (
	"charm.land/bubbles/v2/textinput"
)

// maxPasswordInput bounds what a password field holds: well above the
// flows' longest password (256 characters), so that the flows refuse a
// longer one in words instead of the field cutting it short unseen, and
// low enough that nobody can paste a megabyte into a session.
const maxPasswordInput = 1024

// newField is a text field as every screen wants it: the "> " prompt and
// a length limit, and no ctrl+v. The text input's own ctrl+v reads the
// clipboard of the machine the program runs on, which in a server is the
// server's, not the visitor's; what a visitor pastes arrives as a
// bracketed paste (tea.PasteMsg), which the field takes as ever.
func newField(limit int) textinput.Model {
	f := textinput.New()
	f.Prompt = "> "
	f.CharLimit = limit
	f.KeyMap.Paste.SetEnabled(false)
	return f
}

// newPasswordField is a field that shows a mark for each character typed
// and never the characters. Screens clear it as soon as the flow that
// needs the password has been started, so the password lives in the model
// no longer than that.
func newPasswordField(placeholder string) textinput.Model {
	f := newField(maxPasswordInput)
	f.EchoMode = textinput.EchoPassword
	f.EchoCharacter = '*'
	f.Placeholder = placeholder
	return f
}
