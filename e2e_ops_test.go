package main

// End-to-end tests of operating the server: operator commands through the
// control socket, the ledger lock, graceful shutdown, NO_COLOR and
// resizing. They reuse the helpers of e2e_test.go.

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	gossh "golang.org/x/crypto/ssh"

	"github.com/attest-dev/attest/store"
	"github.com/attest-dev/attest/store/bolt"
)

// windowWith is e.window with extra ssh options before the destination,
// such as -o SetEnv=NO_COLOR=1.
func (e *e2e) windowWith(name, key, user string, sshOpts ...string) {
	e.t.Helper()
	sh := "ssh -t " + shellQuote(append(sshOpts, e.sshArgs(key, user)...))
	args := []string{"-S", e.tmuxSock}
	if err := exec.Command("tmux", "-S", e.tmuxSock, "has-session").Run(); err != nil {
		args = append(args, "new-session", "-d", "-s", "e2e", "-n", name, "-x", "80", "-y", "24", sh)
	} else {
		args = append(args, "new-window", "-d", "-t", "e2e", "-n", name, sh)
	}
	if out, err := exec.Command("tmux", args...).CombinedOutput(); err != nil {
		e.t.Fatalf("tmux: %v\n%s", err, out)
	}
}

// tmux runs a tmux command on the test's tmux server.
func (e *e2e) tmux(args ...string) {
	e.t.Helper()
	if out, err := exec.Command("tmux", append([]string{"-S", e.tmuxSock}, args...)...).CombinedOutput(); err != nil {
		e.t.Fatalf("tmux %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// screenWithEscapes captures a window with its attributes as escape
// sequences, the way the terminal would draw them.
func (e *e2e) screenWithEscapes(window string) string {
	e.t.Helper()
	out, err := exec.Command("tmux", "-S", e.tmuxSock, "capture-pane", "-e", "-p", "-t", "e2e:"+window).Output()
	if err != nil {
		e.t.Fatalf("capture-pane -e: %v", err)
	}
	return string(out)
}

// paneDead reports whether the program in a window (ssh) has exited; the
// window stays, with what it showed, when remain-on-exit is on.
func (e *e2e) paneDead(window string) bool {
	e.t.Helper()
	out, err := exec.Command("tmux", "-S", e.tmuxSock, "display-message", "-p", "-t", "e2e:"+window, "#{pane_dead}").Output()
	if err != nil {
		e.t.Fatalf("tmux display-message: %v", err)
	}
	return strings.TrimSpace(string(out)) == "1"
}

var sgrRE = regexp.MustCompile(`\x1b\[([0-9;:]*)m`)

// colourSGRs returns the SGR sequences in s that set a foreground or
// background colour (30-37, 38;..., 40-47, 48;..., 90-97, 100-107). Bold,
// reverse, underline and resets (including 39 and 49, the default
// colours) are not colour.
func colourSGRs(s string) []string {
	var out []string
	for _, m := range sgrRE.FindAllStringSubmatch(s, -1) {
		params := strings.Split(m[1], ";")
		for i := 0; i < len(params); i++ {
			p, _, _ := strings.Cut(params[i], ":") // 38:5:141 is 38 too
			n, err := strconv.Atoi(p)
			if err != nil {
				continue
			}
			if (n >= 30 && n <= 38) || (n >= 40 && n <= 48) || (n >= 90 && n <= 97) || (n >= 100 && n <= 107) {
				out = append(out, strconv.Quote(m[0]))
				break
			}
			if n == 58 && i+1 < len(params) { // underline colour: skip its arguments, which are not SGR codes
				i += map[string]int{"5": 2, "2": 4}[params[i+1]]
			}
		}
	}
	return out
}

func TestColourSGRs(t *testing.T) {
	for s, want := range map[string]bool{
		"\x1b[1mbold\x1b[0m":          false,
		"\x1b[7mreverse\x1b[27m":      false,
		"\x1b[39m\x1b[49m":            false,
		"\x1b[58;5;31mx":              false,
		"\x1b[38;5;141mx":             true,
		"\x1b[1;38;2;90;63;217mx":     true,
		"\x1b[31mred":                 true,
		"\x1b[44mblue background":     true,
		"\x1b[97mbright white":        true,
		"\x1b[38:5:141mcolon form":    true,
		"plain text with [31m but no": false,
	} {
		if got := len(colourSGRs(s)) > 0; got != want {
			t.Errorf("colourSGRs(%q) found colour %t, want %t", s, got, want)
		}
	}
}

// Operator commands reach a running server through its control socket
// (the server holds the ledger's lock, so they could not open it
// themselves) while a client is connected.
func TestE2EOperatorCommandsThroughControlSocket(t *testing.T) {
	e := startE2E(t)
	key := e.key("ada")
	if out, err := e.command(key, "nickname", "Ada"); err != nil {
		t.Fatalf("nickname: %v\n%s", err, out)
	}
	e.window("live", key, "ada")
	e.waitFor("live", "Nickname  Ada", 10*time.Second)

	// verify
	out := e.operator("verify")
	m := regexp.MustCompile(`^ok: (\d+) facts; the hash chain and every index agree\n$`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("verify printed %q", out)
	}
	verified, _ := strconv.Atoi(m[1])
	if verified < 3 { // user.created, device.signed_in, nickname.set at least
		t.Fatalf("verify counted %d facts after a nickname was set", verified)
	}

	// facts --kind nickname.set: exactly Ada's fact, as a JSON line.
	out = e.operator("facts", "--kind", "nickname.set")
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) != 1 {
		t.Fatalf("facts --kind nickname.set printed %d lines:\n%s", len(lines), out)
	}
	var f store.Fact
	if err := json.Unmarshal([]byte(lines[0]), &f); err != nil {
		t.Fatalf("facts printed %q: %v", lines[0], err)
	}
	if f.Kind != "nickname.set" || !strings.Contains(string(f.Body), `"Ada"`) || !strings.HasPrefix(f.Device, "SHA256:") || f.Seq == 0 {
		t.Fatalf("the nickname fact: %+v", f)
	}

	// backup FILE: a consistent copy that opens as a ledger and verifies.
	backup := filepath.Join(t.TempDir(), "attest-backup.db")
	out = e.operator("backup", backup)
	if !strings.Contains(out, "attest backup: wrote "+backup) {
		t.Fatalf("backup said %q", out)
	}
	st, err := os.Stat(backup)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("the backup has mode %v, want 0600", st.Mode().Perm())
	}
	cp, err := bolt.Open(backup, bolt.Options{})
	if err != nil {
		t.Fatalf("the backup does not open as a ledger: %v", err)
	}
	defer cp.Close()
	if err := cp.Verify(); err != nil {
		t.Fatalf("the backup does not verify: %v", err)
	}
	var head uint64
	var nickname store.Fact
	if err := cp.View(func(r store.Reader) error {
		var err error
		if head, _, err = r.Head(); err != nil {
			return err
		}
		nickname, err = r.Fact(f.Seq)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if head < uint64(verified) || nickname.Kind != "nickname.set" || string(nickname.Body) != string(f.Body) {
		t.Fatalf("the backup has %d facts (verify counted %d) and fact %d is %+v", head, verified, f.Seq, nickname)
	}

	// The client stayed connected throughout and still works.
	e.keys("live", " ")
	e.waitFor("live", "1 of 10 starred", 5*time.Second)
	// A usage mistake comes back through the socket with its status.
	cmd := exec.Command(binary, "facts", "--user", "a", "--device", "b", "--data-dir", e.dataDir)
	o, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 2 || !strings.Contains(string(o), "give at most one") {
		t.Fatalf("a usage error through the socket: %v\n%s", err, o)
	}
}

// A second server on the same data directory stops within two seconds
// and says the ledger is in use; the first goes on serving.
func TestE2ESecondServerRefused(t *testing.T) {
	e := startE2E(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second) // a bound on a failure, not a wait
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, "--data-dir", e.dataDir, "--ssh-listen", "127.0.0.1:0")
	start := time.Now()
	out, err := cmd.CombinedOutput()
	took := time.Since(start)
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() == 0 || ctx.Err() != nil {
		t.Fatalf("the second server did not fail on its own: %v (after %s)\n%s", err, took, out)
	}
	if took >= 2*time.Second {
		t.Errorf("the second server took %s to give up, want less than 2s", took)
	}
	for _, want := range []string{"ledger " + filepath.Join(e.dataDir, "attest.db"), "is in use by another process", "already running.\nOperator commands"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("the second server's message lacks %q:\n%s", want, out)
		}
	}
	t.Logf("the second server gave up after %s: %s", took.Round(time.Millisecond), strings.TrimSpace(string(out)))
	// The first is unharmed: its socket still answers, and clients get in.
	if out := e.operator("verify"); !strings.HasPrefix(out, "ok: ") {
		t.Errorf("verify after the second server: %q", out)
	}
	if out, err := e.command(e.key("after"), "whoami"); err != nil {
		t.Errorf("whoami after the second server: %v\n%s", err, out)
	}
}

// Ctrl-C with a screen open: the screen is told, the server exits 0 and
// leaves a ledger that verifies without it.
func TestE2EGracefulShutdown(t *testing.T) {
	e := startE2E(t)
	e.window("live", e.key("live"), "visitor")
	e.waitFor("live", "anonymous visitor", 10*time.Second)
	// Keep the pane once ssh exits, so what it printed last can be read.
	e.tmux("set-option", "-w", "-t", "e2e:live", "remain-on-exit", "on")

	if err := e.server.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- e.server.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("the server exited with %v after Ctrl-C, want status 0", err)
		}
	case <-time.After(15 * time.Second): // a bound on a failure, not a wait
		_ = e.server.Process.Kill()
		<-done
		t.Errorf("the server did not exit within 15s of Ctrl-C")
	}
	// The server is gone: e.stop (the cleanup) must not signal or wait
	// for it again. Its stderr is complete and safe to read from here on.
	e.server.Process = nil
	stderr := e.stderr.String()

	// ssh ends once the server has gone; then the pane holds the last
	// thing the session printed.
	deadline := time.Now().Add(10 * time.Second) // a bound on a failure, not a wait
	for !e.paneDead("live") {
		if time.Now().After(deadline) {
			t.Fatalf("ssh did not end within 10s of the server; the pane shows:\n%s", e.screen("live"))
		}
		time.Sleep(50 * time.Millisecond)
	}
	s := e.screen("live")
	if !strings.Contains(s, "attest is shutting down; reconnect in a moment.") {
		t.Fatalf("the open screen was not told the server is shutting down; pane:\n%s\nserver stderr:\n%s", s, stderr)
	}

	if _, err := os.Stat(filepath.Join(e.dataDir, "attest.sock")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the control socket is still there after shutdown: %v", err)
	}
	// No server answers now, so verify opens the ledger itself: the lock
	// was released and the file is whole.
	if out := e.operator("verify"); !strings.HasPrefix(out, "ok: ") {
		t.Fatalf("verify after shutdown: %q", out)
	}
}

// NO_COLOR, sent with SetEnv, reaches the session: the screens draw
// without colour (bold and reverse stay). Without it they use colour, so
// the check can fail.
func TestE2ENoColor(t *testing.T) {
	e := startE2E(t)
	// The server accepts the env request (a refusal would be an error
	// here; OpenSSH only mentions one at -v).
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := gossh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	c, err := gossh.Dial("tcp", "127.0.0.1:"+e.port, &gossh.ClientConfig{User: "visitor", Auth: []gossh.AuthMethod{gossh.PublicKeys(signer)},
		HostKeyCallback: gossh.InsecureIgnoreHostKey(), Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	sess, err := c.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	if err := sess.Setenv("NO_COLOR", "1"); err != nil {
		t.Fatalf("the server refused the env request NO_COLOR=1: %v", err)
	}
	sess.Close()
	c.Close()

	key := e.key("plain")
	e.windowWith("plain", key, "visitor", "-o", "SetEnv=NO_COLOR=1")
	e.window("colour", key, "visitor")
	e.waitFor("plain", "anonymous visitor", 10*time.Second)
	e.waitFor("colour", "anonymous visitor", 10*time.Second)

	// The profile can come after the first frame; wait until the coloured
	// window has coloured, and then check both.
	deadline := time.Now().Add(10 * time.Second)
	for len(colourSGRs(e.screenWithEscapes("colour"))) == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("without NO_COLOR the screen has no colour:\n%q", e.screenWithEscapes("colour"))
		}
		time.Sleep(50 * time.Millisecond)
	}
	// Redraw the plain window after a key, so a late colour would show.
	e.keys("plain", "j")
	e.waitFor("plain", "› ☆ Canopus", 5*time.Second)
	plain := e.screenWithEscapes("plain")
	if c := colourSGRs(plain); len(c) > 0 {
		t.Fatalf("with NO_COLOR=1 the screen still sets colours %v:\n%q", c, plain)
	}
	// It is still styled, not flattened: bold or reverse remain.
	if !strings.Contains(plain, "\x1b[1m") && !strings.Contains(plain, "\x1b[7m") {
		t.Errorf("with NO_COLOR the screen has neither bold nor reverse:\n%q", plain)
	}
}

// Resizing the terminal below the minimum shows the too-small message;
// growing it again brings the screen back.
func TestE2EResize(t *testing.T) {
	e := startE2E(t)
	e.window("r", e.key("resize"), "visitor")
	e.waitFor("r", "anonymous visitor", 10*time.Second)

	e.tmux("resize-window", "-t", "e2e:r", "-x", "40", "-y", "12")
	s := e.waitFor("r", "window too small", 5*time.Second)
	if !strings.Contains(s, "40x12") {
		t.Errorf("the message does not give the new size 40x12:\n%s", s)
	}
	if strings.Contains(s, "anonymous visitor") {
		t.Errorf("the home screen is still drawn in a window too small for it:\n%s", s)
	}

	e.tmux("resize-window", "-t", "e2e:r", "-x", "80", "-y", "24")
	s = e.waitFor("r", "anonymous visitor", 5*time.Second)
	if strings.Contains(s, "window too small") {
		t.Errorf("the too-small message stayed after growing back:\n%s", s)
	}
	for _, want := range []string{"Stars  0 of 10 starred", "q quit"} {
		if !strings.Contains(s, want) {
			t.Errorf("the home screen after resizing back lacks %q:\n%s", want, s)
		}
	}
}

// The command contract, as a shell sees it through the OpenSSH client and
// the binary: `ssh HOST bogus; echo $?` prints 2, the error once on
// stderr; `attest --help | head` shows the help; `attest verify --json`
// answers in JSON through the control socket.
func TestE2ECommandContract(t *testing.T) {
	e := startE2E(t)
	quoted := func(args []string) string {
		q := make([]string, len(args))
		for i, a := range args {
			q[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
		return strings.Join(q, " ")
	}
	sh := func(script string) (stdout, stderr string) {
		t.Helper()
		var out, errOut strings.Builder
		cmd := exec.Command("sh", "-c", script)
		cmd.Stdout, cmd.Stderr = &out, &errOut
		if err := cmd.Run(); err != nil {
			t.Fatalf("sh -c %q: %v\n%s%s", script, err, out.String(), errOut.String())
		}
		return out.String(), errOut.String()
	}

	ssh := "ssh " + quoted(e.sshArgs(e.key("contract"), "visitor"))
	out, errOut := sh(ssh + " bogus; echo $?")
	if out != "2\n" || errOut != "attest: unknown command \"bogus\"; run `help` for the list\n" {
		t.Errorf("ssh HOST bogus; echo $?: stdout %q, stderr %q", out, errOut)
	}
	out, errOut = sh(ssh + " help | head -3; " + ssh + " whoami --bogus; echo $?")
	if !strings.HasPrefix(out, "attest: who you are, over plain ssh.") || !strings.HasSuffix(out, "\n2\n") ||
		strings.Count(errOut, "flag provided but not defined: -bogus") != 1 {
		t.Errorf("ssh HOST help | head; ssh HOST whoami --bogus: stdout %q, stderr %q", out, errOut)
	}

	bin := quoted([]string{binary})
	out, errOut = sh(bin + " --help | head -3; " + bin + " bogus; echo $?")
	if !strings.HasPrefix(out, "attest: sign in over ssh.\n") || !strings.HasSuffix(out, "\n2\n") ||
		errOut != "attest: unknown command \"bogus\"; run `attest help` for the list\n" {
		t.Errorf("attest --help | head; attest bogus: stdout %q, stderr %q", out, errOut)
	}
	out, errOut = sh(bin + " verify --json --data-dir " + quoted([]string{e.dataDir}))
	var v struct {
		OK    bool   `json:"ok"`
		Facts uint64 `json:"facts"`
	}
	if err := json.Unmarshal([]byte(out), &v); err != nil || !v.OK || errOut != "" {
		t.Errorf("attest verify --json through the socket: %q, %q (%v)", out, errOut, err)
	}
}

// TestE2EMetricsListener: with metrics on, the binary serves them on a
// listener of their own, and they move when someone asks for a code over
// ssh; the public listener has health checks and no metrics.
func TestE2EMetricsListener(t *testing.T) {
	e := startE2EWith(t, "ATTEST_METRICS=true", "ATTEST_METRICS_LISTEN=127.0.0.1:0")
	if e.metrics == "" || e.links == "" || e.metrics == e.links {
		t.Fatalf("the server named links %q and metrics %q", e.links, e.metrics)
	}
	get := func(url string) (int, string) {
		t.Helper()
		c := http.Client{Timeout: 10 * time.Second}
		res, err := c.Get(url)
		if err != nil {
			t.Fatalf("GET %s: %v", url, err)
		}
		defer res.Body.Close()
		b, err := io.ReadAll(res.Body)
		if err != nil {
			t.Fatal(err)
		}
		return res.StatusCode, string(b)
	}
	issued := regexp.MustCompile(`(?m)^attest_codes_issued_total\{channel="email"\} (\d+)$`)
	count := func() string {
		t.Helper()
		status, body := get(e.metrics + "/metrics")
		m := issued.FindStringSubmatch(body)
		if status != http.StatusOK || m == nil {
			t.Fatalf("/metrics: %d, no email codes in:\n%s", status, body)
		}
		return m[1]
	}
	if n := count(); n != "0" {
		t.Fatalf("%s codes before any was asked for", n)
	}
	if out, err := e.command(e.key("ada"), "signin", "ada@example.com"); err != nil {
		t.Fatalf("signin: %v\n%s", err, out)
	}
	if n := count(); n != "1" {
		t.Fatalf("%s email codes after one signin, want 1", n)
	}
	for base, want := range map[string]map[string]int{
		e.links:   {"/metrics": 404, "/healthz": 200, "/readyz": 200},
		e.metrics: {"/healthz": 200, "/readyz": 200},
	} {
		for path, status := range want {
			if got, _ := get(base + path); got != status {
				t.Errorf("%s%s: %d, want %d", base, path, got, status)
			}
		}
	}
}
