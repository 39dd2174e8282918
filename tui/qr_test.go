package tui

import (
	"fmt"
	"image"
	"image/color"
	"strings"
	"testing"

	"github.com/charmbracelet/x/ansi"
	"github.com/makiuchi-d/gozxing"
	zxqr "github.com/makiuchi-d/gozxing/qrcode"
)

// decodeDrawn reads half-block rows (as a screen shows them, escapes
// allowed) back into modules, renders them as an image and decodes it
// with a QR decoder that is not the encoder: what a phone would read.
func decodeDrawn(rows []string, lightForeground bool) (string, error) {
	const scale = 4
	var modules [][]bool
	for _, row := range rows {
		up, down := []bool{}, []bool{}
		for _, r := range ansi.Strip(row) {
			var u, d bool // light?
			switch r {
			case '█':
				u, d = true, true
			case '▀':
				u = true
			case '▄':
				d = true
			case ' ':
			default:
				return "", fmt.Errorf("unexpected %q in a QR row", r)
			}
			if !lightForeground {
				u, d = !u, !d
			}
			up, down = append(up, !u), append(down, !d)
		}
		modules = append(modules, up, down)
	}
	if len(modules) == 0 {
		return "", fmt.Errorf("no rows")
	}
	w, h := len(modules[0]), len(modules)
	img := image.NewGray(image.Rect(0, 0, w*scale, h*scale))
	for y := range h {
		for x := range w {
			c := color.Gray{Y: 255}
			if x < len(modules[y]) && modules[y][x] {
				c = color.Gray{Y: 0}
			}
			for dy := range scale {
				for dx := range scale {
					img.SetGray(x*scale+dx, y*scale+dy, c)
				}
			}
		}
	}
	bmp, err := gozxing.NewBinaryBitmapFromImage(img)
	if err != nil {
		return "", err
	}
	res, err := zxqr.NewQRCodeReader().Decode(bmp, nil)
	if err != nil {
		return "", err
	}
	return res.GetText(), nil
}

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
		got, err := decodeDrawn(drawn, light)
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
