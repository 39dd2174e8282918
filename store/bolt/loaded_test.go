package bolt

import (
	"fmt"
	"math"
	"math/rand/v2"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/attest-dev/attest/store"
	"github.com/attest-dev/attest/store/storetest"
)

// loadedFixture appends n facts in updates of 1,000, their ids drawn from
// pools small enough that most ids have several facts in level 0, some
// facts without an id in an index, and times spread over the windows of
// storetest.CheckWindows.
func loadedFixture(t *testing.T, l *Ledger, rng *rand.Rand, start, n int) []store.Fact {
	t.Helper()
	kinds := []string{"code.sent", "code.entered", "address.confirmed", "device.signed_in", "session.started"}
	var out []store.Fact
	for i := start; i < start+n; i += 1000 {
		var fs []store.Fact
		for j := i; j < min(i+1000, start+n); j++ {
			f := store.Fact{
				Time:    storetest.T0.Add(-50*time.Minute + time.Duration(j)*100*time.Millisecond),
				Kind:    kinds[rng.IntN(len(kinds))],
				User:    fmt.Sprint("u", rng.IntN(500)),
				Address: fmt.Sprint("a", rng.IntN(7000)),
			}
			if j%3 != 0 {
				f.Device = fmt.Sprint("d", rng.IntN(3000))
			}
			if j%5 == 0 {
				f.Ticket = fmt.Sprint("t", j)
			}
			fs = append(fs, f)
		}
		out = append(out, appendFacts(t, l, fs...)...)
	}
	return out
}

// level0Entries is every entry of the facts in (after, head] that level 0
// holds, by index and id, as tail answers.
func level0Entries(tl *tail, after, head uint64, all []store.Fact) map[store.Index]map[string][]entry {
	got := map[store.Index]map[string][]entry{}
	for _, ix := range store.Indexes {
		got[ix] = map[string][]entry{}
		for _, f := range all {
			id := f.ID(ix)
			if _, done := got[ix][id]; done || id == "" {
				continue
			}
			es, ok := tl.match(nil, ix, id, after, head, math.MinInt64, math.MaxInt64, nil)
			if !ok {
				panic("level 0 trimmed under the test")
			}
			got[ix][id] = es
		}
	}
	return got
}

// TestLoadedLevel0 crashes with a level 0 of thousands of facts, some of
// whose records are gone or damaged, and checks that reads are right
// while Open's goroutine reads level 0 back, that updates wait for it,
// that what it builds (its hash tables on several cores, see loadTail)
// holds exactly what the writer's tail held, and that it answers every
// window as facts are added after it, merged and trimmed past it.
func TestLoadedLevel0(t *testing.T) {
	// Several builders, on any machine.
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(4))
	path := filepath.Join(t.TempDir(), "attest.db")
	opts := Options{Tail: 8192}
	l, err := Open(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	all := loadedFixture(t, l, rng, 0, 20_000)
	head := uint64(len(all))
	if n := l.tail.len(); n < opts.Tail {
		t.Fatalf("level 0 holds %d facts, fewer than Tail", n)
	}
	// Open loads the facts after the least mark; the writer's tail may
	// still hold some before it (see commit).
	first := l.marks.least().seq + 1
	wantFacts := slices.Clone(l.tail.facts[first-l.tail.after-1:])
	want := level0Entries(l.tail, first-1, head, all)

	// A record missing near the start of level 0, one cut short near its
	// end and one with bytes to spare in between: each is read from its
	// fact.
	err = l.db.Update(func(tx *bbolt.Tx) error {
		b := tx.Bucket(recentBucket)
		if err := b.Delete(seqKey(first + 3)); err != nil {
			return err
		}
		if err := b.Put(seqKey(head-2), []byte{1, 2, 3}); err != nil {
			return err
		}
		mid := seqKey((first + head) / 2)
		return b.Put(mid, append(slices.Clone(b.Get(mid)), 0))
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := l.close(false); err != nil {
		t.Fatal(err)
	}

	// Open returns with level 0 still to load: held here, so that reads
	// meanwhile are checked (they read the records) and an update waits.
	hold := make(chan struct{})
	beforeLoad = func() { <-hold }
	defer func() { beforeLoad = nil }()
	if l, err = Open(path, opts); err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	var release sync.Once
	defer release.Do(func() { close(hold) }) // before Close, which waits for the load
	damaged := []uint64{first + 3, head - 2, (first + head) / 2}
	checkSome(t, l, all, damaged...)
	update := make(chan error, 1)
	var added store.Fact
	go func() {
		update <- l.Update(func(tx store.Tx) (err error) {
			added, err = tx.Append(store.Fact{Time: storetest.T0.Add(time.Hour), Kind: "k"})
			return err
		})
	}()
	checkSome(t, l, all, damaged...)
	select {
	case err := <-update:
		t.Fatalf("an update returned (%v) before level 0 was loaded", err)
	default:
	}
	release.Do(func() { close(hold) })
	if err := <-update; err != nil {
		t.Fatal(err)
	}
	all = append(all, added)
	<-l.loaded
	if l.tail.loaded == nil || l.tail.loaded.last != head || l.tail.after != first-1 {
		t.Fatalf("Open loaded level 0 after %d up to %d, want after %d up to %d", l.tail.after, l.tail.loadedLast(), first-1, head)
	}
	if len(l.tail.facts) != len(wantFacts)+1 {
		t.Fatalf("the tail holds %d facts, want the %d loaded and the one added", len(l.tail.facts), len(wantFacts))
	}
	for i := range wantFacts {
		if l.tail.facts[i] != wantFacts[i] {
			t.Fatalf("fact %d loaded as %+v, written as %+v", first+uint64(i), l.tail.facts[i], wantFacts[i])
		}
	}
	got := level0Entries(l.tail, first-1, head, all)
	for _, ix := range store.Indexes {
		for id, es := range want[ix] {
			if !slices.Equal(got[ix][id], es) {
				t.Fatalf("%s %q: loaded %v, written %v", ix, id, got[ix][id], es)
			}
		}
	}
	for _, ix := range store.Indexes {
		if es := l.tail.loaded.lookup(ix, "nobody"); es != nil {
			t.Fatalf("%s: an id no fact has was found in %v", ix, es)
		}
	}

	checkSome(t, l, all, damaged...)
	// Facts the writer adds go to the maps beside the loaded index, and
	// merges trim the tail past it.
	for range 4 {
		all = append(all, loadedFixture(t, l, rng, len(all), 5_000)...)
		checkSome(t, l, all)
	}
	if l.tail.loaded != nil {
		t.Fatalf("the loaded index is still held with the tail after %d", l.tail.after)
	}
}

// checkSome checks a few windows, on both sides of the loaded facts'
// times and across them, for the ids of old and new facts and of facts
// seqs: each read through a reader, against the brute-force answer.
func checkSome(t *testing.T, l *Ledger, all []store.Fact, seqs ...uint64) {
	t.Helper()
	T0 := storetest.T0
	windows := []store.Window{
		{},
		{Since: T0.Add(-20 * time.Minute)},
		{Since: T0.Add(-5 * time.Minute), Until: T0.Add(5 * time.Minute), Kinds: []string{"code.sent", "session.started"}},
		{Since: T0.Add(-40 * time.Minute), Reverse: true, Limit: 3},
		{Until: T0.Add(-30 * time.Minute), Limit: 2},
	}
	err := l.View(func(r store.Reader) error {
		n := uint64(len(all))
		for _, seq := range append(seqs, n, n-n/5, n/2, n/4+1) {
			f := all[seq-1]
			for _, ix := range store.Indexes {
				id := f.ID(ix)
				if id == "" {
					continue
				}
				for _, w := range windows {
					es, err := storetest.EntriesOf(r, ix, id, w)
					if err != nil {
						return err
					}
					if got, want := storetest.EntrySeqs(es), storetest.Expect(all, ix, id, w); !slices.Equal(got, want) {
						return fmt.Errorf("%s %q window %+v:\ngot  %v\nwant %v", ix, id, w, got, want)
					}
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// An operator's reindex while Open's goroutine has yet to read level 0
// back rewrites its records: the goroutine reads the same facts from
// them, and nothing waits on anything for good.
func TestReindexWhileLoading(t *testing.T) {
	path := filepath.Join(t.TempDir(), "attest.db")
	opts := Options{Tail: 1_000}
	l, err := Open(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	all := loadedFixture(t, l, rand.New(rand.NewPCG(3, 4)), 0, 1_500)
	if err := l.close(false); err != nil {
		t.Fatal(err)
	}
	hold := make(chan struct{})
	beforeLoad = func() { <-hold }
	defer func() { beforeLoad = nil }()
	if l, err = Open(path, opts); err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	var release sync.Once
	defer release.Do(func() { close(hold) })
	if err := l.Reindex(); err != nil {
		t.Fatal(err)
	}
	release.Do(func() { close(hold) })
	<-l.loaded
	if l.loadErr != nil || l.tail.loaded == nil || l.tail.loaded.last != uint64(len(all)) {
		t.Fatalf("level 0 did not load (%v): it holds %d facts up to %d", l.loadErr, l.tail.len(), l.tail.loadedLast())
	}
	all = append(all, appendFacts(t, l, store.Fact{Time: storetest.T0.Add(time.Hour), Kind: "code.sent", User: all[0].User})...)
	checkSome(t, l, all)
	if err := l.Verify(); err != nil {
		t.Fatal(err)
	}
}
