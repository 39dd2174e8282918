package server

import (
	"sync"

	"charm.land/ssh"
)

// The largest terminal the server lays out. Bubble Tea allocates its cell
// buffers (about 320 bytes a cell, in two buffers) as soon as it learns
// the size, so a client asking for 20000x20000 made the server allocate
// gigabytes and die of a fatal out-of-memory no recover can catch. The
// screens are sign-in forms: 200x60 is more than any of them uses (a
// maximised terminal on a laptop is about that size) and costs under
// 4 MB; a bigger terminal shows them in its top-left part.
const (
	maxColumns, maxRows = 200, 60
	// Pixel sizes are informational (nothing here draws pixels) but are
	// passed along, so they are bounded too.
	maxPixels = 1 << 15
	// The size assumed when a client gives none (RFC 4254 says a zero
	// dimension is to be ignored).
	defaultColumns, defaultRows = 80, 24
)

// boundWindow is the size the screens use for a size a client asked for.
// A zero (or, on a 32-bit server, negative) dimension means the client
// did not say: the previous size is kept.
func boundWindow(asked, prev ssh.Window) ssh.Window {
	dim := func(v, prev, limit int) int {
		if v <= 0 {
			return prev
		}
		return min(v, limit)
	}
	return ssh.Window{
		Width:        dim(asked.Width, prev.Width, maxColumns),
		Height:       dim(asked.Height, prev.Height, maxRows),
		WidthPixels:  dim(asked.WidthPixels, 0, maxPixels),
		HeightPixels: dim(asked.HeightPixels, 0, maxPixels),
	}
}

// initialWindow is the size at pty-req.
var initialWindow = ssh.Window{Width: defaultColumns, Height: defaultRows}

// terminalSession is a session whose terminal size is bounded, at pty-req
// and at every window change, before anything downstream (Bubble Tea,
// the screens, the inbox) sees it.
type terminalSession struct {
	ssh.Session
	pty   ssh.Pty
	raw   <-chan ssh.Window // the SSH library's window changes
	winch chan ssh.Window
	// gone is closed when the SSH library stops delivering window changes,
	// which it does only when the channel has closed: the client hung up
	// the session, or the connection died (unless the pump was stopped,
	// see takeWindows).
	gone chan struct{}
	// claim, when closed, stops the pump; pumped is closed once it has
	// returned.
	claim, pumped chan struct{}

	mu     sync.Mutex
	window ssh.Window // the latest bounded size
}

// boundPty takes over a terminal at the pty-req, around the SSH library's
// own (emulated) pty handler: from then on every window change is bounded
// and read as it arrives. The library hands window changes over on a
// channel with room for one and blocks its request loop (and so the whole
// session, which then never starts) on the next one until someone reads:
// a client sending two window changes before its shell request, or a
// command run with -t, which never reads them, hung there.
func (s *Server) boundPty(inner ssh.PtyHandler) ssh.PtyHandler {
	return func(ctx ssh.Context, sess ssh.Session, pty ssh.Pty) (func() error, error) {
		closer, err := inner(ctx, sess, pty)
		if err != nil {
			return nil, err
		}
		_, raw, _ := sess.Pty()
		ts := newTerminalSession(sess, pty, raw, func() { s.terminals.Delete(sess) })
		s.terminals.Store(sess, ts)
		return closer, nil
	}
}

// emulatedPty is the SSH library's own pty handler, which fakes a terminal
// on the session's channel (the library exports only the option).
func emulatedPty() ssh.PtyHandler {
	var probe ssh.Server
	_ = ssh.EmulatePty()(&probe)
	return probe.PtyHandler
}

// boundTerminal hands on a session with a terminal as its bounded form,
// taken over at the pty-req.
func (s *Server) boundTerminal(next ssh.Handler) ssh.Handler {
	return func(sess ssh.Session) {
		if ts, ok := s.terminals.LoadAndDelete(sess); ok {
			next(ts.(*terminalSession))
			return
		}
		if pty, raw, ok := sess.Pty(); ok { // not through boundPty: never, but bound it anyway
			next(newTerminalSession(sess, pty, raw, nil))
			return
		}
		next(sess)
	}
}

// newTerminalSession bounds a session's terminal; gone, if not nil, is
// called once the session's channel has closed.
func newTerminalSession(sess ssh.Session, pty ssh.Pty, raw <-chan ssh.Window, gone func()) *terminalSession {
	pty.Window = boundWindow(pty.Window, initialWindow)
	ts := &terminalSession{
		Session: sess, pty: pty, window: pty.Window, raw: raw,
		winch: make(chan ssh.Window, 1), gone: make(chan struct{}),
		claim: make(chan struct{}), pumped: make(chan struct{}),
	}
	go ts.pump(gone)
	return ts
}

// pump bounds each window change and keeps only the latest for whoever
// reads the session's window channel: a reader that falls behind sees
// the current size, never a queue of stale ones. It runs until the
// library's channel closes, or until takeWindows claims the changes.
func (ts *terminalSession) pump(gone func()) {
	defer close(ts.pumped)
	for {
		select {
		case w, ok := <-ts.raw:
			if !ok {
				close(ts.gone)
				if gone != nil {
					gone()
				}
				return
			}
			w = ts.resized(w)
			select {
			case <-ts.winch: // drop the stale size nobody read
			default:
			}
			ts.winch <- w // cannot block: this is the only sender, and it just made room
		case <-ts.claim:
			return
		}
	}
}

// resized bounds a window change and makes it the terminal's size.
func (ts *terminalSession) resized(w ssh.Window) ssh.Window {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	ts.window = boundWindow(w, ts.window)
	return ts.window
}

// takeWindows stops the pump, for a caller that runs a loop of its own
// for as long as the session lasts (the screens' input loop) and reads
// the window changes there, saving a goroutine and its stack a session.
// From then on the caller must receive from raw until it closes (the
// library's request loop blocks on a change nobody takes), and pass each
// change through resized; Gone is no longer closed, raw's closing says
// the same (a raw that closed before is returned closed). changed
// reports a change the pump took that nobody read. Called once, from
// the session's handler (by then boundTerminal has dropped the session
// from the server's terminals).
func (ts *terminalSession) takeWindows() (raw <-chan ssh.Window, changed bool) {
	close(ts.claim)
	<-ts.pumped
	select {
	case <-ts.winch:
		changed = true
	default:
	}
	return ts.raw, changed // closed already if the pump saw it close
}

// Pty reports the bounded terminal and the bounded window changes. The
// channel is never closed (Wish's Bubble Tea middleware would spin on a
// closed one); Gone says when the session's channel has closed.
func (ts *terminalSession) Pty() (ssh.Pty, <-chan ssh.Window, bool) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	p := ts.pty
	p.Window = ts.window
	return p, ts.winch, true
}

// Gone is closed once the client has closed the session's channel or the
// connection has ended.
func (ts *terminalSession) Gone() <-chan struct{} { return ts.gone }
