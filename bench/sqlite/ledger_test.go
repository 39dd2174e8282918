package sqlite

import (
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/attest-dev/attest/store"
	"github.com/attest-dev/attest/store/storetest"
)

func openTemp(tb testing.TB) *Ledger {
	tb.Helper()
	l, err := Open(filepath.Join(tb.TempDir(), "facts.sqlite"))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := l.Close(); err != nil {
			tb.Error(err)
		}
	})
	return l
}

// The baseline answers every window of the store contract's suite as
// store/bolt must: in a read transaction, in single statements, and inside
// an update that has appended part of the facts.
func TestWindows(t *testing.T) {
	l := openTemp(t)
	all := storetest.AppendFacts(t, l, storetest.WindowFixture()...)
	err := l.View(func(r store.Reader) error {
		storetest.CheckFixtureWindows(t, r, all)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	storetest.CheckFixtureWindows(t, l.Reader(), all)

	fixture := storetest.WindowFixture()
	o := openTemp(t)
	storetest.CheckOverlay(t, o, storetest.AppendFacts(t, o, fixture[:40]...), fixture[40:])
}

// A function that fails leaves nothing behind, the others of its batch
// land, and the chain links each fact to the one before it, also across a
// reopen.
func TestUpdateAndChain(t *testing.T) {
	path := filepath.Join(t.TempDir(), "facts.sqlite")
	l, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	boom := errors.New("boom")
	errs := make(chan error, 3)
	for i := range 3 {
		go func() {
			errs <- l.Update(func(tx store.Tx) error {
				if _, err := tx.Append(store.Fact{Time: storetest.T0, Kind: "k", User: "u"}); err != nil {
					return err
				}
				if i == 1 {
					return boom
				}
				return nil
			})
		}()
	}
	failed := 0
	for range 3 {
		if err := <-errs; errors.Is(err, boom) {
			failed++
		} else if err != nil {
			t.Fatal(err)
		}
	}
	if failed != 1 {
		t.Fatalf("%d updates failed, want 1", failed)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if l, err = Open(path); err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	storetest.AppendFacts(t, l, store.Fact{Time: storetest.T0, Kind: "k", User: "u"})
	var facts []store.Fact
	if err := l.Reader().All(1, func(f store.Fact) bool { facts = append(facts, f); return true }); err != nil {
		t.Fatal(err)
	}
	if got := len(facts); got != 3 {
		t.Fatalf("%d facts, want 3", got)
	}
	prev := ""
	for i, f := range facts {
		if f.Seq != uint64(i+1) || f.Prev != prev {
			t.Fatalf("fact %d: seq %d prev %q, want prev %q", i, f.Seq, f.Prev, prev)
		}
		enc, err := store.Encode(&f)
		if err != nil {
			t.Fatal(err)
		}
		prev = store.Link(enc)
	}
}

// Every lookup the benchmarks make is a range scan of one covering index,
// with no sort: the plan a careful SQLite user would check for.
func TestQueryPlans(t *testing.T) {
	l := openTemp(t)
	for _, q := range lookups {
		w := q.window(storetest.T0)
		where, tail, args, err := window(q.ix, "x", &w)
		if err != nil {
			t.Fatal(err)
		}
		query := `SELECT seq, time, kind FROM facts WHERE ` + where + tail
		rows, err := l.read.Query(`EXPLAIN QUERY PLAN `+query, args...)
		if err != nil {
			t.Fatal(err)
		}
		var plan []string
		for rows.Next() {
			var id, parent, unused int
			var detail string
			if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
				t.Fatal(err)
			}
			plan = append(plan, detail)
		}
		rows.Close()
		text := strings.Join(plan, "; ")
		if !slices.ContainsFunc(plan, func(s string) bool { return strings.Contains(s, "USING COVERING INDEX facts_") }) ||
			strings.Contains(text, "TEMP B-TREE") {
			t.Errorf("%s: plan %q", q.name, text)
		}
	}
}
