package postgres

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"reflect"
	"slices"
	"time"

	"context"
	"errors"
	"github.com/attest-dev/attest/store/bolt"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/attest-dev/attest/store"
	"github.com/attest-dev/attest/store/postgres/pgtest"
	"github.com/attest-dev/attest/store/storetest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// fresh is storetest.Fresh on a new database of the test cluster.
func fresh(t *testing.T) func() (store.Ledger, error) {
	url := pgtest.Start(t).NewDatabase(t)
	return func() (store.Ledger, error) { return Open(context.Background(), url, Options{}) }
}

func TestContract(t *testing.T) { storetest.Run(t, fresh) }

// open opens a ledger on url, closed when the test ends.
func open(t *testing.T, url string) *Ledger {
	t.Helper()
	l, err := Open(context.Background(), url, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// TestConfirmRaceTwoServers: two ledgers on one database are two servers;
// of 100 sessions split over them racing to confirm one address, one wins.
func TestConfirmRaceTwoServers(t *testing.T) {
	url := pgtest.Start(t).NewDatabase(t)
	storetest.ConfirmRace(t, open(t, url), open(t, url))
}

// TestMigrationsOnce: servers starting at once apply each migration once.
func TestMigrationsOnce(t *testing.T) {
	url := pgtest.Start(t).NewDatabase(t)
	var wg sync.WaitGroup
	ls := make([]*Ledger, 6)
	for i := range ls {
		wg.Go(func() {
			l, err := Open(context.Background(), url, Options{})
			if err != nil {
				t.Error(err)
				return
			}
			ls[i] = l
		})
	}
	wg.Wait()
	for _, l := range ls {
		if l != nil {
			l.Close()
		}
	}
	conn := connect(t, url)
	var n, max int
	if err := conn.QueryRow(context.Background(), "SELECT count(*), max(version) FROM attest_schema").Scan(&n, &max); err != nil {
		t.Fatal(err)
	}
	if n != len(migrations) || max != len(migrations) {
		t.Errorf("attest_schema has %d rows up to version %d; want %d", n, max, len(migrations))
	}
}

func connect(t *testing.T, url string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

// TestFactsAreAppendOnly: the server's role (the tables' owner here) may
// not change or remove facts, by grant; and nobody, a superuser included,
// gets past the triggers.
func TestFactsAreAppendOnly(t *testing.T) {
	c := pgtest.Start(t)
	url := c.NewDatabase(t)
	l := open(t, url)
	storetest.AppendFacts(t, l, storetest.WindowFixture()[:6]...)
	if _, err := l.Claim("check", "v"); err != nil {
		t.Fatal(err)
	}
	db := pgtest.Name(url)
	super := connect(t, c.URL("postgres", db))
	ctx := context.Background()
	for _, sql := range []string{
		"UPDATE facts SET kind = 'forged' WHERE seq = 2",
		"UPDATE facts SET kind = 'forged' WHERE seq = 99", // matches nothing: refused all the same
		"DELETE FROM facts WHERE seq = 6",
		"TRUNCATE facts",
		"UPDATE attest_meta SET value = 'other'",
		"DELETE FROM attest_meta",
		"TRUNCATE attest_meta",
	} {
		_, err := l.Pool().Exec(ctx, sql)
		if !isCode(err, "42501") {
			t.Errorf("as the server's role, %s: %v, want permission denied", sql, err)
		}
		_, err = super.Exec(ctx, sql)
		if err == nil || !strings.Contains(err.Error(), "the ledger only grows") {
			t.Errorf("as a superuser, %s: %v, want the trigger's refusal", sql, err)
		}
	}
	if seq, _ := storetest.Head(t, l); seq != 6 {
		t.Errorf("head %d after the attempts, want 6", seq)
	}
	storetest.Verify(t, l)
}

func isCode(err error, code string) bool {
	var pgErr interface{ SQLState() string }
	return errors.As(err, &pgErr) && pgErr.SQLState() == code
}

// TestVerifyFindsTampering: a superuser who disables the triggers and
// edits a fact is caught by Verify.
func TestVerifyFindsTampering(t *testing.T) {
	c := pgtest.Start(t)
	for _, tc := range []struct {
		name, sql string
		seq       uint64
	}{
		{"kind", "UPDATE facts SET kind = 'forged' WHERE seq = 3", 4},
		{"body", `UPDATE facts SET body = '{"x":1}' WHERE seq = 2`, 3},
		{"gap", "DELETE FROM facts WHERE seq = 4", 5},
		{"prev", "UPDATE facts SET prev = repeat('0', 64) WHERE seq = 5", 5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			url := c.NewDatabase(t)
			l := open(t, url)
			storetest.AppendFacts(t, l, storetest.WindowFixture()[:6]...)
			db := pgtest.Name(url)
			c.Exec(t, db, "ALTER TABLE facts DISABLE TRIGGER facts_append_only; "+tc.sql)
			var d *store.Discrepancy
			if err := l.Verify(); !errors.As(err, &d) || d.Seq != tc.seq {
				t.Errorf("Verify after %s: %v, want a discrepancy at fact %d", tc.sql, err, tc.seq)
			}
		})
	}
}

func TestBackupSaysPgDump(t *testing.T) {
	l := open(t, pgtest.Start(t).NewDatabase(t))
	if _, err := l.Backup(nil); !errors.Is(err, ErrUsePgDump) {
		t.Errorf("Backup: %v", err)
	}
}

func TestClaim(t *testing.T) {
	url := pgtest.Start(t).NewDatabase(t)
	a, b := open(t, url), open(t, url)
	if v, err := a.Claim("k", "first"); err != nil || v != "first" {
		t.Fatalf("first claim: %q, %v", v, err)
	}
	if v, err := b.Claim("k", "second"); err != nil || v != "first" {
		t.Fatalf("second claim: %q, %v; want the first value", v, err)
	}
}

// TestCopyFromBolt is attest migrate's copy: a bbolt ledger copied into
// an empty database holds the same chain, fact for fact, and verifies; a
// database that is not empty is refused; a source whose chain is broken
// stops the copy.
func TestCopyFromBolt(t *testing.T) {
	src, err := bolt.Open(filepath.Join(t.TempDir(), "attest.db"), bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	var want []store.Fact
	for i := range 25 {
		var fs []store.Fact
		for j := range 97 {
			f := storetest.WindowFixture()[(i*97+j)%90]
			f.Time = f.Time.Add(time.Duration(i) * time.Hour)
			f.Body = json.RawMessage(fmt.Sprintf(`{"i":%d,"note":"<&>"}`, i*97+j))
			fs = append(fs, f)
		}
		want = append(want, storetest.AppendFacts(t, src, fs...)...)
	}
	dst := open(t, pgtest.Start(t).NewDatabase(t))
	var steps []uint64
	n, err := store.Copy(dst, src, func(n uint64) { steps = append(steps, n) })
	if err != nil || n != uint64(len(want)) {
		t.Fatalf("copied %d of %d: %v", n, len(want), err)
	}
	if !slices.Equal(steps, []uint64{1000, 2000, 2425}) {
		t.Errorf("progress %v", steps)
	}
	got := storetest.View(t, dst, func(r store.Reader) ([]store.Fact, error) { return storetest.AllOf(r, 0) })
	if !reflect.DeepEqual(got, want) {
		t.Error("the copy differs from the source")
	}
	storetest.Verify(t, dst)
	if _, err := store.Copy(dst, src, nil); !errors.Is(err, store.ErrNotEmpty) {
		t.Errorf("copy into a full database: %v", err)
	}

	// A source with a broken link: fact 1500 does not follow fact 1499.
	bad := &brokenLink{Ledger: src, seq: 1500}
	if n, err := store.Copy(open(t, pgtest.Start(t).NewDatabase(t)), bad, nil); err == nil || n != 1000 {
		t.Errorf("copy of a broken chain: %d facts, %v", n, err)
	}
}

// brokenLink is a ledger whose fact seq reads with a wrong Prev.
type brokenLink struct {
	store.Ledger
	seq uint64
}

func (b *brokenLink) View(fn func(store.Reader) error) error {
	return b.Ledger.View(func(r store.Reader) error { return fn(&brokenReader{Reader: r, seq: b.seq}) })
}

type brokenReader struct {
	store.Reader
	seq uint64
}

func (r *brokenReader) All(from uint64, fn func(store.Fact) bool) error {
	return r.Reader.All(from, func(f store.Fact) bool {
		if f.Seq == r.seq {
			f.Prev = strings.Repeat("0", 64)
		}
		return fn(f)
	})
}

// ChecksIndexes says whether Verify could check the indexes: only once
// amcheck is installed and granted, after which Verify runs it and passes.
func TestChecksIndexesWithAmcheck(t *testing.T) {
	c := pgtest.Start(t)
	url := c.NewDatabase(t)
	l := open(t, url)
	storetest.AppendFacts(t, l, storetest.WindowFixture()[:6]...)
	if ok, err := l.ChecksIndexes(); err != nil || ok {
		t.Fatalf("without amcheck: ChecksIndexes = %v, %v; want false", ok, err)
	}
	// Installed, but the server's role may not run it: a missing grant is
	// not a broken index.
	c.Exec(t, pgtest.Name(url), "CREATE EXTENSION amcheck; REVOKE EXECUTE ON FUNCTION bt_index_check(regclass, boolean) FROM PUBLIC")
	if ok, err := l.ChecksIndexes(); err != nil || ok {
		t.Fatalf("amcheck without the grant: ChecksIndexes = %v, %v; want false", ok, err)
	}
	if err := l.Verify(); err != nil {
		t.Fatalf("Verify with amcheck but no grant: %v", err)
	}
	c.Exec(t, pgtest.Name(url), "GRANT EXECUTE ON FUNCTION bt_index_check(regclass, boolean) TO PUBLIC")
	if ok, err := l.ChecksIndexes(); err != nil || !ok {
		t.Fatalf("with amcheck: ChecksIndexes = %v, %v; want true", ok, err)
	}
	if err := l.Verify(); err != nil {
		t.Fatalf("Verify with amcheck: %v", err)
	}
}

// TestAllPages: All reads a page of facts at a time; across page
// boundaries it gives every fact once, in order, and stops when told.
func TestAllPages(t *testing.T) {
	l := open(t, pgtest.Start(t).NewDatabase(t))
	const n = 2*allPage + 7
	if err := l.Update(func(tx store.Tx) error {
		for i := range n {
			if _, err := tx.Append(store.Fact{Time: storetest.T0, Kind: "k", User: fmt.Sprintf("u%d", i)}); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	for _, from := range []uint64{0, 1, allPage, allPage + 1, n, n + 1} {
		got := storetest.View(t, l, func(r store.Reader) ([]store.Fact, error) { return storetest.AllOf(r, from) })
		want := n - int(max(from, 1)) + 1
		if len(got) != want {
			t.Errorf("All from %d: %d facts, want %d", from, len(got), want)
			continue
		}
		for i, f := range got {
			if f.Seq != max(from, 1)+uint64(i) {
				t.Fatalf("All from %d: fact %d is %d", from, i, f.Seq)
			}
		}
	}
	var seen int
	if err := l.View(func(r store.Reader) error {
		return r.All(1, func(store.Fact) bool { seen++; return seen < allPage+3 })
	}); err != nil {
		t.Fatal(err)
	}
	if seen != allPage+3 {
		t.Errorf("All went on after being told to stop: %d facts", seen)
	}
	storetest.Verify(t, l)
}
