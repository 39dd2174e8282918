package bolt

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	bbolt "go.etcd.io/bbolt"
	bberrors "go.etcd.io/bbolt/errors"

	"github.com/attest-dev/attest/store"
)

// Verify walks the chain from the first fact and checks, for each fact in
// turn, that it decodes, sits under its own sequence number right after
// the previous one, is valid, does not go back in time, is linked to its
// neighbours by hash, and has exactly the expected entries: one in each
// index bucket whose partition's mark it is not after, and its level 0
// record if it is after any mark. The head record must describe the last
// fact and each mark a fact that exists, with its time. Then no index bucket, nor level 0, may hold an entry
// beyond those. It returns a *store.Discrepancy for the first
// problem: the lowest sequence number in chain order, and among extra
// index entries the one pointing at the lowest sequence number.
//
// A broken link between facts a and a+1 means that a's bytes or a+1's
// Prev were altered; altering a+1's Prev also changes a+1's hash, so Verify
// blames a+1 when the link after it is broken too, and a otherwise.
func (l *Ledger) Verify() error {
	err := l.db.View(verify)
	if errors.Is(err, bberrors.ErrDatabaseNotOpen) {
		return store.ErrClosed
	}
	return err
}

// stored is one fact as Verify sees it.
type stored struct {
	seq  uint64 // from the key
	fact store.Fact
	err  error // decoding
	hash [32]byte
}

func load(k, v []byte) *stored {
	if k == nil {
		return nil
	}
	s := &stored{seq: seqOf(k), hash: sha256.Sum256(v)}
	s.fact, s.err = decodeFact(v)
	return s
}

func verify(tx *bbolt.Tx) error {
	facts := tx.Bucket(factsBucket)
	meta := tx.Bucket(metaBucket)
	if facts == nil || meta == nil {
		return &store.Discrepancy{Reason: "facts or meta bucket missing"}
	}
	var h head
	if v := meta.Get(headKey); v != nil {
		var err error
		if h, err = decodeHead(v); err != nil {
			return &store.Discrepancy{Reason: err.Error()}
		}
	}
	ms, err := decodeMarks(meta.Get(indexedKey))
	if err != nil {
		return &store.Discrepancy{Reason: err.Error()}
	}
	// markTimes maps each marked fact to the times its marks record.
	markTimes := map[uint64][]int64{}
	for _, ix := range store.Indexes {
		for r, m := range ms[ix] {
			if m.seq > h.seq {
				return &store.Discrepancy{Seq: m.seq, Index: ix.String(),
					Reason: fmt.Sprintf("the mark of partition %d names fact %d but the head is %d", r, m.seq, h.seq)}
			}
			if m.seq > 0 {
				markTimes[m.seq] = append(markTimes[m.seq], m.time)
			}
		}
	}
	least := ms.least().seq
	var indexes [len(indexBuckets)]*bbolt.Bucket
	for _, ix := range store.Indexes {
		if indexes[ix] = tx.Bucket(indexBuckets[ix]); indexes[ix] == nil {
			return &store.Discrepancy{Index: ix.String(), Reason: "bucket missing"}
		}
	}
	recent := tx.Bucket(recentBucket)
	if recent == nil {
		return &store.Discrepancy{Index: recentIndex, Reason: "bucket missing"}
	}
	chain := func(seq uint64, format string, args ...any) error {
		return &store.Discrepancy{Seq: seq, Reason: fmt.Sprintf(format, args...)}
	}
	loadSeq := func(seq uint64) *stored {
		if v := facts.Get(seqKey(seq)); v != nil {
			return load(seqKey(seq), v)
		}
		return nil
	}
	// hashMatchesNext reports whether s's hash is what follows it records:
	// the next fact's Prev, or the head record for the last fact.
	hashMatchesNext := func(s *stored, next *stored) bool {
		if next == nil {
			return h.hash == s.hash
		}
		return next.err != nil || next.fact.Prev == hex.EncodeToString(s.hash[:])
	}

	var expected [len(indexBuckets)]int
	var prevSeq uint64
	var prevTime int64
	c := facts.Cursor()
	k, v := c.First()
	if k == nil && h != (head{}) {
		return chain(h.seq, "the head record names fact %d but the ledger holds none", h.seq)
	}
	for cur := load(k, v); cur != nil; {
		k, v := c.Next()
		next := load(k, v)
		switch {
		case cur.seq == 0:
			return chain(prevSeq+1, "key after fact %d is not a sequence number", prevSeq)
		case cur.seq != prevSeq+1:
			return chain(prevSeq+1, "fact missing: the sequence jumps from %d to %d", prevSeq, cur.seq)
		case cur.err != nil:
			return chain(cur.seq, "stored fact does not decode: %v", cur.err)
		case cur.fact.Seq != cur.seq:
			return chain(cur.seq, "stored under %d but says it is fact %d", cur.seq, cur.fact.Seq)
		}
		f := &cur.fact
		if err := f.Validate(); err != nil {
			return chain(cur.seq, "%v", err)
		}
		t := f.Time.UnixNano()
		if t < prevTime {
			return chain(cur.seq, "time %s is before the previous fact's %s", f.Time, time.Unix(0, prevTime).UTC())
		}
		if prevSeq == 0 && f.Prev != "" {
			return chain(cur.seq, "the first fact has prev %q, want empty", f.Prev)
		}
		var blameNext error
		if next == nil && (h.seq != cur.seq || h.time != t) {
			return chain(cur.seq, "the head record says fact %d at %s but the last fact is %d at %s",
				h.seq, time.Unix(0, h.time).UTC(), cur.seq, f.Time)
		}
		// A gap after cur is reported as such on the next round.
		if (next == nil || next.seq == cur.seq+1) && !hashMatchesNext(cur, next) {
			switch {
			case next == nil:
				return chain(cur.seq, "the last fact's hash differs from the head record's: the fact or the record was altered")
			case !hashMatchesNext(next, loadSeq(next.seq+1)):
				blameNext = chain(next.seq, "its prev does not match fact %d's hash, nor its hash the link after it: fact %d was altered", cur.seq, next.seq)
			default:
				return chain(cur.seq, "its hash does not match fact %d's prev: fact %d was altered", next.seq, cur.seq)
			}
		}
		for _, mt := range markTimes[cur.seq] {
			if mt != t {
				return chain(cur.seq, "an indexed mark says %s but the fact says %s", time.Unix(0, mt).UTC(), f.Time)
			}
		}
		if cur.seq > least {
			if err := checkRecent(recent, f); err != nil {
				return err
			}
		}
		want := indexValue(t, f.Kind)
		for _, ix := range store.Indexes {
			id := f.ID(ix)
			if id == "" || cur.seq > ms.of(ix, id).seq {
				continue // in level 0
			}
			expected[ix]++
			got := indexes[ix].Get(indexKey(nil, id, cur.seq))
			if got == nil {
				return &store.Discrepancy{Seq: cur.seq, Index: ix.String(), Reason: fmt.Sprintf("no entry for %q", id)}
			}
			if !bytes.Equal(got, want) {
				return &store.Discrepancy{Seq: cur.seq, Index: ix.String(),
					Reason: fmt.Sprintf("entry for %q holds %s, the fact says %s", id, describeEntry(got), describeEntry(want))}
			}
		}
		if blameNext != nil {
			return blameNext
		}
		prevSeq, prevTime, cur = cur.seq, t, next
	}
	if err := extraEntries(facts, indexes, &ms, expected); err != nil {
		return err
	}
	return extraRecent(recent, least, h.seq)
}

// recentIndex names level 0 in a Discrepancy.
const recentIndex = "recent"

// checkRecent checks f's level 0 record.
func checkRecent(recent *bbolt.Bucket, f *store.Fact) error {
	want := tailFactOf(f)
	v := recent.Get(seqKey(f.Seq))
	if v == nil {
		return &store.Discrepancy{Seq: f.Seq, Index: recentIndex, Reason: "no record for the fact"}
	}
	got, err := decodeRecent(v)
	if err != nil {
		return &store.Discrepancy{Seq: f.Seq, Index: recentIndex, Reason: fmt.Sprintf("record does not decode: %v", err)}
	}
	if got != want {
		return &store.Discrepancy{Seq: f.Seq, Index: recentIndex,
			Reason: fmt.Sprintf("record says %s, the fact says %s", describeRecent(&got), describeRecent(&want))}
	}
	return nil
}

func describeRecent(tf *tailFact) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s at %s", tf.ids[store.ByKind], time.Unix(0, tf.time).UTC().Format(time.RFC3339Nano))
	for _, ix := range store.Indexes {
		if ix != store.ByKind && tf.ids[ix] != "" {
			fmt.Fprintf(&b, " %s %q", ix, tf.ids[ix])
		}
	}
	return b.String()
}

// extraRecent finds level 0 records outside (indexed, head]: the chain walk
// has found every one inside, so a bucket of the right size has none.
func extraRecent(recent *bbolt.Bucket, indexed, head uint64) error {
	if uint64(recent.Stats().KeyN) == head-indexed {
		return nil
	}
	c := recent.Cursor()
	for k, _ := c.First(); k != nil; k, _ = c.Next() {
		if seq := seqOf(k); seq <= indexed || seq > head {
			reason := "record for a fact that is already in the index buckets"
			if seq > head || seq == 0 {
				reason = "record for a fact that does not exist"
			}
			return &store.Discrepancy{Seq: seq, Index: recentIndex, Reason: reason}
		}
	}
	return &store.Discrepancy{Index: recentIndex, Reason: fmt.Sprintf("holds %d records, the facts imply %d", recent.Stats().KeyN, head-indexed)}
}

func describeEntry(v []byte) string {
	t, kind, ok := parseIndexValue(v)
	if !ok {
		return fmt.Sprintf("%x", v)
	}
	return fmt.Sprintf("%s at %s", kind, time.Unix(0, t).UTC().Format(time.RFC3339Nano))
}

// extraEntries finds index entries no fact accounts for. The chain walk
// has found every expected entry, so an index holding exactly as many
// keys as expected has none beyond them and needs no scan.
func extraEntries(facts *bbolt.Bucket, indexes [len(indexBuckets)]*bbolt.Bucket, ms *marks, expected [len(indexBuckets)]int) error {
	var first *store.Discrepancy
	for _, ix := range store.Indexes {
		b := indexes[ix]
		n := b.Stats().KeyN
		if n == expected[ix] {
			continue
		}
		found := false
		c := b.Cursor()
		for k, _ := c.First(); k != nil; k, _ = c.Next() {
			var reason string
			r, id, seq, ok := parseIndexKey(k)
			if !ok {
				reason = fmt.Sprintf("malformed key %x", k)
			} else if r != rangeOf(string(id)) {
				reason = fmt.Sprintf("entry for %q is in partition %d, not %d", id, r, rangeOf(string(id)))
			} else if seq > ms[ix][r].seq {
				reason = fmt.Sprintf("entry for %q is beyond its partition's mark, fact %d", id, ms[ix][r].seq)
			} else if v := facts.Get(seqKey(seq)); v == nil {
				reason = fmt.Sprintf("entry for %q points at a fact that does not exist", id)
			} else if f, err := decodeFact(v); err != nil || f.ID(ix) != string(id) {
				reason = fmt.Sprintf("entry for %q, but the fact does not carry that id", id)
			} else {
				continue
			}
			found = true
			if first == nil || seq < first.Seq {
				first = &store.Discrepancy{Seq: seq, Index: ix.String(), Reason: reason}
			}
		}
		if !found && first == nil {
			first = &store.Discrepancy{Index: ix.String(), Reason: fmt.Sprintf("holds %d entries, the facts imply %d", n, expected[ix])}
		}
	}
	if first == nil {
		return nil
	}
	return first
}

// Reindex deletes every index bucket and level 0 and rebuilds them from
// the facts, in one transaction: readers see the old indexes or the new
// ones, never a half-built one. The marks stay where they are, so the
// writer's tail still mirrors level 0.
func (l *Ledger) Reindex() error {
	err := l.db.Update(func(tx *bbolt.Tx) error {
		ms, err := (&reader{tx: tx}).readMarks()
		if err != nil {
			return err
		}
		return rebuild(tx, &ms)
	})
	if errors.Is(err, bberrors.ErrDatabaseNotOpen) {
		return store.ErrClosed
	}
	if err != nil {
		return fmt.Errorf("reindex %s: %w", l.path, err)
	}
	l.advise()
	return nil
}

// rebuild writes the index buckets and level 0 afresh from the facts, as
// ms places them. Entries are sorted before they are put, because bbolt
// keeps a transaction's new keys in memory until commit, and inserting
// them out of order into a fresh bucket costs a slice shift per key; the
// transaction holds every index in memory, about 100 bytes per entry.
func rebuild(tx *bbolt.Tx, ms *marks) error {
	facts := tx.Bucket(factsBucket)
	if facts == nil {
		return fmt.Errorf("facts: %w", errNoBucket)
	}
	least := ms.least().seq
	type kv struct{ k, v []byte }
	var entries [len(indexBuckets)][]kv
	var records []kv
	c := facts.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		f, err := decodeFact(v)
		if err != nil {
			return fmt.Errorf("decode fact %d: %w", seqOf(k), err)
		}
		if f.Seq != seqOf(k) {
			return fmt.Errorf("fact stored under %d says it is %d; run verify", seqOf(k), f.Seq)
		}
		if f.Seq > least {
			tf := tailFactOf(&f)
			records = append(records, kv{seqKey(f.Seq), encodeRecent(&tf)})
		}
		value := indexValue(f.Time.UnixNano(), f.Kind)
		for _, ix := range store.Indexes {
			if id := f.ID(ix); id != "" && f.Seq <= ms.of(ix, id).seq {
				entries[ix] = append(entries[ix], kv{indexKey(nil, id, f.Seq), value})
			}
		}
	}
	put := func(name []byte, what string, es []kv) error {
		if tx.Bucket(name) != nil {
			if err := tx.DeleteBucket(name); err != nil {
				return fmt.Errorf("drop %s index: %w", what, err)
			}
		}
		b, err := tx.CreateBucket(name)
		if err != nil {
			return fmt.Errorf("create %s index: %w", what, err)
		}
		slices.SortFunc(es, func(a, b kv) int { return bytes.Compare(a.k, b.k) })
		for _, e := range es {
			if err := b.Put(e.k, e.v); err != nil {
				return fmt.Errorf("rebuild %s index: %w", what, err)
			}
		}
		return nil
	}
	for _, ix := range store.Indexes {
		if err := put(indexBuckets[ix], ix.String(), entries[ix]); err != nil {
			return err
		}
		entries[ix] = nil
	}
	return put(recentBucket, recentIndex, records)
}

// Backup writes a copy of the ledger file as of one read transaction, so
// appends may go on while it runs. The copy is a bbolt file that Open
// accepts as it is.
func (l *Ledger) Backup(w io.Writer) (int64, error) {
	var n int64
	err := l.db.View(func(tx *bbolt.Tx) error {
		var err error
		n, err = tx.WriteTo(w)
		return err
	})
	if errors.Is(err, bberrors.ErrDatabaseNotOpen) {
		return n, store.ErrClosed
	}
	if err != nil {
		return n, fmt.Errorf("back up %s: %w", l.path, err)
	}
	return n, nil
}
