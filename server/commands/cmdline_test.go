package commands

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/attest-dev/attest/internal/cli"
)

func TestSplit(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{"", nil},
		{"   \t\n ", nil},
		{"whoami", []string{"whoami"}},
		{"  code   B-4821  ", []string{"code", "B-4821"}},
		{"code B 4821", []string{"code", "B", "4821"}},
		{`nickname 'Ada Lovelace'`, []string{"nickname", "Ada Lovelace"}},
		{`nickname "Ada Lovelace"`, []string{"nickname", "Ada Lovelace"}},
		{`nickname Ada\ Lovelace`, []string{"nickname", "Ada Lovelace"}},
		{`nickname "say \"hi\" \\ \n"`, []string{"nickname", `say "hi" \ \n`}},
		{`nickname 'it''s'`, []string{"nickname", "its"}},
		{`nickname 'a "b"'`, []string{"nickname", `a "b"`}},
		{`a"b"'c'd`, []string{"abcd"}},
		{"a\u00a0b\u3000c", []string{"a", "b", "c"}},
		{"a\\\u00a0b", []string{"a\u00a0b"}},
		{`nickname ''`, []string{"nickname", ""}},
		{`x "" y`, []string{"x", "", "y"}},
		{"signin bob@example.com --json", []string{"signin", "bob@example.com", "--json"}},
	}
	for _, tt := range tests {
		got, err := Split(tt.in)
		if err != nil || !slices.Equal(got, tt.want) {
			t.Errorf("Split(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

func TestSplitRefuses(t *testing.T) {
	tests := []struct {
		in   string
		want error
	}{
		{`code "A-1234`, ErrUnbalancedQuote},
		{`code 'A-1234`, ErrUnbalancedQuote},
		{`code A-1234"`, ErrUnbalancedQuote},
		{`nickname "a\"`, ErrUnbalancedQuote},
		{`nickname 'a\'`, nil}, // a backslash is literal inside '...'
		{`code A-1234\`, ErrTrailingEscape},
		{strings.Repeat("a", MaxCommandLine+1), ErrTooLong},
		{strings.Repeat("a ", MaxArgs+1), ErrTooManyArgs},
		{strings.Repeat("a ", MaxArgs-1) + "a", nil},
		{strings.TrimSpace(strings.Repeat("a ", MaxArgs+1)), ErrTooManyArgs},
	}
	for _, tt := range tests {
		got, err := Split(tt.in)
		if !errors.Is(err, tt.want) {
			t.Errorf("Split(%.40q) = %q, %v; want %v", tt.in, got, err, tt.want)
		}
		if err != nil && got != nil {
			t.Errorf("Split(%.40q) returned words %q with its error", tt.in, got)
		}
	}
}

// TestRunLineUnbalancedQuote is the issue's case: `ssh HOST 'code "A-1234'`
// used to run `code` without its argument.
func TestRunLineUnbalancedQuote(t *testing.T) {
	w := newWorld(t)
	var out, errOut bytes.Buffer
	status := RunLine(context.Background(), Env{Service: w.svc, Device: device("k1"), Stdout: &out, Stderr: &errOut}, `code "A-1234`)
	if status != cli.ExitUsage {
		t.Errorf("status %d, want %d", status, cli.ExitUsage)
	}
	if got := errOut.String(); got != "attest: unbalanced quote: a ' or \" is opened and never closed\n" {
		t.Errorf("stderr %q", got)
	}
	if out.Len() != 0 {
		t.Errorf("stdout %q", out.String())
	}
	// A balanced line runs.
	out.Reset()
	errOut.Reset()
	if status := RunLine(context.Background(), Env{Service: w.svc, Device: device("k1"), Stdout: &out, Stderr: &errOut}, `nickname "Ada L"`); status != cli.ExitOK {
		t.Fatalf("nickname: status %d, %s", status, errOut.String())
	}
	if !strings.Contains(out.String(), "Ada L") {
		t.Errorf("nickname output %q", out.String())
	}
}

// BenchmarkSplitLongest shows the cost of the longest line Split takes.
func BenchmarkSplitLongest(b *testing.B) {
	line := `"` + strings.Repeat("x", MaxCommandLine-2) + `"`
	for b.Loop() {
		if _, err := Split(line); err != nil {
			b.Fatal(err)
		}
	}
}
