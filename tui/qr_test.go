package tui

import (
	"strings"
	"testing"

	"github.com/attest-dev/attest/tui/qrtest"
)

func TestQRRoundTrip(t *testing.T) {
	uri := "otpauth://totp/attest:ada@example.com?secret=JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP&issuer=attest"
	modules, err := qrModules(uri)
	if err != nil {
		t.Fatal(err)
	}
	cols, rows := qrSize(len(modules))
	if cols > 80 || rows > 23 {
		t.Fatalf("a %d-byte URI takes %dx%d cells", len(uri), cols, rows)
	}
	// The quiet zone is light on every side.
	for i := range quietZone {
		for j := range modules {
			if modules[i][j] || modules[j][i] || modules[len(modules)-1-i][j] || modules[j][len(modules)-1-i] {
				t.Fatal("a dark module in the quiet zone")
			}
		}
	}
	for _, light := range []bool{true, false} {
		drawn := drawQR(modules, light)
		if len(drawn) != rows {
			t.Fatalf("%d rows, want %d", len(drawn), rows)
		}
		got, err := qrtest.Decode(drawn, light)
		if err != nil || got != uri {
			t.Fatalf("light foreground %v: decoded %q, %v", light, got, err)
		}
		// The quiet zone's first row is light: full blocks in a light
		// foreground, blanks in a dark one.
		want := " "
		if light {
			want = "█"
		}
		if drawn[0] != strings.Repeat(want, len(modules)) {
			t.Fatalf("light foreground %v: first row %q", light, drawn[0])
		}
	}
}
