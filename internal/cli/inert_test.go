package cli

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/attest-dev/attest/internal/inert"
)

func TestJSONIsInert(t *testing.T) {
	in := map[string]string{"s": "\x1b[31m\x7f\u009b\u202e\u2028\U000E0041<ok>"}
	var buf bytes.Buffer
	if err := WriteJSON(&buf, in); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	if !safeForTerminal(out) || strings.Count(out, "\n") != 1 {
		t.Fatalf("JSON %q is not one inert line", out)
	}
	for _, want := range []string{`\u001b`, `\u007f`, `\u009b`, `\u202e`, `\u2028`, `\udb40\udc41`} {
		if !strings.Contains(out, want) {
			t.Errorf("JSON %q lacks %s", out, want)
		}
	}
	var back map[string]string
	if err := json.Unmarshal(buf.Bytes(), &back); err != nil {
		t.Fatalf("decode %q: %v", out, err)
	}
	if back["s"] != in["s"] {
		t.Errorf("round trip gave %q, want %q", back["s"], in["s"])
	}
}

// safeForTerminal reports whether s has nothing a terminal could act on,
// other than the newlines that end lines of output.
func safeForTerminal(s string) bool {
	lines := strings.ReplaceAll(s, "\n", "")
	return inert.String(lines) == lines
}
