package delivery

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestScrub(t *testing.T) {
	base := fmt.Errorf("wrapped: %w", context.Canceled)
	err := scrub(fmt.Errorf("server said ZOE@example.org / code 482913 / tok3n: %w", base),
		redaction{"tok3n", "[redacted]"}, redaction{"zoe@example.org", "[recipient]"})
	if !errors.Is(err, context.Canceled) {
		t.Error("scrubbed error no longer unwraps")
	}
	want := "server said [recipient] / code 482913 / [redacted]: wrapped: context canceled"
	if err.Error() != want {
		t.Errorf("got %q, want %q", err, want)
	}
	rs := bodyRedactions("Your code is 482913.\nOr open https://x.example/l/AbC9xyz")
	got := scrubText("echo: 482913. and AbC9xyz and https://x.example/l/AbC9xyz", rs...)
	if strings.Contains(got, "482913") || strings.Contains(got, "AbC9xyz") {
		t.Errorf("body parts survived: %q", got)
	}
	long := scrub(errors.New(strings.Repeat("é", maxErrText)))
	if len(long.Error()) > maxErrText+len("…") || !strings.HasSuffix(long.Error(), "…") {
		t.Errorf("long error not truncated: %d bytes", len(long.Error()))
	}
}

// A password of a character or two is masked where it stands alone, not
// inside every word that holds that letter; four characters and more (a
// code, a token) are masked wherever they are.
func TestScrubShortSecret(t *testing.T) {
	rs := []redaction{{"p", "[redacted]"}, {"4829", "[code]"}}
	got := scrubText("smtp: dial tcp: AUTH user:p refused (p) code4829 P", rs...)
	want := "smtp: dial tcp: AUTH user:[redacted] refused ([redacted]) code[code] [redacted]"
	if got != want {
		t.Errorf("got  %q\nwant %q", got, want)
	}
}
