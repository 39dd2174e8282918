package sqlite

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/attest-dev/attest/store"
	"github.com/attest-dev/attest/store/bolt"
)

// The side-by-side benchmark: store/bolt and this package's SQLite
// baseline on the same facts and the same questions, in interleaved
// pairs (which one goes first alternates), reporting each one's medians
// and the median of the pairs' ratios bolt ÷ SQLite of wall and of CPU
// time (below 1, bolt took less; for the append load, the rate ratio is
// its inverse). Run it as
//
//	cd bench/sqlite && go test -run '^$' -bench VsSQLite -benchtime 1x -timeout 1h .
//
// (a module of its own: go test from the repository's root does not reach
// it). The 1M-fact ledgers take minutes to build, SQLite's most; -keep DIR
// keeps them for the next run. -bench VsSQLite/Lookup runs the questions
// alone, and VsSQLite/Lookup/NAME one of them (after every question's
// warm-up round).

var (
	fixtureSize = flag.Int("facts", 1_000_000, "facts in the lookup and open fixtures")
	appendCount = flag.Int("appends", 50_000, "updates per side in each append pair")
	pairs       = flag.Int("pairs", 5, "interleaved pairs per measurement")
	keep        = flag.String("keep", "", "build the fixtures in this directory, reuse them if there, and keep them")
	cold        = flag.Bool("cold", false, "empty the page cache of both ledger files before the lookups instead of reading them through")
)

// t0 is the fixture's first fact's time.
var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// span is how long the fixture covers, whatever its size.
const span = 10 * 24 * time.Hour

// codeKinds are what the governor's questions filter on.
var codeKinds = []string{"address.code_sent", "address.code_entered"}

// hexID is a random-looking tag, as attest's user and device tags and
// address hashes are.
func hexID(prefix string, n uint64) string {
	return fmt.Sprintf("%s%016x", prefix, n*0x9e3779b97f4a7c15)
}

// fixture is n facts, one every span/n from t0: each about an address
// (n/10 of them, so ten facts each), a device (n/10) and a user (n/20).
type fixture struct {
	n                 int
	addresses, device int
	end               time.Time
	bolt, sqlite      string // the ledger files
}

func (fx *fixture) fact(rng *rand.Rand, i int) store.Fact {
	kinds := []string{"address.code_sent", "address.code_entered", "address.confirmed", "session.started"}
	return store.Fact{
		Time:    t0.Add(time.Duration(i) * (span / time.Duration(fx.n))),
		Kind:    kinds[rng.IntN(len(kinds))],
		User:    hexID("u", rng.Uint64N(uint64(fx.n/20+1))),
		Device:  hexID("d", rng.Uint64N(uint64(fx.device))),
		Address: hexID("a", rng.Uint64N(uint64(fx.addresses))),
		Body:    json.RawMessage(`{"channel":"email"}`),
	}
}

var shared struct {
	once sync.Once
	dir  string
	fx   *fixture
	err  error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if shared.dir != "" {
		os.RemoveAll(shared.dir)
	}
	os.Exit(code)
}

// sharedFixture builds the two ledgers once per run, both through their
// Update in updates of 10,000 facts, and closes them: the measurements
// open them afresh.
func sharedFixture(b *testing.B) *fixture {
	shared.once.Do(func() {
		n := *fixtureSize
		fx := &fixture{n: n, addresses: max(n/10, 1), device: max(n/10, 1), end: t0.Add(time.Duration(n-1) * (span / time.Duration(n)))}
		dir := *keep
		if dir == "" {
			if dir, shared.err = os.MkdirTemp("", "attest-vs-sqlite"); shared.err != nil {
				return
			}
			shared.dir = dir // removed at the end
		}
		dir = filepath.Join(dir, fmt.Sprint(n))
		fx.bolt = filepath.Join(dir, "bolt", "attest.db")
		fx.sqlite = filepath.Join(dir, "sqlite", "facts.sqlite")
		done := filepath.Join(dir, "built")
		if _, err := os.Stat(done); err == nil {
			shared.fx = fx
			return
		}
		shared.err = build(b, fx)
		if shared.err == nil {
			shared.fx = fx
			shared.err = os.WriteFile(done, nil, 0o600)
		}
	})
	if shared.err != nil {
		b.Fatal(shared.err)
	}
	return shared.fx
}

// build makes the fixture's two ledgers.
func build(b *testing.B, fx *fixture) error {
	n := fx.n
	{
		start := time.Now()
		bl, err := bolt.Open(fx.bolt, bolt.Options{})
		if err != nil {
			return err
		}
		if err := fill(bl, fx); err != nil {
			bl.Close()
			return err
		}
		if err := bl.Close(); err != nil {
			return err
		}
		b.Logf("bolt fixture of %d facts built in %s", n, time.Since(start).Round(time.Millisecond))
	}
	start := time.Now()
	sl, err := Open(fx.sqlite)
	if err != nil {
		return err
	}
	if err := fill(sl, fx); err != nil {
		sl.Close()
		return err
	}
	if err := sl.Close(); err != nil {
		return err
	}
	b.Logf("SQLite fixture of %d facts built in %s", n, time.Since(start).Round(time.Millisecond))
	return nil
}

func fill(l store.Ledger, fx *fixture) error {
	rng := rand.New(rand.NewPCG(uint64(fx.n), 0))
	const perUpdate = 10_000
	for done := 0; done < fx.n; done += perUpdate {
		facts := make([]store.Fact, 0, perUpdate)
		for i := done; i < min(done+perUpdate, fx.n); i++ {
			facts = append(facts, fx.fact(rng, i))
		}
		err := l.Update(func(tx store.Tx) error {
			for _, f := range facts {
				if _, err := tx.Append(f); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("fill: %w", err)
		}
	}
	return nil
}

// lookup is one question the flows ask, of a random id of one index.
type lookup struct {
	name   string
	ix     store.Index
	window func(end time.Time) store.Window
	count  bool // Count rather than Entries
	// questions is how many each side asks per pair; 0 means 5000.
	questions int
}

var lookups = []lookup{
	{name: "address-count-last-hour", ix: store.ByAddress, count: true, window: func(end time.Time) store.Window {
		return store.Window{Since: end.Add(-time.Hour), Kinds: codeKinds}
	}},
	{name: "address-count-hour-a-day-ago", ix: store.ByAddress, count: true, window: func(end time.Time) store.Window {
		return store.Window{Since: end.Add(-25 * time.Hour), Until: end.Add(-24 * time.Hour), Kinds: codeKinds}
	}},
	{name: "address-count-hour-a-week-ago", ix: store.ByAddress, count: true, window: func(end time.Time) store.Window {
		return store.Window{Since: end.Add(-7*24*time.Hour - time.Hour), Until: end.Add(-7 * 24 * time.Hour), Kinds: codeKinds}
	}},
	// The governor's address question: every message of the last day,
	// newest first.
	{name: "address-governor-day", ix: store.ByAddress, window: func(end time.Time) store.Window {
		return store.Window{Since: end.Add(-24 * time.Hour), Kinds: codeKinds, Reverse: true}
	}},
	// The governor's device question: the n-th newest of the last hour.
	{name: "device-governor-hour", ix: store.ByDevice, window: func(end time.Time) store.Window {
		return store.Window{Since: end.Add(-time.Hour), Kinds: codeKinds, Reverse: true, Limit: 10}
	}},
	// How many codes the device had today (4 or 6 digits).
	{name: "device-count-day", ix: store.ByDevice, count: true, window: func(end time.Time) store.Window {
		return store.Window{Since: end.Add(-24 * time.Hour), Kinds: codeKinds}
	}},
	// The global cap: the newest 1000 emails of the last hour.
	{name: "kind-governor-hour", ix: store.ByKind, questions: 200, window: func(end time.Time) store.Window {
		return store.Window{Since: end.Add(-time.Hour), Reverse: true, Limit: 1000}
	}},
}

// ask asks q of id on r and returns how many entries it found.
func (q *lookup) ask(r store.Reader, id string, w store.Window) (int, error) {
	if q.count {
		return r.Count(q.ix, id, w)
	}
	n := 0
	err := r.Entries(q.ix, id, w, func(store.Entry) bool { n++; return true })
	return n, err
}

// ids returns the ids q asks about, the same for both sides of a pair.
func (q *lookup) ids(fx *fixture, pair, n int) []string {
	rng := rand.New(rand.NewPCG(uint64(pair+1), 1))
	ids := make([]string, n)
	for i := range ids {
		switch q.ix {
		case store.ByAddress:
			ids[i] = hexID("a", rng.Uint64N(uint64(fx.addresses)))
		case store.ByDevice:
			ids[i] = hexID("d", rng.Uint64N(uint64(fx.device)))
		case store.ByKind:
			ids[i] = "address.code_sent"
		}
	}
	return ids
}

// side is one of the two ledgers in a measurement: run measures it once,
// for pair p.
type side struct {
	name string
	run  func(p int) (result, error)
}

// result is one measurement: the wall time and the CPU time it took (per
// operation, or in all), and a check value both sides must agree on.
type result struct {
	wall, cpu time.Duration
	check     float64
	note      string // added to the pair's line
}

// cpuClock reads the CPU time of the calling thread (thread true: the
// caller has locked itself to its thread, and the work runs on it, cgo
// included) or of the whole process. On a machine shared with other work,
// CPU time is what the load changes least: wall time also holds the
// waits for a core.
func cpuClock(thread bool) time.Duration {
	ru := usage(thread)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func usage(thread bool) syscall.Rusage {
	who := syscall.RUSAGE_SELF
	if thread {
		who = unix.RUSAGE_THREAD
	}
	var ru syscall.Rusage
	if err := syscall.Getrusage(who, &ru); err != nil {
		panic(err)
	}
	return ru
}

// cached returns the share of path's pages that are in the page cache.
func cached(path string) (float64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil || fi.Size() == 0 {
		return 0, err
	}
	m, err := unix.Mmap(int(f.Fd()), 0, int(fi.Size()), unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		return 0, fmt.Errorf("map %s: %w", path, err)
	}
	defer unix.Munmap(m)
	page := os.Getpagesize()
	vec := make([]byte, (len(m)+page-1)/page)
	// x/sys/unix has no Mincore for Linux.
	if _, _, errno := unix.Syscall(unix.SYS_MINCORE, uintptr(unsafe.Pointer(&m[0])), uintptr(len(m)), uintptr(unsafe.Pointer(&vec[0]))); errno != 0 {
		return 0, fmt.Errorf("mincore %s: %w", path, errno)
	}
	in := 0
	for _, v := range vec {
		in += int(v & 1)
	}
	return float64(in) / float64(len(vec)), nil
}

// readThrough reads path to its end, which leaves all of it in the page
// cache when memory allows, and says how much of it was there before and
// after.
func readThrough(b *testing.B, path string) string {
	return withCache(b, path, "reading it through", func(f *os.File) error {
		_, err := io.Copy(io.Discard, f)
		return err
	})
}

// dropCache empties the page cache of path's pages (posix_fadvise
// DONTNEED; the file is clean, and nothing maps it yet), as a reboot or
// the machine's reclaim leaves it, and says how much of it was there
// before and after.
func dropCache(b *testing.B, path string) string {
	msg := withCache(b, path, "dropping it", func(f *os.File) error {
		return unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_DONTNEED)
	})
	if after, err := cached(path); err != nil || after > 0.01 {
		b.Fatalf("%s: still in the page cache after dropping it (%s; %v)", path, msg, err)
	}
	return msg
}

// withCache does act to the open file at path, and says how much of the
// file was in the page cache before and after (done: what act did).
func withCache(b *testing.B, path, done string, act func(*os.File) error) string {
	before, err := cached(path)
	if err != nil {
		b.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		b.Fatal(err)
	}
	err = act(f)
	if err := errors.Join(err, f.Close()); err != nil {
		b.Fatalf("%s, %s: %v", path, done, err)
	}
	after, err := cached(path)
	if err != nil {
		b.Fatal(err)
	}
	return fmt.Sprintf("%s %.1f%% in the page cache, %.1f%% after %s", filepath.Base(path), 100*before, 100*after, done)
}

// interleave runs bolt and SQLite in *pairs pairs, alternating which
// goes first, logs each pair, and reports the median ratios bolt ÷ SQLite
// of wall and CPU time (below 1: bolt took less). It returns each side's
// results.
func interleave(b *testing.B, what string, bolt, sqlite side) (rb, rs []result) {
	b.Helper()
	var wall, cpu []float64
	for p := range *pairs {
		first, second := &bolt, &sqlite
		if p%2 == 1 {
			first, second = second, first
		}
		r1, err := first.run(p)
		if err != nil {
			b.Fatalf("%s: %v", first.name, err)
		}
		r2, err := second.run(p)
		if err != nil {
			b.Fatalf("%s: %v", second.name, err)
		}
		if r1.check != r2.check {
			b.Fatalf("%s pair %d: %s found %v, %s %v", what, p, first.name, r1.check, second.name, r2.check)
		}
		if p%2 == 1 {
			r1, r2 = r2, r1
		}
		rb, rs = append(rb, r1), append(rs, r2)
		wall = append(wall, float64(r1.wall)/float64(r2.wall))
		cpu = append(cpu, float64(r1.cpu)/float64(r2.cpu))
		b.Logf("%s pair %d: bolt %s (CPU %s%s), SQLite %s (CPU %s%s): bolt/SQLite %.2f (CPU %.2f); check %v",
			what, p, r1.wall, r1.cpu, r1.note, r2.wall, r2.cpu, r2.note, wall[p], cpu[p], r1.check)
	}
	b.ReportMetric(median(wall), "bolt/sqlite")
	b.ReportMetric(median(cpu), "bolt/sqlite-cpu")
	return rb, rs
}

// walls and cpus pick one time out of each result.
func walls(rs []result) []time.Duration {
	return pick(rs, func(r result) time.Duration { return r.wall })
}
func cpus(rs []result) []time.Duration {
	return pick(rs, func(r result) time.Duration { return r.cpu })
}

func pick(rs []result, f func(result) time.Duration) []time.Duration {
	out := make([]time.Duration, len(rs))
	for i, r := range rs {
		out[i] = f(r)
	}
	return out
}

func median[T int64 | float64 | time.Duration](xs []T) T {
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[len(s)/2]
}

func BenchmarkVsSQLite(b *testing.B) {
	b.Run("Lookup", benchLookups)
	b.Run("Append64", benchAppend64)
	b.Run("Open", benchOpen)
	b.Run("OpenAfterCrash", benchOpenAfterCrash)
}

// benchLookups times each lookup on both ledgers, each opened once from
// the fixture, one question after another on one goroutine. bolt asks
// each in a read transaction (View), the only way it reads; SQLite runs
// each as a single statement, its cheapest.
//
// Both ledger files are read through first, so that both sides start with
// all of their pages in the page cache, as a server that has run a while
// has them (the page cache outlives the process), and the questions
// measure lookups, not reads from the disk (a machine may drop pages of an
// idle file from the cache with memory to spare: the VM this was measured
// on pages out memory idle for a minute, DAMON's reclaim, so each run
// found the fixtures partly evicted). With -cold both files are emptied
// from the page cache instead, as a reboot leaves them, and the log gives
// what the warm-up round cost each side: before the ledger undid bbolt's
// MADV_RANDOM (see store/bolt's advise), a fault on bolt's mapping read
// one page and SQLite's read ahead, and the first question of each index
// then measured 0.45 and 0.40 of SQLite's wall time. Each pair's line
// gives each side's reads from disk (major page faults).
func benchLookups(b *testing.B) {
	fx := sharedFixture(b)
	prepare := readThrough
	if *cold {
		prepare = dropCache
	}
	cache := prepare(b, fx.bolt) + "; " + prepare(b, fx.sqlite)
	bl, err := bolt.Open(fx.bolt, bolt.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer bl.Close()
	sl, err := Open(fx.sqlite)
	if err != nil {
		b.Fatal(err)
	}
	defer sl.Close()
	// Both sides of every question, built first so that each one's
	// warm-up round (one unmeasured round each, so that both have touched
	// their file's pages, as a server that has run a while has) can run
	// before any is measured: the first questions after opening a ledger
	// of a gigabyte pay for the first touch of the file's pages (the
	// faults that map them into the process, and cache and TLB misses),
	// and a warm-up round of the first question alone left it paying part
	// of that through its pairs.
	type shape struct {
		q            lookup
		bolt, sqlite side
	}
	var shapes []shape
	for _, q := range lookups {
		perSide := q.questions
		if perSide == 0 {
			perSide = 5000
		}
		w := q.window(fx.end)
		measure := func(ask func(id string) (int, error)) func(int) (result, error) {
			return func(p int) (result, error) {
				total := 0
				n := perSide
				if p < 0 {
					// The warm-up round asks about ten times as many
					// ids, which touches most of the index's pages.
					n *= 10
				}
				ids := q.ids(fx, p, n)
				runtime.LockOSThread()
				defer runtime.UnlockOSThread()
				ru := usage(true)
				start, cpu := time.Now(), cpuClock(true)
				for _, id := range ids {
					n, err := ask(id)
					if err != nil {
						return result{}, err
					}
					total += n
				}
				per := time.Duration(n)
				wall, cpu := time.Since(start)/per, (cpuClock(true)-cpu)/per
				majflt := usage(true).Majflt - ru.Majflt
				return result{wall: wall, cpu: cpu, check: float64(total) / float64(n), note: fmt.Sprintf(", %d reads from disk", majflt)}, nil
			}
		}
		shapes = append(shapes, shape{q: q,
			bolt: side{name: "bolt", run: measure(func(id string) (n int, err error) {
				err = bl.View(func(r store.Reader) error { n, err = q.ask(r, id, w); return err })
				return n, err
			})},
			sqlite: side{name: "sqlite", run: measure(func(id string) (int, error) { return q.ask(sl.Reader(), id, w) })},
		})
	}
	// The warm-up round's times say what a cold cache costs.
	var warm []string
	for _, s := range shapes {
		for _, sd := range []side{s.bolt, s.sqlite} {
			r, err := sd.run(-1)
			if err != nil {
				b.Fatalf("%s %s: warm up: %v", s.q.name, sd.name, err)
			}
			warm = append(warm, fmt.Sprintf("%s %s %s%s", s.q.name, sd.name, r.wall, r.note))
		}
	}
	bc, err := cached(fx.bolt)
	if err != nil {
		b.Fatal(err)
	}
	sc, err := cached(fx.sqlite)
	if err != nil {
		b.Fatal(err)
	}
	cache += fmt.Sprintf("; after the warm-up round bolt's %.1f%% and SQLite's %.1f%% (warm-up per question: %s)", 100*bc, 100*sc, strings.Join(warm, "; "))
	for _, s := range shapes {
		b.Run(s.q.name, func(b *testing.B) {
			b.Log(cache)
			rb, rs := interleave(b, s.q.name, s.bolt, s.sqlite)
			µs := func(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1000 }
			b.ReportMetric(µs(median(walls(rb))), "bolt-µs")
			b.ReportMetric(µs(median(walls(rs))), "sqlite-µs")
			b.ReportMetric(µs(median(cpus(rb))), "bolt-cpu-µs")
			b.ReportMetric(µs(median(cpus(rs))), "sqlite-cpu-µs")
		})
	}
}

// benchAppend64 has 64 goroutines make *appendCount updates of one fact
// each, on a new ledger, and times from the first update to the end of
// Close: whatever either ledger leaves to do after acknowledging a commit
// (bolt's level 0 merges, SQLite's WAL checkpoint) is inside the time.
func benchAppend64(b *testing.B) {
	run := func(name string, open func(dir string) (store.Ledger, error)) side {
		return side{name: name, run: func(p int) (result, error) {
			dir, err := os.MkdirTemp("", "attest-append")
			if err != nil {
				return result{}, err
			}
			defer os.RemoveAll(dir)
			l, err := open(dir)
			if err != nil {
				return result{}, err
			}
			n := *appendCount
			const writers = 64
			var wg sync.WaitGroup
			errs := make(chan error, writers)
			start, cpu := time.Now(), cpuClock(false)
			for w := range writers {
				wg.Go(func() {
					rng := rand.New(rand.NewPCG(uint64(p), uint64(w)))
					for i := w; i < n; i += writers {
						f := store.Fact{
							Time:    t0,
							Kind:    "address.code_sent",
							User:    hexID("u", rng.Uint64N(1_000_000)),
							Device:  hexID("d", rng.Uint64N(1_000_000)),
							Address: hexID("a", rng.Uint64N(1_000_000)),
							Body:    json.RawMessage(`{"channel":"email","digits":6}`),
						}
						err := l.Update(func(tx store.Tx) error {
							_, err := tx.Append(f)
							return err
						})
						if err != nil {
							errs <- err
							return
						}
					}
				})
			}
			wg.Wait()
			close(errs)
			if err := <-errs; err != nil {
				l.Close()
				return result{}, err
			}
			if err := l.Close(); err != nil {
				return result{}, err
			}
			r := result{wall: time.Since(start), cpu: cpuClock(false) - cpu, check: float64(n)}
			switch l := l.(type) {
			case *bolt.Ledger:
				st := l.Stats()
				r.note = fmt.Sprintf(", %.1f updates a commit", float64(st.Updates)/float64(st.Commits))
			case *Ledger:
				c, u := l.Batches()
				r.note = fmt.Sprintf(", %.1f updates a commit", float64(u)/float64(c))
			}
			return r, nil
		}}
	}
	rb, rs := interleave(b, "append64",
		run("bolt", func(dir string) (store.Ledger, error) {
			return bolt.Open(filepath.Join(dir, "attest.db"), bolt.Options{})
		}),
		run("sqlite", func(dir string) (store.Ledger, error) { return Open(filepath.Join(dir, "facts.sqlite")) }),
	)
	rate := func(d time.Duration) float64 { return float64(*appendCount) / d.Seconds() }
	b.ReportMetric(rate(median(walls(rb))), "bolt-facts/s")
	b.ReportMetric(rate(median(walls(rs))), "sqlite-facts/s")
	perFact := func(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1000 / float64(*appendCount) }
	b.ReportMetric(perFact(median(cpus(rb))), "bolt-cpu-µs/fact")
	b.ReportMetric(perFact(median(cpus(rs))), "sqlite-cpu-µs/fact")
}

// benchOpen times opening the fixture's ledgers and answering one
// question (so that whatever a ledger loads lazily is counted), closing
// each in between.
func benchOpen(b *testing.B) {
	fx := sharedFixture(b)
	w := store.Window{Since: fx.end.Add(-time.Hour), Kinds: codeKinds}
	rb, rs := interleave(b, "open",
		openSide("bolt", nil, func() (store.Ledger, error) { return bolt.Open(fx.bolt, bolt.Options{}) }, hexID("a", 1), w),
		openSide("sqlite", nil, func() (store.Ledger, error) { return Open(fx.sqlite) }, hexID("a", 1), w),
	)
	reportOpen(b, rb, rs)
}

// crashAppends is how many facts the crash fixture appends after the
// fixture: about as many as bolt's level 0 holds at most (2×Tail, with
// the default Tail), which is what Open after a crash reads back.
const crashAppends = 65_000

// benchOpenAfterCrash is benchOpen on ledgers as a crash leaves them. A
// copy of each fixture takes crashAppends more facts, in updates of
// 1,000, and its files are copied as they stand, still open: both
// ledgers make every commit durable before Update returns and nothing
// else is in flight, so the copy is what a crash at that moment would
// leave. bolt then has those facts' entries in level 0, which Open reads
// back from their records; SQLite has what its WAL holds since its last
// checkpoint, which opening reads back into the WAL index. Each run opens
// a fresh copy of that image (copied before the clock starts), since
// opening and closing recovers it; the question asked counts the codes of
// the last hour to the address of the newest code, which only the
// appended facts hold.
func benchOpenAfterCrash(b *testing.B) {
	fx := sharedFixture(b)
	cx, err := crashFixture(b, fx)
	if err != nil {
		b.Fatal(err)
	}
	w := store.Window{Since: cx.end.Add(-time.Hour), Kinds: codeKinds}
	defer os.RemoveAll(filepath.Join(cx.dir, "run")) // the image stays, with -keep
	rb, rs := interleave(b, "open-after-crash",
		openSide("bolt", cx.restore("bolt"), func() (store.Ledger, error) { return bolt.Open(cx.run("bolt", fx.bolt), bolt.Options{}) }, cx.id, w),
		openSide("sqlite", cx.restore("sqlite"), func() (store.Ledger, error) { return Open(cx.run("sqlite", fx.sqlite)) }, cx.id, w),
	)
	reportOpen(b, rb, rs)
}

// openSide times open and one question, id's count in w, after prepare
// (outside the time), and closes the ledger.
func openSide(name string, prepare func() error, open func() (store.Ledger, error), id string, w store.Window) side {
	return side{name: name, run: func(int) (result, error) {
		if prepare != nil {
			if err := prepare(); err != nil {
				return result{}, err
			}
		}
		start, cpu := time.Now(), cpuClock(false)
		l, err := open()
		if err != nil {
			return result{}, err
		}
		var n int
		err = l.View(func(r store.Reader) (err error) { n, err = r.Count(store.ByAddress, id, w); return err })
		r := result{wall: time.Since(start), cpu: cpuClock(false) - cpu, check: float64(n)}
		return r, errors.Join(err, l.Close())
	}}
}

func reportOpen(b *testing.B, rb, rs []result) {
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	b.ReportMetric(ms(median(walls(rb))), "bolt-ms")
	b.ReportMetric(ms(median(walls(rs))), "sqlite-ms")
	b.ReportMetric(ms(median(cpus(rb))), "bolt-cpu-ms")
	b.ReportMetric(ms(median(cpus(rs))), "sqlite-cpu-ms")
}

// crashImage is the files of the two ledgers as a crash left them, in
// dir/image/{bolt,sqlite}, the newest fact's time and the address of the
// newest code sent or entered.
type crashImage struct {
	dir string
	id  string
	end time.Time
}

// crashFixture builds the crash images once (kept with -keep, like the
// fixture).
func crashFixture(b *testing.B, fx *fixture) (*crashImage, error) {
	dir := filepath.Join(filepath.Dir(filepath.Dir(fx.bolt)), "crash")
	rng := rand.New(rand.NewPCG(uint64(fx.n), 7))
	facts := make([]store.Fact, crashAppends)
	for i := range facts {
		facts[i] = fx.fact(rng, fx.n+i)
	}
	cx := &crashImage{dir: dir, end: facts[len(facts)-1].Time}
	for _, f := range slices.Backward(facts) {
		if slices.Contains(codeKinds, f.Kind) {
			cx.id = f.Address
			break
		}
	}
	done := filepath.Join(dir, "built")
	if _, err := os.Stat(done); err == nil {
		return cx, nil
	}
	if err := os.RemoveAll(dir); err != nil {
		return nil, err
	}
	for _, s := range []struct {
		name, fixture string
		open          func(path string) (store.Ledger, error)
	}{
		{"bolt", fx.bolt, func(p string) (store.Ledger, error) { return bolt.Open(p, bolt.Options{}) }},
		{"sqlite", fx.sqlite, func(p string) (store.Ledger, error) { return Open(p) }},
	} {
		start := time.Now()
		work := filepath.Join(dir, "work", s.name)
		if err := copyLedger(work, filepath.Dir(s.fixture)); err != nil {
			return nil, err
		}
		l, err := s.open(filepath.Join(work, filepath.Base(s.fixture)))
		if err != nil {
			return nil, err
		}
		for i := 0; i < len(facts); i += 1000 {
			err := l.Update(func(tx store.Tx) error {
				for _, f := range facts[i:min(i+1000, len(facts))] {
					if _, err := tx.Append(f); err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				l.Close()
				return nil, fmt.Errorf("%s crash fixture: %w", s.name, err)
			}
		}
		err = copyLedger(filepath.Join(dir, "image", s.name), work)
		if err := errors.Join(err, l.Close(), os.RemoveAll(work)); err != nil {
			return nil, fmt.Errorf("%s crash fixture: %w", s.name, err)
		}
		b.Logf("%s crash image built in %s", s.name, time.Since(start).Round(time.Millisecond))
	}
	if err := os.RemoveAll(filepath.Join(dir, "work")); err != nil {
		return nil, err
	}
	return cx, os.WriteFile(done, nil, 0o600)
}

// restore returns a function that copies side's image to where run
// opens it.
func (cx *crashImage) restore(side string) func() error {
	return func() error {
		run := filepath.Join(cx.dir, "run", side)
		if err := os.RemoveAll(run); err != nil {
			return err
		}
		return copyLedger(run, filepath.Join(cx.dir, "image", side))
	}
}

// run is where side's restored image has the file named as fixture's.
func (cx *crashImage) run(side, fixture string) string {
	return filepath.Join(cx.dir, "run", side, filepath.Base(fixture))
}

// copyLedger copies the files of the directory src (a ledger file and,
// for SQLite, its WAL) into dst, which it creates. SQLite's shared-memory
// index is left out: a crash does not leave it valid, and SQLite rebuilds
// it from the WAL.
func copyLedger(dst, src string) error {
	if err := os.MkdirAll(dst, 0o700); err != nil {
		return err
	}
	des, err := os.ReadDir(src)
	if err != nil {
		return err
	}
	for _, de := range des {
		if de.IsDir() || filepath.Ext(de.Name()) == ".sqlite-shm" {
			continue
		}
		if err := copyFile(filepath.Join(dst, de.Name()), filepath.Join(src, de.Name())); err != nil {
			return err
		}
	}
	return nil
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
