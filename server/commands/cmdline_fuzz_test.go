package commands

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	shlex "github.com/anmitsu/go-shlex"
)

// FuzzSplit checks the command-line splitter against what it replaces
// (go-shlex in POSIX mode, as Wish's Session.Command uses it): on every
// valid-UTF-8 line the two agree on the words (but for the empty quoted
// words go-shlex drops) and on whether the line is broken. It also checks
// the bounds, and that words quoted back into a line split to themselves.
func FuzzSplit(f *testing.F) {
	for _, s := range []string{
		"whoami --json",
		`code "A-1234`,
		`code 'A-1234`,
		`nickname "say \"hi\" \\ \n"`,
		`nickname 'it''s' a\ b`,
		`x "" ''`,
		"a\u00a0b\u3000c\u0085d",
		`a\`,
		`"a\`,
		"\\\u00a0",
		"\xff'\xfe",
		strings.Repeat("a ", MaxArgs+1),
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		words, err := Split(line)
		if len(line) > MaxCommandLine {
			if !errors.Is(err, ErrTooLong) {
				t.Fatalf("Split of %d bytes: %v", len(line), err)
			}
			return
		}
		if err != nil && words != nil {
			t.Fatalf("Split(%q) = %q with error %v", line, words, err)
		}
		if len(words) > MaxArgs {
			t.Fatalf("Split(%q): %d words", line, len(words))
		}
		if utf8.ValidString(line) && !errors.Is(err, ErrTooManyArgs) {
			old, oldErr := shlex.Split(line, true)
			if (err == nil) != (oldErr == nil) {
				t.Fatalf("Split(%q) = %q, %v; go-shlex: %q, %v", line, words, err, old, oldErr)
			}
			nonEmpty := slices.DeleteFunc(slices.Clone(words), func(w string) bool { return w == "" })
			if err == nil && !slices.Equal(nonEmpty, old) {
				t.Fatalf("Split(%q) = %q; go-shlex: %q", line, words, old)
			}
		}
		if err != nil {
			return
		}
		quoted := make([]string, len(words))
		for i, w := range words {
			quoted[i] = "'" + strings.ReplaceAll(w, "'", `'\''`) + "'"
		}
		again, err := Split(strings.Join(quoted, " "))
		if err != nil && !errors.Is(err, ErrTooLong) {
			t.Fatalf("words %q quoted back: %v", words, err)
		}
		if err == nil && !slices.Equal(again, words) {
			t.Fatalf("words %q quoted back split to %q", words, again)
		}
	})
}
