package server

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/attest-dev/attest/server/operator"
	"path/filepath"
	"strings"
	"testing"

	"github.com/attest-dev/attest/server/config"
	"github.com/attest-dev/attest/store/postgres/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// TestSharedDatabaseSecret: servers that share a database must share the
// secret. The first sets the database's check; one with another secret
// refuses to start, saying so; one pointed at the first's secret starts.
func TestSharedDatabaseSecret(t *testing.T) {
	url := pgtest.Start(t).NewDatabase(t)
	first := config.Default()
	first.DataDir, first.DatabaseURL = t.TempDir(), url
	a, err := Open(first, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()

	other := first
	other.DataDir = t.TempDir() // a secret of its own is made there
	if b, err := Open(other, nil, nil); err == nil {
		b.Close()
		t.Fatal("a server with another secret started on the shared database")
	} else if !strings.Contains(err.Error(), "not the one this database was started with") {
		t.Errorf("refusal: %v", err)
	}

	other.SecretFile = filepath.Join(first.DataDir, "secret")
	b, err := Open(other, nil, nil)
	if err != nil {
		t.Fatalf("a server with the first's secret: %v", err)
	}
	b.Close()
}

// TestOperatorCommandsOnPostgres: the operator commands run on a ledger
// in PostgreSQL as on a file, except backup, which says to use pg_dump.
func TestOperatorCommandsOnPostgres(t *testing.T) {
	cfg := config.Default()
	cfg.DataDir, cfg.DatabaseURL = t.TempDir(), pgtest.Start(t).NewDatabase(t)
	a, err := Open(cfg, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	run := func(args ...string) (string, error) {
		var out, errOut strings.Builder
		code := operator.Run(context.Background(), operator.Env{Ledger: a.Ledger, Service: a.Service, Stdout: &out, Stderr: &errOut}, args)
		if code != 0 {
			return out.String(), fmt.Errorf("exit %d: %s", code, errOut.String())
		}
		return out.String(), nil
	}
	out, err := run("user", "add", "--email", "ada@example.com", "--nickname", "Ada", "--json")
	if err != nil {
		t.Fatalf("user add: %v %s", err, out)
	}
	var reg struct{ User string }
	if err := json.Unmarshal([]byte(out), &reg); err != nil || reg.User == "" {
		t.Fatalf("user add printed %q", out)
	}
	a.Service.Wait()
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"owner", "ada@example.com"}, reg.User},
		{[]string{"addresses", reg.User}, "ada@example.com"},
		{[]string{"facts", "--user", reg.User}, `"kind":"address.confirmed"`},
		{[]string{"verify"}, "ok: "},
	} {
		out, err := run(c.args...)
		if err != nil || !strings.Contains(out, c.want) {
			t.Errorf("%v: %v\n%s\nwant %q in it", c.args, err, out, c.want)
		}
	}
	if _, err := run("backup"); err == nil || !strings.Contains(err.Error(), "pg_dump") {
		t.Errorf("backup: %v, want a pointer to pg_dump", err)
	}
}
