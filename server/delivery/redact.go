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
		s = re.ReplaceAllLiteralString(s, r.placeholder)
	}
	return s
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
