// Package storetest is the store contract's conformance suite: every
// ledger implementation runs it (store/bolt and store/postgres do, in
// their tests), so that the flows above behave the same on either.
package storetest

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/attest-dev/attest/store"
)

// T0 is the suite's clock: every time is built from it, none is read.
var T0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// Fresh makes a new, empty ledger for one test and returns how to open
// it: each call of open opens that same ledger (after the previous one
// was closed). The ledger must also be a store.Maintainer.
type Fresh func(t *testing.T) (open func() (store.Ledger, error))

// Run runs the suite.
func Run(t *testing.T, fresh Fresh) {
	for _, tc := range []struct {
		name string
		fn   func(*testing.T, Fresh)
	}{
		{"RoundTrip", testRoundTrip},
		{"EmptyLedger", testEmptyLedger},
		{"Windows", testWindows},
		{"WindowsOverlay", testWindowsOverlay},
		{"TimeNeverGoesBack", testTimeNeverGoesBack},
		{"InvalidFacts", testInvalidFacts},
		{"ConfirmRace", testConfirmRace},
		{"FailingFunctionInBusyBatch", testFailingFunctionInBusyBatch},
		{"Overlay", testOverlay},
		{"Close", testClose},
	} {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, fresh) })
	}
}

// Open opens a fresh ledger, closed when the test ends.
func Open(t *testing.T, fresh Fresh) store.Ledger {
	t.Helper()
	l, err := fresh(t)()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// Verify runs the ledger's own Verify.
func Verify(t testing.TB, l store.Ledger) {
	t.Helper()
	m, ok := l.(store.Maintainer)
	if !ok {
		t.Fatalf("%T is not a store.Maintainer", l)
	}
	if err := m.Verify(); err != nil {
		t.Fatal(err)
	}
}

// AppendFacts appends fs in one update and returns them as stored.
func AppendFacts(tb testing.TB, l store.Ledger, fs ...store.Fact) []store.Fact {
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

// View runs fn in a View and returns its value.
func View[T any](tb testing.TB, l store.Ledger, fn func(r store.Reader) (T, error)) T {
	tb.Helper()
	var v T
	if err := l.View(func(r store.Reader) (err error) { v, err = fn(r); return err }); err != nil {
		tb.Fatal(err)
	}
	return v
}

// EntriesOf, FactsOf and AllOf collect what a Reader yields.
func EntriesOf(r store.Reader, ix store.Index, id string, w store.Window) ([]store.Entry, error) {
	var es []store.Entry
	err := r.Entries(ix, id, w, func(e store.Entry) bool { es = append(es, e); return true })
	return es, err
}

func FactsOf(r store.Reader, ix store.Index, id string, w store.Window) ([]store.Fact, error) {
	var fs []store.Fact
	err := r.Facts(ix, id, w, func(f store.Fact) bool { fs = append(fs, f); return true })
	return fs, err
}

func AllOf(r store.Reader, from uint64) ([]store.Fact, error) {
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

// EntrySeqs and FactSeqs are the sequence numbers of what they are given.
func EntrySeqs(es []store.Entry) []uint64 {
	return seqs(es, func(e store.Entry) uint64 { return e.Seq })
}
func FactSeqs(fs []store.Fact) []uint64 { return seqs(fs, func(f store.Fact) uint64 { return f.Seq }) }

// Head reads the ledger's head.
func Head(tb testing.TB, l store.Ledger) (seq uint64, at time.Time) {
	tb.Helper()
	if err := l.View(func(r store.Reader) (err error) { seq, at, err = r.Head(); return err }); err != nil {
		tb.Fatal(err)
	}
	return seq, at
}

func link(tb testing.TB, f store.Fact) string {
	enc, err := store.Encode(&f)
	if err != nil {
		tb.Fatal(err)
	}
	return store.Link(enc)
}

func testRoundTrip(t *testing.T, fresh Fresh) {
	l := Open(t, fresh)
	in := []store.Fact{
		{Time: T0, Kind: "address.code_sent", User: "u1", Device: "d1", Address: "a1", Ticket: "t1",
			Body: json.RawMessage("{ \"channel\": \"email\",  \"note\": \"<b>&amp;\u2028 \\u2029\" }")},
		{Time: T0.Add(time.Second).In(time.FixedZone("X", 3600)), Kind: "address.confirmed", User: "u1", Address: "a1"},
		{Time: T0.Add(2 * time.Second), Kind: "device.seen", Device: "d1"},
		{Time: T0.Add(3 * time.Second), Kind: "ticket.used", Ticket: "t1", Body: json.RawMessage(`{}`)},
	}
	got := AppendFacts(t, l, in...)
	for i, f := range got {
		if f.Seq != uint64(i+1) {
			t.Errorf("fact %d: seq %d", i, f.Seq)
		}
		if f.Time.Location() != time.UTC || !f.Time.Equal(in[i].Time) {
			t.Errorf("fact %d: time %v, want %v in UTC", f.Seq, f.Time, in[i].Time)
		}
		back := View(t, l, func(r store.Reader) (store.Fact, error) { return r.Fact(f.Seq) })
		if !reflect.DeepEqual(back, f) {
			t.Errorf("fact %d reads back as\n%+v\nAppend returned\n%+v", f.Seq, back, f)
		}
		if i == 0 && f.Prev != "" {
			t.Errorf("first fact's prev %q, want empty", f.Prev)
		}
		if i > 0 && f.Prev != link(t, got[i-1]) {
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
		es := View(t, l, func(r store.Reader) ([]store.Entry, error) { return EntriesOf(r, tc.ix, tc.id, store.Window{}) })
		fs := View(t, l, func(r store.Reader) ([]store.Fact, error) { return FactsOf(r, tc.ix, tc.id, store.Window{}) })
		n := View(t, l, func(r store.Reader) (int, error) { return r.Count(tc.ix, tc.id, store.Window{}) })
		if !slices.Equal(EntrySeqs(es), tc.want) || !slices.Equal(FactSeqs(fs), tc.want) || n != len(tc.want) {
			t.Errorf("%s %q: entries %v, facts %v, count %d; want %v", tc.ix, tc.id, EntrySeqs(es), FactSeqs(fs), n, tc.want)
		}
		for i, e := range es {
			f := got[e.Seq-1]
			if !e.Time.Equal(f.Time) || e.Kind != f.Kind || !reflect.DeepEqual(fs[i], f) {
				t.Errorf("%s %q: entry %+v / fact %+v, want %+v", tc.ix, tc.id, e, fs[i], f)
			}
		}
	}
	all := View(t, l, func(r store.Reader) ([]store.Fact, error) { return AllOf(r, 0) })
	if !reflect.DeepEqual(all, got) {
		t.Errorf("All(0) = %v, want %v", FactSeqs(all), FactSeqs(got))
	}
	from3 := View(t, l, func(r store.Reader) ([]store.Fact, error) { return AllOf(r, 3) })
	if !slices.Equal(FactSeqs(from3), []uint64{3, 4}) {
		t.Errorf("All(3) = %v", FactSeqs(from3))
	}
	if seq, at := Head(t, l); seq != 4 || !at.Equal(got[3].Time) {
		t.Errorf("head %d at %v, want 4 at %v", seq, at, got[3].Time)
	}
	if err := l.View(func(r store.Reader) error { _, err := r.Fact(5); return err }); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Fact(5) error %v, want ErrNotFound", err)
	}
	if err := l.View(func(r store.Reader) error { _, err := r.Count(store.Index(99), "x", store.Window{}); return err }); err == nil {
		t.Error("Count on an unknown index succeeded")
	}
	Verify(t, l)
}

func testEmptyLedger(t *testing.T, fresh Fresh) {
	l := Open(t, fresh)
	if seq, at := Head(t, l); seq != 0 || !at.IsZero() {
		t.Errorf("head of an empty ledger: %d at %v", seq, at)
	}
	if all := View(t, l, func(r store.Reader) ([]store.Fact, error) { return AllOf(r, 0) }); len(all) != 0 {
		t.Errorf("All on an empty ledger: %v", all)
	}
	Verify(t, l)
}

// WindowFixture is one address's history: a fact a minute from T0, kinds
// cycling through three, plus noise on other ids around it.
func WindowFixture() []store.Fact {
	kinds := []string{"code.sent", "code.entered", "address.confirmed"}
	var fs []store.Fact
	for i := 0; i < 30; i++ {
		at := T0.Add(time.Duration(i) * time.Minute)
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
	times := []time.Time{{}, T0.Add(-time.Hour), T0, T0.Add(10 * time.Minute), T0.Add(10*time.Minute + time.Second), T0.Add(29 * time.Minute), T0.Add(time.Hour)}
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

// Expect is the brute-force answer: filter with Window.Matches, order,
// limit.
func Expect(fs []store.Fact, ix store.Index, id string, w store.Window) []uint64 {
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

// CheckWindows compares r's Entries, Facts and Count with Expect for
// every window.
func CheckWindows(t *testing.T, r store.Reader, all []store.Fact, ix store.Index, id string) {
	t.Helper()
	for _, w := range windows() {
		want := Expect(all, ix, id, w)
		es, err := EntriesOf(r, ix, id, w)
		if err != nil {
			t.Fatal(err)
		}
		fs, err := FactsOf(r, ix, id, w)
		if err != nil {
			t.Fatal(err)
		}
		n, err := r.Count(ix, id, w)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(EntrySeqs(es), want) || !slices.Equal(FactSeqs(fs), want) || n != len(want) {
			t.Fatalf("%s %q window %+v:\nentries %v\nfacts   %v\ncount   %d\nwant    %v",
				ix, id, w, EntrySeqs(es), FactSeqs(fs), n, want)
		}
	}
}

// CheckFixtureWindows runs CheckWindows on the ids WindowFixture sets.
func CheckFixtureWindows(t *testing.T, r store.Reader, all []store.Fact) {
	t.Helper()
	CheckWindows(t, r, all, store.ByAddress, "a")
	CheckWindows(t, r, all, store.ByUser, "u1")
	CheckWindows(t, r, all, store.ByKind, "code.sent")
}

func testWindows(t *testing.T, fresh Fresh) {
	l := Open(t, fresh)
	all := AppendFacts(t, l, WindowFixture()...)
	// A View that failed would have checked nothing.
	if err := l.View(func(r store.Reader) error {
		CheckFixtureWindows(t, r, all)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

// testWindowsOverlay reads inside an update that has appended part of the
// history: it must answer exactly as a read of the committed whole does.
func testWindowsOverlay(t *testing.T, fresh Fresh) {
	fixture := WindowFixture()
	for _, split := range []int{0, 1, 40, len(fixture) - 1} {
		t.Run(fmt.Sprint(split), func(t *testing.T) {
			l := Open(t, fresh)
			CheckOverlay(t, l, AppendFacts(t, l, fixture[:split]...), fixture[split:])
		})
	}
}

// CheckOverlay appends rest in one update and, inside it, checks every
// window against committed followed by what it appended.
func CheckOverlay(t *testing.T, l store.Ledger, committed, rest []store.Fact) {
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
		CheckFixtureWindows(t, tx, all)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func testTimeNeverGoesBack(t *testing.T, fresh Fresh) {
	l := Open(t, fresh)
	late := AppendFacts(t, l, store.Fact{Time: T0.Add(time.Hour), Kind: "k"})[0]
	got := AppendFacts(t, l,
		store.Fact{Time: T0, Kind: "k"},
		store.Fact{Time: T0.Add(2 * time.Hour), Kind: "k"},
		store.Fact{Time: T0.Add(90 * time.Minute), Kind: "k"},
	)
	for i, want := range []time.Time{late.Time, T0.Add(2 * time.Hour), T0.Add(2 * time.Hour)} {
		if !got[i].Time.Equal(want) {
			t.Errorf("fact %d: time %v, want %v", got[i].Seq, got[i].Time, want)
		}
		back := View(t, l, func(r store.Reader) (store.Fact, error) { return r.Fact(got[i].Seq) })
		if !back.Time.Equal(want) {
			t.Errorf("fact %d reads back at %v, want %v", back.Seq, back.Time, want)
		}
	}
	// As of a time, a window is a prefix of the ledger.
	n := View(t, l, func(r store.Reader) (int, error) {
		return r.Count(store.ByKind, "k", store.Window{Until: T0.Add(time.Hour)})
	})
	if n != 2 {
		t.Errorf("as of T0+1h: %d facts, want 2", n)
	}
}

func testInvalidFacts(t *testing.T, fresh Fresh) {
	l := Open(t, fresh)
	AppendFacts(t, l, store.Fact{Time: T0, Kind: "k", User: "u"})
	for _, tc := range []struct {
		name string
		f    store.Fact
	}{
		{"no kind", store.Fact{Time: T0}},
		{"long kind", store.Fact{Time: T0, Kind: strings.Repeat("k", store.MaxKindLen+1)}},
		{"NUL in id", store.Fact{Time: T0, Kind: "k", User: "u\x00"}},
		{"long id", store.Fact{Time: T0, Kind: "k", Address: strings.Repeat("a", store.MaxIDLen+1)}},
		{"body not an object", store.Fact{Time: T0, Kind: "k", Body: json.RawMessage(`[1]`)}},
		{"body not JSON", store.Fact{Time: T0, Kind: "k", Body: json.RawMessage(`{"a":}`)}},
		{"body too big", store.Fact{Time: T0, Kind: "k", Body: json.RawMessage(`{"a":"` + strings.Repeat("x", store.MaxBodyLen) + `"}`)}},
		{"no time", store.Fact{Kind: "k"}},
		{"id not UTF-8", store.Fact{Time: T0, Kind: "k", Device: "d\xff"}},
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
			if seq, _ := Head(t, l); seq != 1 {
				t.Errorf("head moved to %d", seq)
			}
		})
	}
	Verify(t, l)
}

// ConfirmRace is the flows' read-check-append: of 100 sessions racing to
// confirm one address, spread over the given ledgers (two ledgers on one
// database are two servers), exactly one may win.
func ConfirmRace(t *testing.T, ls ...store.Ledger) {
	t.Helper()
	const racers = 100
	confirmed := store.Window{Kinds: []string{"address.confirmed"}}
	wins := make([]bool, racers)
	var wg sync.WaitGroup
	for i := range racers {
		l := ls[i%len(ls)]
		wg.Go(func() {
			err := l.Update(func(tx store.Tx) error {
				wins[i] = false
				n, err := tx.Count(store.ByAddress, "X", confirmed)
				if err != nil || n > 0 {
					return err
				}
				// Noise, so that batches mix kinds and ids.
				if _, err := tx.Append(store.Fact{Time: T0, Kind: "address.code_entered", Address: "X", User: fmt.Sprintf("U%d", i)}); err != nil {
					return err
				}
				_, err = tx.Append(store.Fact{Time: T0, Kind: "address.confirmed", Address: "X", User: fmt.Sprintf("U%d", i)})
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
	for _, l := range ls {
		n := View(t, l, func(r store.Reader) (int, error) { return r.Count(store.ByAddress, "X", confirmed) })
		if winners != 1 || n != 1 {
			t.Errorf("%d winners, %d confirmations; want 1 and 1", winners, n)
		}
		Verify(t, l)
	}
}

func testConfirmRace(t *testing.T, fresh Fresh) { ConfirmRace(t, Open(t, fresh)) }

// testFailingFunctionInBusyBatch: functions that fail or panic amid
// concurrent appends leave no trace, and everyone else's facts land.
func testFailingFunctionInBusyBatch(t *testing.T, fresh Fresh) {
	l := Open(t, fresh)
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
					got, err = tx.Append(store.Fact{Time: T0, Kind: "ok", User: user})
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
					if _, err := tx.Append(store.Fact{Time: T0, Kind: "doomed", User: fmt.Sprintf("f%d-%d", i, j)}); err != nil {
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
	all := View(t, l, func(r store.Reader) ([]store.Fact, error) { return AllOf(r, 0) })
	if len(all) != writers*rounds {
		t.Errorf("ledger holds %d facts, want %d", len(all), writers*rounds)
	}
	for _, f := range all {
		if f.Kind != "ok" || landed[f.Seq] != f.User {
			t.Errorf("fact %d is %s for %s, want ok for %s", f.Seq, f.Kind, f.User, landed[f.Seq])
		}
	}
	if n := View(t, l, func(r store.Reader) (int, error) { return r.Count(store.ByKind, "doomed", store.Window{}) }); n != 0 {
		t.Errorf("%d doomed facts indexed", n)
	}
	Verify(t, l)
}

// testOverlay reads, inside an update, what the same function appended.
func testOverlay(t *testing.T, fresh Fresh) {
	l := Open(t, fresh)
	base := AppendFacts(t, l, store.Fact{Time: T0, Kind: "address.code_sent", Address: "A", User: "U"})[0]
	err := l.Update(func(tx store.Tx) error {
		f, err := tx.Append(store.Fact{Time: T0.Add(time.Minute), Kind: "address.confirmed", Address: "A", User: "U", Ticket: "T"})
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
		if n, _ := tx.Count(store.ByTicket, "T", store.Window{Since: T0.Add(time.Minute)}); n != 1 {
			t.Errorf("Count by ticket since %d, want 1", n)
		}
		es, _ := EntriesOf(tx, store.ByUser, "U", store.Window{Reverse: true})
		if !slices.Equal(EntrySeqs(es), []uint64{2, 1}) {
			t.Errorf("Entries reversed %v, want [2 1]", EntrySeqs(es))
		}
		fs, _ := FactsOf(tx, store.ByAddress, "A", store.Window{})
		if !slices.Equal(FactSeqs(fs), []uint64{1, 2}) || !reflect.DeepEqual(fs[1], f) {
			t.Errorf("Facts %v", fs)
		}
		all, _ := AllOf(tx, 2)
		if len(all) != 1 || !reflect.DeepEqual(all[0], f) {
			t.Errorf("All(2) = %v", all)
		}
		// A second append chains onto the first.
		g, err := tx.Append(store.Fact{Time: T0, Kind: "k"})
		if err != nil {
			return err
		}
		if g.Seq != 3 || g.Prev != link(t, f) || !g.Time.Equal(f.Time) {
			t.Errorf("second appended fact %+v does not follow %+v", g, f)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	Verify(t, l)
}

// testClose: updates racing Close either land durably or get ErrClosed,
// and what landed is there when the ledger is opened again.
func testClose(t *testing.T, fresh Fresh) {
	open := fresh(t)
	l, err := open()
	if err != nil {
		t.Fatal(err)
	}
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
				f, err = tx.Append(store.Fact{Time: T0, Kind: "k", User: user})
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
	if err := l.(store.Maintainer).Verify(); !errors.Is(err, store.ErrClosed) {
		t.Errorf("Verify after Close: %v", err)
	}
	l, err = open()
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	all := View(t, l, func(r store.Reader) ([]store.Fact, error) { return AllOf(r, 0) })
	if len(all) != len(landed) {
		t.Errorf("%d facts after reopening, %d acknowledged", len(all), len(landed))
	}
	for _, f := range all {
		if landed[f.Seq] != f.User {
			t.Errorf("fact %d for %s, acknowledged for %q", f.Seq, f.User, landed[f.Seq])
		}
	}
}
