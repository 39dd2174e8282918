// Package qrtest reads back, for tests, a QR code the screens draw in half
// blocks: it turns the drawn rows into an image and decodes it with a QR
// decoder that is not the encoder, as a phone camera would. Only tests
// import it, so the decoder is not in the binary.
package qrtest

import (
	"errors"
	"fmt"
	"image"
	"image/color"
	"strings"
	"unicode/utf8"

	"github.com/charmbracelet/x/ansi"
	"github.com/makiuchi-d/gozxing"
	"github.com/makiuchi-d/gozxing/qrcode"
)

// minQuiet is the smallest code with a quiet zone: version 1 (21
// modules) and four light modules either side.
const minQuiet = 21 + 2*4

// Rows takes a QR code off a screen whose top left corner it occupies
// (the enrolment screen in a full window), as plain text: its first row
// is the light quiet zone, a run of full blocks as wide as the code.
func Rows(screen string) ([]string, error) {
	lines := strings.Split(ansi.Strip(screen), "\n")
	cols := 0
	for _, r := range lines[0] {
		if r != '█' {
			break
		}
		cols++
	}
	if cols < minQuiet || len(lines) < (cols+1)/2 {
		return nil, errors.New("no QR code at the top left of the screen")
	}
	var rows []string
	for _, l := range lines[:(cols+1)/2] {
		if utf8.RuneCountInString(l) < cols {
			return nil, fmt.Errorf("a short QR row %q", l)
		}
		rows = append(rows, string([]rune(l)[:cols]))
	}
	return rows, nil
}

// Decode reads half-block rows (escapes allowed) back into modules,
// renders them four pixels a module and decodes the image. light says the
// glyphs' foreground is light, so "█" is two light modules.
func Decode(rows []string, light bool) (string, error) {
	const scale = 4
	var modules [][]bool // true: dark
	for _, row := range rows {
		var up, down []bool
		for _, r := range ansi.Strip(row) {
			var u, d bool // lit by the foreground?
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
			up, down = append(up, u != light), append(down, d != light)
		}
		modules = append(modules, up, down)
	}
	if len(modules) == 0 {
		return "", errors.New("no rows")
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
		return "", fmt.Errorf("read the drawn code: %w", err)
	}
	res, err := qrcode.NewQRCodeReader().Decode(bmp, nil)
	if err != nil {
		return "", fmt.Errorf("decode the drawn code: %w", err)
	}
	return res.GetText(), nil
}
