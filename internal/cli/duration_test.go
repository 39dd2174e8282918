package cli

import (
	"flag"
	"io"
	"strings"
	"testing"
	"time"
)

// Duration takes Go durations and days, and a value it cannot read is
// answered with the forms it takes.
func TestDuration(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"24h", 24 * time.Hour, true},
		{"1h30m", 90 * time.Minute, true},
		{"7d", 7 * 24 * time.Hour, true},
		{"0d", 0, true},
		{"168h0m0s", 7 * 24 * time.Hour, true}, // as Forwarded writes it
		{"1x", 0, false},
		{"d", 0, false},
		{"-1d", 0, false},
		{"1.5d", 0, false},
		{"99999999d", 0, false},
	} {
		fs := flag.NewFlagSet("t", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		d := Duration(fs, "older-than", time.Hour, "")
		err := fs.Parse([]string{"--older-than", tc.in})
		switch {
		case tc.ok && (err != nil || *d != tc.want):
			t.Errorf("%q: %v, %v; want %v", tc.in, *d, err, tc.want)
		case !tc.ok && (err == nil || !strings.Contains(err.Error(), "want a duration such as 24h, 90m, 1h30m or 7d")):
			t.Errorf("%q: %v, %v; want the forms it takes", tc.in, *d, err)
		}
	}
}
