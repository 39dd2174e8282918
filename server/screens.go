package server

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"strconv"

	tea "charm.land/bubbletea/v2"
	bm "charm.land/wish/v2/bubbletea"
	"github.com/charmbracelet/colorprofile"
	uv "github.com/charmbracelet/ultraviolet"
	"github.com/charmbracelet/x/ansi"

	"github.com/attest-dev/attest/flows"
	"github.com/attest-dev/attest/internal/freshstack"
	"github.com/attest-dev/attest/tui"
)

// serveScreens runs the screens for one session with a terminal, until the
// person leaves, the client hangs up or the server stops.
//
// It does what Wish's Bubble Tea middleware does, but owns the input.
// Bubble Tea's own input reader sends each decoded key to the program
// with a plain channel send that does not watch for the program's end: a
// session that ends while keys are still queued (a paste, a client that
// types and vanishes) leaves that reader blocked forever, with its
// buffers. So the server decodes the input itself, with the same decoder
// (ultraviolet's TerminalReader, with the key table all screens share:
// see newInputReader), and hands each event over with Program.Send,
// which returns once the program has ended; whatever is decoded after
// that is drained and dropped. Bubble Tea is given no input at all, so it
// builds no second decoder (a key table of its own and two goroutines a
// screen); the keyboard modes it would then leave alone are set by
// keyboardModes instead.
//
// The same loop that hands over the input also hands over the window
// changes (taken from the terminal's pump, see takeWindows) and the
// flows' pokes of this device (the screens' watch, which they would
// otherwise wait on with a goroutine of their own): an idle screen holds
// as few goroutines, each with its stack, as a Bubble Tea program over
// Wish does.
func (s *Server) serveScreens(sess *terminalSession) {
	pty, _, _ := sess.Pty()
	// ctx ends when the program has returned, or earlier when the
	// connection does.
	ctx, cancel := context.WithCancel(sess.Context())
	defer cancel()

	dev, _ := sess.Context().Value(ctxDevice).(flows.Device)
	watch := s.svc.Watch(dev.Tag)
	defer watch.Stop() // the screens stop it too as they end; once is enough
	// Built on a goroutine that ends (freshstack): building the screens
	// grows a stack by tens of KB, which the session's goroutine, running
	// Bubble Tea's event loop next, would keep as long as the session.
	var p *tea.Program
	freshstack.Run(func() { p = s.newProgram(ctx, sess, watch) })
	defer s.forget(p)
	winch, resized := sess.takeWindows()

	events := make(chan uv.Event)
	go func() {
		defer close(events)
		// It returns once ctx has ended and the session's channel has
		// closed (the read in flight returns only then), or at the
		// client's end of input.
		if err := newInputReader(sess, pty.Term).StreamEvents(ctx, events); err != nil {
			s.log.Debug("screen input ended", "err", err)
		}
	}()
	// One goroutine hands the program its input, window changes and
	// pokes, and quits it when the connection ends or the client closes
	// the session; then it drains what is still decoded, until the
	// reader has ended, and the window changes, until the library's
	// channel of them has closed.
	go func() {
		if resized { // perhaps since the program was built
			pty, _, _ := sess.Pty()
			p.Send(tea.WindowSizeMsg{Width: pty.Window.Width, Height: pty.Window.Height})
		}
		in, done, pokes := events, ctx.Done(), watch.C
		for in != nil || done != nil || winch != nil {
			select {
			case ev, ok := <-in:
				if !ok {
					in = nil
					continue
				}
				p.Send(ev) // a no-op once the program has ended: this drains
			case <-done:
				p.Quit() // the connection ended (or the program did: a no-op)
				done, pokes = nil, nil
			case w, ok := <-winch:
				if !ok { // the client closed this session but kept the connection
					p.Quit()
					done, pokes, winch = nil, nil, nil
					continue
				}
				w = sess.resized(w)
				p.Send(tea.WindowSizeMsg{Width: w.Width, Height: w.Height})
			case <-pokes:
				p.Send(tui.Poke())
			}
		}
	}()

	if _, err := p.Run(); err != nil && !errors.Is(err, tea.ErrProgramKilled) {
		s.log.Warn("screen ended with an error", "err", err)
	}
	p.Kill() // restores the terminal if the program did not end cleanly
}

// newProgram builds the screens for one session, without input, window
// changes or the pokes of watch, its watch on the flows (the caller sends
// them). The screens' own work (the watch, calls in flight) ends with
// ctx.
func (s *Server) newProgram(ctx context.Context, sess *terminalSession, watch *flows.Watcher) *tea.Program {
	dev, _ := sess.Context().Value(ctxDevice).(flows.Device)
	// The colour profile Wish's options give Bubble Tea, from the
	// session's environment and terminal: the first frame is drawn in it.
	pty, _, _ := sess.Pty()
	profile := colorprofile.Env(append(sess.Environ(), "TERM="+pty.Term))
	m := tui.New(tui.Session{Service: s.svc, Device: dev, User: sess.User(), Context: ctx, Inbox: s.inboxHint(sess.LocalAddr()), Profile: profile, Watcher: watch,
		Width: pty.Window.Width, Height: pty.Window.Height})
	// A screen is one session inside the server: it must not install its
	// own SIGINT handler, which would race the server's graceful shutdown.
	// The input and output options come after MakeOptions' own, which
	// they replace.
	opts := append(bm.MakeOptions(sess), tea.WithoutSignalHandler(), tea.WithInput(nil), tea.WithOutput(&keyboardModes{w: sess}),
		tea.WithFilter(latestSize(sess)))
	p := tea.NewProgram(m, opts...)
	s.mu.Lock()
	s.programs[p] = struct{}{}
	s.mu.Unlock()
	return p
}

// latestSize is the screens' message filter (it replaces Wish's, which
// turns a suspend into a resume, and does the same). Every window size
// the screens see is the terminal's latest: Bubble Tea sends the size it
// was built with from a goroutine of its own, which can arrive after a
// newer size sent on a window change (a client that resized before its
// shell request), and the screens would keep the older one.
func latestSize(sess *terminalSession) func(tea.Model, tea.Msg) tea.Msg {
	return func(_ tea.Model, msg tea.Msg) tea.Msg {
		switch msg.(type) {
		case tea.SuspendMsg:
			return tea.ResumeMsg{}
		case tea.WindowSizeMsg:
			pty, _, _ := sess.Pty()
			return tea.WindowSizeMsg{Width: pty.Window.Width, Height: pty.Window.Height}
		}
		return msg
	}
}

// forget drops a program that has ended from the live screens.
func (s *Server) forget(p *tea.Program) {
	s.mu.Lock()
	delete(s.programs, p)
	s.mu.Unlock()
}

// inboxHint is how to watch the demo inbox, at the address and port this
// session connected to ("" when there is no demo inbox): the one command
// a newcomer needs to see where the codes went.
func (s *Server) inboxHint(local net.Addr) string {
	if s.inbox == nil {
		return ""
	}
	host, port := "localhost", "22"
	if a, ok := local.(*net.TCPAddr); ok {
		host, port = a.IP.String(), strconv.Itoa(a.Port)
		if a.IP.Equal(net.IPv4(127, 0, 0, 1)) || a.IP.Equal(net.IPv6loopback) {
			host = "localhost" // what the README and most people type
		}
	}
	if port == "22" {
		return "ssh inbox@" + host
	}
	return "ssh -p " + port + " inbox@" + host
}

// The keyboard modes Bubble Tea asks of the terminal when it reads the
// input itself (and not when it is given none): xterm's modifyOtherKeys,
// and the kitty keyboard protocol's key disambiguation, so that ctrl+i is
// not tab nor ctrl+m enter, with a query of what the terminal supports.
// The kitty protocol keeps one stack of modes for the main screen and
// one for the alternate screen: the flags are pushed once the screens
// are on the alternate screen, and popped before they leave it.
var (
	altScreenOn   = []byte(ansi.SetModeAltScreenSaveCursor)
	altScreenOff  = []byte(ansi.ResetModeAltScreenSaveCursor)
	keyboardOn    = ansi.SetModifyOtherKeys2 + ansi.PushKittyKeyboard(1) + ansi.RequestKittyKeyboard
	keyboardOff   = ansi.ResetModifyOtherKeys + ansi.PopKittyKeyboard(1)
	keyboardReset = ansi.ResetModifyOtherKeys // modifyOtherKeys has no stack
)

// keyboardModes is a screen's output, which sets the keyboard modes
// around the alternate screen as Bubble Tea's renderer does with an input
// of its own: it writes each frame whole, with the switch to or from the
// alternate screen at most once in a write.
type keyboardModes struct {
	w  io.Writer
	on bool // the modes are set
}

func (k *keyboardModes) Write(b []byte) (int, error) {
	var i int
	var seq []byte
	var before, after string
	if !k.on {
		if i = bytes.Index(b, altScreenOn); i < 0 {
			return k.w.Write(b)
		}
		seq, before, after = altScreenOn, keyboardReset, keyboardOn
	} else {
		if i = bytes.Index(b, altScreenOff); i < 0 {
			return k.w.Write(b)
		}
		seq, before, after = altScreenOff, keyboardOff, ""
	}
	k.on = !k.on
	out := make([]byte, 0, len(b)+len(before)+len(after))
	out = append(out, b[:i]...)
	out = append(out, before...)
	out = append(out, seq...)
	out = append(out, after...)
	out = append(out, b[i+len(seq):]...)
	if _, err := k.w.Write(out); err != nil {
		return 0, err
	}
	return len(b), nil
}
