// Package inert makes untrusted text safe to put on a terminal. Another
// user's nickname, an address someone typed, the SSH user name a client
// chose, an error message quoting any of them: all of it passes through
// here before it reaches a screen, a command's output or the inbox.
package inert

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/attest-dev/attest/flows/address"
)

// String replaces every character a terminal could act on instead of
// showing with a visible escape. That is the C0 controls and DEL (\x1b,
// \x7f: escape sequences start with one), the C1 controls (\u009b is a
// one-character CSI to some terminals), Unicode format characters (\u202e
// reverses the text after it, zero-width ones hide text), the line and
// paragraph separators, and bytes that are not UTF-8 (\xff; a raw 0x9b is
// a CSI to an 8-bit terminal). Newline, return and tab read as \n, \r and
// \t.
//
// Everything else is left alone, backslashes included: the point is that
// nothing acts, and names with a backslash should read as typed.
func String(s string) string { return escape(s, false) }

// Address is String for an address as flows displays it (Display,
// Issued.To, AddressInfo.Display): an email address whose domain is a
// look-alike (shown in its xn-- form) gets a warning after it, so that
// wherever a person reads an address they are told when it is not what it
// may seem.
func Address(s string) string { return String(address.WarnLookAlike(s)) }

// Lines is String for text of several lines: newlines are kept as line
// breaks, everything else is escaped as String does.
func Lines(s string) string { return escape(s, true) }

// Hazardous reports whether a terminal might act on r rather than show it.
func Hazardous(r rune) bool {
	return unicode.IsControl(r) || // C0, DEL, C1
		unicode.Is(unicode.Cf, r) || // bidi overrides, zero-width characters, tags
		r == '\u2028' || r == '\u2029'
}

func escape(s string, keepNewlines bool) string {
	if !needsEscape(s, keepNewlines) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case r == '\n' && keepNewlines:
			b.WriteByte('\n')
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r < 0x80 && Hazardous(r):
			fmt.Fprintf(&b, `\x%02x`, r)
		case r <= 0xFFFF && Hazardous(r):
			fmt.Fprintf(&b, `\u%04x`, r)
		case Hazardous(r):
			fmt.Fprintf(&b, `\U%08x`, r)
		default:
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}

func needsEscape(s string, keepNewlines bool) bool {
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if (r == utf8.RuneError && size == 1) || (Hazardous(r) && !(keepNewlines && r == '\n')) {
			return true
		}
		i += size
	}
	return false
}
