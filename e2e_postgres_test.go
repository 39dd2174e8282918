package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/attest-dev/attest/store/postgres/pgtest"
)

// run runs the binary with env added and returns its output.
func runAttest(t *testing.T, env []string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// TestE2EMigrateToPostgres: a ledger file copied by attest migrate into
// an empty database answers the operator commands there, bound to the
// data directory's secret; a second migrate is refused.
func TestE2EMigrateToPostgres(t *testing.T) {
	url := pgtest.Start(t).NewDatabase(t)
	dataDir := filepath.Join(t.TempDir(), "data")
	if out, err := runAttest(t, nil, "user", "add", "--email", "ada@example.com", "--data-dir", dataDir); err != nil {
		t.Fatalf("user add: %v\n%s", err, out)
	}
	out, err := runAttest(t, nil, "migrate", "--to", url, "--data-dir", dataDir)
	if err != nil || !regexp.MustCompile(`copied \d+ facts into .*; the chain verifies`).MatchString(out) {
		t.Fatalf("migrate: %v\n%s", err, out)
	}
	pg := []string{"ATTEST_DATABASE_URL=" + url}
	for _, c := range []struct{ args, want string }{
		{"verify", "; the hash chain agrees (the indexes were not checked"},
		{"owner ada@example.com", "u_"},
	} {
		out, err := runAttest(t, pg, append(strings.Fields(c.args), "--data-dir", dataDir)...)
		if err != nil || !strings.Contains(out, c.want) {
			t.Errorf("attest %s on PostgreSQL: %v\n%s", c.args, err, out)
		}
	}
	if out, err := runAttest(t, pg, "backup", filepath.Join(t.TempDir(), "b"), "--data-dir", dataDir); err == nil || !strings.Contains(out, "pg_dump") {
		t.Errorf("backup on PostgreSQL: %v\n%s", err, out)
	}
	if out, err := runAttest(t, nil, "migrate", "--to", url, "--data-dir", dataDir); err == nil || !strings.Contains(out, "not empty") {
		t.Errorf("second migrate: %v\n%s", err, out)
	}
	// Another data directory's secret is refused by the migrated database.
	other := filepath.Join(t.TempDir(), "other")
	if out, err := runAttest(t, pg, "verify", "--data-dir", other); err == nil || !strings.Contains(out, "not the one this database was started with") {
		t.Errorf("verify with another secret: %v\n%s", err, out)
	}
}

// TestE2ETwoServersOverSSH: two attest processes on one database, sharing
// the secret and the host key, are one system for the real OpenSSH
// client: a code asked for on one server is in the other's demo inbox and
// signs the device in there, and the first then knows it.
func TestE2ETwoServersOverSSH(t *testing.T) {
	url := pgtest.Start(t).NewDatabase(t)
	one := startE2EWith(t, "ATTEST_DATABASE_URL="+url)
	shared := []string{"ATTEST_DATABASE_URL=" + url,
		"ATTEST_SECRET_FILE=" + filepath.Join(one.dataDir, "secret"),
		"ATTEST_HOST_KEY_FILE=" + filepath.Join(one.dataDir, "ssh_host_ed25519_key")}
	two := startE2EWith(t, shared...)
	key := one.key("desk")

	out, err := one.command(key, "signin", "ada@example.com")
	if err != nil {
		t.Fatalf("signin on server one: %v\n%s", err, out)
	}
	// The message is sent after the commit, and crosses as a
	// notification: look until it is there.
	var m []string
	deadline := time.Now().Add(5 * time.Second)
	for m == nil {
		inbox, err := exec.Command("ssh", two.sshArgs(key, "inbox")...).CombinedOutput()
		if err != nil {
			t.Fatalf("inbox on server two: %v\n%s", err, inbox)
		}
		m = regexp.MustCompile(`[Cc]ode ([A-Z]): (\d+)`).FindStringSubmatch(string(inbox))
		if m == nil && time.Now().After(deadline) {
			t.Fatalf("server two's inbox has no code from server one within 5 s:\n%s\none: %s\ntwo: %s", inbox, one.stderr.String(), two.stderr.String())
		}
	}
	if out, err := two.command(key, "code", m[1]+"-"+m[2]); err != nil {
		t.Fatalf("code on server two: %v\n%s", err, out)
	}
	out, err = one.command(key, "whoami")
	if err != nil || !strings.Contains(out, "ada@example.com") {
		t.Errorf("whoami on server one after signing in on two: %v\n%s", err, out)
	}
}
