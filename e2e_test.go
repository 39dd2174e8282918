package main

// End-to-end tests: the built binary, driven by the real OpenSSH client in
// a real terminal (tmux), as a person would use it. They need ssh and tmux
// on the PATH; .ci/run installs both.

import (
	"bufio"
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	gossh "golang.org/x/crypto/ssh"

	"github.com/attest-dev/attest/store/postgres/pgtest"
)

// binary is the attest binary under test, built once with the test clock
// (which release builds do not have) so tests can move a live server's
// time instead of waiting for it.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "attest-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "attest")
	build := exec.Command("go", "build", "-tags", "attest_testclock", "-o", binary, ".")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build attest:", err)
		os.Exit(1)
	}
	code := m.Run()
	pgtest.Stop()
	os.RemoveAll(dir)
	os.Exit(code)
}

// e2e is one running server with a tmux server to drive ssh clients.
type e2e struct {
	t        *testing.T
	dir      string
	dataDir  string
	port     string
	links    string // the public HTTP listener's base URL
	metrics  string // the metrics listener's base URL, when metrics are on
	tmuxSock string
	server   *exec.Cmd
	stderr   syncBuffer
}

func needTools(t *testing.T) {
	t.Helper()
	for _, tool := range []string{"ssh", "tmux"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is needed for the end-to-end tests (./test.sh installs it): %v", tool, err)
		}
	}
}

func startE2E(t *testing.T) *e2e { return startE2EWith(t) }

// startE2EWith starts a server with env added to its environment.
func startE2EWith(t *testing.T, env ...string) *e2e {
	t.Helper()
	needTools(t)
	dir := t.TempDir()
	e := &e2e{t: t, dir: dir, dataDir: filepath.Join(dir, "data"), tmuxSock: filepath.Join(dir, "tmux.sock")}
	e.server = exec.Command(binary, "--data-dir", e.dataDir, "--ssh-listen", "127.0.0.1:0", "--http-listen", "127.0.0.1:0")
	e.server.Env = append(append(os.Environ(), "ATTEST_LOG_LEVEL=warn"), env...)
	stdout, err := e.server.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	e.server.Stderr = &e.stderr
	if err := e.server.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.stop)
	// The server prints how to connect once it listens, down to how to
	// stop it.
	portRE := regexp.MustCompile(`ssh -p (\d+) localhost`)
	urlRE := regexp.MustCompile(`^\s*(links|metrics):\s+(http://\S+)`)
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		if m := portRE.FindStringSubmatch(sc.Text()); m != nil {
			e.port = m[1]
		}
		if m := urlRE.FindStringSubmatch(sc.Text()); m != nil && m[1] == "links" {
			e.links = m[2]
		} else if m != nil {
			e.metrics = strings.TrimSuffix(m[2], "/metrics")
		}
		if strings.Contains(sc.Text(), "stop:") {
			break
		}
	}
	if e.port == "" {
		t.Fatalf("the server did not say where it listens; stderr:\n%s", e.stderr.String())
	}
	go func() { _, _ = bufio.NewReader(stdout).WriteTo(devNull{}) }()
	return e
}

// syncBuffer is a bytes.Buffer the server's stderr copier and a failing
// test can use at once.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

type devNull struct{}

func (devNull) Write(p []byte) (int, error) { return len(p), nil }

func (e *e2e) stop() {
	_ = exec.Command("tmux", "-S", e.tmuxSock, "kill-server").Run()
	if e.server.Process != nil {
		_ = e.server.Process.Signal(os.Interrupt)
		done := make(chan error, 1)
		go func() { done <- e.server.Wait() }()
		select {
		case err := <-done:
			if err != nil {
				e.t.Errorf("the server did not stop cleanly: %v\n%s", err, e.stderr.String())
			}
		case <-time.After(10 * time.Second):
			_ = e.server.Process.Kill()
			e.t.Errorf("the server did not stop within 10s of Ctrl-C")
		}
	}
}

// key writes a new ed25519 key in OpenSSH format and returns its path.
func (e *e2e) key(name string) string {
	e.t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		e.t.Fatal(err)
	}
	block, err := gossh.MarshalPrivateKey(priv, "")
	if err != nil {
		e.t.Fatal(err)
	}
	path := filepath.Join(e.dir, name)
	if err := os.WriteFile(path, pem.EncodeToMemory(block), 0o600); err != nil {
		e.t.Fatal(err)
	}
	return path
}

// sshArgs are the client options of every connection: no config file,
// no known_hosts, only the given key.
func (e *e2e) sshArgs(key, user string, command ...string) []string {
	args := []string{"-F", "/dev/null", "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
		"-o", "LogLevel=ERROR", "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes", "-i", key, "-p", e.port, user + "@localhost"}
	return append(args, command...)
}

// command runs an ssh command without a terminal.
func (e *e2e) command(key string, command ...string) (string, error) {
	out, err := exec.Command("ssh", e.sshArgs(key, "visitor", command...)...).CombinedOutput()
	return string(out), err
}

// operator runs `attest <args>` against the running server.
func (e *e2e) operator(args ...string) string {
	e.t.Helper()
	out, err := exec.Command(binary, append(args, "--data-dir", e.dataDir)...).CombinedOutput()
	if err != nil {
		e.t.Fatalf("attest %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// window opens a tmux window of 80x24 running ssh with a terminal.
func (e *e2e) window(name, key, user string) {
	e.t.Helper()
	sh := "ssh -t " + shellQuote(e.sshArgs(key, user))
	if err := exec.Command("tmux", "-S", e.tmuxSock, "has-session").Run(); err != nil {
		// The session's first window only keeps it alive: without it, tmux
		// would exit when a test's last ssh window quits, racing the next
		// window the test opens.
		if out, err := exec.Command("tmux", "-S", e.tmuxSock, "new-session", "-d", "-s", "e2e", "-n", "keepalive",
			"-x", "80", "-y", "24", "sleep 86400").CombinedOutput(); err != nil {
			e.t.Fatalf("tmux: %v\n%s", err, out)
		}
	}
	if out, err := exec.Command("tmux", "-S", e.tmuxSock, "new-window", "-d", "-t", "e2e", "-n", name, sh).CombinedOutput(); err != nil {
		e.t.Fatalf("tmux: %v\n%s", err, out)
	}
}

func shellQuote(args []string) string {
	q := make([]string, len(args))
	for i, a := range args {
		q[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
	}
	return strings.Join(q, " ")
}

// keys types into a window. Literal text and key names (Enter, Escape)
// are sent separately so text is never read as a key name.
func (e *e2e) keys(window string, keys ...string) {
	e.t.Helper()
	for _, k := range keys {
		args := []string{"-S", e.tmuxSock, "send-keys", "-t", "e2e:" + window}
		switch k {
		case "Enter", "Escape", "Space", "Up", "Down", "C-c":
			args = append(args, k)
		default:
			args = append(args, "-l", k)
		}
		if out, err := exec.Command("tmux", args...).CombinedOutput(); err != nil {
			e.t.Fatalf("tmux send-keys: %v\n%s", err, out)
		}
	}
}

func (e *e2e) screen(window string) string {
	out, _ := exec.Command("tmux", "-S", e.tmuxSock, "capture-pane", "-p", "-t", "e2e:"+window).Output()
	return string(out)
}

// waitFor polls a window until its screen contains want, and returns the
// screen. Polling waits for the program, not for time to pass: the
// deadline only bounds a failure.
func (e *e2e) waitFor(window, want string, within time.Duration) string {
	e.t.Helper()
	deadline := time.Now().Add(within)
	for {
		s := e.screen(window)
		if strings.Contains(s, want) {
			return s
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("window %s did not show %q within %s; it shows:\n%s\nserver stderr:\n%s", window, want, within, s, e.stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Issue 2: set a nickname, star two things, quit, reconnect with the same
// key, and see them again.
func TestE2EAnonymousVisitComesBack(t *testing.T) {
	e := startE2E(t)
	key := e.key("visitor")
	e.window("one", key, "visitor")
	e.waitFor("one", "anonymous visitor", 10*time.Second)
	e.keys("one", "n")
	e.waitFor("one", "Nickname", 5*time.Second)
	e.keys("one", "Ada Lovelace", "Enter")
	e.waitFor("one", "Nickname  Ada Lovelace", 5*time.Second)
	e.keys("one", " ") // star Sirius
	e.keys("one", "j", "j", " ")
	e.waitFor("one", "2 of 10 starred", 5*time.Second)
	e.keys("one", "q")

	e.window("two", key, "visitor")
	s := e.waitFor("two", "Ada Lovelace", 10*time.Second)
	for _, want := range []string{"2 of 10 starred", "★ Sirius", "★ Arcturus"} {
		if !strings.Contains(s, want) {
			t.Fatalf("after reconnecting, %q is missing:\n%s", want, s)
		}
	}
}

var codeRE = regexp.MustCompile(`Code ([A-Z]+): (\d+)`)

// codeIn waits for the inbox window to show the n-th code (from 1) with
// the letter, and returns its digits. Two devices can both have a code A.
func (e *e2e) codeIn(inbox, letter string, n int) string {
	e.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		s := e.screen(inbox)
		var found []string
		for _, m := range codeRE.FindAllStringSubmatch(s, -1) {
			if m[1] == letter {
				found = append(found, m[2])
			}
		}
		if len(found) >= n {
			return found[n-1]
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("no code %s number %d in the inbox:\n%s", letter, n, s)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Issue 3, flow 1: a user signs up with email and validates it, reading
// the code from the demo inbox in a second window.
func TestE2ESignUpWithEmail(t *testing.T) {
	e := startE2E(t)
	key := e.key("grace")
	e.window("inbox", e.key("watcher"), "inbox")
	e.waitFor("inbox", "demo inbox", 10*time.Second)
	e.window("grace", key, "grace")
	e.waitFor("grace", "anonymous visitor", 10*time.Second)
	e.keys("grace", "s")
	e.waitFor("grace", "Email address", 5*time.Second)
	e.keys("grace", "grace@example.com", "Enter")
	e.waitFor("grace", "Code A sent to grace@example.com", 5*time.Second)
	code := e.codeIn("inbox", "A", 1)
	if len(code) != 4 {
		t.Fatalf("the first code has %d digits, want 4", len(code))
	}
	e.keys("grace", code, "Enter")
	e.waitFor("grace", "your account is ready", 5*time.Second)
	e.waitFor("grace", "signed in as", 5*time.Second)
	// The same account, seen from a script.
	out, err := e.command(key, "whoami")
	if err != nil || !strings.Contains(out, "grace@example.com") {
		t.Fatalf("whoami: %v\n%s", err, out)
	}
}

// Issue 3, flow 5: sign in on "desktop", then on "mobile" (two keys, two
// live sessions); sign out everywhere on the desktop, and the mobile
// session drops to signed out within 5 seconds without a key press.
func TestE2ESignOutEverywhereReachesLiveSession(t *testing.T) {
	e := startE2E(t)
	desk, mobile := e.key("desk"), e.key("mobile")
	e.window("inbox", e.key("watcher"), "inbox")
	e.waitFor("inbox", "demo inbox", 10*time.Second)

	signIn := func(window, key, letter string, nth int) {
		e.window(window, key, "grace")
		e.waitFor(window, "anonymous visitor", 10*time.Second)
		e.keys(window, "s")
		e.waitFor(window, "Email address", 5*time.Second)
		e.keys(window, "grace@example.com", "Enter")
		e.waitFor(window, "Code "+letter+" sent", 5*time.Second)
		e.keys(window, e.codeIn("inbox", letter, nth), "Enter")
		e.waitFor(window, "signed in as", 5*time.Second)
	}
	signIn("desk", desk, "A", 1)
	// The governor holds a second code to the address for a minute; move
	// the server's clock instead of waiting.
	e.operator("clock", "advance", "61s")
	signIn("mobile", mobile, "A", 2) // the mobile's first code: letter A again

	e.keys("desk", "d")
	// The screen shows its title at once and the list when its read
	// answers: wait for the list.
	s := e.waitFor("desk", "SHA256:", 5*time.Second)
	if strings.Count(s, "SHA256:") != 2 {
		t.Fatalf("the devices screen does not list two devices:\n%s", s)
	}
	e.keys("desk", "e")
	e.waitFor("desk", "y/N", 5*time.Second)
	e.keys("desk", "y")
	signedOut := time.Now()
	e.waitFor("mobile", "You were signed out", 5*time.Second)
	t.Logf("the live mobile session dropped %s after sign-out everywhere", time.Since(signedOut).Round(time.Millisecond))
	e.waitFor("mobile", "anonymous visitor", 5*time.Second)
}

// The release build has no clock control.
func TestReleaseBuildHasNoClockControl(t *testing.T) {
	release := filepath.Join(t.TempDir(), "attest")
	if out, err := exec.Command("go", "build", "-o", release, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	out, err := exec.Command(release, "clock", "advance", "1h", "--data-dir", t.TempDir()).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "unknown command") {
		t.Fatalf("a release build accepted the clock command: %v\n%s", err, out)
	}
}
