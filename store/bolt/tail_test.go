package bolt

import (
	"fmt"
	"math"
	"path/filepath"
	"slices"
	"testing"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/attest-dev/attest/store"
)

func TestTailAddTruncateTrim(t *testing.T) {
	tl := newTail(10)
	for seq := uint64(11); seq <= 16; seq++ {
		tf := tailFact{time: int64(seq)}
		tf.ids[store.ByUser] = fmt.Sprint("u", seq%2)
		tf.ids[store.ByKind] = "k"
		tl.add(seq, tf)
	}
	seqsOf := func(ix store.Index, id string, lo, hi uint64) ([]uint64, bool) {
		es, ok := tl.match(nil, ix, id, lo, hi, math.MinInt64, math.MaxInt64, nil)
		var out []uint64
		for _, e := range es {
			out = append(out, e.seq)
		}
		return out, ok
	}
	if got, _ := seqsOf(store.ByUser, "u1", 10, 16); !slices.Equal(got, []uint64{11, 13, 15}) {
		t.Errorf("u1: %v", got)
	}
	if got, _ := seqsOf(store.ByUser, "u0", 12, 15); !slices.Equal(got, []uint64{14}) {
		t.Errorf("u0 in (12, 15]: %v", got)
	}

	tl.truncate(13) // a failed batch of 14 to 16
	if tl.last() != 13 {
		t.Errorf("last %d after truncate(13)", tl.last())
	}
	if got, _ := seqsOf(store.ByUser, "u0", 10, 99); !slices.Equal(got, []uint64{12}) {
		t.Errorf("u0 after truncate: %v", got)
	}

	tl.trim(12) // a merge up to 12
	if _, ok := seqsOf(store.ByUser, "u1", 10, 13); ok {
		t.Error("a reader from before the merge was answered from a trimmed tail")
	}
	if got, ok := seqsOf(store.ByUser, "u1", 12, 13); !ok || !slices.Equal(got, []uint64{13}) {
		t.Errorf("u1 after trim: %v %t", got, ok)
	}
	if _, ok := tl.ids[store.ByUser]["u0"]; ok {
		t.Error("an id with no facts left is still held")
	}
	tl.add(14, tailFact{ids: [len(indexBuckets)]string{store.ByKind: "k"}})
	if got, _ := seqsOf(store.ByKind, "k", 12, 14); !slices.Equal(got, []uint64{13, 14}) {
		t.Errorf("kind after add: %v", got)
	}
}

func TestRecentRecordRoundTrip(t *testing.T) {
	f := store.Fact{Seq: 9, Time: t0, Kind: "code.sent", User: "u", Address: "ä€😀", Ticket: string(make([]byte, store.MaxIDLen))}
	tf := tailFactOf(&f)
	got, err := decodeRecent(encodeRecent(&tf))
	if err != nil || got != tf {
		t.Fatalf("round trip: %+v, %v; want %+v", got, err, tf)
	}
	enc := encodeRecent(&tf)
	for _, bad := range [][]byte{nil, enc[:7], enc[:len(enc)-1], append(slices.Clone(enc), 0)} {
		if _, err := decodeRecent(bad); err == nil {
			t.Errorf("decoded %x", bad)
		}
	}
}

// TestWindowsAcrossLevels appends the window fixture in updates of
// varying sizes with a level 0 of 16 facts, so that an id's entries are
// split between the index buckets and level 0 at every point, and checks
// every window before and after reopening: after a close that left level
// 0 as a crash does (the reopen loads it from its records), and after a
// proper Close (which merges it).
func TestWindowsAcrossLevels(t *testing.T) {
	path := filepath.Join(t.TempDir(), "attest.db")
	l, err := Open(path, Options{Tail: 16})
	if err != nil {
		t.Fatal(err)
	}
	fixture := windowFixture()
	var all []store.Fact
	for i, n := 0, 1; i < len(fixture); i, n = i+n, n%7+1 {
		all = append(all, appendFacts(t, l, fixture[i:min(i+n, len(fixture))]...)...)
		l.View(func(r store.Reader) error {
			checkWindows(t, r, all, store.ByAddress, "a")
			return nil
		})
	}
	if l.Stats().Merges < 4 {
		t.Fatalf("%d merges; the test needs several", l.Stats().Merges)
	}
	check := func(l *Ledger, settled bool) {
		t.Helper()
		least := l.marks.least().seq
		if settled && (least != uint64(len(all)) || l.tail.len() != 0) {
			t.Fatalf("least mark at %d of %d facts, %d in level 0: Close left level 0 unmerged", least, len(all), l.tail.len())
		}
		if !settled && (least == 0 || least == uint64(len(all))) {
			t.Fatalf("least mark at %d of %d facts: one level is empty", least, len(all))
		}
		l.View(func(r store.Reader) error {
			checkWindows(t, r, all, store.ByAddress, "a")
			checkWindows(t, r, all, store.ByUser, "u1")
			checkWindows(t, r, all, store.ByKind, "code.sent")
			return nil
		})
		if err := l.Verify(); err != nil {
			t.Fatal(err)
		}
	}
	check(l, false)
	// Closed as a crash leaves it: the next Open loads level 0.
	if err := l.close(false); err != nil {
		t.Fatal(err)
	}
	if l, err = Open(path, Options{Tail: 16}); err != nil {
		t.Fatal(err)
	}
	check(l, false)
	// Closed properly: level 0 is merged, and the next Open has none.
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if l, err = Open(path, Options{Tail: 16}); err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	check(l, true)
}

// TestWindowsOverlayAcrossLevels is TestWindowsOverlay with a committed
// part that spans both levels.
func TestWindowsOverlayAcrossLevels(t *testing.T) {
	fixture := windowFixture()
	l := newLedgerWith(t, Options{Tail: 16})
	committed := appendFacts(t, l, fixture[:20]...)
	committed = append(committed, appendFacts(t, l, fixture[20:40]...)...)
	if least := l.marks.least().seq; least == 0 || least == 40 {
		t.Fatalf("least mark at %d of 40", least)
	}
	checkOverlay(t, l, committed, fixture[40:])
}

// A read transaction that began before a merge still sees its snapshot
// exactly, though the tail no longer holds the facts the merge moved: it
// reads its snapshot's level 0 records instead.
func TestSnapshotOlderThanMerge(t *testing.T) {
	// The open read transaction would stall a commit that grows the map.
	l := newLedgerWith(t, Options{Tail: 16, InitialMmapSize: 16 << 20})
	fixture := windowFixture()
	before := appendFacts(t, l, fixture[:10]...)
	var old store.Reader
	release := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		l.View(func(r store.Reader) error {
			old = r
			if _, err := r.Count(store.ByAddress, "a", store.Window{}); err != nil {
				t.Error(err)
			}
			release <- struct{}{}
			<-release
			checkWindows(t, r, before, store.ByAddress, "a")
			checkWindows(t, r, before, store.ByKind, "code.sent")
			return nil
		})
	}()
	<-release
	// Two merges: the tail keeps what the last one moved.
	after := appendFacts(t, l, fixture[10:50]...)
	after = append(after, appendFacts(t, l, fixture[50:]...)...)
	if l.tail.after <= 10 {
		t.Fatalf("no merge past the old snapshot: the tail starts after %d", l.tail.after)
	}
	if r := old.(*reader); r.markOf(store.ByAddress, "a").seq != 0 {
		t.Fatalf("the old snapshot's mark for \"a\" is %d, want 0", r.markOf(store.ByAddress, "a").seq)
	}
	release <- struct{}{}
	<-finished
	l.View(func(r store.Reader) error {
		checkWindows(t, r, append(before, after...), store.ByAddress, "a")
		return nil
	})
}

// A ledger written before level 0 existed holds every fact in its index
// buckets; Open upgrades it in place.
func TestOpenUpgradesFormat1(t *testing.T) {
	path := filepath.Join(t.TempDir(), "attest.db")
	l, err := Open(path, Options{Tail: 1})
	if err != nil {
		t.Fatal(err)
	}
	all := appendFacts(t, l, windowFixture()...)
	if least := l.marks.least().seq; least != uint64(len(all)) {
		t.Fatalf("with Tail 1, the least mark is %d after %d facts", least, len(all))
	}
	l.Close()
	// Format 1: no marks, no level 0, no partition in index keys.
	tamper(t, path, func(tx *bbolt.Tx) error {
		meta := tx.Bucket(metaBucket)
		meta.Delete(indexedKey)
		meta.Put(formatKey, []byte(format1))
		for _, name := range indexBuckets[1:] {
			b := tx.Bucket(name)
			var kvs [][2][]byte
			b.ForEach(func(k, v []byte) error {
				kvs = append(kvs, [2][]byte{slices.Clone(k), slices.Clone(v)})
				return nil
			})
			for _, kv := range kvs {
				b.Delete(kv[0])
				b.Put(kv[0][1:], kv[1])
			}
		}
		return tx.DeleteBucket(recentBucket)
	})
	l, err = Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if err := l.Verify(); err != nil {
		t.Fatal(err)
	}
	more := appendFacts(t, l, store.Fact{Time: t0.Add(time.Hour), Kind: "code.sent", Address: "a"})
	l.View(func(r store.Reader) error {
		checkWindows(t, r, append(all, more...), store.ByAddress, "a")
		return nil
	})
	if err := l.Verify(); err != nil {
		t.Fatal(err)
	}
}

// Readers running while writers append and partitions merge see, in each
// snapshot, exactly the entries a walk over that snapshot's facts finds,
// wherever those entries are: index buckets, the tail, or (for a snapshot
// older than a merge) its own level 0 records.
func TestReadersDuringMerges(t *testing.T) {
	l := newLedgerWith(t, Options{Tail: 8, InitialMmapSize: 64 << 20})
	stop := make(chan struct{})
	writers := make(chan error, 4)
	for g := range 4 {
		go func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					writers <- nil
					return
				default:
				}
				f := store.Fact{Time: t0.Add(time.Duration(i) * time.Second), Kind: "code.sent",
					Address: fmt.Sprintf("a%d", i%5), User: fmt.Sprintf("u%d", (i+g)%3)}
				if err := l.Update(func(tx store.Tx) error { _, err := tx.Append(f); return err }); err != nil {
					writers <- err
					return
				}
			}
		}()
	}
	for check := range 100 {
		err := l.View(func(r store.Reader) error {
			want := map[string][]uint64{}
			if err := r.All(1, func(f store.Fact) bool {
				want[f.Address] = append(want[f.Address], f.Seq)
				return true
			}); err != nil {
				return err
			}
			// Have two merges commit while this snapshot is open: the
			// tail keeps what the last one moved.
			before := l.Stats().Merges
			for n := 0; l.Stats().Merges < before+2; n++ {
				f := store.Fact{Time: t0, Kind: "code.sent", Address: fmt.Sprintf("b%d", n)}
				if err := l.Update(func(tx store.Tx) error { _, err := tx.Append(f); return err }); err != nil {
					return err
				}
			}
			for i := range 5 {
				id := fmt.Sprintf("a%d", i)
				es, err := entriesOf(r, store.ByAddress, id, store.Window{})
				if err != nil {
					return err
				}
				if got := entrySeqs(es); !slices.Equal(got, want[id]) && !(len(got) == 0 && len(want[id]) == 0) {
					return fmt.Errorf("check %d, %s: entries %v, facts %v", check, id, got, want[id])
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	for range 4 {
		if err := <-writers; err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Verify(); err != nil {
		t.Fatal(err)
	}
}

// Reindex while writers append and merge: it keeps the marks, so the
// writer's tail still mirrors level 0, and everything verifies after.
func TestReindexWhileAppending(t *testing.T) {
	l := newLedgerWith(t, Options{Tail: 8})
	done := make(chan error, 1)
	go func() {
		for i := range 600 {
			f := store.Fact{Time: t0, Kind: "code.sent", Address: fmt.Sprintf("a%d", i%7), User: fmt.Sprintf("u%d", i%11)}
			if err := l.Update(func(tx store.Tx) error { _, err := tx.Append(f); return err }); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	for range 5 {
		if err := l.Reindex(); err != nil {
			t.Fatal(err)
		}
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if err := l.Verify(); err != nil {
		t.Fatal(err)
	}
	all := view(t, l, func(r store.Reader) ([]store.Fact, error) { return allOf(r, 1) })
	l.View(func(r store.Reader) error {
		for i := range 7 {
			id := fmt.Sprintf("a%d", i)
			es, err := entriesOf(r, store.ByAddress, id, store.Window{})
			if err != nil {
				t.Fatal(err)
			}
			if got, want := entrySeqs(es), expect(all, store.ByAddress, id, store.Window{}); !slices.Equal(got, want) {
				t.Errorf("%s: %v, want %v", id, got, want)
			}
		}
		return nil
	})
}
