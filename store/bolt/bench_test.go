package bolt

import (
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/attest-dev/attest/internal/cpuuse"
	"github.com/attest-dev/attest/store"
)

// hexID is a random-looking tag, as user and device tags are, so that
// index inserts land all over the bucket instead of at its end.
func hexID(prefix string, n uint64) string {
	return fmt.Sprintf("%s%016x", prefix, n*0x9e3779b97f4a7c15)
}

func benchFact(rng *rand.Rand, at time.Time) store.Fact {
	return store.Fact{
		Time:    at,
		Kind:    "address.code_sent",
		User:    hexID("u", rng.Uint64N(1_000_000)),
		Device:  hexID("d", rng.Uint64N(1_000_000)),
		Address: hexID("a", rng.Uint64N(1_000_000)),
		Body:    json.RawMessage(`{"channel":"email","digits":6}`),
	}
}

// percentile returns the p-th percentile (0 to 100) of ds, sorting ds.
func percentile(ds []time.Duration, p float64) time.Duration {
	slices.Sort(ds)
	return ds[int(float64(len(ds)-1)*p/100)]
}

func BenchmarkAppendConcurrent64(b *testing.B) {
	appendConcurrent64(b, 0, func(rng *rand.Rand) []store.Fact {
		return []store.Fact{benchFact(rng, t0)}
	})
}

// BenchmarkAppendConcurrent64SignIns is the same load shaped like the
// flows: each update is one sign-in by code, four facts about one user,
// device, address and ticket (code accepted, address added and confirmed,
// device signed in). Facts of one transaction share index pages, which
// the worst case above (every fact three unrelated random ids) never
// does; both are reported.
func BenchmarkAppendConcurrent64SignIns(b *testing.B) {
	appendConcurrent64(b, 7, func(rng *rand.Rand) []store.Fact {
		user, dev := hexID("u", rng.Uint64N(1_000_000)), hexID("d", rng.Uint64N(1_000_000))
		addr, ticket := hexID("a", rng.Uint64N(1_000_000)), hexID("t", rng.Uint64())
		body := json.RawMessage(`{"method":"code"}`)
		return []store.Fact{
			{Time: t0, Kind: "code.accepted", Device: dev, Address: addr, Ticket: ticket},
			{Time: t0, Kind: "address.added", User: user, Address: addr, Body: json.RawMessage(`{"kind":"email","masked":"g•••@example.com"}`)},
			{Time: t0, Kind: "address.confirmed", User: user, Address: addr, Ticket: ticket, Body: body},
			{Time: t0, Kind: "device.signed_in", User: user, Device: dev, Body: body},
		}
	})
}

// appendConcurrent64 runs b.N updates from 64 goroutines, each appending
// the facts next returns, and reports the facts made durable per second,
// the average batch and the latency of an update.
func appendConcurrent64(b *testing.B, salt uint64, next func(*rand.Rand) []store.Fact) {
	l := newLedgerWith(b, Options{})
	b.SetParallelism((64 + runtime.GOMAXPROCS(0) - 1) / runtime.GOMAXPROCS(0))
	var mu sync.Mutex
	var seeds uint64
	var lat []time.Duration
	start := time.Now()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		mu.Lock()
		seeds++
		rng := rand.New(rand.NewPCG(seeds, salt))
		mu.Unlock()
		var mine []time.Duration
		for pb.Next() {
			facts := next(rng)
			t := time.Now()
			err := l.Update(func(tx store.Tx) error {
				for _, f := range facts {
					if _, err := tx.Append(f); err != nil {
						return err
					}
				}
				return nil
			})
			mine = append(mine, time.Since(t))
			if err != nil {
				b.Error(err)
				return
			}
		}
		mu.Lock()
		lat = append(lat, mine...)
		mu.Unlock()
	})
	// The facts counted pay for their whole index: what level 0 still
	// holds is merged inside the measured time.
	if err := l.mergeAll(); err != nil {
		b.Fatal(err)
	}
	elapsed := time.Since(start)
	b.StopTimer()
	st := l.Stats()
	b.ReportMetric(float64(st.Facts)/elapsed.Seconds(), "facts/s")
	b.ReportMetric(float64(st.Facts)/float64(max(st.Commits, 1)), "facts/commit")
	b.ReportMetric(float64(percentile(lat, 50).Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(percentile(lat, 99).Microseconds())/1000, "p99-ms")
	b.ReportMetric(float64(percentile(lat, 100).Microseconds())/1000, "max-ms")
}

func BenchmarkAppendSingle(b *testing.B) {
	l := newLedgerWith(b, Options{})
	rng := rand.New(rand.NewPCG(1, 0))
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for range b.N {
		f := benchFact(rng, t0)
		start := time.Now()
		err := l.Update(func(tx store.Tx) error {
			_, err := tx.Append(f)
			return err
		})
		lat = append(lat, time.Since(start))
		if err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(percentile(lat, 50).Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(percentile(lat, 99).Microseconds())/1000, "p99-ms")
}

// benchLedgers are ledger files shared by the benchmarks of one run,
// built once per size and removed by TestMain.
var benchLedgers = struct {
	sync.Mutex
	dir   string
	paths map[int]string
}{paths: map[int]string{}}

// countFixture describes a ledger of n facts: ten per address over n/10
// addresses, one every `every` from t0, so that 1M facts span ten days.
type countFixture struct {
	path      string
	addresses int
	end       time.Time // the newest fact's time
}

const every = 864 * time.Millisecond

// sharedLedger returns the path of a closed ledger of n facts, building
// it on first use. Facts go in through Update like any other, in updates
// of 10,000 facts to keep the build quick.
func sharedLedger(b *testing.B, n int) countFixture {
	b.Helper()
	fx := countFixture{addresses: n / 10, end: t0.Add(time.Duration(n-1) * every)}
	benchLedgers.Lock()
	defer benchLedgers.Unlock()
	if p, ok := benchLedgers.paths[n]; ok {
		fx.path = p
		return fx
	}
	if benchLedgers.dir == "" {
		dir, err := os.MkdirTemp("", "attest-bolt-bench")
		if err != nil {
			b.Fatal(err)
		}
		benchLedgers.dir = dir
	}
	fx.path = filepath.Join(benchLedgers.dir, fmt.Sprintf("%d.db", n))
	l, err := Open(fx.path, Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	rng := rand.New(rand.NewPCG(uint64(n), 0))
	kinds := []string{"address.code_sent", "address.code_entered", "address.confirmed", "session.started"}
	const perUpdate = 10_000
	for done := 0; done < n; done += perUpdate {
		err := l.Update(func(tx store.Tx) error {
			for i := done; i < min(done+perUpdate, n); i++ {
				_, err := tx.Append(store.Fact{
					Time:    t0.Add(time.Duration(i) * every),
					Kind:    kinds[rng.IntN(len(kinds))],
					User:    hexID("u", rng.Uint64N(uint64(n/20+1))),
					Address: hexID("a", rng.Uint64N(uint64(fx.addresses))),
					Body:    json.RawMessage(`{"channel":"email"}`),
				})
				if err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	benchLedgers.paths[n] = fx.path
	return fx
}

func TestMain(m *testing.M) {
	code := m.Run()
	if benchLedgers.dir != "" {
		os.RemoveAll(benchLedgers.dir)
	}
	os.Exit(code)
}

// BenchmarkCountLastHour is the governor's question: how many codes went
// to one address in the last hour. The hour is within level 0 of the
// index, so it is answered from memory at any ledger size.
func BenchmarkCountLastHour(b *testing.B) {
	benchCount(b, []int{1_000, 1_000_000}, func(fx countFixture) store.Window {
		return store.Window{Since: fx.end.Add(-time.Hour), Kinds: []string{"address.code_sent", "address.code_entered"}}
	})
}

// BenchmarkCountOlderHour asks the same of an hour that ended a day ago,
// which level 0 (the newest 32k to 64k facts, under sixteen hours of this
// fixture) no longer holds: the index buckets answer it.
func BenchmarkCountOlderHour(b *testing.B) {
	benchCount(b, []int{1_000_000}, func(fx countFixture) store.Window {
		return store.Window{Since: fx.end.Add(-25 * time.Hour), Until: fx.end.Add(-24 * time.Hour), Kinds: []string{"address.code_sent", "address.code_entered"}}
	})
}

func benchCount(b *testing.B, sizes []int, window func(countFixture) store.Window) {
	for _, n := range sizes {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			if n > 1_000 && testing.Short() {
				b.Skip("1M-fact ledger skipped in -short mode")
			}
			fx := sharedLedger(b, n)
			l, err := Open(fx.path, Options{})
			if err != nil {
				b.Fatal(err)
			}
			defer l.Close()
			rng := rand.New(rand.NewPCG(2, 0))
			w := window(fx)
			lat := make([]time.Duration, 0, b.N)
			total := 0
			b.ResetTimer()
			for range b.N {
				id := hexID("a", rng.Uint64N(uint64(fx.addresses)))
				start := time.Now()
				err := l.View(func(r store.Reader) error {
					n, err := r.Count(store.ByAddress, id, w)
					total += n
					return err
				})
				lat = append(lat, time.Since(start))
				if err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(percentile(lat, 50).Nanoseconds())/1000, "p50-µs")
			b.ReportMetric(float64(percentile(lat, 99).Nanoseconds())/1000, "p99-µs")
			// Ten facts per address over ten days, half of them codes: about
			// 0.02 codes per address-hour. A figure far from it means the
			// window missed the fixture.
			b.ReportMetric(float64(total)/float64(b.N), "codes/op")
			// The share of the address index's partitions that answer
			// this window from level 0 alone.
			since, _ := w.NanoBounds()
			inMemory := 0
			for _, m := range l.marks[store.ByAddress] {
				if since > m.time {
					inMemory++
				}
			}
			b.ReportMetric(float64(inMemory)/ranges, "from-level0")
		})
	}
}

// BenchmarkOpen1M opens a ledger that was closed properly: Close merged
// level 0, so Open reads the head and the marks and nothing else.
func BenchmarkOpen1M(b *testing.B) {
	if testing.Short() {
		b.Skip("1M-fact ledger skipped in -short mode")
	}
	fx := sharedLedger(b, 1_000_000)
	benchOpen(b, fx.path, true)
}

// BenchmarkOpen1MAfterCrash opens a ledger whose writer stopped with a
// full level 0 (2×Tail facts), as a crash can leave it: Open returns at
// once and level 0 is read back from its records meanwhile (see
// Ledger.load), which costs what level 0 holds, at any ledger size.
func BenchmarkOpen1MAfterCrash(b *testing.B) {
	if testing.Short() {
		b.Skip("1M-fact ledger skipped in -short mode")
	}
	fx := sharedLedger(b, 1_000_000)
	path := filepath.Join(b.TempDir(), "crashed.db")
	// Streamed, not read whole: a gigabyte of heap freed just before
	// would have the runtime returning it to the system while Open is
	// timed, in the process's CPU time.
	if err := copyFile(path, fx.path); err != nil {
		b.Fatal(err)
	}
	l, err := Open(path, Options{})
	if err != nil {
		b.Fatal(err)
	}
	// Fill level 0 towards its bound of 2×Tail facts, where merges stop
	// it.
	rng := rand.New(rand.NewPCG(3, 0))
	for i := 0; i < 200 && l.tail.len() < 2*DefaultTail-1_000; i++ {
		err := l.Update(func(tx store.Tx) error {
			for range 1_000 {
				if _, err := tx.Append(benchFact(rng, fx.end)); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	level0 := l.tail.len()
	if err := l.close(false); err != nil {
		b.Fatal(err)
	}
	benchOpen(b, path, false)
	b.ReportMetric(float64(level0), "level0-facts")
}

// benchOpen times Open and one question after it (a count of one
// address's facts, which reads level 0 too), as a server's first after a
// restart: whatever Open leaves to load in the background is either done
// by then or worked around. It reports besides how long until level 0 was
// loaded, and the CPU time of the whole process until then (Open shares
// its work among the cores), which a busy machine changes less.
func benchOpen(b *testing.B, path string, settle bool) {
	var loaded, cpu time.Duration
	b.ResetTimer()
	for range b.N {
		start, cpu0 := time.Now(), cpuuse.Self()
		l, err := Open(path, Options{})
		if err != nil {
			b.Fatal(err)
		}
		err = l.View(func(r store.Reader) error {
			_, err := r.Count(store.ByAddress, hexID("a", 1), store.Window{})
			return err
		})
		if err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		<-l.loaded
		loaded += time.Since(start)
		cpu += cpuuse.Self() - cpu0
		if err := l.close(settle); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
	b.StopTimer()
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 / float64(b.N) }
	b.ReportMetric(ms(loaded), "loaded-ms/op")
	b.ReportMetric(ms(cpu), "cpu-ms/op")
}

func copyFile(dst, src string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
