package bench

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	gossh "golang.org/x/crypto/ssh"

	"github.com/attest-dev/attest/flows/clock"
	"github.com/attest-dev/attest/server"
	"github.com/attest-dev/attest/server/config"
)

// sshRig is the real attest server in this process on 127.0.0.1:0, in
// demo mode, with a goroutine reading its inbox and handing each code to
// the client waiting for its address.
type sshRig struct {
	addr string
	app  *server.App
	desk *desk
}

// startSSH is server_test.go's startServer, for benchmarks.
func startSSH(tb testing.TB) *sshRig { return startSSHOn(tb, "", "", true) }

// startSSHOn starts a server whose ledger is in the PostgreSQL database
// url ("" for a bbolt file), with the secret in secretFile ("" for its data
// directory's), reading its inbox when watch is set.
func startSSHOn(tb testing.TB, url, secretFile string, watch bool) *sshRig {
	tb.Helper()
	cfg := config.Default()
	cfg.DataDir = tb.TempDir()
	cfg.DatabaseURL, cfg.SecretFile = url, secretFile
	cfg.SSH.Listen = "127.0.0.1:0"
	// The governor would hold back a load test: see liftedGovernor.
	g := liftedGovernor
	cfg.Policy.AddressGap, cfg.Policy.AddressPerHour, cfg.Policy.AddressPerDay = g.AddressGap, g.AddressPerHour, g.AddressPerDay
	cfg.Policy.DevicePerHour, cfg.Policy.EmailPerHour = g.DevicePerHour, g.EmailPerHour
	// So would the connection caps: every client here comes from
	// 127.0.0.1, and 64 of them at once is a flood from one address by
	// the defaults (10 unauthenticated, 20 connections per address).
	cfg.SSH.MaxUnauthenticated, cfg.SSH.MaxUnauthenticatedPerIP, cfg.SSH.MaxConnectionsPerIP = 4*workers, 4*workers, 4*workers
	cfg.SSH.UnauthenticatedDropStart = 4 * workers // nor would the early drop
	if err := cfg.Validate(); err != nil {
		tb.Fatal(err)
	}
	app, err := server.Open(cfg, clock.System{}, nil)
	if err != nil {
		tb.Fatal(err)
	}
	srv, err := server.New(cfg, server.Deps{Service: app.Service, Ledger: app.Ledger, Inbox: app.Inbox})
	if err != nil {
		tb.Fatal(err)
	}
	ln, err := net.Listen("tcp", cfg.SSH.Listen)
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()

	r := &sshRig{addr: ln.Addr().String(), app: app, desk: newDesk()}
	// The inbox's subscription buffers 64 messages; each client waits for
	// its code before it asks for another, so at most 64 are ever unread.
	live, _ := app.Inbox.Subscribe(ctx)
	if !watch {
		live = nil
	}
	inboxDone := make(chan struct{})
	go func() {
		defer close(inboxDone)
		if live == nil {
			return
		}
		for m := range live {
			if err := r.desk.deliver(m.To, m.Text); err != nil {
				tb.Error(err)
			}
		}
	}()
	tb.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			tb.Errorf("serve: %v", err)
		}
		<-inboxDone
		if err := app.Close(); err != nil {
			tb.Errorf("close: %v", err)
		}
	})
	return r
}

func newSigner() (gossh.Signer, error) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	return gossh.NewSignerFromKey(priv)
}

func (r *sshRig) dial(signer gossh.Signer) (*gossh.Client, error) {
	return gossh.Dial("tcp", r.addr, &gossh.ClientConfig{
		User:            "bench",
		Auth:            []gossh.AuthMethod{gossh.PublicKeys(signer)},
		HostKeyCallback: gossh.InsecureIgnoreHostKey(),
		Timeout:         time.Minute,
	})
}

// run runs one command in a new session on c and returns its stdout; a
// non-zero exit is an error carrying stderr.
func run(c *gossh.Client, cmd string) (string, error) {
	s, err := c.NewSession()
	if err != nil {
		return "", fmt.Errorf("session for %q: %w", cmd, err)
	}
	defer s.Close()
	var out, errb bytes.Buffer
	s.Stdout, s.Stderr = &out, &errb
	if err := s.Run(cmd); err != nil {
		return out.String(), fmt.Errorf("%q: %w: %s", cmd, err, errb.String())
	}
	return out.String(), nil
}

// dialRun is what a script does for one command: connect, authenticate,
// run it, hang up.
func (r *sshRig) dialRun(signer gossh.Signer, cmd string) (string, error) {
	c, err := r.dial(signer)
	if err != nil {
		return "", fmt.Errorf("dial: %w", err)
	}
	defer c.Close()
	return run(c, cmd)
}

// signUp is one complete sign-up of a new user over SSH with a new key:
// `signin ADDRESS`, then `code CODE` with the code from the inbox. With
// reuse the two commands are two sessions on one connection; without,
// each is a connection of its own, as a shell script would do it.
func (r *sshRig) signUp(i int, reuse bool) error {
	signer, err := newSigner()
	if err != nil {
		return err
	}
	addr := fmt.Sprintf("user%d@example.com", i)
	runCmd := r.dialRun
	if reuse {
		c, err := r.dial(signer)
		if err != nil {
			return fmt.Errorf("dial: %w", err)
		}
		defer c.Close()
		runCmd = func(_ gossh.Signer, cmd string) (string, error) { return run(c, cmd) }
	}
	out, err := runCmd(signer, "signin "+addr)
	if err != nil {
		return err
	}
	if !strings.HasPrefix(out, "Code A ") {
		return fmt.Errorf("signin said %q", out)
	}
	code, err := r.desk.await(addr)
	if err != nil {
		return err
	}
	out, err = runCmd(signer, "code "+code)
	if err != nil {
		return err
	}
	if !strings.HasPrefix(out, "Signed up") {
		return fmt.Errorf("code %s said %q", code, out)
	}
	return nil
}

// connect is the bare cost of an SSH command: connect, handshake,
// authenticate, run `help`, hang up.
func (r *sshRig) connect(signer gossh.Signer) error {
	out, err := r.dialRun(signer, "help")
	if err != nil {
		return err
	}
	if !strings.Contains(out, "signin") {
		return errors.New("help does not list signin")
	}
	return nil
}

// BenchmarkSignUpSSH: complete sign-ups over real SSH, 64 clients at
// once, each sign-up with a new ed25519 key (a new device).
func BenchmarkSignUpSSH(b *testing.B) {
	for _, mode := range []struct {
		name  string
		reuse bool
	}{{"connection-per-command", false}, {"one-connection-two-sessions", true}} {
		b.Run(mode.name, func(b *testing.B) {
			r := startSSH(b)
			report(b, "signups", func(i int) error { return r.signUp(i, mode.reuse) })
		})
	}
}

// BenchmarkSSHConnection: the bare cost of an SSH command, 64 clients at
// once, to set the sign-up figures against.
func BenchmarkSSHConnection(b *testing.B) {
	r := startSSH(b)
	signers := make([]gossh.Signer, workers)
	for i := range signers {
		var err error
		if signers[i], err = newSigner(); err != nil {
			b.Fatal(err)
		}
	}
	report(b, "connections", func(i int) error { return r.connect(signers[i%workers]) })
}

// The harnesses work: a few sign-ups in both modes and a few bare
// connections, all checked.
func TestSignUpSSH(t *testing.T) {
	r := startSSH(t)
	for _, reuse := range []bool{false, true} {
		base := 0
		if reuse {
			base = 1000
		}
		if _, _, err := load(8, 8, func(i int) error { return r.signUp(base+i, reuse) }); err != nil {
			t.Fatalf("reuse %t: %v", reuse, err)
		}
	}
	signer, err := newSigner()
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := load(8, 8, func(int) error { return r.connect(signer) }); err != nil {
		t.Fatal(err)
	}
	// A second sign-up of the same address from a new device is a sign-in,
	// not a sign-up: the harness notices.
	if err := r.signUp(0, false); err == nil || !strings.Contains(err.Error(), "said") {
		t.Fatalf("signing up an existing address again passed the harness: %v", err)
	}
}
