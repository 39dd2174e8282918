package postgres

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/attest-dev/attest/internal/cpuuse"
	"github.com/attest-dev/attest/store"
	"github.com/attest-dev/attest/store/bolt"
	"github.com/attest-dev/attest/store/postgres/pgtest"
)

// BenchmarkAppend64VsBolt makes b.N facts durable with 64 writers, one
// fact an update, first on a new bbolt ledger and then on a new PostgreSQL
// one (the test cluster: a Unix socket, fsync and synchronous_commit on),
// and reports both rates and their ratio, so that one run compares them
// on the same machine under the same load:
//
//	go test -run '^$' -bench Append64VsBolt -benchtime 20000x ./store/postgres/
//
// It reports, for each half, the share of the machine's CPU this process
// (the writers, and bbolt) and the PostgreSQL cluster used, and the
// machine's as a whole (other work included), in percent of all cores.
func BenchmarkAppend64VsBolt(b *testing.B) {
	c := pgtest.Start(b)
	pg, err := Open(context.Background(), c.NewDatabase(b), Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer pg.Close()
	bl, err := bolt.Open(filepath.Join(b.TempDir(), "attest.db"), bolt.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer bl.Close()
	b.ResetTimer()
	m := cpuuse.Start(c.Pid())
	boltRate := appendRate(b, bl, b.N)
	boltUse := m.Stop()
	m = cpuuse.Start(c.Pid())
	pgRate := appendRate(b, pg, b.N)
	pgUse := m.Stop()
	b.StopTimer()
	b.ReportMetric(boltUse.Self, "bolt-self-cpu%")
	b.ReportMetric(boltUse.Machine, "bolt-box-cpu%")
	b.ReportMetric(pgUse.Self, "pg-self-cpu%")
	b.ReportMetric(pgUse.Tree, "pg-cluster-cpu%")
	b.ReportMetric(pgUse.Machine, "pg-box-cpu%")
	b.ReportMetric(boltUse.Waited/100, "bolt-runq-threads")
	b.ReportMetric(pgUse.Waited/100, "pg-runq-threads")
	b.ReportMetric(boltRate, "bolt-facts/s")
	b.ReportMetric(pgRate, "pg-facts/s")
	b.ReportMetric(pgRate/boltRate, "pg/bolt")
	s := pg.Stats()
	b.ReportMetric(float64(s.Facts)/float64(max(s.Commits, 1)), "pg-facts/commit")
}

// appendRate appends n facts with 64 writers and returns facts a second.
func appendRate(b *testing.B, l store.Ledger, n int) float64 {
	const writers = 64
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	var wg sync.WaitGroup
	start := time.Now()
	for w := range writers {
		wg.Go(func() {
			for i := w; i < n; i += writers {
				err := l.Update(func(tx store.Tx) error {
					_, err := tx.Append(store.Fact{Time: at, Kind: "address.code_sent",
						User: fmt.Sprintf("u%08d", i), Device: fmt.Sprintf("d%08d", i%5000), Address: fmt.Sprintf("a%08d", i%20000),
						Ticket: fmt.Sprintf("t%016d", i), Body: []byte(`{"channel":"email","letter":"A","digits":4}`)})
					return err
				})
				if err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	return float64(n) / time.Since(start).Seconds()
}
