package bolt

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/attest-dev/attest/store"
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
	var v T
	if err := l.View(func(r store.Reader) (err error) { v, err = fn(r); return err }); err != nil {
		tb.Fatal(err)
	}
	return v
}

func entriesOf(r store.Reader, ix store.Index, id string, w store.Window) ([]store.Entry, error) {
	var es []store.Entry
	err := r.Entries(ix, id, w, func(e store.Entry) bool { es = append(es, e); return true })
	return es, err
}

func factsOf(r store.Reader, ix store.Index, id string, w store.Window) ([]store.Fact, error) {
	var fs []store.Fact
	err := r.Facts(ix, id, w, func(f store.Fact) bool { fs = append(fs, f); return true })
	return fs, err
}

func allOf(r store.Reader, from uint64) ([]store.Fact, error) {
	var fs []store.Fact
	err := r.All(from, func(f store.Fact) bool { fs = append(fs, f); return true })
	return fs, err
}

func seqs[T any](xs []T, seq func(T) uint64) []uint64 {
	out := []uint64{}
	for _, x := range xs {
		out = append(out, seq(x))
	}
	return out
}

func entrySeqs(es []store.Entry) []uint64 {
	return seqs(es, func(e store.Entry) uint64 { return e.Seq })
}
func factSeqs(fs []store.Fact) []uint64 { return seqs(fs, func(f store.Fact) uint64 { return f.Seq }) }

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
	if err := l.View(func(r store.Reader) (err error) { seq, at, err = r.Head(); return err }); err != nil {
		tb.Fatal(err)
	}
	return seq, at
}

func TestEmptyLedger(t *testing.T) {
	l := newLedger(t)
	seq, at := view2(t, l)
	if seq != 0 || !at.IsZero() {
		t.Errorf("head of an empty ledger: %d at %v", seq, at)
	}
	all := view(t, l, func(r store.Reader) ([]store.Fact, error) { return allOf(r, 0) })
	if len(all) != 0 {
		t.Errorf("All on an empty ledger: %v", all)
	}
	if err := l.Verify(); err != nil {
		t.Error(err)
	}
}

// windowFixture is one address's history: a fact a minute from t0, kinds
// cycling through three, plus noise on other ids around it.
func windowFixture() []store.Fact {
	kinds := []string{"code.sent", "code.entered", "address.confirmed"}
	var fs []store.Fact
	for i := 0; i < 30; i++ {
		at := t0.Add(time.Duration(i) * time.Minute)
		fs = append(fs,
			store.Fact{Time: at, Kind: kinds[i%3], Address: "a", User: fmt.Sprintf("u%d", i%4)},
			store.Fact{Time: at, Kind: kinds[i%3], Address: "b"},
			store.Fact{Time: at, Kind: kinds[i%3], Address: "a\x01"}, // sorts right after "a"+NUL
		)
	}
	return fs
}

// windows are the cases every reader must agree on.
func windows() []store.Window {
	var ws []store.Window
	times := []time.Time{{}, t0.Add(-time.Hour), t0, t0.Add(10 * time.Minute), t0.Add(10*time.Minute + time.Second), t0.Add(29 * time.Minute), t0.Add(time.Hour)}
	for _, since := range times {
		for _, until := range times {
			for _, kinds := range [][]string{nil, {"code.sent"}, {"code.entered", "address.confirmed"}, {"nothing"}} {
				for _, reverse := range []bool{false, true} {
					for _, limit := range []int{0, 1, 4} {
						ws = append(ws, store.Window{Since: since, Until: until, Kinds: kinds, Reverse: reverse, Limit: limit})
					}
				}
			}
		}
	}
	return ws
}

// expect is the brute-force answer: filter with Window.Matches, order,
// limit.
func expect(fs []store.Fact, ix store.Index, id string, w store.Window) []uint64 {
	out := []uint64{}
	for _, f := range fs {
		if f.ID(ix) == id && w.Matches(store.Entry{Seq: f.Seq, Time: f.Time, Kind: f.Kind}) {
			out = append(out, f.Seq)
		}
	}
	if w.Reverse {
		slices.Reverse(out)
	}
	if w.Limit > 0 && len(out) > w.Limit {
		out = out[:w.Limit]
	}
	return out
}

// checkWindows compares r's Entries, Facts and Count with expect for
// every window.
func checkWindows(t *testing.T, r store.Reader, all []store.Fact, ix store.Index, id string) {
	t.Helper()
	for _, w := range windows() {
		want := expect(all, ix, id, w)
		es, err := entriesOf(r, ix, id, w)
		if err != nil {
			t.Fatal(err)
		}
		fs, err := factsOf(r, ix, id, w)
		if err != nil {
			t.Fatal(err)
		}
		n, err := r.Count(ix, id, w)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(entrySeqs(es), want) || !slices.Equal(factSeqs(fs), want) || n != len(want) {
			t.Fatalf("%s %q window %+v:\nentries %v\nfacts   %v\ncount   %d\nwant    %v",
				ix, id, w, entrySeqs(es), factSeqs(fs), n, want)
		}
	}
}

func TestWindows(t *testing.T) {
	l := newLedger(t)
	all := appendFacts(t, l, windowFixture()...)
	l.View(func(r store.Reader) error {
		checkWindows(t, r, all, store.ByAddress, "a")
		checkWindows(t, r, all, store.ByUser, "u1")
		checkWindows(t, r, all, store.ByKind, "code.sent")
		return nil
	})
}

// TestWindowsOverlay reads inside an update that has staged part of the
// history: the overlay must answer exactly as a read of the committed
// whole does.
func TestWindowsOverlay(t *testing.T) {
	fixture := windowFixture()
	for _, split := range []int{0, 1, 40, len(fixture) - 1} {
		t.Run(fmt.Sprint(split), func(t *testing.T) {
			l := newLedger(t)
			checkOverlay(t, l, appendFacts(t, l, fixture[:split]...), fixture[split:])
		})
	}
}

// checkOverlay appends rest in one update and, inside it, checks every
// window against committed followed by what it appended.
func checkOverlay(t *testing.T, l *Ledger, committed, rest []store.Fact) {
	t.Helper()
	err := l.Update(func(tx store.Tx) error {
		all := slices.Clone(committed)
		for _, f := range rest {
			got, err := tx.Append(f)
			if err != nil {
				return err
			}
			all = append(all, got)
		}
		checkWindows(t, tx, all, store.ByAddress, "a")
		checkWindows(t, tx, all, store.ByUser, "u1")
		checkWindows(t, tx, all, store.ByKind, "code.sent")
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestTimeNeverGoesBack(t *testing.T) {
	l := newLedger(t)
	late := appendFacts(t, l, store.Fact{Time: t0.Add(time.Hour), Kind: "k"})[0]
	got := appendFacts(t, l,
		store.Fact{Time: t0, Kind: "k"},
		store.Fact{Time: t0.Add(2 * time.Hour), Kind: "k"},
		store.Fact{Time: t0.Add(90 * time.Minute), Kind: "k"},
	)
	for i, want := range []time.Time{late.Time, t0.Add(2 * time.Hour), t0.Add(2 * time.Hour)} {
		if !got[i].Time.Equal(want) {
			t.Errorf("fact %d: time %v, want %v", got[i].Seq, got[i].Time, want)
		}
		back := view(t, l, func(r store.Reader) (store.Fact, error) { return r.Fact(got[i].Seq) })
		if !back.Time.Equal(want) {
			t.Errorf("fact %d reads back at %v, want %v", back.Seq, back.Time, want)
		}
	}
	// As of a time, a window is a prefix of the ledger.
	n := view(t, l, func(r store.Reader) (int, error) {
		return r.Count(store.ByKind, "k", store.Window{Until: t0.Add(time.Hour)})
	})
	if n != 2 {
		t.Errorf("as of t0+1h: %d facts, want 2", n)
	}
}

func TestInvalidFacts(t *testing.T) {
	l := newLedger(t)
	appendFacts(t, l, store.Fact{Time: t0, Kind: "k", User: "u"})
	for _, tc := range []struct {
		name string
		f    store.Fact
	}{
		{"no kind", store.Fact{Time: t0}},
		{"long kind", store.Fact{Time: t0, Kind: strings.Repeat("k", store.MaxKindLen+1)}},
		{"NUL in id", store.Fact{Time: t0, Kind: "k", User: "u\x00"}},
		{"long id", store.Fact{Time: t0, Kind: "k", Address: strings.Repeat("a", store.MaxIDLen+1)}},
		{"body not an object", store.Fact{Time: t0, Kind: "k", Body: json.RawMessage(`[1]`)}},
		{"body not JSON", store.Fact{Time: t0, Kind: "k", Body: json.RawMessage(`{"a":}`)}},
		{"body too big", store.Fact{Time: t0, Kind: "k", Body: json.RawMessage(`{"a":"` + strings.Repeat("x", store.MaxBodyLen) + `"}`)}},
		{"no time", store.Fact{Kind: "k"}},
		{"id not UTF-8", store.Fact{Time: t0, Kind: "k", Device: "d\xff"}},
		{"time beyond 2262", store.Fact{Time: time.Date(2300, 1, 1, 0, 0, 0, 0, time.UTC), Kind: "k"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := l.Update(func(tx store.Tx) error {
				_, err := tx.Append(tc.f)
				return err
			})
			if !errors.Is(err, store.ErrInvalidFact) {
				t.Errorf("Update returned %v, want ErrInvalidFact", err)
			}
			// A function that ignores the error commits nothing of it.
			err = l.Update(func(tx store.Tx) error {
				if _, err := tx.Append(tc.f); !errors.Is(err, store.ErrInvalidFact) {
					t.Errorf("Append returned %v, want ErrInvalidFact", err)
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if seq, _ := view2(t, l); seq != 1 {
				t.Errorf("head moved to %d", seq)
			}
		})
	}
	if err := l.Verify(); err != nil {
		t.Fatal(err)
	}
}

// TestConfirmRace is the flows' read-check-append: of 100 sessions racing
// to confirm one address, exactly one may win.
func TestConfirmRace(t *testing.T) {
	l := newLedger(t)
	const racers = 100
	confirmed := store.Window{Kinds: []string{"address.confirmed"}}
	wins := make([]bool, racers)
	var wg sync.WaitGroup
	for i := range racers {
		wg.Go(func() {
			err := l.Update(func(tx store.Tx) error {
				wins[i] = false
				n, err := tx.Count(store.ByAddress, "X", confirmed)
				if err != nil || n > 0 {
					return err
				}
				// Noise, so that batches mix kinds and ids.
				if _, err := tx.Append(store.Fact{Time: t0, Kind: "address.code_entered", Address: "X", User: fmt.Sprintf("U%d", i)}); err != nil {
					return err
				}
				_, err = tx.Append(store.Fact{Time: t0, Kind: "address.confirmed", Address: "X", User: fmt.Sprintf("U%d", i)})
				wins[i] = err == nil
				return err
			})
			if err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	winners := 0
	for _, w := range wins {
		if w {
			winners++
		}
	}
	n := view(t, l, func(r store.Reader) (int, error) { return r.Count(store.ByAddress, "X", confirmed) })
	if winners != 1 || n != 1 {
		t.Errorf("%d winners, %d confirmations; want 1 and 1", winners, n)
	}
	if err := l.Verify(); err != nil {
		t.Fatal(err)
	}
}

// TestFailingFunctionInBusyBatch: functions that fail or panic amid
// concurrent appends leave no trace, and everyone else's facts land.
func TestFailingFunctionInBusyBatch(t *testing.T) {
	l := newLedger(t)
	errNo := errors.New("changed my mind")
	const writers, rounds = 16, 40
	var wg sync.WaitGroup
	var mu sync.Mutex
	landed := map[uint64]string{}
	for w := range writers {
		wg.Go(func() {
			for i := range rounds {
				user := fmt.Sprintf("w%d-%d", w, i)
				var got store.Fact
				err := l.Update(func(tx store.Tx) (err error) {
					got, err = tx.Append(store.Fact{Time: t0, Kind: "ok", User: user})
					return err
				})
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				landed[got.Seq] = user
				mu.Unlock()
			}
		})
	}
	for i := range rounds {
		wg.Go(func() {
			err := l.Update(func(tx store.Tx) error {
				for j := range 3 {
					if _, err := tx.Append(store.Fact{Time: t0, Kind: "doomed", User: fmt.Sprintf("f%d-%d", i, j)}); err != nil {
						return err
					}
				}
				if i%2 == 1 {
					panic("doomed")
				}
				return errNo
			})
			if i%2 == 0 && err != errNo {
				t.Errorf("failing function: Update returned %v, want its own error", err)
			}
			if i%2 == 1 && (err == nil || !strings.Contains(err.Error(), "panicked")) {
				t.Errorf("panicking function: Update returned %v", err)
			}
		})
	}
	wg.Wait()

	all := view(t, l, func(r store.Reader) ([]store.Fact, error) { return allOf(r, 0) })
	if len(all) != writers*rounds {
		t.Errorf("ledger holds %d facts, want %d", len(all), writers*rounds)
	}
	for _, f := range all {
		if f.Kind != "ok" || landed[f.Seq] != f.User {
			t.Errorf("fact %d is %s for %s, want ok for %s", f.Seq, f.Kind, f.User, landed[f.Seq])
		}
	}
	if n := view(t, l, func(r store.Reader) (int, error) { return r.Count(store.ByKind, "doomed", store.Window{}) }); n != 0 {
		t.Errorf("%d doomed facts indexed", n)
	}
	if err := l.Verify(); err != nil {
		t.Fatal(err)
	}
	t.Logf("%+v", l.Stats())
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

func TestOverlay(t *testing.T) {
	l := newLedger(t)
	base := appendFacts(t, l, store.Fact{Time: t0, Kind: "address.code_sent", Address: "A", User: "U"})[0]

	err := l.Update(func(tx store.Tx) error {
		f, err := tx.Append(store.Fact{Time: t0.Add(time.Minute), Kind: "address.confirmed", Address: "A", User: "U", Ticket: "T"})
		if err != nil {
			return err
		}
		if seq, at, _ := tx.Head(); seq != 2 || !at.Equal(f.Time) {
			t.Errorf("Head: %d at %v, want 2 at %v", seq, at, f.Time)
		}
		if got, err := tx.Fact(2); err != nil || !reflect.DeepEqual(got, f) {
			t.Errorf("Fact(2) = %+v, %v; want %+v", got, err, f)
		}
		if got, err := tx.Fact(1); err != nil || !reflect.DeepEqual(got, base) {
			t.Errorf("Fact(1) = %+v, %v; want %+v", got, err, base)
		}
		if _, err := tx.Fact(3); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("Fact(3): %v, want ErrNotFound", err)
		}
		if n, _ := tx.Count(store.ByAddress, "A", store.Window{Kinds: []string{"address.confirmed"}}); n != 1 {
			t.Errorf("Count of confirmations %d, want 1", n)
		}
		if n, _ := tx.Count(store.ByTicket, "T", store.Window{Since: t0.Add(time.Minute)}); n != 1 {
			t.Errorf("Count by ticket since %d, want 1", n)
		}
		es, _ := entriesOf(tx, store.ByUser, "U", store.Window{Reverse: true})
		if !slices.Equal(entrySeqs(es), []uint64{2, 1}) {
			t.Errorf("Entries reversed %v, want [2 1]", entrySeqs(es))
		}
		fs, _ := factsOf(tx, store.ByAddress, "A", store.Window{})
		if !slices.Equal(factSeqs(fs), []uint64{1, 2}) || !reflect.DeepEqual(fs[1], f) {
			t.Errorf("Facts %v", fs)
		}
		all, _ := allOf(tx, 2)
		if len(all) != 1 || !reflect.DeepEqual(all[0], f) {
			t.Errorf("All(2) = %v", all)
		}
		// A second append chains onto the staged one.
		g, err := tx.Append(store.Fact{Time: t0, Kind: "k"})
		if err != nil {
			return err
		}
		enc, _ := json.Marshal(f)
		if sum := sha256.Sum256(enc); g.Seq != 3 || g.Prev != hex.EncodeToString(sum[:]) || !g.Time.Equal(f.Time) {
			t.Errorf("second staged fact %+v does not follow %+v", g, f)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	// Within one batch: what a failing function staged is invisible to
	// the next function, which continues the chain from before it.
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

func TestClose(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "attest.db")
	l, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	// Updates racing Close either land durably or get ErrClosed.
	var wg sync.WaitGroup
	var mu sync.Mutex
	landed := map[uint64]string{}
	first := make(chan struct{})
	var once sync.Once
	for i := range 50 {
		wg.Go(func() {
			defer once.Do(func() { close(first) })
			user := fmt.Sprint("u", i)
			var f store.Fact
			err := l.Update(func(tx store.Tx) (err error) {
				f, err = tx.Append(store.Fact{Time: t0, Kind: "k", User: user})
				return err
			})
			switch {
			case err == nil:
				mu.Lock()
				landed[f.Seq] = user
				mu.Unlock()
			case !errors.Is(err, store.ErrClosed):
				t.Error(err)
			}
		})
	}
	<-first
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	if err := l.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if err := l.Update(func(store.Tx) error { return nil }); !errors.Is(err, store.ErrClosed) {
		t.Errorf("Update after Close: %v", err)
	}
	if err := l.View(func(store.Reader) error { return nil }); !errors.Is(err, store.ErrClosed) {
		t.Errorf("View after Close: %v", err)
	}
	if err := l.Verify(); !errors.Is(err, store.ErrClosed) {
		t.Errorf("Verify after Close: %v", err)
	}

	l, err = Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	all := view(t, l, func(r store.Reader) ([]store.Fact, error) { return allOf(r, 0) })
	if len(all) != len(landed) {
		t.Errorf("%d facts after reopening, %d acknowledged", len(all), len(landed))
	}
	for _, f := range all {
		if landed[f.Seq] != f.User {
			t.Errorf("fact %d for %s, acknowledged for %q", f.Seq, f.User, landed[f.Seq])
		}
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
