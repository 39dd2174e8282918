package tui

import (
	"fmt"
	"strings"

	qrcode "github.com/yeqown/go-qrcode/v2"
)

// A QR code drawn in the terminal with Unicode half blocks: each cell is
// two modules, the upper one in the foreground of "▀" and the lower in its
// background, so a code of n modules takes n columns and n/2 rows. The
// library encodes; the drawing is ours.

// quietZone is the light border a reader needs around the code, in modules
// (the QR standard's four).
const quietZone = 4

// qrModules encodes text and returns its modules (true: dark), with the
// quiet zone around them. Error correction L keeps the code small enough
// for an 80x24 terminal; a screen is a clean medium, so little correction
// is needed.
func qrModules(text string) ([][]bool, error) {
	q, err := qrcode.NewWith(text,
		qrcode.WithErrorCorrectionLevel(qrcode.ErrorCorrectionLow),
		qrcode.WithEncodingMode(qrcode.EncModeByte))
	if err != nil {
		return nil, fmt.Errorf("encode QR code: %w", err)
	}
	var m matrixWriter
	if err := q.Save(&m); err != nil {
		return nil, fmt.Errorf("encode QR code: %w", err)
	}
	return m.modules, nil
}

// matrixWriter takes the library's matrix as modules with a quiet zone.
type matrixWriter struct{ modules [][]bool }

func (w *matrixWriter) Write(mat qrcode.Matrix) error {
	n := mat.Width() + 2*quietZone
	w.modules = make([][]bool, n)
	for y := range w.modules {
		w.modules[y] = make([]bool, n)
	}
	mat.Iterate(qrcode.IterDirection_ROW, func(x, y int, v qrcode.QRValue) {
		w.modules[y+quietZone][x+quietZone] = v.IsSet()
	})
	return nil
}

func (w *matrixWriter) Close() error { return nil }

// qrSize is how many columns and rows a code of n modules takes.
func qrSize(n int) (int, int) { return n, (n + 1) / 2 }

// drawQR draws modules as half blocks, one string per row of cells.
// Dark modules must come out dark and light ones light whatever the
// terminal's colours: lightForeground says that the glyphs' foreground is
// light (the screen's QR style paints a light foreground on a dark
// background; without colours, a dark terminal's own foreground is
// light), so a "█" is a pair of light modules. On a light terminal
// without colours the roles swap.
func drawQR(modules [][]bool, lightForeground bool) []string {
	n := len(modules)
	var rows []string
	for y := 0; y < n; y += 2 {
		var b strings.Builder
		for x := 0; x < n; x++ {
			upLight := !modules[y][x]
			downLight := y+1 >= n || !modules[y+1][x] // past the bottom: quiet zone
			if !lightForeground {
				upLight, downLight = !upLight, !downLight
			}
			switch {
			case upLight && downLight:
				b.WriteString("█")
			case upLight:
				b.WriteString("▀")
			case downLight:
				b.WriteString("▄")
			default:
				b.WriteString(" ")
			}
		}
		rows = append(rows, b.String())
	}
	return rows
}
