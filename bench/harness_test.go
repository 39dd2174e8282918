// Package bench holds attest's load benchmarks (issue 3): complete
// sign-ups through the flows on a real ledger file, the same through the
// real SSH server, and the bare cost of an SSH connection to compare them
// with. They run only with -bench, e.g.
//
//	go test -run '^$' -bench . -benchtime 10s ./bench/
//
// The tests in this package run each harness briefly in normal test runs,
// so the benchmarks cannot rot unnoticed.
package bench

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/attest-dev/attest/internal/cpuuse"
)

// workers is how many users sign up at once.
const workers = 64

// codeRE reads a code out of a message ("Code A: 4821").
var codeRE = regexp.MustCompile(`Code ([A-Z]+): (\d+)`)

// desk hands codes from the sender to the goroutine waiting for them, by
// key (a ticket, or an address over SSH where the client never learns the
// ticket). Whichever side comes first makes the slot, so a message that
// arrives before its reader is waiting is kept, and nobody sleeps.
type desk struct {
	mu    sync.Mutex
	slots map[string]chan string
}

func newDesk() *desk { return &desk{slots: map[string]chan string{}} }

func (d *desk) slot(key string) chan string {
	d.mu.Lock()
	defer d.mu.Unlock()
	c, ok := d.slots[key]
	if !ok {
		c = make(chan string, 1)
		d.slots[key] = c
	}
	return c
}

// deliver hands the code in text to whoever waits on key.
func (d *desk) deliver(key, text string) error {
	m := codeRE.FindStringSubmatch(text)
	if m == nil {
		return fmt.Errorf("no code in message %q", text)
	}
	select {
	case d.slot(key) <- m[1] + "-" + m[2]:
		return nil
	default:
		return fmt.Errorf("a second code for %s before the first was taken", key)
	}
}

// await returns the code for key as "A-4821". The timeout only bounds a
// failure (a lost message); it is not a wait for time to pass.
func (d *desk) await(key string) (string, error) {
	c := d.slot(key)
	select {
	case code := <-c:
		d.mu.Lock()
		delete(d.slots, key)
		d.mu.Unlock()
		return code, nil
	case <-time.After(time.Minute):
		return "", fmt.Errorf("no code for %s within a minute", key)
	}
}

// load runs n operations on workers goroutines, op(i) for i in [0, n),
// and returns each one's latency and the wall time of the whole run. The
// first error stops every worker.
func load(n, workers int, op func(i int) error) (lat []time.Duration, wall time.Duration, err error) {
	var next atomic.Int64
	var failed atomic.Bool
	var mu sync.Mutex
	var errs []error
	per := make([][]time.Duration, workers)
	var wg sync.WaitGroup
	start := time.Now()
	for w := range workers {
		wg.Go(func() {
			for !failed.Load() {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				t := time.Now()
				if err := op(i); err != nil {
					failed.Store(true)
					mu.Lock()
					errs = append(errs, fmt.Errorf("operation %d: %w", i, err))
					mu.Unlock()
					return
				}
				per[w] = append(per[w], time.Since(t))
			}
		})
	}
	wg.Wait()
	wall = time.Since(start)
	for _, p := range per {
		lat = append(lat, p...)
	}
	return lat, wall, errors.Join(errs...)
}

// percentile returns the p-th percentile (0 < p <= 100) of sorted.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(float64(len(sorted))*p/100+0.5) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

// report runs the load as benchmark b's operations and reports the rate
// and latency percentiles. unit names one operation ("signups").
func report(b *testing.B, unit string, op func(i int) error) {
	b.Helper()
	b.ResetTimer()
	cpu := cpuuse.Self()
	lat, wall, err := load(b.N, workers, op)
	cpu = cpuuse.Self() - cpu
	b.StopTimer()
	if err != nil {
		b.Fatal(err)
	}
	slices.Sort(lat)
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	b.ReportMetric(float64(b.N)/wall.Seconds(), unit+"/s")
	// The CPU an operation cost the whole process (goroutines, the
	// ledger's writer, the garbage collector): on a machine shared with
	// other work the rate above moves with the load, this much less, and
	// the cores divided by it bound the rate on an idle machine.
	b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "cpu-µs/op")
	b.ReportMetric(ms(percentile(lat, 50)), "p50-ms")
	b.ReportMetric(ms(percentile(lat, 99)), "p99-ms")
}

func TestPercentile(t *testing.T) {
	var d []time.Duration
	for i := 1; i <= 100; i++ {
		d = append(d, time.Duration(i))
	}
	for p, want := range map[float64]time.Duration{50: 50, 99: 99, 100: 100, 1: 1} {
		if got := percentile(d, p); got != want {
			t.Errorf("percentile %v of 1..100 = %d, want %d", p, got, want)
		}
	}
	if got := percentile([]time.Duration{7}, 99); got != 7 {
		t.Errorf("percentile of one = %d", got)
	}
}

func TestLoadStopsAtFirstError(t *testing.T) {
	var ran atomic.Int64
	_, _, err := load(10000, 8, func(i int) error {
		ran.Add(1)
		if i == 10 {
			return errors.New("boom")
		}
		return nil
	})
	if err == nil || ran.Load() == 10000 {
		t.Fatalf("load went on after an error: %v, %d ran", err, ran.Load())
	}
	lat, _, err := load(100, 8, func(int) error { return nil })
	if err != nil || len(lat) != 100 {
		t.Fatalf("load of 100: %d latencies, %v", len(lat), err)
	}
}
