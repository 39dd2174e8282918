package postgres

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"runtime"
	"testing"
	"time"

	"github.com/attest-dev/attest/store"
	"github.com/attest-dev/attest/store/postgres/pgtest"
	"github.com/attest-dev/attest/store/storetest"
)

// hold makes l's next batches stop between running ahead of the lock and
// taking it: each sends on the returned channel and waits for a value on
// it before going on.
func hold(l *Ledger) chan struct{} {
	c := make(chan struct{})
	l.aheadDone = func() {
		c <- struct{}{}
		<-c
	}
	return c
}

// updateHeld starts fn as an update of l, held by h between its two
// runs, and returns once it has run ahead of the lock, with the update's
// result to come.
func updateHeld(t *testing.T, l *Ledger, h chan struct{}, fn func(store.Tx) error) <-chan error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- l.Update(fn) }()
	select {
	case <-h:
	case err := <-done:
		t.Fatalf("the update returned without running ahead of the lock: %v", err)
	case <-time.After(time.Minute):
		t.Fatal("the update never ran ahead of the lock")
	}
	return done
}

func wait(t *testing.T, done <-chan error) error {
	t.Helper()
	select {
	case err := <-done:
		return err
	case <-time.After(time.Minute):
		t.Fatal("the update did not return")
		return nil
	}
}

var errTaken = errors.New("the address is confirmed by someone else")

// confirmOnce confirms address for user unless it is confirmed already,
// saying what it counted in saw.
func confirmOnce(user, address string, saw *[]int) func(store.Tx) error {
	return func(tx store.Tx) error {
		n, err := tx.Count(store.ByAddress, address, store.Window{Kinds: []string{"address.confirmed"}})
		if err != nil {
			return err
		}
		*saw = append(*saw, n)
		if n > 0 {
			return errTaken
		}
		_, err = tx.Append(store.Fact{Time: storetest.T0, Kind: "address.confirmed", User: user, Address: address})
		return err
	}
}

// TestAnotherServersFactBetweenRuns: server A's batch reads that an
// address is free on its snapshot, ahead of the lock; server B confirms
// the address before A takes the lock. Under the lock A's function must
// find B's confirmation (the memo is brought forward with B's fact) and
// refuse, and it must find it without a read of its own under the lock:
// a writer that trusted what it read ahead, unchecked, would confirm the
// address twice.
func TestAnotherServersFactBetweenRuns(t *testing.T) {
	url := pgtest.Start(t).NewDatabase(t)
	a, b := open(t, url), open(t, url)
	var sawA, sawB []int
	h := hold(a)
	done := updateHeld(t, a, h, confirmOnce("alice", "a@example.com", &sawA))
	if err := b.Update(confirmOnce("bob", "a@example.com", &sawB)); err != nil {
		t.Fatalf("B confirms first: %v", err)
	}
	before := a.Stats()
	h <- struct{}{}
	if err := wait(t, done); !errors.Is(err, errTaken) {
		t.Fatalf("A's confirmation after B's: %v, want %v", err, errTaken)
	}
	if !reflect.DeepEqual(sawA, []int{0, 1}) {
		t.Errorf("A's function counted %v confirmations (ahead of the lock, under it), want [0 1]", sawA)
	}
	after := a.Stats()
	if n := after.Reads - before.Reads; n != 0 {
		t.Errorf("A read %d statements under the lock; its one read should come from what it read ahead, brought forward", n)
	}
	if n := after.Reused - before.Reused; n != 1 {
		t.Errorf("A reused %d answers under the lock, want 1", n)
	}
	owners := storetest.View(t, a, func(r store.Reader) ([]store.Fact, error) {
		var fs []store.Fact
		return fs, r.Facts(store.ByAddress, "a@example.com", store.Window{}, func(f store.Fact) bool { fs = append(fs, f); return true })
	})
	if len(owners) != 1 || owners[0].User != "bob" {
		t.Errorf("the address's facts are %+v, want bob's confirmation alone", owners)
	}
	storetest.Verify(t, a)
}

// TestReadAheadBatchReadsNothingUnderLock: a batch whose reads were all
// answered ahead of the lock, with nothing appended meanwhile, runs no
// read statement under the lock; one that reads every fact (All, which
// is not kept) does.
func TestReadAheadBatchReadsNothingUnderLock(t *testing.T) {
	url := pgtest.Start(t).NewDatabase(t)
	l := open(t, url)
	for i := range 5 {
		if err := l.Update(func(tx store.Tx) error {
			_, err := tx.Append(store.Fact{Time: storetest.T0.Add(time.Duration(i) * time.Minute), Kind: "k", User: "u", Address: "a"})
			return err
		}); err != nil {
			t.Fatal(err)
		}
	}
	reads := func(tx store.Tx) error {
		if _, err := tx.Count(store.ByUser, "u", store.Window{}); err != nil {
			return err
		}
		if err := tx.Entries(store.ByAddress, "a", store.Window{Reverse: true, Limit: 2}, func(store.Entry) bool { return true }); err != nil {
			return err
		}
		if err := tx.Facts(store.ByKind, "k", store.Window{Since: storetest.T0.Add(time.Minute)}, func(store.Fact) bool { return false }); err != nil {
			return err
		}
		_, err := tx.Fact(3)
		return err
	}
	before := l.Stats()
	if err := l.Update(reads); err != nil {
		t.Fatal(err)
	}
	after := l.Stats()
	if n := after.Reads - before.Reads; n != 0 {
		t.Errorf("the batch read %d statements under the lock, want none", n)
	}
	if n := after.ReadsAhead - before.ReadsAhead; n != 4 {
		t.Errorf("the batch read %d statements ahead of the lock, want 4", n)
	}
	if n := after.Reused - before.Reused; n != 4 {
		t.Errorf("the batch reused %d answers under the lock, want 4", n)
	}
	before = after
	if err := l.Update(func(tx store.Tx) error { return tx.All(1, func(store.Fact) bool { return true }) }); err != nil {
		t.Fatal(err)
	}
	if n := l.Stats().Reads - before.Reads; n != 1 {
		t.Errorf("a batch reading every fact read %d statements under the lock, want 1", n)
	}
}

// TestReplayReadsWhatTheDatabaseHolds: under the lock, every answer a
// batch's function gets (brought forward from its snapshot past facts
// another server appended meanwhile, none read again) equals what the
// database answers to the same read once the batch is done, for reads of
// every kind: each index, windows by time and kind, forward and newest
// first, with and without limits, counts, facts by number.
func TestReplayReadsWhatTheDatabaseHolds(t *testing.T) {
	url := pgtest.Start(t).NewDatabase(t)
	a, b := open(t, url), open(t, url)
	rng := rand.New(rand.NewPCG(13, 13))
	users, addrs, kinds := []string{"u1", "u2", "u3"}, []string{"a1", "a2"}, []string{"k1", "k2", "k3"}
	minute := 0
	randomFact := func() store.Fact {
		minute++
		f := store.Fact{Time: storetest.T0.Add(time.Duration(minute) * time.Minute), Kind: kinds[rng.IntN(len(kinds))],
			User: users[rng.IntN(len(users))], Body: []byte(fmt.Sprintf(`{"n":%d}`, minute))}
		if rng.IntN(2) == 0 {
			f.Address = addrs[rng.IntN(len(addrs))]
		}
		return f
	}
	appendSome := func(l *Ledger, n int) {
		t.Helper()
		if err := l.Update(func(tx store.Tx) error {
			for range n {
				if _, err := tx.Append(randomFact()); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	appendSome(b, 20)

	// reads asks everything and returns the answers as text.
	reads := func(r store.Reader) ([]string, error) {
		var out []string
		say := func(format string, args ...any) { out = append(out, fmt.Sprintf(format, args...)) }
		ids := map[store.Index][]string{store.ByUser: users, store.ByAddress: addrs, store.ByKind: kinds}
		for _, ix := range []store.Index{store.ByUser, store.ByAddress, store.ByKind} {
			for _, id := range ids[ix] {
				for _, w := range []store.Window{
					{}, {Reverse: true}, {Limit: 3}, {Reverse: true, Limit: 3}, {Limit: 40}, {Reverse: true, Limit: 40},
					{Since: storetest.T0.Add(10 * time.Minute)}, {Until: storetest.T0.Add(15 * time.Minute), Reverse: true, Limit: 2},
					{Kinds: []string{"k1", "k3"}, Reverse: true, Limit: 4}, {Kinds: []string{"k2"}, Limit: 5},
				} {
					var es []store.Entry
					if err := r.Entries(ix, id, w, func(e store.Entry) bool { es = append(es, e); return true }); err != nil {
						return nil, err
					}
					var fs []store.Fact
					if err := r.Facts(ix, id, w, func(f store.Fact) bool { fs = append(fs, f); return len(fs) < 2 }); err != nil {
						return nil, err
					}
					n, err := r.Count(ix, id, w)
					if err != nil {
						return nil, err
					}
					say("%s %s %+v: entries %v facts %v count %d", ix, id, w, es, fs, n)
				}
			}
		}
		for seq := uint64(1); seq <= 30; seq++ {
			f, err := r.Fact(seq)
			if err != nil && !errors.Is(err, store.ErrNotFound) {
				return nil, err
			}
			say("fact %d: %+v %v", seq, f, err)
		}
		return out, nil
	}

	h := hold(a)
	for round := range 8 {
		var got []string
		done := updateHeld(t, a, h, func(tx store.Tx) error {
			var err error
			got, err = reads(tx)
			return err
		})
		appendSome(b, rng.IntN(6))
		before := a.Stats()
		h <- struct{}{}
		if err := wait(t, done); err != nil {
			t.Fatal(err)
		}
		if n := a.Stats().Reads - before.Reads; n != 0 {
			t.Errorf("round %d: %d reads under the lock, want every answer brought forward", round, n)
		}
		want := storetest.View(t, a, reads)
		for i := range want {
			if got[i] != want[i] {
				t.Errorf("round %d: under the lock\n%s\nbut the database holds\n%s", round, got[i], want[i])
			}
		}
	}
	storetest.Verify(t, a)
}

// TestLateUpdatesJoinWithoutReading: updates that arrive while a batch
// takes the lock join it when they read nothing the memo lacks (here, an
// update that only appends); one that would read the database under the
// lock is stopped, and runs in the next batch, ahead of the lock first,
// reading what the batch before it appended.
func TestLateUpdatesJoinWithoutReading(t *testing.T) {
	url := pgtest.Start(t).NewDatabase(t)
	l := open(t, url)
	appendOne := func(user string) func(store.Tx) error {
		return func(tx store.Tx) error {
			_, err := tx.Append(store.Fact{Time: storetest.T0, Kind: "k", User: user})
			return err
		}
	}
	var counted []int
	countThenAppend := func(tx store.Tx) error {
		n, err := tx.Count(store.ByUser, "first", store.Window{})
		if err != nil {
			return err
		}
		counted = append(counted, n)
		_, err = tx.Append(store.Fact{Time: storetest.T0, Kind: "k", User: "reader", Body: []byte(fmt.Sprintf(`{"saw":%d}`, n))})
		return err
	}
	h := hold(l)
	before := l.Stats()
	first := updateHeld(t, l, h, appendOne("first"))
	late := make(chan error, 2)
	go func() { late <- l.Update(appendOne("late")) }()
	go func() { late <- l.Update(countThenAppend) }()
	for len(l.requests) < 2 {
		runtime.Gosched() // both wait in the queue before the first batch takes the lock
	}
	h <- struct{}{}
	if err := wait(t, first); err != nil {
		t.Fatal(err)
	}
	// The next batch, the reader alone, has run ahead: the late append
	// is in the ledger already, committed with the first.
	select {
	case <-h:
	case <-time.After(time.Minute):
		t.Fatal("no second batch ran ahead of the lock")
	}
	users := func() []string {
		var us []string
		for _, f := range storetest.View(t, l, func(r store.Reader) ([]store.Fact, error) { return storetest.AllOf(r, 0) }) {
			us = append(us, f.User)
		}
		return us
	}
	if got := users(); !reflect.DeepEqual(got, []string{"first", "late"}) {
		t.Errorf("before the second batch the ledger holds facts of %v, want first and late", got)
	}
	h <- struct{}{}
	for range 2 {
		if err := wait(t, late); err != nil {
			t.Fatal(err)
		}
	}
	after := l.Stats()
	if n := after.Commits - before.Commits; n != 2 {
		t.Errorf("%d commits, want 2: the first with the late append, then the late read", n)
	}
	if n := after.Reads - before.Reads; n != 0 {
		t.Errorf("%d reads under the lock, want none", n)
	}
	// Stopped at its read under the first batch's lock, it counted
	// nothing there; ahead of the second's and under it, it saw first.
	if !reflect.DeepEqual(counted, []int{1, 1}) {
		t.Errorf("the late reader counted %v, want [1 1]", counted)
	}
	if got := users(); !reflect.DeepEqual(got, []string{"first", "late", "reader"}) {
		t.Errorf("the ledger holds facts of %v, want first, late, reader", got)
	}
	all := storetest.View(t, l, func(r store.Reader) ([]store.Fact, error) { return storetest.AllOf(r, 0) })
	if got := string(all[len(all)-1].Body); got != `{"saw":1}` {
		t.Errorf("the late reader appended %s, want what it saw under the lock, 1", got)
	}
	storetest.Verify(t, l)
}

// TestOddKindsAreTheirOwnRead: a window of one empty kind, or of a kind
// holding a NUL, is a read of its own (matching nothing), not the read
// without kinds or of the kinds the NUL would split it into; and ids and
// kinds no fact can hold (a NUL, bytes that are not UTF-8) are answered
// "none" without troubling the database, whose refusal would have failed
// the whole batch.
func TestOddKindsAreTheirOwnRead(t *testing.T) {
	l := open(t, pgtest.Start(t).NewDatabase(t))
	if err := l.Update(func(tx store.Tx) error {
		for _, k := range []string{"a", "b", "a"} {
			if _, err := tx.Append(store.Fact{Time: storetest.T0, Kind: k, User: "u"}); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	var got []int
	if err := l.Update(func(tx store.Tx) error {
		got = got[:0]
		for _, kinds := range [][]string{nil, {""}, {"a", "b"}, {"a\x00b"}, {"a"}} {
			n, err := tx.Count(store.ByUser, "u", store.Window{Kinds: kinds})
			if err != nil {
				return err
			}
			got = append(got, n)
		}
		for _, id := range []string{"u\x00", "\xff"} {
			n, err := tx.Count(store.ByUser, id, store.Window{})
			if err != nil {
				return err
			}
			got = append(got, n)
		}
		n, err := tx.Count(store.ByUser, "u", store.Window{Kinds: []string{"\xff", "b"}})
		got = append(got, n)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if want := []int{3, 0, 3, 0, 2, 0, 0, 1}; !reflect.DeepEqual(got, want) {
		t.Errorf("counts by kinds none, empty, a and b, a NUL b, a; of ids u NUL, 0xff; by kinds 0xff and b: %v, want %v", got, want)
	}
}
