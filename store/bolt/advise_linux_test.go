package bolt

import (
	"bufio"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"

	bbolt "go.etcd.io/bbolt"

	"github.com/attest-dev/attest/store"
)

// randomPages returns the parts of [data, data+size) that the kernel
// reads as MADV_RANDOM ("rr" in /proc/self/smaps), and fails if any of it
// is not mapped.
func randomPages(t *testing.T, data uintptr, size int64) []string {
	t.Helper()
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	end := data + uintptr(size)
	var random []string
	covered := data
	var lo, hi uint64
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if flags, ok := strings.CutPrefix(line, "VmFlags:"); ok {
			if uintptr(hi) <= data || uintptr(lo) >= end {
				continue
			}
			if uintptr(lo) <= covered {
				covered = max(covered, uintptr(hi))
			}
			if slices.Contains(strings.Fields(flags), "rr") {
				random = append(random, fmt.Sprintf("%x-%x", lo, hi))
			}
			continue
		}
		// A mapping's first line: "start-end perms offset dev inode path".
		span, _, _ := strings.Cut(line, " ")
		a, b, ok := strings.Cut(span, "-")
		if !ok {
			continue
		}
		l, errL := strconv.ParseUint(a, 16, 64)
		h, errH := strconv.ParseUint(b, 16, 64)
		if errL == nil && errH == nil {
			lo, hi = l, h
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if covered < end {
		t.Fatalf("%x-%x: only up to %x is mapped", data, end, covered)
	}
	return random
}

// TestMappingReadsAhead checks that the file's pages are not left to
// bbolt's MADV_RANDOM, after Open and after commits that grow the file
// past its mapping, which bbolt then maps afresh, random again.
func TestMappingReadsAhead(t *testing.T) {
	l := newLedger(t)
	check := func(when string) int64 {
		t.Helper()
		var data uintptr
		var size int64
		if err := l.db.View(func(tx *bbolt.Tx) error {
			data, size = l.db.Info().Data, tx.Size()
			if r := randomPages(t, data, size); len(r) > 0 {
				t.Errorf("%s: %d bytes at %x: %v read at random", when, size, data, r)
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		return size
	}
	check("after Open")
	// bbolt maps 32 KB of a new file and doubles the mapping as the file
	// outgrows it, so reaching 4 MB takes several remaps.
	body := strings.Repeat("x", 1000)
	size := int64(0)
	for i := 0; size < 4<<20; i++ {
		if i == 1000 {
			t.Fatalf("the file stays at %d bytes", size)
		}
		fs := make([]store.Fact, 100)
		for j := range fs {
			fs[j] = store.Fact{Time: t0, Kind: "code.sent", Address: fmt.Sprintf("a%d", i*100+j), Body: []byte(`{"b":"` + body + `"}`)}
		}
		appendFacts(t, l, fs...)
		size = check(fmt.Sprintf("after update %d", i))
	}
}
