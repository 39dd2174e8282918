package inert

import (
	"strings"
	"testing"
)

func TestString(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", ""},
		{"Grace Hopper", "Grace Hopper"},
		{"grace@example.com", "grace@example.com"},
		{"Grâce Hopper ★", "Grâce Hopper ★"},
		{"Zoë 東京 ★ 🚀", "Zoë 東京 ★ 🚀"},
		{`back\slash`, `back\slash`},
		{"\x1b]52;c;aGVsbG8=\x07", `\x1b]52;c;aGVsbG8=\x07`}, // OSC 52: write the clipboard
		{"\x1b[2J", `\x1b[2J`},                               // clear the screen
		{"\x1b[31mred\x1b[0m", `\x1b[31mred\x1b[0m`},         // CSI colour
		{"\x1b]0;pwned\x07", `\x1b]0;pwned\x07`},             // OSC window title, BEL
		{"a\nb\rc\td\x00", `a\nb\rc\td\x00`},                 // layout and NUL
		{"del\x7f", `del\x7f`},                               // DEL
		{"c1\u009b31m", `c1\u009b31m`},                       // C1 CSI, as UTF-8
		{"\u0085next", `\u0085next`},                         // C1 NEL
		{"raw\x9b31m", `raw\x9b31m`},                         // a raw C1 byte, not UTF-8
		{"bad\xff\xfe", `bad\xff\xfe`},                       // invalid UTF-8
		{"abc\u202Egpj.exe", `abc\u202egpj.exe`},             // right-to-left override
		{"zero\u200Bwidth\uFEFF", `zero\u200bwidth\ufeff`},
		{"iso\u2066late\u2069", `iso\u2066late\u2069`}, // bidi isolates
		{"line\u2028para\u2029", `line\u2028para\u2029`},
		{"tag\U000E0041", `tag\U000e0041`}, // tag characters are format characters beyond the BMP
		{"\uFFFD", "\uFFFD"},               // a real replacement character is text
	} {
		got := String(tc.in)
		if got != tc.want {
			t.Errorf("String(%q) = %q, want %q", tc.in, got, tc.want)
		}
		if needsEscape(got, false) {
			t.Errorf("String(%q) = %q still holds something a terminal acts on", tc.in, got)
		}
	}
}

func TestLinesKeepsLineBreaks(t *testing.T) {
	got := Lines("Code B: 4821\n\x1b[2Jgone\r\n")
	if got != "Code B: 4821\n\\x1b[2Jgone\\r\n" {
		t.Fatalf("Lines = %q", got)
	}
	if needsEscape(strings.ReplaceAll(got, "\n", ""), false) {
		t.Fatalf("Lines left something a terminal acts on: %q", got)
	}
}

func TestAddressWarnsOfLookAlikes(t *testing.T) {
	for in, want := range map[string]string{
		"bob@xn--exmple-4nf.com":        "bob@xn--exmple-4nf.com (look-alike domain: it mixes Cyrillic and Latin letters)",
		"bob@bücher.de":                 "bob@bücher.de",
		"+44 7400 900123":               "+44 7400 900123",
		"bob\x1b[2J@xn--exmple-4nf.com": `bob\x1b[2J@xn--exmple-4nf.com (look-alike domain: it mixes Cyrillic and Latin letters)`,
	} {
		if got := Address(in); got != want {
			t.Errorf("Address(%q) = %q, want %q", in, got, want)
		}
	}
}
