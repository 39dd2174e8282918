package tui

import (
	"image/color"
	"sync"

	"charm.land/bubbles/v2/help"
	"charm.land/bubbles/v2/textinput"
	tea "charm.land/bubbletea/v2"
	"charm.land/lipgloss/v2"
	"github.com/charmbracelet/colorprofile"
)

// styles is every look the screens use, one per background and colour
// profile, shared by every session with the same (see lookFor): a session
// takes another when its terminal reports its background or profile.
// Views take their colours from here and nowhere else. A styles is never
// changed once built, but for memo, which keeps what is drawn the same
// way for every session (see drawnW).
type styles struct {
	// Title bar.
	logo, crumb, identity lipgloss.Style
	badge                 lipgloss.Style // the step-up countdown

	heading lipgloss.Style // a screen's first line
	label   lipgloss.Style // the left column of a field list
	value   lipgloss.Style
	faint   lipgloss.Style // secondary text: notes, hints, times
	key     lipgloss.Style // a key named in running text

	ok, warn, bad lipgloss.Style // states: done, waiting, refused
	notice        lipgloss.Style // the root's one-line news

	cursor          lipgloss.Style // the › of the selected row
	selected        lipgloss.Style // the selected row's name
	starOn, starOff lipgloss.Style
	columnHead      lipgloss.Style
	big             lipgloss.Style // a code to read across the room

	// qr paints QR codes light on dark whatever the terminal's colours;
	// qrLight says the glyphs' foreground is light (see drawQR).
	qr      lipgloss.Style
	qrLight bool

	// help draws the help bars: its styles, separators and ellipsis (its
	// width is each call's, see helpBar).
	help  help.Model
	input textinput.Styles

	memo sync.Map // string → drawing, see drawnW
}

// drawing is a memo's text and its width in cells.
type drawing struct {
	text  string
	width int
}

// looks holds the styles of each background and profile, built once.
var looks sync.Map // look → *styles

type look struct {
	dark    bool
	profile colorprofile.Profile
}

// lookFor returns the shared styles for a dark or light background and a
// colour profile.
func lookFor(dark bool, profile colorprofile.Profile) *styles {
	k := look{dark, profile}
	if s, ok := looks.Load(k); ok {
		return s.(*styles)
	}
	s, _ := looks.LoadOrStore(k, newStyles(dark, profile))
	return s.(*styles)
}

// drawnW returns what draw makes, and its width, made once for this look
// and key and shared by every session. Only for what the code itself
// decides (key bindings, the catalogue), never for what a visitor typed:
// the keys must stay few.
func (s *styles) drawnW(key string, draw func() string) (string, int) {
	if v, ok := s.memo.Load(key); ok {
		d := v.(drawing)
		return d.text, d.width
	}
	text := draw()
	v, _ := s.memo.LoadOrStore(key, drawing{text, lipgloss.Width(text)})
	d := v.(drawing)
	return d.text, d.width
}

// newStyles builds the styles for a dark or light background. Without
// colour (NO_COLOR, TERM=dumb, a pipe) it uses no colour at all and relies
// on bold, reverse and glyphs, so nothing is only told by colour.
func newStyles(dark bool, profile colorprofile.Profile) *styles {
	useColor := profile > colorprofile.ASCII
	lightDark := lipgloss.LightDark(dark)
	c := func(light, dark string) color.Color {
		if !useColor {
			return lipgloss.NoColor{}
		}
		return lightDark(lipgloss.Color(light), lipgloss.Color(dark))
	}
	var (
		accent = c("#5A3FD9", "#9C8CFF")
		dim    = c("#8A8A8A", "#6E6E6E")
		mid    = c("#5F5F5F", "#A8A8A8")
		green  = c("#0F7B3E", "#5FD68A")
		amber  = c("#8A5A00", "#E5B84B")
		red    = c("#C0262D", "#FF6B6B")
		gold   = c("#A8700A", "#FFD166")
	)
	plain := lipgloss.NewStyle()
	s := &styles{
		logo:     plain.Bold(true).Padding(0, 1).Foreground(c("#FFFDF5", "#FFFDF5")).Background(accent),
		crumb:    plain.Foreground(mid),
		identity: plain.Foreground(dim),
		badge:    plain.Foreground(green).Bold(true),

		heading: plain.Bold(true),
		label:   plain.Foreground(mid),
		value:   plain,
		faint:   plain.Foreground(dim),
		key:     plain.Foreground(accent).Bold(true),

		ok:     plain.Foreground(green),
		warn:   plain.Foreground(amber),
		bad:    plain.Foreground(red),
		notice: plain.Foreground(accent).Bold(true),

		cursor:     plain.Foreground(accent).Bold(true),
		selected:   plain.Bold(true),
		starOn:     plain.Foreground(gold),
		starOff:    plain.Foreground(dim),
		columnHead: plain.Foreground(dim).Bold(true),
		big:        plain.Bold(true).Padding(0, 2).Border(lipgloss.RoundedBorder()).BorderForeground(accent),
	}
	if !useColor {
		s.logo = s.logo.Reverse(true)
	}
	s.qr, s.qrLight = plain, dark
	if useColor {
		s.qr, s.qrLight = plain.Foreground(lipgloss.Color("#FFFFFF")).Background(lipgloss.Color("#000000")), true
	}

	s.help = help.New()
	s.help.Styles = help.Styles{
		ShortKey:       plain.Foreground(mid),
		ShortDesc:      plain.Foreground(dim),
		ShortSeparator: plain.Foreground(dim),
		Ellipsis:       plain.Foreground(dim),
		FullKey:        plain.Foreground(mid),
		FullDesc:       plain.Foreground(dim),
		FullSeparator:  plain.Foreground(dim),
	}

	state := textinput.StyleState{
		Text:        plain,
		Placeholder: plain.Foreground(dim),
		Suggestion:  plain.Foreground(dim),
		Prompt:      plain.Foreground(accent),
	}
	s.input = textinput.Styles{
		Focused: state,
		Blurred: state,
		// A steady cursor: a blinking one would redraw every half second
		// for every session on the server.
		Cursor: textinput.CursorStyle{Color: accent, Shape: tea.CursorBlock},
	}
	return s
}
