package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/attest-dev/attest/internal/inert"
)

// WriteJSON writes v as one line of JSON.
func WriteJSON(w io.Writer, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode JSON: %w", err)
	}
	b = append(jsonInert(b), '\n')
	_, err = w.Write(b)
	return err
}

// jsonInert escapes, as \uXXXX, what encoding/json leaves raw but a
// terminal could act on: DEL, the C1 controls and format characters such
// as U+202E. (It already escapes C0 controls and U+2028/9.) People read
// --json output on a terminal too. Such characters can only be inside
// strings, where \u escapes mean the same thing, so the decoded value is
// unchanged.
func jsonInert(b []byte) []byte {
	if strings.IndexFunc(string(b), inert.Hazardous) < 0 {
		return b
	}
	out := make([]byte, 0, len(b)+32)
	for i := 0; i < len(b); {
		r, size := utf8.DecodeRune(b[i:])
		switch {
		case !inert.Hazardous(r):
			out = append(out, b[i:i+size]...)
		case r > 0xFFFF:
			r1, r2 := utf16.EncodeRune(r)
			out = fmt.Appendf(out, `\u%04x\u%04x`, r1, r2)
		default:
			out = fmt.Appendf(out, `\u%04x`, r)
		}
		i += size
	}
	return out
}

// Stamp is a time for JSON: RFC 3339 in UTC, or null when unknown.
func Stamp(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	u := t.UTC()
	return &u
}

// NonNil keeps JSON lists as [] rather than null, so scripts need not
// tell the two apart.
func NonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// Columns writes rows as aligned columns, two spaces apart, without the
// trailing spaces tabwriter leaves after an empty last cell. Cells must
// already be inert (and so hold no tabs or newlines).
func Columns(w io.Writer, rows [][]string) error {
	var buf bytes.Buffer
	tw := tabwriter.NewWriter(&buf, 0, 0, 2, ' ', 0)
	for _, row := range rows {
		fmt.Fprintln(tw, strings.Join(row, "\t"))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for line := range bytes.Lines(buf.Bytes()) {
		if _, err := w.Write(append(bytes.TrimRight(line, " \n"), '\n')); err != nil {
			return err
		}
	}
	return nil
}
