package server

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"runtime/debug"
	"strings"
	"sync/atomic"
	"time"

	"charm.land/ssh"
	"github.com/charmbracelet/x/ansi"
	gossh "golang.org/x/crypto/ssh"

	"github.com/attest-dev/attest/flows"
	"github.com/attest-dev/attest/flows/explain"
	"github.com/attest-dev/attest/flows/message"
	"github.com/attest-dev/attest/internal/inert"
	"github.com/attest-dev/attest/server/commands"
)

// recoverPanics keeps a panic in one session from taking the server (and
// every other session) down.
func (s *Server) recoverPanics(next ssh.Handler) ssh.Handler {
	return func(sess ssh.Session) {
		defer func() {
			if r := recover(); r != nil {
				s.log.Error("session panicked", "panic", r, "stack", string(debug.Stack()))
				fmt.Fprintln(sess.Stderr(), "attest: internal error; the session has ended")
				_ = sess.Exit(70)
			}
		}()
		next(sess)
	}
}

// logSession logs one line per session. It names the device, never the
// SSH user name (which the client chooses freely) or any address.
func (s *Server) logSession(next ssh.Handler) ssh.Handler {
	return func(sess ssh.Session) {
		t0 := time.Now()
		next(sess)
		dev, _ := sess.Context().Value(ctxDevice).(flows.Device)
		_, _, pty := sess.Pty()
		what := "screens"
		if !pty || hasCommand(sess) {
			what = "command"
			if c, _ := commands.Split(sess.RawCommand()); len(c) > 0 {
				what = "command " + inertWord(c[0])
			}
		}
		s.log.Info("session", "remote", sourceOf(sess.RemoteAddr()).host, "device", dev.Tag, "ran", what,
			"took", time.Since(t0).Round(time.Millisecond))
	}
}

// identify works out which device the session is. Only the key that
// actually signed the handshake counts (s.PublicKey()); keys a client
// merely offered never reach here. A client without a key gets a device
// for this connection only, shared by the connection's sessions.
func (s *Server) identify(next ssh.Handler) ssh.Handler {
	return func(sess ssh.Session) {
		ctx := sess.Context()
		if _, ok := ctx.Value(ctxDevice).(flows.Device); !ok {
			var dev flows.Device
			if pk := sess.PublicKey(); pk != nil {
				dev = flows.KeyDevice(gossh.FingerprintSHA256(pk))
			} else {
				var err error
				if dev, err = s.svc.EphemeralDevice(); err != nil {
					s.log.Error("mint a device for a keyless connection", "err", err)
					fmt.Fprintln(sess.Stderr(), "attest: cannot start a session right now")
					_ = sess.Exit(1)
					return
				}
			}
			dev.Source = sourceOf(sess.RemoteAddr()).host // for the flows' per-source password limit
			ctx.SetValue(ctxDevice, dev)
		}
		next(sess)
	}
}

// route sends the session where it asked to go: `inbox@` to the demo
// inbox, a command line to the command mode, a terminal to the screens.
// The SSH user name is only a route hint here, never identity.
func (s *Server) route(next ssh.Handler) ssh.Handler {
	return func(sess ssh.Session) {
		dev, _ := sess.Context().Value(ctxDevice).(flows.Device)
		_, _, pty := sess.Pty()
		term, bounded := sess.(*terminalSession)
		switch {
		case sess.User() == "inbox":
			s.metrics.Session("inbox")
			s.serveInbox(sess, pty)
		case hasCommand(sess) || !pty:
			s.metrics.Session("command")
			// A command is a use of the device too: it keeps its sign-in alive.
			if err := s.svc.Touch(sess.Context(), dev); err != nil {
				s.log.Warn("record device seen", "device", dev.Tag, "err", err)
			}
			// The raw line, split by commands.Split: Wish's sess.Command()
			// drops what follows an unbalanced quote and is unbounded.
			code := commands.RunLine(sess.Context(), commands.Env{
				Service: s.svc, Device: dev, Stdin: sess, Stdout: sess, Stderr: sess.Stderr(),
				Admin: !dev.Ephemeral && s.admins[dev.Tag],
			}, sess.RawCommand())
			_ = sess.Exit(code)
		case bounded:
			s.metrics.Session("screens")
			if err := s.svc.Touch(sess.Context(), dev); err != nil {
				s.log.Warn("record device seen", "device", dev.Tag, "err", err)
			}
			s.serveScreens(term)
			if s.stopping.Load() {
				fmt.Fprint(sess, "\r\nattest is shutting down; reconnect in a moment.\r\n")
			}
			_ = sess.Exit(0)
		}
		next(sess)
	}
}

// serveInbox shows the demo inbox: every message to every address. It
// exists only in demo mode, where no real message ever leaves the
// machine. Without a terminal it prints the inbox as JSON lines (and with
// --follow keeps printing new ones); with one it shows messages live.
func (s *Server) serveInbox(sess ssh.Session, pty bool) {
	if s.inbox == nil {
		fmt.Fprintln(sess.Stderr(), "attest: there is no demo inbox: this server delivers "+s.svc.Deliveries())
		_ = sess.Exit(1)
		return
	}
	follow := pty
	args, err := commands.Split(sess.RawCommand())
	if err != nil {
		fmt.Fprintf(sess.Stderr(), "attest: %s\n", err)
		_ = sess.Exit(2)
		return
	}
	for _, a := range args {
		switch a {
		case "-f", "--follow":
			follow = true
		case "-h", "--help", "help":
			fmt.Fprintln(sess, "inbox: the demo inbox. Without a terminal: JSON lines of every message; --follow keeps printing new ones "+
				"(after --, which keeps ssh from reading it: ssh inbox@HOST -- --follow).")
			_ = sess.Exit(0)
			return
		case "follow":
			// The OpenSSH client reads a --follow after the host as its
			// own option unless -- comes first: say how to get it here.
			fmt.Fprintln(sess.Stderr(), "attest: inbox takes --follow, not follow; write -- before it, or ssh reads it as its own option: ssh [-p PORT] inbox@HOST -- --follow")
			_ = sess.Exit(2)
			return
		default:
			fmt.Fprintf(sess.Stderr(), "attest: inbox takes only --follow, not %s\n", inertWord(a))
			_ = sess.Exit(2)
			return
		}
	}
	ctx := sess.Context()
	// Subscribing returns what is already there in the same step, so no
	// message falls between the backlog and the live feed.
	live, backlog := s.inbox.Subscribe(ctx)
	show := func(m message.Message) error { return writeJSONLine(sess, m) }
	if pty {
		fmt.Fprint(sess, "\x1b[1mattest demo inbox\x1b[0m: every message to every address, live, with what the governor decided. Ctrl+C to leave.\r\n\r\n")
		// The body wraps to the window, under its indent; the window's
		// width is followed as it changes.
		var width atomic.Int64
		if p, winCh, ok := sess.Pty(); ok {
			width.Store(int64(p.Window.Width))
			go func() {
				for w := range winCh {
					width.Store(int64(w.Width))
				}
			}()
		}
		show = func(m message.Message) error {
			return writeInboxBlock(sess, m, s.governorNote(ctx, m), int(width.Load()))
		}
		go func() { // ctrl+c arrives as a byte on a terminal
			buf := make([]byte, 64)
			for {
				n, err := sess.Read(buf)
				if err != nil || strings.ContainsAny(string(buf[:n]), "\x03\x04q") {
					_ = sess.Exit(0)
					_ = sess.Close()
					return
				}
			}
		}()
	}
	for _, m := range backlog {
		if show(m) != nil {
			return
		}
	}
	if !follow {
		_ = sess.Exit(0)
		return
	}
	for {
		select {
		case <-ctx.Done():
			return
		case m, ok := <-live:
			if !ok || show(m) != nil {
				return
			}
		}
	}
}

// inboxLine is the JSON form of a demo message.
type inboxLine struct {
	ID      string    `json:"id"`
	Channel string    `json:"channel"`
	To      string    `json:"to"`
	Subject string    `json:"subject,omitempty"`
	Text    string    `json:"text"`
	Created time.Time `json:"created"`
}

func writeJSONLine(w io.Writer, m message.Message) error {
	return json.NewEncoder(w).Encode(inboxLine{ID: m.ID, Channel: string(m.Channel), To: m.To,
		Subject: m.Subject, Text: m.Text, Created: m.Created})
}

// inboxIndent is the indent of a message's body under its heading.
const inboxIndent = "    "

// writeInboxBlock shows one message on a terminal width columns wide (0:
// unknown): its time, channel and address, then the governor's note (if
// any), then the text, indented, long lines wrapped at spaces so that they
// stay under the indent. A word wider than the window (a link) is left
// whole, for the terminal to fold and copy.
func writeInboxBlock(w io.Writer, m message.Message, note string, width int) error {
	head := fmt.Sprintf("%s  %s to %s", m.Created.UTC().Format("15:04:05"), strings.ToUpper(string(m.Channel)), inert.Address(m.To))
	if m.Subject != "" {
		head += "  · " + inert.String(m.Subject)
	}
	room := width - len(inboxIndent)
	wrap := func(l string) []string {
		if room < 20 {
			return []string{l}
		}
		return strings.Split(ansi.Wordwrap(l, room, ""), "\n")
	}
	if note != "" { // dim, wrapped as the text is, each line under the indent
		var dim []string
		for _, l := range wrap(inert.String(note)) {
			dim = append(dim, "\x1b[2m"+l+"\x1b[0m")
		}
		note = strings.Join(dim, "\r\n"+inboxIndent) + "\r\n" + inboxIndent
	}
	var lines []string
	for _, l := range strings.Split(strings.TrimRight(inert.Lines(m.Text), "\n"), "\n") {
		lines = append(lines, wrap(l)...)
	}
	body := strings.Join(lines, "\r\n"+inboxIndent)
	_, err := fmt.Fprintf(w, "\x1b[1m%s\x1b[0m\r\n%s%s%s\r\n\r\n", head, inboxIndent, note, body)
	return err
}

// governorNote is what the governor decided around a demo message: that
// it let it go, when the next to the address may go and why, and how many
// requests it held back since the message before ("" when the ledger has
// no such record, such as a notice, which is not governed).
func (s *Server) governorNote(ctx context.Context, m message.Message) string {
	g, ok, err := s.svc.GovernedBy(ctx, m.ID)
	if err != nil {
		s.log.Warn("read the governor's decision for the inbox", "err", err)
		return ""
	}
	if !ok {
		return ""
	}
	note := "governor: sent; the next to this address can go at " + g.NextAt.UTC().Format("15:04:05 UTC")
	if r := explain.Rule(g.Rule); r != "" {
		note += " (" + r + ")"
	}
	if held := g.Held(); held != "" {
		note += "; " + held + " before it"
	}
	return note
}

// hasCommand reports whether the client sent a command line with
// anything but white space in it.
func hasCommand(sess ssh.Session) bool { return strings.TrimSpace(sess.RawCommand()) != "" }

// inertWord is inert for one short token in a log or error line.
func inertWord(s string) string {
	if len(s) > 40 {
		s = s[:40] + "…"
	}
	return inert.String(s)
}
