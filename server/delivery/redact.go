package delivery

import (
	"regexp"
	"strings"
)

const maxErrText = 1000

var tokenRe = regexp.MustCompile(`[A-Za-z0-9_-]+`)

// redaction replaces every occurrence of a sensitive value in error text.
type redaction struct {
	value, placeholder string
}

// scrubbedError carries error text with sensitive values removed. It still
// unwraps to the original error so that errors.Is(err, context.Canceled)
// and friends keep working; only Error() is meant to be shown or recorded.
type scrubbedError struct {
	msg string
	err error
}

func (e *scrubbedError) Error() string { return e.msg }
func (e *scrubbedError) Unwrap() error { return e.err }

// scrub removes the given values from err's text. Matching ignores case
// because servers are free to echo an address in another case.
func scrub(err error, rs ...redaction) error {
	if err == nil {
		return nil
	}
	msg := scrubText(err.Error(), rs...)
	// A remote server's reply can run to many lines; the ledger wants a
	// reason, not a transcript.
	if len(msg) > maxErrText {
		msg = strings.ToValidUTF8(msg[:maxErrText], "") + "…"
	}
	if msg == err.Error() {
		return err
	}
	return &scrubbedError{msg: msg, err: err}
}

func scrubText(s string, rs ...redaction) string {
	for _, r := range rs {
		if strings.TrimSpace(r.value) == "" {
			continue
		}
		re := regexp.MustCompile("(?i)" + regexp.QuoteMeta(r.value))
		if len(r.value) >= wholeWordBelow {
			s = re.ReplaceAllLiteralString(s, r.placeholder)
			continue
		}
		// A value of 1 to 3 characters (a password "p") is everywhere inside
		// words: replacing each would mask the whole message
		// ("smt[redacted]"). It is replaced where it stands alone.
		var b strings.Builder
		last := 0
		for _, m := range re.FindAllStringIndex(s, -1) {
			if m[0] < last || wordByte(s, m[0]-1) || wordByte(s, m[1]) {
				continue
			}
			b.WriteString(s[last:m[0]])
			b.WriteString(r.placeholder)
			last = m[1]
		}
		s = b.String() + s[last:]
	}
	return s
}

// wholeWordBelow is the length under which a value is redacted only where
// it is not part of a longer word.
const wholeWordBelow = 4

// wordByte reports whether s[i] is a letter or digit (false outside s).
func wordByte(s string, i int) bool {
	if i < 0 || i >= len(s) {
		return false
	}
	c := s[i]
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= 0x80
}

// bodyRedactions covers the message text: whole, line by line, and every
// word that carries a digit (one-time codes, link tokens), because a server
// that echoes part of a message would most likely echo exactly those.
func bodyRedactions(text string) []redaction {
	const ph = "[message]"
	rs := []redaction{{text, ph}}
	for _, line := range strings.Split(text, "\n") {
		if line = strings.TrimSpace(line); len(line) >= 4 {
			rs = append(rs, redaction{line, ph})
		}
	}
	words := strings.Fields(text)
	// The token inside a link counts too, without the rest of the URL.
	words = append(words, tokenRe.FindAllString(text, -1)...)
	for _, w := range words {
		if len(w) >= 4 && strings.ContainsAny(w, "0123456789") {
			rs = append(rs, redaction{w, ph})
		}
	}
	return rs
}
