package postgres

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/attest-dev/attest/store"
	"github.com/attest-dev/attest/store/postgres/pgtest"
	"github.com/attest-dev/attest/store/storetest"
)

// readmeSQL returns the ```sql blocks of the README's section on the two
// roles, in order: the test runs what the README tells operators to run.
func readmeSQL(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(b), "### Two roles")
	if !ok {
		t.Fatal("the README has no section on the two roles")
	}
	section, _, _ = strings.Cut(section, "\n#")
	var blocks []string
	for {
		var block string
		if _, section, ok = strings.Cut(section, "```sql\n"); !ok {
			break
		}
		block, section, _ = strings.Cut(section, "```")
		blocks = append(blocks, block)
	}
	if len(blocks) != 2 {
		t.Fatalf("the README's section on the two roles has %d SQL blocks, want 2 (the superuser's, the owner's)", len(blocks))
	}
	return blocks
}

var rolesRun atomic.Int64

// TestOwnerAndServerRoles sets up the two roles as the README says, in
// the test cluster: the owner applies the schema, the servers' role then
// appends, reads, claims and listens, and cannot change or remove facts.
func TestOwnerAndServerRoles(t *testing.T) {
	c := pgtest.Start(t)
	sql := readmeSQL(t)
	// Roles are the cluster's, not a database's: a suffix keeps a second
	// run (-count) of this test from meeting the first's.
	n := rolesRun.Add(1)
	rename := strings.NewReplacer(
		"attest_owner", fmt.Sprintf("attest_owner%d", n),
		"attest_server", fmt.Sprintf("attest_server%d", n),
		"DATABASE attest ", fmt.Sprintf("DATABASE attest_roles%d ", n))
	db := fmt.Sprintf("attest_roles%d", n)
	owner, server := fmt.Sprintf("attest_owner%d", n), fmt.Sprintf("attest_server%d", n)
	ctx := context.Background()
	exec := func(role, db, sql string) {
		t.Helper()
		conn, err := pgx.Connect(ctx, c.URL(role, db))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(ctx)
		// One statement at a time, as psql sends them: CREATE DATABASE
		// cannot share a transaction.
		for _, stmt := range strings.Split(sql, ";\n") {
			if strings.TrimSpace(stmt) == "" {
				continue
			}
			if _, err := conn.Exec(ctx, stmt); err != nil {
				t.Fatalf("as %s: %s: %v", role, stmt, err)
			}
		}
	}
	// The cluster trusts local connections, so the passwords are not
	// checked here; they are the README's all the same.
	exec("postgres", "postgres", rename.Replace(sql[0]))

	// The servers' role cannot apply the schema, and says who can.
	if l, err := Open(ctx, c.URL(server, db), Options{}); err == nil {
		l.Close()
		t.Fatal("the servers' role applied the schema")
	} else if !strings.Contains(err.Error(), "run attest verify once as the tables' owner") {
		t.Errorf("the servers' role on an empty database: %v", err)
	}

	ol, err := Open(ctx, c.URL(owner, db), Options{})
	if err != nil {
		t.Fatalf("open as the owner: %v", err)
	}
	ol.Close()
	exec(owner, db, rename.Replace(sql[1]))

	a, err := Open(ctx, c.URL(server, db), Options{})
	if err != nil {
		t.Fatalf("open as the servers' role: %v", err)
	}
	defer a.Close()
	b, err := Open(ctx, c.URL(server, db), Options{})
	if err != nil {
		t.Fatalf("open a second server as the servers' role: %v", err)
	}
	defer b.Close()

	// It appends and reads.
	for i := range 3 {
		if err := a.Update(func(tx store.Tx) error {
			_, err := tx.Append(store.Fact{Time: storetest.T0, Kind: "k", User: fmt.Sprintf("u%d", i)})
			return err
		}); err != nil {
			t.Fatalf("append as the servers' role: %v", err)
		}
	}
	head := storetest.View(t, b, func(r store.Reader) (uint64, error) { seq, _, err := r.Head(); return seq, err })
	if head != 3 {
		t.Errorf("the other server reads %d facts, want 3", head)
	}
	storetest.Verify(t, b)
	// It binds the database to a secret, and records its watches.
	if got, err := a.Claim("check", "v"); err != nil || got != "v" {
		t.Errorf("claim as the servers' role: %q, %v", got, err)
	}
	if err := a.SetWatching(ctx, "device", true); err != nil {
		t.Errorf("record a watch: %v", err)
	}
	if err := a.KeepWatching(ctx); err != nil {
		t.Errorf("refresh the watches: %v", err)
	}
	if yes, err := b.WatchedElsewhere(ctx, "device"); err != nil || !yes {
		t.Errorf("the other server sees the watch: %v, %v", yes, err)
	}
	if err := a.StopWatching(ctx); err != nil {
		t.Errorf("drop the watches: %v", err)
	}
	// It listens, and hears the other server.
	lctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ready, got := make(chan struct{}, 1), make(chan string, 1)
	go b.Listen(lctx, "attest_roles", func(p []byte) { got <- string(p) }, func() { ready <- struct{}{} }, nil)
	select {
	case <-ready:
	case <-time.After(20 * time.Second):
		t.Fatal("the servers' role could not listen")
	}
	if err := a.Notify(ctx, "attest_roles", []byte("hello")); err != nil {
		t.Fatal(err)
	}
	select {
	case p := <-got:
		if p != "hello" {
			t.Errorf("heard %q", p)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the notification did not arrive")
	}

	// Nobody changes or removes a fact: the servers' role and the owner
	// lack the right, and a superuser is stopped by the trigger.
	refused := func(role, stmt, want string) {
		t.Helper()
		conn, err := pgx.Connect(ctx, c.URL(role, db))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(ctx)
		_, err = conn.Exec(ctx, stmt)
		var pgErr *pgconn.PgError
		if !errors.As(err, &pgErr) || pgErr.Code != "42501" || !strings.Contains(pgErr.Message, want) {
			t.Errorf("as %s, %s: %v, want an error saying %q", role, stmt, err, want)
		}
	}
	for _, stmt := range []string{
		"UPDATE facts SET kind = 'forged' WHERE seq = 2",
		"DELETE FROM facts WHERE seq = 3",
		"TRUNCATE facts",
	} {
		refused(server, stmt, "permission denied")
		refused(owner, stmt, "permission denied")
		refused("postgres", stmt, "the ledger only grows")
	}
	for _, stmt := range []string{
		"ALTER TABLE facts DISABLE TRIGGER facts_append_only",
		"DROP TRIGGER facts_append_only ON facts",
		"UPDATE attest_meta SET value = 'other'",
		"DELETE FROM attest_meta",
	} {
		refused(server, stmt, "")
	}
	if err := a.Reindex(); err == nil || !strings.Contains(err.Error(), "run it as the tables' owner") {
		t.Errorf("reindex as the servers' role: %v", err)
	}
	if got := storetest.View(t, a, func(r store.Reader) ([]store.Fact, error) { return storetest.AllOf(r, 0) }); len(got) != 3 || got[1].Kind != "k" {
		t.Errorf("the facts after the refusals: %+v", got)
	}
	storetest.Verify(t, a)
}
