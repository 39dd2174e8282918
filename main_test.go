package main

import (
	"bytes"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/attest-dev/attest/flows"
	"github.com/attest-dev/attest/server/config"
	"github.com/attest-dev/attest/store/bolt"
)

// attestHere runs the binary's commands in this process, with dataDir as
// the data directory and no server (the control socket does not answer).
func attestHere(t *testing.T, dataDir string, args ...string) (status int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	environ := []string{"ATTEST_DATA_DIR=" + dataDir, "HOME=" + t.TempDir()}
	status = run(args, environ, &out, &errOut)
	return status, out.String(), errOut.String()
}

// Help, in every spelling, is on stdout with exit 0, so `attest --help |
// less` shows it.
func TestHelpOnStdout(t *testing.T) {
	dir := t.TempDir()
	for _, args := range [][]string{{"--help"}, {"-h"}, {"help"}, {"help", "--json"}} {
		status, out, errOut := attestHere(t, dir, args...)
		if status != 0 || errOut != "" {
			t.Errorf("attest %q: exit %d, stderr %q", args, status, errOut)
		}
		want := "Commands:\n"
		if args[len(args)-1] == "--json" {
			want = `{"commands":[`
		}
		for _, w := range []string{want, "verify", "backup", "migrate"} {
			if !strings.Contains(out, w) {
				t.Errorf("attest %q printed %q, which lacks %q", args, out, w)
			}
		}
	}
	// Each command's help too, and the help of a command's sub-command.
	for _, args := range [][]string{{"verify", "--help"}, {"help", "verify"}, {"backup", "-h"}, {"user", "add", "--help"}, {"help", "user", "add"}, {"serve", "--help"}} {
		status, out, errOut := attestHere(t, dir, args...)
		if status != 0 || errOut != "" || !strings.HasPrefix(out, "usage: attest "+args[0]) && !strings.HasPrefix(out, "usage: attest "+args[1]) {
			t.Errorf("attest %q: exit %d, stdout %q, stderr %q", args, status, out, errOut)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "attest.db")); err == nil {
		t.Error("help opened a ledger")
	}
}

// A command line that cannot run exits 2 with its error printed once, on
// stderr, and nothing on stdout (but the JSON error with --json).
func TestUsageErrorsPrintedOnce(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"bogus"}, "attest: unknown command \"bogus\"; run `attest help` for the list\n"},
		{[]string{"verify", "--bogus"}, "attest verify: flag provided but not defined: -bogus\n"},
		{[]string{"verify", "now"}, "attest verify: takes no arguments, not \"now\"\n"},
		{[]string{"backup"}, "attest backup: needs FILE\n"},
		{[]string{"user"}, "attest user: needs a sub-command: add\n"},
		{[]string{"user", "add"}, "attest user add: needs --email ADDRESS\n"},
		{[]string{"owner"}, "attest owner: needs ADDRESS\n"},
		{[]string{"migrate", "--to", "mysql://x"}, "attest migrate: --to takes a postgres:// URL\n"},
		{[]string{"serve", "now"}, "attest serve: takes no arguments, not \"now\"\n"},
		{[]string{"--version=maybe"}, "attest serve: invalid boolean value \"maybe\" for -version: parse error\n"},
		{[]string{"--config", "c.yaml", "backup", "f.db"}, "attest backup: flags go after the command: attest backup --config c.yaml f.db"},
		{[]string{"--config", "c.yaml", "serve"}, "attest serve: flags go after the command: attest serve --config c.yaml"},
		{[]string{"--config", "c.yaml", "bakup", "f.db"}, "attest: unknown command \"bakup\"; run `attest help` for the list\n"},
	} {
		status, out, errOut := attestHere(t, dir, tc.args...)
		if status != 2 || out != "" || !strings.HasPrefix(errOut, tc.want) {
			t.Errorf("attest %q: exit %d, stdout %q, stderr %q; want exit 2 and %q", tc.args, status, out, errOut, tc.want)
		}
		if n := strings.Count(errOut, strings.TrimSuffix(tc.want, "\n")); n != 1 {
			t.Errorf("attest %q printed its error %d times: %q", tc.args, n, errOut)
		}
		// With --json, the error is also one JSON object on stdout.
		status, out, errOut = attestHere(t, dir, append(tc.args, "--json")...)
		var e struct {
			Error struct {
				Code    flows.ProblemCode `json:"code"`
				Message string            `json:"message"`
			} `json:"error"`
		}
		if err := json.Unmarshal([]byte(out), &e); status != 2 || err != nil || strings.Count(errOut, strings.TrimSuffix(tc.want, "\n")) != 1 {
			t.Errorf("attest %q --json: exit %d, stdout %q (%v), stderr %q", tc.args, status, out, err, errOut)
		}
		if want := flows.ProblemUsage; slices.Contains(tc.args, "bogus") || slices.Contains(tc.args, "bakup") {
			if e.Error.Code != flows.ProblemUnknown {
				t.Errorf("attest bogus --json: code %q", e.Error.Code)
			}
		} else if e.Error.Code != want {
			t.Errorf("attest %q --json: code %q, want %q", tc.args, e.Error.Code, want)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "attest.db")); err == nil {
		t.Error("a usage error opened a ledger")
	}
}

// Every command takes --json: the operator's maintenance commands answer
// with a JSON result, and a failure with the JSON error.
func TestJSONEverywhere(t *testing.T) {
	for _, cmd := range program.Runnable(true) {
		args := append(strings.Fields(cmd.Path()), "--json", "--help")
		if status, out, errOut := attestHere(t, t.TempDir(), args...); status != 0 || errOut != "" || !strings.Contains(out, "[--json]") {
			t.Errorf("attest %q: exit %d, %q %q", args, status, out, errOut)
		}
	}

	dir := t.TempDir()
	// No ledger yet: the JSON error.
	status, out, errOut := attestHere(t, dir, "verify", "--json")
	if status != 1 || !strings.Contains(errOut, "there is no ledger at") || strings.Count(errOut, "\n") != 1 ||
		!strings.HasPrefix(out, `{"error":{"code":"internal","message":"there is no ledger at `) {
		t.Fatalf("verify --json without a ledger: exit %d, %q, %q", status, out, errOut)
	}
	// user add makes one (the welcome stays in this process: a warning).
	if status, out, _ := attestHere(t, dir, "user", "add", "--email", "ada@example.com", "--json"); status != 0 || !strings.HasPrefix(out, `{"user":"u_`) {
		t.Fatalf("user add --json: exit %d, %q", status, out)
	}
	var v struct {
		OK             bool   `json:"ok"`
		Facts          uint64 `json:"facts"`
		IndexesChecked bool   `json:"indexes_checked"`
	}
	status, out, errOut = attestHere(t, dir, "verify", "--json")
	if err := json.Unmarshal([]byte(out), &v); status != 0 || errOut != "" || err != nil || !v.OK || v.Facts < 2 || !v.IndexesChecked {
		t.Fatalf("verify --json: exit %d, %q, %q (%v)", status, out, errOut, err)
	}
	if status, out, errOut := attestHere(t, dir, "reindex", "--json"); status != 0 || errOut != "" || out != "{\"ok\":true}\n" {
		t.Errorf("reindex --json: exit %d, %q, %q", status, out, errOut)
	}
	file := filepath.Join(t.TempDir(), "backup.db")
	var b struct {
		OK    bool   `json:"ok"`
		File  string `json:"file"`
		Bytes int64  `json:"bytes"`
	}
	status, out, errOut = attestHere(t, dir, "backup", file, "--json")
	if err := json.Unmarshal([]byte(out), &b); status != 0 || errOut != "" || err != nil || !b.OK || b.File != file {
		t.Fatalf("backup --json: exit %d, %q, %q (%v)", status, out, errOut, err)
	}
	if st, err := os.Stat(file); err != nil || st.Size() != b.Bytes {
		t.Errorf("backup --json said %d bytes; the file: %v, %v", b.Bytes, st, err)
	}
	cp, err := bolt.Open(file, bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := cp.Verify(); err != nil {
		t.Errorf("the backup does not verify: %v", err)
	}
	cp.Close()
	// A backup that cannot be written: the JSON error, the message once.
	status, out, errOut = attestHere(t, dir, "backup", filepath.Join(dir, "no", "such", "dir", "b.db"), "--json")
	if status != 1 || !strings.HasPrefix(out, `{"error":{"code":"internal"`) || strings.Count(errOut, "\n") != 1 {
		t.Errorf("backup into a missing directory: exit %d, %q, %q", status, out, errOut)
	}
	// A refusal from the flows: its code.
	status, out, errOut = attestHere(t, dir, "owner", "not an address", "--json")
	if status != 1 || !strings.HasPrefix(out, `{"error":{"code":"bad_input"`) || !strings.HasPrefix(errOut, "attest owner: ") || strings.Count(errOut, "\n") != 1 {
		t.Errorf("owner of a non-address: exit %d, %q, %q", status, out, errOut)
	}
	if status, out, _ := attestHere(t, dir, "version", "--json"); status != 0 || !strings.HasPrefix(out, `{"version":"`) {
		t.Errorf("version --json: exit %d, %q", status, out)
	}
}

// The last line of the operator's stderr is the message of the JSON error
// a failed backup prints.
func TestLastLine(t *testing.T) {
	var l lastLine
	for _, w := range []string{"attest backup: one\nattest ", "backup: two", "\n"} {
		if _, err := l.Write([]byte(w)); err != nil {
			t.Fatal(err)
		}
	}
	if got := l.String(); got != "attest backup: two" {
		t.Errorf("last line %q", got)
	}
	if _, err := l.Write(bytes.Repeat([]byte("x"), 10_000)); err != nil || len(l.String()) != 4096 {
		t.Errorf("a long line is kept to %d bytes", len(l.String()))
	}
}

// Demo mode on an address other machines reach is refused before
// anything opens, in lines that say what to do; the loopback interface
// is not.
func TestDemoModeOnTheNetworkRefused(t *testing.T) {
	for _, args := range [][]string{
		{"--ssh-listen", "0.0.0.0:0"},
		{"serve", "--ssh-listen", "[::]:0", "--http-listen", "127.0.0.1:0"},
		{"--ssh-listen", "127.0.0.1:0", "--http-listen", "0.0.0.0:0"},
	} {
		dir := t.TempDir()
		status, out, errOut := attestHere(t, dir, args...)
		if status != 1 || out != "" {
			t.Errorf("attest %q in demo mode: exit %d, stdout %q, stderr %q", args, status, out, errOut)
		}
		for _, want := range []string{"other machines can reach this", "demo mode", "\nConfigure delivery (ATTEST_SMTP_URL", "--ssh-listen 127.0.0.1:23234", "\nFor a container"} {
			if !strings.Contains(errOut, want) {
				t.Errorf("attest %q: stderr lacks %q:\n%s", args, want, errOut)
			}
		}
		if strings.Contains(errOut, `\n`) {
			t.Errorf("attest %q: a newline printed as \\n:\n%s", args, errOut)
		}
		if _, err := os.Stat(filepath.Join(dir, "attest.db")); err == nil {
			t.Errorf("attest %q opened a ledger before refusing", args)
		}
	}
}

// A port in use says what to do: which flag or variable moves it.
func TestPortInUse(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	addr := taken.Addr().String()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--ssh-listen", addr, "--http-listen", "127.0.0.1:0"}, "attest serve: listen for ssh on " + addr + ": listen tcp " + addr + ": bind: address already in use.\nAnother program has that port: another attest server, perhaps, with another data directory. Stop it, or listen elsewhere: --ssh-listen ADDR, or ATTEST_SSH_LISTEN=ADDR (port 0 picks a free one)\n"},
		{[]string{"--ssh-listen", "127.0.0.1:0", "--http-listen", addr}, "attest serve: listen for http (the link pages) on " + addr + ": listen tcp " + addr + ": bind: address already in use.\nAnother program has that port: another attest server, perhaps, with another data directory. Stop it, or listen elsewhere: --http-listen ADDR, or ATTEST_HTTP_LISTEN=ADDR (port 0 picks a free one)\n"},
	} {
		status, out, errOut := attestHere(t, t.TempDir(), tc.args...)
		if status != 1 || out != "" || errOut != tc.want {
			t.Errorf("attest %q: exit %d, stdout %q, stderr\n%s\nwant\n%s", tc.args, status, out, errOut, tc.want)
		}
	}
}

// With the opt-in, demo mode on the network starts with a warning in the
// log; on the loopback interface, or with delivery, there is none.
func TestDemoOnNetworkWarns(t *testing.T) {
	for _, tc := range []struct {
		env  []string
		warn bool
	}{
		{[]string{"ATTEST_SSH_LISTEN=0.0.0.0:23234", "ATTEST_DEMO_ON_NETWORK_UNSAFE=true"}, true},
		{[]string{"ATTEST_HTTP_LISTEN=[::]:80", "ATTEST_DEMO_ON_NETWORK_UNSAFE=true"}, true},
		{[]string{"ATTEST_DEMO_ON_NETWORK_UNSAFE=true"}, false},
		{[]string{"ATTEST_SSH_LISTEN=0.0.0.0:23234", "ATTEST_SMTP_URL=smtp://mail.example.com:587", "ATTEST_SMTP_FROM=a@example.com"}, false},
	} {
		cfg, err := config.Load("", append([]string{"ATTEST_DATA_DIR=" + t.TempDir()}, tc.env...))
		if err != nil {
			t.Fatal(err)
		}
		if err := cfg.Validate(); err != nil {
			t.Fatalf("%q: %v", tc.env, err)
		}
		var log bytes.Buffer
		warnDemoExposed(cfg, newLogger(cfg.Log, &log))
		if got := strings.Contains(log.String(), "level=WARN msg=\"DEMO MODE ON THE NETWORK: anyone who reaches this server reads every code"); got != tc.warn {
			t.Errorf("%q: warned %t, want %t:\n%s", tc.env, got, tc.warn, log.String())
		}
	}
}
