package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/attest-dev/attest/store"
	"github.com/attest-dev/attest/store/postgres/pgtest"
	"github.com/attest-dev/attest/store/storetest"
)

// TestDatabaseRestartLosesNothing restarts PostgreSQL (a fast shutdown:
// sessions cut mid-transaction) while 16 writers append: every fact an
// Update acknowledged is there afterwards, the chain verifies, and
// appends go on by themselves once the database is back. An update that
// failed while it was away says the ledger is unavailable.
func TestDatabaseRestartLosesNothing(t *testing.T) {
	c := pgtest.Start(t)
	l, err := Open(context.Background(), c.NewDatabase(t), Options{RetryFor: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()

	var mu sync.Mutex
	acked := map[uint64]string{}
	refused := map[string]bool{} // told "unavailable": nothing was made
	unsure := map[string]bool{}  // told the update may have been made
	var n, failed atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 16 {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				user := fmt.Sprintf("w%d-%d", w, i)
				var f store.Fact
				err := l.Update(func(tx store.Tx) (err error) {
					f, err = tx.Append(store.Fact{Time: storetest.T0, Kind: "k", User: user})
					return err
				})
				switch {
				case err == nil:
					mu.Lock()
					acked[f.Seq] = user
					mu.Unlock()
					n.Add(1)
				case errors.Is(err, store.ErrUnavailable):
					failed.Add(1)
					mu.Lock()
					if strings.Contains(err.Error(), "may have been made") {
						unsure[user] = true
					} else {
						refused[user] = true
					}
					mu.Unlock()
				default:
					t.Error(err)
					return
				}
			}
		})
	}
	// The writers run on real time (the database's); poll for progress.
	waitFor := func(what string, done func() bool) {
		t.Helper()
		deadline := time.Now().Add(time.Minute)
		for !done() {
			if time.Now().After(deadline) {
				t.Fatalf("no %s within a minute", what)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	acks := func(target int64) func() bool { return func() bool { return n.Load() >= target } }
	waitFor("appends", acks(300))
	if err := c.Stop(); err != nil {
		t.Fatal(err)
	}
	before := n.Load()
	// Let the writers find the database gone before it comes back.
	waitFor("refusal", func() bool { return failed.Load() > 0 })
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	waitFor("appends after the restart", acks(before+300))
	close(stop)
	wg.Wait()

	all := storetest.View(t, l, func(r store.Reader) ([]store.Fact, error) { return storetest.AllOf(r, 0) })
	byUser := map[string]uint64{}
	for _, f := range all {
		if _, twice := byUser[f.User]; twice {
			t.Errorf("the update for %s was made twice (facts %d and %d)", f.User, byUser[f.User], f.Seq)
		}
		byUser[f.User] = f.Seq
		if refused[f.User] {
			t.Errorf("the update for %s was refused as unavailable, yet made (fact %d)", f.User, f.Seq)
		}
	}
	for seq, user := range acked {
		if byUser[user] != seq {
			t.Errorf("acknowledged fact %d for %s is missing after the restart", seq, user)
		}
	}
	t.Logf("%d facts acknowledged, %d in the ledger, %d updates refused while the database was away (%d of them maybe made); %+v",
		len(acked), len(all), failed.Load(), len(unsure), l.Stats())
	storetest.Verify(t, l)
}

// TestLockedLedgerTimesOut: while another session holds a lock on the
// facts (an operator's LOCK TABLE, a stuck migration), reads and updates
// fail with store.ErrUnavailable after Options.Timeout instead of waiting
// for as long as the lock is held, and work again once it is released.
func TestLockedLedgerTimesOut(t *testing.T) {
	c := pgtest.Start(t)
	url := c.NewDatabase(t)
	l, err := Open(context.Background(), url, Options{RetryFor: time.Second, Timeout: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	appendOne := func() error {
		return l.Update(func(tx store.Tx) error {
			_, err := tx.Append(store.Fact{Time: storetest.T0, Kind: "k", User: "u"})
			return err
		})
	}
	if err := appendOne(); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	locker, err := pgx.Connect(ctx, c.URL("postgres", pgtest.Name(url)))
	if err != nil {
		t.Fatal(err)
	}
	defer locker.Close(ctx)
	lock, err := locker.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := lock.Exec(ctx, "LOCK TABLE facts IN ACCESS EXCLUSIVE MODE"); err != nil {
		t.Fatal(err)
	}
	if err := l.View(func(r store.Reader) error { _, _, err := r.Head(); return err }); !errors.Is(err, store.ErrUnavailable) {
		t.Errorf("View under the lock: %v, want the ledger unavailable", err)
	}
	if err := appendOne(); !errors.Is(err, store.ErrUnavailable) {
		t.Errorf("Update under the lock: %v, want the ledger unavailable", err)
	}
	if err := lock.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	if err := appendOne(); err != nil {
		t.Fatalf("Update after the lock: %v", err)
	}
	n := storetest.View(t, l, func(r store.Reader) (uint64, error) { seq, _, err := r.Head(); return seq, err })
	if n != 2 {
		t.Errorf("the ledger holds %d facts, want 2 (one refused under the lock)", n)
	}
	storetest.Verify(t, l)
}
