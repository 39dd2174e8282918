package commands

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/attest-dev/attest/internal/cli"
)

// The SSH command line is the one piece of a command a stranger sends as
// a single string (an exec request), so it is bounded before anything
// looks at it. No command of ours needs more than a few words, and the
// longest argument is an address (254 octets); these limits leave room
// for flags and quoting without letting a 256 KB request cost anything.
const (
	MaxCommandLine = 4096 // octets
	MaxArgs        = 64
)

// Errors Split returns, each with a message fit to show as it is.
var (
	ErrUnbalancedQuote = errors.New("unbalanced quote: a ' or \" is opened and never closed")
	ErrTrailingEscape  = errors.New("the command line ends with a backslash that escapes nothing")
	ErrTooLong         = fmt.Errorf("the command line is too long (at most %d bytes)", MaxCommandLine)
	ErrTooManyArgs     = fmt.Errorf("the command line has too many words (at most %d)", MaxArgs)
)

// Split splits an SSH command line into words the way Wish's
// Session.Command does (github.com/anmitsu/go-shlex in POSIX mode, which
// mimics a Unix shell's quoting: '...' is literal, "..." takes \" and \\,
// a backslash outside quotes escapes the next character, words end at
// Unicode white space), so every command line that worked before means
// the same now, with three differences:
//
//   - an unbalanced quote or a trailing backslash is an error, where
//     go-shlex returned the words before it and dropped the rest (so
//     `code "A-1234` ran `code` with no argument);
//   - an empty quoted word (a pair of quotes with nothing between) is an
//     empty argument, as in a shell, where go-shlex dropped it;
//   - the input is bounded (MaxCommandLine, MaxArgs) and the work is
//     linear in it; go-shlex builds each word by string concatenation,
//     quadratic in a word's length, and Wish splits again on every call.
//
// Invalid UTF-8 is kept as it is (go-shlex turns it into U+FFFD); the
// commands escape whatever they print.
func Split(line string) ([]string, error) {
	if len(line) > MaxCommandLine {
		return nil, ErrTooLong
	}
	var (
		words []string
		word  strings.Builder
		in    bool // inside a word (possibly an empty quoted one)
		quote byte // the open quote, or 0
	)
	for i := 0; i < len(line); {
		c := line[i]
		switch {
		case quote == '\'':
			if c == '\'' {
				quote = 0
			} else {
				word.WriteByte(c)
			}
			i++
		case quote == '"':
			switch {
			case c == '"':
				quote = 0
			case c == '\\' && i+1 < len(line) && (line[i+1] == '"' || line[i+1] == '\\'):
				// Inside double quotes a backslash escapes only " and \;
				// before anything else it is itself.
				i++
				word.WriteByte(line[i])
			default:
				word.WriteByte(c)
			}
			i++
		case c == '\'' || c == '"':
			quote, in = c, true
			i++
		case c == '\\':
			if i+1 == len(line) {
				return nil, ErrTrailingEscape
			}
			// The escaped character is a whole rune, so that a backslash
			// before a multi-byte space keeps the space in the word.
			_, n := utf8.DecodeRuneInString(line[i+1:])
			word.WriteString(line[i+1 : i+1+n])
			in = true
			i += 1 + n
		default:
			r, n := utf8.DecodeRuneInString(line[i:])
			if r != utf8.RuneError && unicode.IsSpace(r) {
				if in {
					if len(words) == MaxArgs {
						return nil, ErrTooManyArgs
					}
					words = append(words, word.String())
					word.Reset()
					in = false
				}
			} else {
				word.WriteString(line[i : i+n])
				in = true
			}
			i += n
		}
	}
	if quote != 0 {
		return nil, ErrUnbalancedQuote
	}
	if in {
		if len(words) == MaxArgs {
			return nil, ErrTooManyArgs
		}
		words = append(words, word.String())
	}
	return words, nil
}

// RunLine splits the SSH command line as it came (Session.RawCommand) and
// runs it. A line that cannot be split is a usage error: exit 2 and the
// reason on stderr, and nothing runs.
func RunLine(ctx context.Context, env Env, line string) int {
	args, err := Split(line)
	if err != nil {
		if env.Stderr != nil {
			fmt.Fprintf(env.Stderr, "attest: %s\n", err)
		}
		return cli.ExitUsage
	}
	return Run(ctx, env, args)
}
