// Package tui is attest's terminal screens: one Bubble Tea model per SSH
// session, with a home screen, sign-in by a one-time code, a sign-in link
// or a password, the account and its devices. It calls the flows and nothing else; it reads no
// environment, terminal or global state of its own, because in a server
// those would be the server's, not the visitor's.
package tui

import (
	"context"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/colorprofile"

	"github.com/attest-dev/attest/flows"
	"github.com/attest-dev/attest/internal/inert"
)

// Session is what the server knows about one SSH session.
type Session struct {
	Service *flows.Service
	Device  flows.Device // Device.Ephemeral: the client offered no key
	User    string       // the SSH user name, a display hint only, never identity; may be empty
	// Inbox is how to watch the demo inbox from another terminal, such as
	// "ssh -p 23234 inbox@127.0.0.1"; empty when messages really go out.
	Inbox string
	// Context ends when the session does; the screens' work in flight and
	// their watch on the flows stop with it. Nil means only quitting ends
	// them.
	Context context.Context
	// Profile is the colour profile Bubble Tea will report, if the caller
	// knows it already (Unknown: true colour until it does), so that the
	// first frame is drawn in it and not drawn again when it is reported.
	Profile colorprofile.Profile
	// Width and Height are the terminal's size, if the caller knows it
	// already (0: 80x24 until Bubble Tea reports it), so that the first
	// frame is laid out for it and not laid out again when it is reported.
	Width, Height int
	// Watcher, if not nil, is the session's watch on the flows' bus
	// (Service.Watch of the device), which the caller relays: it receives
	// from Watcher.C in a loop it runs anyway and sends the model Poke()
	// for each, so that the screens keep no goroutine waiting on it (a
	// goroutine and its stack a screen). The screens follow the user with
	// it and stop it when they end. Nil: the screens watch by themselves.
	Watcher *flows.Watcher
}

// Poke is the message a caller that relays the session's Watcher sends
// the model for each value it receives.
func Poke() tea.Msg { return pokeMsg{} }

// New returns the root model for one session. Run it with tea.NewProgram
// and the session's input, output, environment and window size; the model
// takes its colours from the messages Bubble Tea sends it.
func New(s Session) tea.Model {
	parent := s.Context
	if parent == nil {
		parent = context.Background()
	}
	ctx, cancel := context.WithCancel(parent)
	profile := s.Profile
	if profile == colorprofile.Unknown {
		profile = colorprofile.TrueColor
	}
	r := &root{
		cancel:  cancel,
		dark:    true,
		profile: profile,
		width:   80,
		height:  24,
	}
	if s.Width > 0 && s.Height > 0 {
		r.width, r.height = s.Width, s.Height
	}
	r.c = &common{ctx: ctx, svc: s.Service, dev: s.Device, sshUser: s.User, inbox: s.Inbox, keys: allKeys,
		confirming: map[string]*code{}}
	r.c.onTop = r.top
	r.restyle()
	v, err := s.Service.Visit(ctx, s.Device)
	if err != nil {
		if !r.startedDown(err) {
			r.notice = "Could not read what this device is: " + inert.String(err.Error())
		}
		v = flows.Visitor{Device: s.Device}
	}
	r.c.visitor = v
	r.live = r.watch(s.Watcher)
	r.live.setUser(v.User)
	r.stack = []screen{newHome(r.c)}
	if v.Waiting != nil { // a sign-in from an earlier connection waits for its second factor
		r.stack = append(r.stack, newSecondFactor(r.c))
	}
	r.layout()
	// The first frame is drawn here, before Bubble Tea starts: its
	// renderer flushes on a timer from the start, and a frame not ready
	// by then is flushed empty first, which costs a second set of screen
	// buffers for the whole session.
	r.draw()
	return r
}
