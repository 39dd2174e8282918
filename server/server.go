// Package server runs attest's listeners: the SSH server that shows the
// screens and runs commands, and the operator's control socket. It owns
// connection hardening, identity (which device a session is), delivery
// wiring and graceful shutdown, and hands each session to tui or to the
// command mode.
package server

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	tea "charm.land/bubbletea/v2"
	"charm.land/ssh"
	"charm.land/wish/v2"
	gossh "golang.org/x/crypto/ssh"

	"github.com/attest-dev/attest/flows"
	"github.com/attest-dev/attest/flows/clock"
	"github.com/attest-dev/attest/server/config"
	"github.com/attest-dev/attest/server/delivery"
	"github.com/attest-dev/attest/server/metrics"
	"github.com/attest-dev/attest/store"
)

// Deps are what the server serves.
type Deps struct {
	Service *flows.Service
	Ledger  store.Ledger
	// Inbox is the demo inbox; nil unless the server runs in demo mode.
	Inbox  *delivery.Inbox
	Logger *slog.Logger
	// Clock and Rand drive admission's penalties and early drop;
	// defaults: the system clock, crypto/rand.
	Clock clock.Clock
	Rand  io.Reader
	// Metrics are the App's (which count the flows); nil makes a set
	// that counts only what the server sees.
	Metrics *metrics.Set
}

// Server is a running attest server.
type Server struct {
	cfg   config.Config
	svc   *flows.Service
	led   store.Ledger
	inbox *delivery.Inbox
	log   *slog.Logger

	ssh     *ssh.Server
	adm     *admission
	metrics *metrics.Set
	// admins are the fingerprints of the administrators' keys.
	admins map[string]bool

	// terminals are the sessions whose terminal boundPty took over, until
	// they start (ssh.Session → *terminalSession).
	terminals sync.Map

	// programs are the live screens, so shutdown can tell each one.
	mu       sync.Mutex
	programs map[*tea.Program]struct{}
	stopping atomic.Bool
}

// Context keys for what the server learns about a connection.
type ctxKey string

const (
	ctxConn   ctxKey = "attest.conn"   // *admittedConn
	ctxDevice ctxKey = "attest.device" // flows.Device
)

// New builds a server from a validated configuration.
func New(cfg config.Config, d Deps) (*Server, error) {
	if d.Service == nil || d.Ledger == nil {
		return nil, errors.New("server: a service and a ledger are required")
	}
	s := &Server{
		cfg:      cfg,
		svc:      d.Service,
		led:      d.Ledger,
		inbox:    d.Inbox,
		log:      d.Logger,
		programs: map[*tea.Program]struct{}{},
		metrics:  d.Metrics,
		admins:   map[string]bool{},
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.metrics == nil {
		s.metrics = metrics.New()
	}
	s.watchServer()
	if d.Clock == nil {
		d.Clock = clock.System{}
	}
	if d.Rand == nil {
		d.Rand = rand.Reader
	}
	c := cfg.SSH
	s.adm = newAdmission(admissionPolicy{
		dropStart: c.UnauthenticatedDropStart, dropRate: c.UnauthenticatedDropRate,
		full: c.MaxUnauthenticated, headroom: c.UnauthenticatedHeadroom,
		perSource: c.MaxUnauthenticatedPerIP, per48: c.MaxUnauthenticatedPer48,
		perSourceTotal: c.MaxConnectionsPerIP,
	}, d.Clock, d.Rand)
	for i, line := range cfg.Admins {
		key, _, _, _, err := gossh.ParseAuthorizedKey([]byte(line))
		if err != nil {
			return nil, fmt.Errorf("server: administrator key %d is not an authorized_keys line: %w", i+1, err)
		}
		s.admins[gossh.FingerprintSHA256(key)] = true
	}

	// The session middleware, in the order it runs. (Wish composes its
	// list so that the last one listed runs first; reversed() below keeps
	// this list readable top to bottom.)
	chain := []wish.Middleware{
		s.recoverPanics, // 1. a panic ends this session, never the server
		s.boundTerminal, // 2. the terminal as bounded since its pty-req (see boundPty)
		s.logSession,    // 3. one line per session: device, what ran, how long
		s.identify,      // 4. the device is the key that signed, nothing else
		s.route,         // 5. the inbox, a command, or the screens
	}
	if err := ensureHostKey(cfg.HostKeyPath()); err != nil {
		return nil, fmt.Errorf("server: %w", err)
	}
	srv, err := wish.NewServer(
		wish.WithAddress(cfg.SSH.Listen),
		wish.WithHostKeyPath(cfg.HostKeyPath()),
		wish.WithVersion("attest"),
		// Authentication callbacks decide; they remember nothing. A key
		// that is merely offered reaches acceptKey too, so identity is
		// taken later, from the key that actually signed.
		wish.WithPublicKeyAuth(acceptKey),
		wish.WithKeyboardInteractiveAuth(acceptKeyless),
		wish.WithMiddleware(reversed(chain)...),
		s.harden,
	)
	if err != nil {
		return nil, fmt.Errorf("server: build ssh server: %w", err)
	}
	s.ssh = srv
	return s, nil
}

func reversed(mw []wish.Middleware) []wish.Middleware {
	out := slices.Clone(mw)
	slices.Reverse(out)
	return out
}

// The algorithms offered, modern only: no SHA-1, no CBC, no NIST-only
// key exchange. OpenSSH 8.5 and later, and every maintained client
// library, support them.
var (
	kexAlgorithms = []string{gossh.KeyExchangeMLKEM768X25519, gossh.KeyExchangeCurve25519}
	ciphers       = []string{gossh.CipherAES128GCM, gossh.CipherAES256GCM, gossh.CipherChaCha20Poly1305}
	macs          = []string{gossh.HMACSHA256ETM, gossh.HMACSHA512ETM}
)

// harden sets the limits that make the server safe to expose: timeouts,
// algorithms, authentication tries, admission before authentication,
// session caps.
func (s *Server) harden(srv *ssh.Server) error {
	c := s.cfg.SSH
	srv.HandshakeTimeout = c.HandshakeTimeout
	srv.IdleTimeout = c.IdleTimeout
	srv.MaxTimeout = c.MaxTimeout
	srv.ServerConfigCallback = func(ctx ssh.Context) *gossh.ServerConfig {
		conn, _ := ctx.Value(ctxConn).(*admittedConn)
		return &gossh.ServerConfig{
			Config:       gossh.Config{KeyExchanges: kexAlgorithms, Ciphers: ciphers, MACs: macs},
			MaxAuthTries: c.MaxAuthTries,
			// Called at the first authentication request, so once key
			// exchange is done: the key-exchange deadline no longer applies.
			BannerCallback: func(gossh.ConnMetadata) string {
				if conn != nil {
					conn.keyExchangeDone()
				}
				return ""
			},
			// Called after each real attempt (queries for an offered key
			// do not count). The first success frees the connection's
			// unauthenticated slot.
			AuthLogCallback: func(_ gossh.ConnMetadata, _ string, err error) {
				if err == nil && conn != nil {
					conn.markAuthenticated()
				}
			},
		}
	}
	srv.ConnCallback = func(ctx ssh.Context, conn net.Conn) net.Conn {
		if s.stopping.Load() {
			return nil
		}
		src := sourceOf(conn.RemoteAddr())
		if ok, why := s.adm.admit(src); !ok {
			// Debug, not warn: a flood would write a line per attempt. The
			// metric counts every refusal by reason.
			s.log.Debug("connection refused", "remote", src.host, "reason", why)
			s.metrics.Refused(why)
			return nil
		}
		ac := newAdmittedConn(conn, s.adm, src, min(c.KeyExchangeTimeout, c.HandshakeTimeout))
		ctx.SetValue(ctxConn, ac)
		return ac
	}
	srv.ConnectionFailedCallback = func(conn net.Conn, err error) {
		s.log.Debug("connection failed", "remote", sourceOf(conn.RemoteAddr()).host, "err", err)
	}
	srv.ChannelHandlers = map[string]ssh.ChannelHandler{"session": s.capSessions(boundRequests(ssh.DefaultSessionHandler))}
	srv.PtyHandler = s.boundPty(emulatedPty())
	return nil
}

// capSessions refuses session channels beyond the per-connection cap: a
// screen needs one, and a connection multiplexing dozens is abuse.
func (s *Server) capSessions(next ssh.ChannelHandler) ssh.ChannelHandler {
	type counter struct{ n atomic.Int32 }
	const key ctxKey = "attest.sessions"
	return func(srv *ssh.Server, conn *gossh.ServerConn, ch gossh.NewChannel, ctx ssh.Context) {
		c, _ := ctx.Value(key).(*counter)
		if c == nil {
			c = &counter{}
			ctx.SetValue(key, c)
		}
		if c.n.Add(1) > int32(s.cfg.SSH.MaxSessionsPerConnection) {
			c.n.Add(-1)
			_ = ch.Reject(gossh.ResourceShortage, "too many sessions on one connection")
			return
		}
		defer c.n.Add(-1)
		next(srv, conn, ch, ctx)
	}
}

// acceptKey answers whether a key type is acceptable. It sees keys that
// are only offered, so it must not record anything about them.
func acceptKey(_ ssh.Context, key ssh.PublicKey) bool {
	switch key.Type() {
	case gossh.KeyAlgoED25519, gossh.KeyAlgoECDSA256, gossh.KeyAlgoECDSA384, gossh.KeyAlgoECDSA521,
		gossh.KeyAlgoSKED25519, gossh.KeyAlgoSKECDSA256:
		return true
	case gossh.KeyAlgoRSA:
		ck, ok := key.(gossh.CryptoPublicKey)
		if !ok {
			return false
		}
		type sized interface{ Size() int }
		rsa, ok := ck.CryptoPublicKey().(sized)
		return ok && rsa.Size()*8 >= 2048
	}
	return false // DSA, certificates, anything unknown
}

// acceptKeyless lets a client without a key in, asking nothing: it gets a
// device for this connection only, and the screen tells it so.
func acceptKeyless(ssh.Context, gossh.KeyboardInteractiveChallenge) bool { return true }

// shutdownGrace is how long sessions get to finish when the server stops.
const shutdownGrace = 5 * time.Second

// Serve runs the SSH listener until ctx ends, then shuts down gracefully:
// live screens are told, new connections refused, sessions given a few
// seconds to finish.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	errc := make(chan error, 1)
	go func() { errc <- s.ssh.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("ssh server: %w", err)
	case <-ctx.Done():
	}
	s.stopping.Store(true)
	s.mu.Lock()
	for p := range s.programs {
		p.Quit() // the session then prints a notice and ends
	}
	s.mu.Unlock()
	shutdownCtx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	if err := s.ssh.Shutdown(shutdownCtx); err != nil {
		s.log.Warn("sessions did not end in time; closing them", "err", err)
		_ = s.ssh.Close()
	}
	// Serve returns ErrServerClosed once Shutdown has run; anything else
	// went wrong on the way down, and is said.
	if err := <-errc; err != nil && !errors.Is(err, ssh.ErrServerClosed) {
		return fmt.Errorf("ssh server: %w", err)
	}
	return nil
}
