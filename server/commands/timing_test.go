//go:build !race

package commands

import (
	"fmt"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"
)

// Not under the race detector: see flows/timing_test.go. .ci/run runs it
// in a step of its own, without -race.

// The same answer takes the same time: interleaved `login --no-wait`
// with a wrong password to addresses with an account and to new ones, as
// in flows' TestLoginTimingDoesNotTellWhoHasAnAccount (which says why the
// hasher is the cheapest argon2id rather than the production one).
func TestLoginCommandTimingDoesNotEnumerate(t *testing.T) {
	const pairs = 30
	w := newWorld(t)
	known := func(i int) string { return fmt.Sprintf("known%03d@example.com", i) }
	for i := range pairs {
		dev := device(fmt.Sprint("owner", i))
		w.signUp(dev, known(i), "")
		w.okAs(pw(goodPassword), dev, "password", "set")
	}
	login := func(addr string) time.Duration {
		runtime.GC()
		t0 := time.Now()
		r := w.runAs(pw(otherPassword), device("from "+addr+w.clock.Now().String()), "login", addr, "--no-wait")
		took := time.Since(t0)
		if r.status != 0 || !strings.HasPrefix(r.stdout, "Not signed in with that password. We sent a link") {
			t.Fatalf("login %s: status %d, stdout %q, stderr %q", addr, r.status, r.stdout, r.stderr)
		}
		return took
	}
	var gap time.Duration
	for round := range 3 {
		w.clock.Advance(25 * time.Hour)
		w.svc.Wait()
		var diffs []time.Duration
		for i := range pairs {
			unknown := fmt.Sprintf("newbi%03d@example.com", 100*round+i)
			if i%2 == 0 {
				k := login(known(i))
				diffs = append(diffs, k-login(unknown))
			} else {
				u := login(unknown)
				diffs = append(diffs, login(known(i))-u)
			}
		}
		slices.Sort(diffs)
		gap = diffs[len(diffs)/2]
		t.Logf("round %d: median difference %v over %d pairs", round+1, gap, pairs)
		if gap.Abs() < 5*time.Millisecond {
			return
		}
	}
	t.Fatalf("login to an address with an account takes %v longer than to one without (median of %d pairs, three rounds)", gap, pairs)
}
