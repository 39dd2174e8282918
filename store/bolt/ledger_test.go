package bolt

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"testing"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/attest-dev/attest/store"
	"github.com/attest-dev/attest/store/storetest"
)

// t0 is the tests' clock: every time is built from it, none is read.
var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// testTail keeps level 0 small in tests, so that their workloads cross
// many merges and read across both levels of the index.
const testTail = 64

// newLedger opens a fresh ledger in a temporary directory, closed when
// the test ends.
func newLedger(tb testing.TB) *Ledger {
	return newLedgerWith(tb, Options{Tail: testTail})
}

func newLedgerWith(tb testing.TB, opts Options) *Ledger {
	tb.Helper()
	l, err := Open(filepath.Join(tb.TempDir(), "ledger", "attest.db"), opts)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { l.Close() })
	return l
}

// appendFacts appends fs in one update and returns them as stored.
func appendFacts(tb testing.TB, l *Ledger, fs ...store.Fact) []store.Fact {
	tb.Helper()
	var out []store.Fact
	err := l.Update(func(tx store.Tx) error {
		out = out[:0]
		for _, f := range fs {
			got, err := tx.Append(f)
			if err != nil {
				return err
			}
			out = append(out, got)
		}
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
	return out
}

func view[T any](tb testing.TB, l *Ledger, fn func(r store.Reader) (T, error)) T {
	tb.Helper()
	return storetest.View(tb, l, fn)
}

var (
	entriesOf     = storetest.EntriesOf
	factsOf       = storetest.FactsOf
	allOf         = storetest.AllOf
	entrySeqs     = storetest.EntrySeqs
	factSeqs      = storetest.FactSeqs
	expect        = storetest.Expect
	windowFixture = storetest.WindowFixture
)

func checkWindows(t *testing.T, r store.Reader, all []store.Fact, ix store.Index, id string) {
	t.Helper()
	storetest.CheckWindows(t, r, all, ix, id)
}

func checkOverlay(t *testing.T, l *Ledger, committed, rest []store.Fact) {
	t.Helper()
	storetest.CheckOverlay(t, l, committed, rest)
}

// TestContract runs the store contract's suite on bbolt.
func TestContract(t *testing.T) {
	storetest.Run(t, func(t *testing.T) func() (store.Ledger, error) {
		path := filepath.Join(t.TempDir(), "attest.db")
		return func() (store.Ledger, error) { return Open(path, Options{Tail: testTail}) }
	})
}

// rawFact reads the stored bytes of fact seq.
func rawFact(tb testing.TB, l *Ledger, seq uint64) []byte {
	tb.Helper()
	var raw []byte
	l.db.View(func(tx *bbolt.Tx) error {
		raw = slices.Clone(tx.Bucket(factsBucket).Get(seqKey(seq)))
		return nil
	})
	if raw == nil {
		tb.Fatalf("fact %d not stored", seq)
	}
	return raw
}

func TestRoundTrip(t *testing.T) {
	l := newLedger(t)
	in := []store.Fact{
		{Time: t0, Kind: "address.code_sent", User: "u1", Device: "d1", Address: "a1", Ticket: "t1",
			Body: json.RawMessage("{ \"channel\": \"email\",  \"note\": \"<b>&amp;\u2028 \\u2029\" }")},
		{Time: t0.Add(time.Second).In(time.FixedZone("X", 3600)), Kind: "address.confirmed", User: "u1", Address: "a1"},
		{Time: t0.Add(2 * time.Second), Kind: "device.seen", Device: "d1"},
		{Time: t0.Add(3 * time.Second), Kind: "ticket.used", Ticket: "t1", Body: json.RawMessage(`{}`)},
	}
	got := appendFacts(t, l, in...)

	for i, f := range got {
		if f.Seq != uint64(i+1) {
			t.Errorf("fact %d: seq %d", i, f.Seq)
		}
		if f.Time.Location() != time.UTC || !f.Time.Equal(in[i].Time) {
			t.Errorf("fact %d: time %v, want %v in UTC", f.Seq, f.Time, in[i].Time)
		}
		back := view(t, l, func(r store.Reader) (store.Fact, error) { return r.Fact(f.Seq) })
		if !reflect.DeepEqual(back, f) {
			t.Errorf("fact %d reads back as\n%+v\nAppend returned\n%+v", f.Seq, back, f)
		}
		raw := rawFact(t, l, f.Seq)
		if want, _ := json.Marshal(f); string(raw) != string(want) {
			t.Errorf("fact %d stored as %s, want its JSON encoding %s", f.Seq, raw, want)
		}
		if i == 0 {
			if f.Prev != "" {
				t.Errorf("first fact's prev %q, want empty", f.Prev)
			}
		} else if sum := sha256.Sum256(rawFact(t, l, f.Seq-1)); f.Prev != hex.EncodeToString(sum[:]) {
			t.Errorf("fact %d: prev %s is not the hash of fact %d", f.Seq, f.Prev, f.Seq-1)
		}
	}
	if want := `{"channel":"email","note":"\u003cb\u003e\u0026amp;\u2028 \u2029"}`; string(got[0].Body) != want {
		t.Errorf("body stored as %s, want %s", got[0].Body, want)
	}

	for _, tc := range []struct {
		ix   store.Index
		id   string
		want []uint64
	}{
		{store.ByUser, "u1", []uint64{1, 2}},
		{store.ByDevice, "d1", []uint64{1, 3}},
		{store.ByAddress, "a1", []uint64{1, 2}},
		{store.ByTicket, "t1", []uint64{1, 4}},
		{store.ByKind, "device.seen", []uint64{3}},
		{store.ByUser, "u", []uint64{}}, // a prefix of an id is not the id
		{store.ByUser, "", []uint64{}},
	} {
		es := view(t, l, func(r store.Reader) ([]store.Entry, error) { return entriesOf(r, tc.ix, tc.id, store.Window{}) })
		fs := view(t, l, func(r store.Reader) ([]store.Fact, error) { return factsOf(r, tc.ix, tc.id, store.Window{}) })
		n := view(t, l, func(r store.Reader) (int, error) { return r.Count(tc.ix, tc.id, store.Window{}) })
		if !slices.Equal(entrySeqs(es), tc.want) || !slices.Equal(factSeqs(fs), tc.want) || n != len(tc.want) {
			t.Errorf("%s %q: entries %v, facts %v, count %d; want %v", tc.ix, tc.id, entrySeqs(es), factSeqs(fs), n, tc.want)
		}
		for i, e := range es {
			f := got[e.Seq-1]
			if !e.Time.Equal(f.Time) || e.Kind != f.Kind || !reflect.DeepEqual(fs[i], f) {
				t.Errorf("%s %q: entry %+v / fact %+v, want %+v", tc.ix, tc.id, e, fs[i], f)
			}
		}
	}

	all := view(t, l, func(r store.Reader) ([]store.Fact, error) { return allOf(r, 0) })
	if !reflect.DeepEqual(all, got) {
		t.Errorf("All(0) = %v, want %v", factSeqs(all), factSeqs(got))
	}
	from3 := view(t, l, func(r store.Reader) ([]store.Fact, error) { return allOf(r, 3) })
	if !slices.Equal(factSeqs(from3), []uint64{3, 4}) {
		t.Errorf("All(3) = %v", factSeqs(from3))
	}
	seq, at := view2(t, l)
	if seq != 4 || !at.Equal(got[3].Time) {
		t.Errorf("head %d at %v, want 4 at %v", seq, at, got[3].Time)
	}
	err := l.View(func(r store.Reader) error { _, err := r.Fact(5); return err })
	if !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Fact(5) error %v, want ErrNotFound", err)
	}
	if err := l.View(func(r store.Reader) error { _, err := r.Count(store.Index(99), "x", store.Window{}); return err }); err == nil {
		t.Error("Count on an unknown index succeeded")
	}
	if err := l.Verify(); err != nil {
		t.Fatal(err)
	}
}

func view2(tb testing.TB, l *Ledger) (seq uint64, at time.Time) {
	tb.Helper()
	return storetest.Head(tb, l)
}

// holdWriter blocks the writer goroutine inside an update until release
// is closed, so that the test can queue functions that then share a batch.
func holdWriter(t *testing.T, l *Ledger) (release func()) {
	held, release2 := make(chan struct{}), make(chan struct{})
	done := make(chan error)
	go func() {
		done <- l.Update(func(tx store.Tx) error {
			close(held)
			<-release2
			return nil
		})
	}()
	<-held
	return func() {
		close(release2)
		if err := <-done; err != nil {
			t.Error(err)
		}
	}
}

// waitQueued waits until n update functions are queued behind the writer.
func waitQueued(l *Ledger, n int) {
	for len(l.requests) < n {
		runtime.Gosched()
	}
}

// TestOverlay: within one batch, what a failing function staged is
// invisible to the next function, which continues the chain from before
// it. (storetest checks reads of what one function appended.)
func TestOverlay(t *testing.T) {
	l := newLedger(t)
	appendFacts(t, l,
		store.Fact{Time: t0, Kind: "address.code_sent", Address: "A", User: "U"},
		store.Fact{Time: t0.Add(time.Minute), Kind: "address.confirmed", Address: "A", User: "U", Ticket: "T"},
		store.Fact{Time: t0, Kind: "k"})

	release := holdWriter(t, l)
	results := make(chan error, 2)
	go func() {
		results <- l.Update(func(tx store.Tx) error {
			if _, err := tx.Append(store.Fact{Time: t0, Kind: "ghost", Address: "A"}); err != nil {
				return err
			}
			return errors.New("no")
		})
	}()
	waitQueued(l, 1)
	var next store.Fact
	go func() {
		results <- l.Update(func(tx store.Tx) error {
			if seq, _, _ := tx.Head(); seq != 3 {
				t.Errorf("after a failed function, head %d, want 3", seq)
			}
			if n, _ := tx.Count(store.ByKind, "ghost", store.Window{}); n != 0 {
				t.Errorf("a failed function's fact is visible")
			}
			var err error
			next, err = tx.Append(store.Fact{Time: t0, Kind: "real", Address: "A"})
			return err
		})
	}()
	waitQueued(l, 2)
	commits := l.Stats().Commits
	release()
	errs := []error{<-results, <-results}
	if (errs[0] == nil) == (errs[1] == nil) {
		t.Fatalf("want one failure and one success, got %v", errs)
	}
	if sum := sha256.Sum256(rawFact(t, l, 3)); next.Seq != 4 || next.Prev != hex.EncodeToString(sum[:]) {
		t.Errorf("fact after the failed function: %+v, want seq 4 chained to fact 3", next)
	}
	if got := l.Stats().Commits - commits; got != 1 {
		t.Errorf("%d commits for one batch", got)
	}
	if err := l.Verify(); err != nil {
		t.Fatal(err)
	}
}

func TestOpenCreatesPrivateFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "new", "dir", "attest.db")
	l, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if l.Path() != path {
		t.Errorf("Path() = %s, want %s", l.Path(), path)
	}
	for p, want := range map[string]os.FileMode{path: 0o600, filepath.Dir(path): 0o700 | os.ModeDir} {
		st, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if got := st.Mode(); got&^0o077 != want || got&0o077 != 0 {
			t.Errorf("%s has mode %v, want %v", p, got, want)
		}
	}
}

func TestOpenRefusesForeignFile(t *testing.T) {
	for name, setup := range map[string]func(tx *bbolt.Tx) error{
		"other bbolt file": func(tx *bbolt.Tx) error {
			_, err := tx.CreateBucket([]byte("sessions"))
			return err
		},
		"newer format": func(tx *bbolt.Tx) error {
			b, err := tx.CreateBucket(metaBucket)
			if err != nil {
				return err
			}
			return b.Put(formatKey, []byte("99"))
		},
	} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "attest.db")
			db, err := bbolt.Open(path, 0o600, nil)
			if err != nil {
				t.Fatal(err)
			}
			if err := db.Update(setup); err != nil {
				t.Fatal(err)
			}
			db.Close()
			if l, err := Open(path, Options{}); err == nil {
				l.Close()
				t.Fatal("opened a file that is not a ledger of this format")
			} else {
				t.Log(err)
			}
		})
	}
}
