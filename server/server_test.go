package server_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	gossh "golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"

	"github.com/attest-dev/attest/flows/clock"
	"github.com/attest-dev/attest/server"
	"github.com/attest-dev/attest/server/config"
)

// testServer is a real attest server on 127.0.0.1:0 over a real ledger.
type testServer struct {
	t    *testing.T
	cfg  config.Config
	addr string
	app  *server.App
	srv  *server.Server
	stop func()
	done chan error
}

func startServer(t *testing.T, tweak func(*config.Config)) *testServer {
	t.Helper()
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	cfg.SSH.Listen = "127.0.0.1:0"
	if tweak != nil {
		tweak(&cfg)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	ts := &testServer{t: t, cfg: cfg}
	ts.start()
	t.Cleanup(ts.shutdown)
	return ts
}

func (ts *testServer) start() {
	t := ts.t
	app, err := server.Open(ts.cfg, clock.NewFake(time.Date(2026, 11, 21, 9, 0, 0, 0, time.UTC)), nil)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := server.New(ts.cfg, server.Deps{Service: app.Service, Ledger: app.Ledger, Inbox: app.Inbox, Clock: app.Clock, Metrics: app.Metrics, Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", ts.cfg.SSH.Listen)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ts.app, ts.srv, ts.addr, ts.stop, ts.done = app, srv, ln.Addr().String(), cancel, make(chan error, 1)
	go func() { ts.done <- srv.Serve(ctx, ln) }()
}

func (ts *testServer) shutdown() {
	if ts.stop == nil {
		return
	}
	ts.stop()
	if err := <-ts.done; err != nil {
		ts.t.Errorf("serve: %v", err)
	}
	if err := ts.app.Close(); err != nil {
		ts.t.Errorf("close: %v", err)
	}
	ts.stop = nil
}

func newKey(t *testing.T) gossh.Signer {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	s, err := gossh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func dial(t *testing.T, addr, user string, auth ...gossh.AuthMethod) (*gossh.Client, error) {
	t.Helper()
	return gossh.Dial("tcp", addr, &gossh.ClientConfig{
		User:            user,
		Auth:            auth,
		HostKeyCallback: gossh.InsecureIgnoreHostKey(),
		Timeout:         5 * time.Second,
	})
}

// run runs one command over a fresh connection and returns its output.
func run(t *testing.T, addr string, signer gossh.Signer, cmd string) (stdout, stderr string, code int) {
	t.Helper()
	auth := []gossh.AuthMethod{gossh.PublicKeys(signer)}
	if signer == nil {
		auth = []gossh.AuthMethod{gossh.KeyboardInteractive(func(string, string, []string, []bool) ([]string, error) { return nil, nil })}
	}
	c, err := dial(t, addr, "visitor", auth...)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	defer c.Close()
	return runOn(t, c, cmd)
}

func runOn(t *testing.T, c *gossh.Client, cmd string) (string, string, int) {
	t.Helper()
	s, err := c.NewSession()
	if err != nil {
		t.Fatalf("session: %v", err)
	}
	defer s.Close()
	var out, errb bytes.Buffer
	s.Stdout, s.Stderr = &out, &errb
	err = s.Run(cmd)
	code := 0
	var exit *gossh.ExitError
	if errors.As(err, &exit) {
		code = exit.ExitStatus()
	} else if err != nil {
		t.Fatalf("run %q: %v", cmd, err)
	}
	return out.String(), errb.String(), code
}

type whoami struct {
	Device struct {
		Tag       string `json:"tag"`
		Ephemeral bool   `json:"ephemeral"`
	} `json:"device"`
	User     string `json:"user"`
	Nickname string `json:"nickname"`
}

func whoamiOf(t *testing.T, out string) whoami {
	t.Helper()
	var w whoami
	if err := json.Unmarshal([]byte(out), &w); err != nil {
		t.Fatalf("whoami --json: %v in %q", err, out)
	}
	return w
}

func TestWhoamiOverSSH(t *testing.T) {
	ts := startServer(t, nil)
	key := newKey(t)
	out, errOut, code := run(t, ts.addr, key, "whoami --json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	w := whoamiOf(t, out)
	if w.Device.Tag != gossh.FingerprintSHA256(key.PublicKey()) || w.Device.Ephemeral || w.User != "" {
		t.Fatalf("whoami: %+v", w)
	}
	// An unknown command is a command line that cannot run: exit 2, on stderr.
	_, errOut, code = run(t, ts.addr, key, "frobnicate")
	if code != 2 || !strings.Contains(errOut, "unknown command") {
		t.Fatalf("unknown command: exit %d, %q", code, errOut)
	}
}

// badSigner claims the victim's public key but cannot produce the
// victim's signature: it signs with the attacker's own key instead.
type badSigner struct {
	victim   gossh.PublicKey
	attacker gossh.Signer
}

func (b badSigner) PublicKey() gossh.PublicKey { return b.victim }
func (b badSigner) Sign(r io.Reader, data []byte) (*gossh.Signature, error) {
	return b.attacker.Sign(r, data)
}

// refusingAgent is an ssh-agent that lists the victim's public key next
// to the attacker's own, and refuses to sign with the victim's: the
// position of a client that knows a public key but not its private key.
type refusingAgent struct {
	agent.ExtendedAgent // holds the attacker's key
	victim              gossh.PublicKey
}

func (a refusingAgent) List() ([]*agent.Key, error) {
	own, err := a.ExtendedAgent.List()
	victim := &agent.Key{Format: a.victim.Type(), Blob: a.victim.Marshal(), Comment: "victim"}
	return append([]*agent.Key{victim}, own...), err
}

func (a refusingAgent) Sign(key gossh.PublicKey, data []byte) (*gossh.Signature, error) {
	if bytes.Equal(key.Marshal(), a.victim.Marshal()) {
		return nil, errors.New("cannot sign: no private key")
	}
	return a.ExtendedAgent.Sign(key, data)
}

func (a refusingAgent) SignWithFlags(key gossh.PublicKey, data []byte, flags agent.SignatureFlags) (*gossh.Signature, error) {
	if bytes.Equal(key.Marshal(), a.victim.Marshal()) {
		return nil, errors.New("cannot sign: no private key")
	}
	return a.ExtendedAgent.SignWithFlags(key, data, flags)
}

// The Soft Serve lesson, with the real OpenSSH client: it offers the
// victim's public key (the server's callback sees it and says the key
// would do), cannot sign with it, then authenticates with its own key.
// The session must be the attacker's own device, never the victim's.
func TestOfferedKeyIsNeverIdentity(t *testing.T) {
	sshBin, err := exec.LookPath("ssh")
	if err != nil {
		t.Fatal("the OpenSSH client is needed (apt-get install openssh-client; ./test.sh installs it)")
	}
	ts := startServer(t, nil)
	_, victimKey, _ := ed25519.GenerateKey(rand.Reader)
	_, attackerKey, _ := ed25519.GenerateKey(rand.Reader)
	victim, _ := gossh.NewSignerFromKey(victimKey)
	attacker, _ := gossh.NewSignerFromKey(attackerKey)
	if _, errOut, code := run(t, ts.addr, victim, "nickname Victim"); code != 0 {
		t.Fatalf("victim: %s", errOut)
	}

	keyring := agent.NewKeyring()
	if err := keyring.Add(agent.AddedKey{PrivateKey: attackerKey}); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(t.TempDir(), "agent.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go agent.ServeAgent(refusingAgent{ExtendedAgent: keyring.(agent.ExtendedAgent), victim: victim.PublicKey()}, c)
		}
	}()

	host, port, _ := net.SplitHostPort(ts.addr)
	cmd := exec.Command(sshBin, "-F", "/dev/null", "-v",
		"-o", "IdentityAgent="+sock, "-o", "IdentitiesOnly=no", "-o", "BatchMode=yes",
		"-o", "PreferredAuthentications=publickey",
		"-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
		"-p", port, "victim@"+host, "whoami", "--json")
	cmd.Env = []string{"HOME=" + t.TempDir(), "PATH=" + os.Getenv("PATH")}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("ssh: %v\n%s", err, errb.String())
	}
	// The client did offer the victim's key first, and the server said it
	// would do: this is the situation the test is about.
	if !strings.Contains(errb.String(), "Server accepts key") || !strings.Contains(errb.String(), "victim") {
		t.Fatalf("the victim's key was not offered and accepted first:\n%s", errb.String())
	}
	w := whoamiOf(t, out.String())
	if w.Device.Tag != gossh.FingerprintSHA256(attacker.PublicKey()) {
		t.Fatalf("the session is device %s, want the attacker's own %s", w.Device.Tag, gossh.FingerprintSHA256(attacker.PublicKey()))
	}
	if w.Nickname == "Victim" {
		t.Fatal("the attacker sees the victim's nickname")
	}
}

// A wrong signature for an offered key ends the connection: it never
// falls through to another identity.
func TestBadSignatureEndsTheConnection(t *testing.T) {
	ts := startServer(t, nil)
	victim, attacker := newKey(t), newKey(t)
	_, err := dial(t, ts.addr, "x", gossh.PublicKeys(badSigner{victim: victim.PublicKey(), attacker: attacker}, attacker))
	if err == nil {
		t.Fatal("a connection with a forged signature got in")
	}
}

// A client with no key gets a device for its connection only.
func TestKeylessConnectionIsEphemeral(t *testing.T) {
	ts := startServer(t, nil)
	out, _, code := run(t, ts.addr, nil, "whoami --json")
	w := whoamiOf(t, out)
	if code != 0 || !w.Device.Ephemeral || !strings.HasPrefix(w.Device.Tag, "conn:") {
		t.Fatalf("keyless whoami: %+v", w)
	}
	out2, _, _ := run(t, ts.addr, nil, "whoami --json")
	if whoamiOf(t, out2).Device.Tag == w.Device.Tag {
		t.Fatal("two keyless connections share a device")
	}
	human, _, _ := run(t, ts.addr, nil, "whoami")
	if !strings.Contains(human, "this connection only") {
		t.Fatalf("whoami does not say the device is for this connection only: %q", human)
	}
}

// Half-open connections from one source are capped, and a legitimate
// client from another source still gets in.
func TestUnauthenticatedConnectionsAreCapped(t *testing.T) {
	ts := startServer(t, func(c *config.Config) {
		c.SSH.MaxUnauthenticatedPerIP = 3
		c.SSH.MaxUnauthenticated = 5
	})
	var stalled []net.Conn
	defer func() {
		for _, c := range stalled {
			c.Close()
		}
	}()
	for range 3 {
		c, err := net.Dial("tcp", ts.addr)
		if err != nil {
			t.Fatal(err)
		}
		stalled = append(stalled, c)
		readBanner(t, c) // the server has accepted it and holds a slot
	}
	// The fourth from the same address is closed at once.
	c, err := net.Dial("tcp", ts.addr)
	if err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, err := c.Read(make([]byte, 64)); err == nil {
		t.Fatalf("a fourth half-open connection was served (%d bytes)", n)
	}
	c.Close()
	// Another source address (127.0.0.2 is loopback too) still logs in.
	if err := loginFrom(t, "127.0.0.2", ts.addr); err != nil {
		t.Fatalf("a client from another address was refused: %v", err)
	}
}

func readBanner(t *testing.T, c net.Conn) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 64)
	n, err := c.Read(buf)
	if err != nil || !strings.HasPrefix(string(buf[:n]), "SSH-2.0-") {
		t.Fatalf("no SSH banner: %q, %v", buf[:n], err)
	}
	c.SetReadDeadline(time.Time{})
}

// A stalled handshake is cut at the handshake timeout.
func TestHandshakeTimeout(t *testing.T) {
	ts := startServer(t, func(c *config.Config) { c.SSH.HandshakeTimeout = 300 * time.Millisecond })
	c, err := net.Dial("tcp", ts.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	readBanner(t, c)
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, err = io.Copy(io.Discard, c) // returns when the server hangs up
	if err != nil {
		t.Fatalf("the server did not close the stalled connection: %v", err)
	}
}

// Failed authentication attempts end the connection after MaxAuthTries:
// keys the server refuses (here 1024-bit RSA) count as failures.
func TestMaxAuthTries(t *testing.T) {
	ts := startServer(t, nil) // 4 tries
	var signers []gossh.Signer
	for range 6 {
		k, err := rsa.GenerateKey(rand.Reader, 1024)
		if err != nil {
			t.Fatal(err)
		}
		s, _ := gossh.NewSignerFromKey(k)
		signers = append(signers, s)
	}
	if _, err := dial(t, ts.addr, "x", gossh.PublicKeys(append(signers, newKey(t))...)); err == nil {
		t.Fatal("a good key after six refused ones got in on the same connection")
	}
	// The same good key after three refused ones is fine.
	c, err := dial(t, ts.addr, "x", gossh.PublicKeys(append(signers[:3], newKey(t))...))
	if err != nil {
		t.Fatalf("within the limit: %v", err)
	}
	c.Close()
}

// Only modern algorithms are offered: SHA-1 key exchange and MACs fail.
func TestModernAlgorithmsOnly(t *testing.T) {
	ts := startServer(t, nil)
	for name, cfg := range map[string]gossh.Config{
		"sha1 kex": {KeyExchanges: []string{gossh.InsecureKeyExchangeDH14SHA1}},
		"sha1 mac": {MACs: []string{gossh.HMACSHA1}, Ciphers: []string{gossh.CipherAES128CTR}},
		"nist kex": {KeyExchanges: []string{gossh.KeyExchangeECDHP256}},
	} {
		_, err := gossh.Dial("tcp", ts.addr, &gossh.ClientConfig{
			Config: cfg, User: "x", Auth: []gossh.AuthMethod{gossh.PublicKeys(newKey(t))},
			HostKeyCallback: gossh.InsecureIgnoreHostKey(), Timeout: 5 * time.Second,
		})
		if err == nil {
			t.Errorf("%s: handshake succeeded", name)
		}
	}
}

// One connection may not open more than the session cap.
func TestSessionsPerConnectionCapped(t *testing.T) {
	ts := startServer(t, func(c *config.Config) { c.SSH.MaxSessionsPerConnection = 2 })
	c, err := dial(t, ts.addr, "x", gossh.PublicKeys(newKey(t)))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var open []*gossh.Session
	for range 2 {
		s, err := c.NewSession()
		if err != nil {
			t.Fatalf("session within the cap refused: %v", err)
		}
		open = append(open, s)
	}
	if _, err := c.NewSession(); err == nil {
		t.Fatal("a third session was accepted")
	}
	for _, s := range open {
		s.Close()
	}
}

// The host key is made once, kept private, and reused after a restart.
func TestHostKeyIsKept(t *testing.T) {
	ts := startServer(t, nil)
	fingerprint := func() string {
		var fp string
		c, err := gossh.Dial("tcp", ts.addr, &gossh.ClientConfig{
			User: "x", Auth: []gossh.AuthMethod{gossh.PublicKeys(newKey(t))}, Timeout: 5 * time.Second,
			HostKeyCallback: func(_ string, _ net.Addr, k gossh.PublicKey) error {
				fp = gossh.FingerprintSHA256(k)
				if k.Type() != gossh.KeyAlgoED25519 {
					t.Errorf("host key type %s", k.Type())
				}
				return nil
			},
		})
		if err != nil {
			t.Fatal(err)
		}
		c.Close()
		return fp
	}
	first := fingerprint()
	st, err := os.Stat(filepath.Join(ts.cfg.DataDir, "ssh_host_ed25519_key"))
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("host key mode %v, want 0600", st.Mode().Perm())
	}
	ts.shutdown()
	ts.start()
	if fingerprint() != first {
		t.Fatal("the host key changed across a restart")
	}
}

// The demo inbox prints every message as JSON lines; it does not exist
// when real delivery is configured.
func TestDemoInbox(t *testing.T) {
	ts := startServer(t, nil)
	key := newKey(t)
	if _, errOut, code := run(t, ts.addr, key, "signin grace@example.com"); code != 0 {
		t.Fatalf("signin: %s", errOut)
	}
	ts.app.Service.Wait()
	c, err := dial(t, ts.addr, "inbox", gossh.PublicKeys(newKey(t)))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	out, _, code := runOn(t, c, "")
	var line struct{ To, Subject, Text string }
	if code != 0 || json.Unmarshal([]byte(strings.SplitN(out, "\n", 2)[0]), &line) != nil {
		t.Fatalf("inbox: exit %d, %q", code, out)
	}
	if line.To != "grace@example.com" || !strings.Contains(line.Text, "Code A: ") {
		t.Fatalf("inbox line %+v", line)
	}
}

// dialFrom opens a TCP connection from a loopback address of its own
// (all of 127.0.0.0/8 is loopback on Linux), so that the server sees a
// distinct source.
func dialFrom(t *testing.T, from, addr string) net.Conn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}, Timeout: 5 * time.Second}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("dial from %s: %v (127.0.0.0/8 must be loopback)", from, err)
	}
	return c
}

// loginFrom runs whoami over a connection from the given address.
func loginFrom(t *testing.T, from, addr string) error {
	t.Helper()
	raw := dialFrom(t, from, addr)
	conn, chans, reqs, err := gossh.NewClientConn(raw, addr, &gossh.ClientConfig{
		User: "x", Auth: []gossh.AuthMethod{gossh.PublicKeys(newKey(t))}, HostKeyCallback: gossh.InsecureIgnoreHostKey(),
	})
	if err != nil {
		raw.Close()
		return err
	}
	client := gossh.NewClient(conn, chans, reqs)
	defer client.Close()
	s, err := client.NewSession()
	if err != nil {
		return err
	}
	defer s.Close()
	return s.Run("whoami")
}

// served reports whether the server admitted c: it sends its version
// line at once, and closes a refused connection without a word.
func served(c net.Conn) bool {
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	defer c.SetReadDeadline(time.Time{})
	buf := make([]byte, 64)
	n, _ := c.Read(buf)
	return strings.HasPrefix(string(buf[:n]), "SSH-2.0-")
}

// A few sources holding every unauthenticated slot they can get (the
// attack that locked everyone out: 60 idle sockets from 6 addresses) do
// not keep others out: they get the pool up to its full mark, and sources
// with nothing waiting still get in, through the headroom.
func TestStalledSourcesDoNotLockOthersOut(t *testing.T) {
	ts := startServer(t, func(c *config.Config) {
		// The stalled sockets must outlast the whole test: the point is
		// what happens while they hold their slots.
		c.SSH.KeyExchangeTimeout = c.SSH.HandshakeTimeout
	})
	var held []net.Conn
	defer func() {
		for _, c := range held {
			c.Close()
		}
	}()
	for s := 2; s <= 7; s++ {
		from := fmt.Sprintf("127.0.0.%d", s)
		mine := 0
		// Reconnect until the source holds its cap: the early drop makes
		// the last slots before the full mark take many tries.
		for try := 0; try < 2000 && mine < ts.cfg.SSH.MaxUnauthenticatedPerIP; try++ {
			c := dialFrom(t, from, ts.addr)
			if served(c) {
				held = append(held, c)
				mine++
				continue
			}
			c.Close()
		}
	}
	if len(held) != ts.cfg.SSH.MaxUnauthenticated {
		t.Fatalf("the attack holds %d sockets, want the pool's full mark %d", len(held), ts.cfg.SSH.MaxUnauthenticated)
	}
	// The pool is full for a source that already has one waiting...
	if c := dialFrom(t, "127.0.0.2", ts.addr); served(c) {
		t.Fatal("an attacking source got a slot past the full mark")
	} else {
		c.Close()
	}
	// ...but not for others.
	var in int
	for s := 20; s < 30; s++ {
		if err := loginFrom(t, fmt.Sprintf("127.0.0.%d", s), ts.addr); err != nil {
			t.Logf("login from 127.0.0.%d: %v", s, err)
			continue
		}
		in++
	}
	t.Logf("%d of 10 logins got in past %d stalled sockets from 6 sources", in, len(held))
	if in < 8 {
		t.Fatalf("only %d of 10 logins got in", in)
	}
	// The attack was still in place: every socket still open.
	for i, c := range held {
		c.SetReadDeadline(time.Now().Add(time.Millisecond))
		if _, err := c.Read(make([]byte, 1)); !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("stalled socket %d was closed during the test: %v", i, err)
		}
	}
}

// A client must finish key exchange within the key-exchange deadline;
// one that stalls is cut then, and its source, once it has stalled twice,
// is refused for a while. The deadline is lifted once key exchange is
// done: authentication has the rest of the handshake timeout.
func TestKeyExchangeDeadline(t *testing.T) {
	ts := startServer(t, func(c *config.Config) { c.SSH.KeyExchangeTimeout = 300 * time.Millisecond })

	// A client that has done key exchange and takes its time to
	// authenticate: it signs only once a stalled connection opened after
	// it has been cut, so past its own key-exchange deadline.
	signing, cut := make(chan struct{}), make(chan struct{})
	var once sync.Once
	slow := slowSigner{Signer: newKey(t), wait: func() { once.Do(func() { close(signing) }); <-cut }}
	loggedIn := make(chan error, 1)
	raw := dialFrom(t, "127.0.0.4", ts.addr)
	go func() {
		conn, chans, reqs, err := gossh.NewClientConn(raw, ts.addr, &gossh.ClientConfig{
			User: "x", Auth: []gossh.AuthMethod{gossh.PublicKeys(slow)}, HostKeyCallback: gossh.InsecureIgnoreHostKey(),
		})
		if err != nil {
			raw.Close()
			loggedIn <- err
			return
		}
		loggedIn <- gossh.NewClient(conn, chans, reqs).Close()
	}()
	<-signing

	for i := range 2 {
		c := dialFrom(t, "127.0.0.5", ts.addr)
		if !served(c) {
			t.Fatalf("stalled connection %d was refused at once", i+1)
		}
		c.SetReadDeadline(time.Now().Add(10 * time.Second)) // bounds a failure only
		if _, err := io.Copy(io.Discard, c); err != nil {
			t.Fatalf("the server did not cut stalled connection %d: %v", i+1, err)
		}
		c.Close()
		if i == 0 {
			close(cut)
		}
	}
	if err := <-loggedIn; err != nil {
		t.Fatalf("a client slow to authenticate was cut at the key-exchange deadline: %v", err)
	}
	// Two stalls: the source is refused; others are not.
	if c := dialFrom(t, "127.0.0.5", ts.addr); served(c) {
		t.Fatal("a source whose connections stalled twice was served again at once")
	} else {
		c.Close()
	}
	if err := loginFrom(t, "127.0.0.6", ts.addr); err != nil {
		t.Fatalf("another source: %v", err)
	}
}

// slowSigner waits before it signs.
type slowSigner struct {
	gossh.Signer
	wait func()
}

func (s slowSigner) Sign(r io.Reader, data []byte) (*gossh.Signature, error) {
	s.wait()
	return s.Signer.Sign(r, data)
}
