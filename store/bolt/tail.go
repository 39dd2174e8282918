package bolt

import (
	"encoding/binary"
	"fmt"
	"math"
	"slices"
	"sort"
	"sync"

	"github.com/attest-dev/attest/store"
)

// The index has two levels.
//
// Level 0 is the "recent" bucket: one record per recent fact, under the
// fact's sequence number, holding the fact's time and ids. It is written in
// the same transaction as the fact, and because its keys only grow, a
// commit of 64 facts dirties one or two of its pages.
//
// Level 1 is the index buckets (partition, id, NUL, seq → time, kind):
// B-trees keyed by random-looking ids, where every insert lands on a page
// of its own. Writing them fact by fact cost about 3.4 page writes per
// fact, and on this kind of disk a page write is the whole budget of an
// append. So the writer moves level 0 into level 1 in bulk, one partition
// at a time: the ids of each index are split into `ranges` partitions by a
// hash, a partition's keys are contiguous (they start with its number),
// and each partition has a mark, the last fact whose entries for it are in
// level 1. Every Tail facts, each partition takes the entries that have
// piled up for it, in key order, so that each of its pages is rewritten
// once for many entries; and because a step moves one partition of one
// index, it holds up the writer for a small fraction of a full merge.
// A level 0 record is deleted once every partition has passed it.
//
// Readers never decode level 0 from disk on the hot path: the ledger keeps
// it in memory as a tail, by index and id, extended by the writer. After
// a crash it is read back from the compact records (never by replaying
// facts) by a goroutine that Open starts (see Ledger.load and loadTail);
// until that is done readers walk the records.

// ranges is the number of partitions of each index.
const ranges = 16

// rangeOf is the partition of id: FNV-1a, because it must never change
// and needs no key.
func rangeOf(id string) byte {
	h := uint32(2166136261)
	for i := 0; i < len(id); i++ {
		h = (h ^ uint32(id[i])) * 16777619
	}
	return byte(h % ranges)
}

// mark is the last fact whose entries for a partition are in the index
// buckets: its seq and time. Later facts' entries are in level 0.
type mark struct {
	seq  uint64
	time int64 // unix nanoseconds; meaningless when seq is 0
}

const markLen = 16

// marks has a mark for each partition of each index (index 0 unused).
type marks [len(indexBuckets)][ranges]mark

func (m *marks) of(ix store.Index, id string) mark { return m[ix][rangeOf(id)] }

// least is the oldest mark: level 0 holds the facts after it.
func (m *marks) least() mark {
	l := mark{seq: ^uint64(0)}
	for _, ix := range store.Indexes {
		for _, p := range m[ix] {
			if p.seq < l.seq {
				l = p
			}
		}
	}
	return l
}

// all sets every mark to at.
func (m *marks) all(at mark) {
	for _, ix := range store.Indexes {
		for r := range m[ix] {
			m[ix][r] = at
		}
	}
}

func (m *marks) encode() []byte {
	b := make([]byte, 0, len(store.Indexes)*ranges*markLen)
	for _, ix := range store.Indexes {
		for _, p := range m[ix] {
			b = binary.BigEndian.AppendUint64(b, p.seq)
			b = binary.BigEndian.AppendUint64(b, uint64(p.time))
		}
	}
	return b
}

func decodeMarks(b []byte) (marks, error) {
	var m marks
	if want := len(store.Indexes) * ranges * markLen; len(b) != want {
		return m, fmt.Errorf("indexed marks have %d bytes, want %d", len(b), want)
	}
	for _, ix := range store.Indexes {
		for r := range m[ix] {
			m[ix][r] = mark{seq: binary.BigEndian.Uint64(b), time: int64(binary.BigEndian.Uint64(b[8:]))}
			b = b[markLen:]
		}
	}
	return m, nil
}

// tailFact is what level 0 knows of a fact: its time and its id in each
// index (ids[store.ByKind] is its kind).
type tailFact struct {
	time   int64
	ids    [len(indexBuckets)]string
	ranges [len(indexBuckets)]byte // rangeOf each id, for the merges
}

func tailFactOf(f *store.Fact) tailFact {
	tf := tailFact{time: f.Time.UnixNano()}
	for _, ix := range store.Indexes {
		tf.ids[ix] = f.ID(ix)
		tf.ranges[ix] = rangeOf(tf.ids[ix])
	}
	return tf
}

// encodeRecent is a level 0 record: the time, then each index's id as a
// uvarint length and its bytes, in store.Indexes order.
func encodeRecent(tf *tailFact) []byte {
	n := 8
	for _, ix := range store.Indexes {
		n += binary.MaxVarintLen16 + len(tf.ids[ix])
	}
	b := binary.BigEndian.AppendUint64(make([]byte, 0, n), uint64(tf.time))
	for _, ix := range store.Indexes {
		b = binary.AppendUvarint(b, uint64(len(tf.ids[ix])))
		b = append(b, tf.ids[ix]...)
	}
	return b
}

func decodeRecent(b []byte) (tailFact, error) {
	t, ids, err := splitRecent(b)
	if err != nil {
		return tailFact{}, err
	}
	tf := tailFact{time: t}
	for _, ix := range store.Indexes {
		tf.ids[ix] = string(ids[ix])
		tf.ranges[ix] = rangeOf(tf.ids[ix])
	}
	return tf, nil
}

// splitRecent parses a level 0 record into its time and ids, which are
// subslices of b.
func splitRecent(b []byte) (t int64, ids [len(indexBuckets)][]byte, err error) {
	if len(b) < 8 {
		return 0, ids, fmt.Errorf("record of %d bytes is too short", len(b))
	}
	t = int64(binary.BigEndian.Uint64(b))
	b = b[8:]
	for _, ix := range store.Indexes {
		n, w := binary.Uvarint(b)
		if w <= 0 || n > uint64(len(b)-w) {
			return 0, ids, fmt.Errorf("record is cut short in its %s id", ix)
		}
		ids[ix] = b[w : w+int(n) : w+int(n)]
		b = b[w+int(n):]
	}
	if len(b) != 0 {
		return 0, ids, fmt.Errorf("record has %d bytes after its last id", len(b))
	}
	return t, ids, nil
}

// tail is level 0 in memory: facts after+1 on, and for each index the
// sequence numbers of each id's facts, ascending. The writer goroutine is
// its only mutator; readers share it under mu. Entries of facts that a
// reader's snapshot does not include are simply outside the range it asks
// for, so the writer adds entries before their transaction commits.
//
// The facts that Open read back from level 0's records (after a crash)
// are indexed by loaded, which never changes; ids indexes those the writer
// added since.
//
// A tail is pending from Open until Ledger.load has read level 0 back
// into it; match fails meanwhile, as for trimmed facts, and readers read
// the records.
type tail struct {
	mu      sync.RWMutex
	pending bool
	after   uint64 // facts[i] is fact after+1+i
	facts   []tailFact
	loaded  *loaded // nil once trim has passed it
	ids     [len(indexBuckets)]map[string][]uint64
}

// newTail returns an empty tail after fact after.
func newTail(after uint64) *tail {
	t := &tail{after: after}
	for _, ix := range store.Indexes {
		t.ids[ix] = map[string][]uint64{}
	}
	return t
}

// ready reports whether the tail holds level 0.
func (t *tail) ready() bool {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return !t.pending
}

// adopt makes the pending tail hold what loadTail read into u.
func (t *tail) adopt(u *tail) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.facts, t.loaded, t.pending = u.facts, u.loaded, false
}

// len is the number of facts held. Only the writer calls it, so it needs
// no lock.
func (t *tail) len() int { return len(t.facts) }

// last is the seq of the newest fact held.
func (t *tail) last() uint64 { return t.after + uint64(len(t.facts)) }

// loadedLast is the newest fact that loaded indexes, or after.
func (t *tail) loadedLast() uint64 {
	if t.loaded == nil {
		return t.after
	}
	return t.loaded.last
}

// add appends fact seq, which must follow the newest held.
func (t *tail) add(seq uint64, tf tailFact) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if seq != t.last()+1 {
		panic(fmt.Sprintf("tail: fact %d added after %d", seq, t.last()))
	}
	t.facts = append(t.facts, tf)
	for _, ix := range store.Indexes {
		if id := tf.ids[ix]; id != "" {
			t.ids[ix][id] = append(t.ids[ix][id], seq)
		}
	}
}

// truncate drops the facts after seq: those of a batch that failed before
// its commit, which are never among the loaded ones.
func (t *tail) truncate(seq uint64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.loaded != nil && seq < t.loaded.last {
		panic(fmt.Sprintf("tail: truncate to %d drops facts Open loaded, up to %d", seq, t.loaded.last))
	}
	for t.last() > seq && len(t.facts) > 0 {
		tf := &t.facts[len(t.facts)-1]
		for _, ix := range store.Indexes {
			if id := tf.ids[ix]; id != "" {
				seqs := t.ids[ix][id]
				if seqs = seqs[:len(seqs)-1]; len(seqs) == 0 {
					delete(t.ids[ix], id)
				} else {
					t.ids[ix][id] = seqs
				}
			}
		}
		t.facts = t.facts[:len(t.facts)-1]
	}
}

// trim drops the facts up to seq: those whose entries committed merges
// have moved into the index buckets, for every partition. A reader whose
// snapshot predates that merge finds them gone and reads its own
// snapshot's level 0 instead (see recent).
func (t *tail) trim(seq uint64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := int(min(seq-min(seq, t.after), uint64(len(t.facts))))
	loadedLast := t.loadedLast()
	for i := range n {
		if t.after+1+uint64(i) <= loadedLast {
			continue // loaded's, which match skips once trimmed
		}
		tf := &t.facts[i]
		for _, ix := range store.Indexes {
			if id := tf.ids[ix]; id != "" {
				// An id's oldest facts are at the front of its list.
				if seqs := t.ids[ix][id][1:]; len(seqs) == 0 {
					delete(t.ids[ix], id)
				} else {
					t.ids[ix][id] = seqs
				}
			}
		}
	}
	clear(t.facts[:n]) // let the ids be collected
	t.facts = t.facts[n:]
	t.after += uint64(n)
	if t.loaded != nil && t.after >= t.loaded.last {
		t.loaded = nil
	}
}

// fact returns held fact seq; the caller holds mu or is the writer.
func (t *tail) fact(seq uint64) *tailFact { return &t.facts[seq-t.after-1] }

// entry is one index entry found in level 0.
type entry struct {
	seq  uint64
	time int64
	kind string
}

// match appends to dst id's entries in ix for the facts in (lo, hi] whose
// time is within [since, until] and whose kind is one of kinds (any when
// empty), oldest first. ok is false when the tail is pending or facts
// after lo have already been trimmed, and then dst is returned as it was.
func (t *tail) match(dst []entry, ix store.Index, id string, lo, hi uint64, since, until int64, kinds []string) (_ []entry, ok bool) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	if t.pending || t.after > lo {
		return dst, false
	}
	if t.loaded != nil && lo < t.loaded.last {
		dst = t.matchSeqs(dst, t.loaded.lookup(ix, id), lo, hi, since, until, kinds)
	}
	return t.matchSeqs(dst, t.ids[ix][id], lo, hi, since, until, kinds), true
}

// matchSeqs is match on one ascending list of seqs.
func (t *tail) matchSeqs(dst []entry, seqs []uint64, lo, hi uint64, since, until int64, kinds []string) []entry {
	// Times never decrease along the chain, so an id's facts are in time
	// order too: the window is one run of them, found by two binary
	// searches, however many of the id's facts level 0 holds (a kind's
	// run can be tens of thousands long).
	i, _ := slices.BinarySearch(seqs, lo+1)
	if since > math.MinInt64 {
		i += sort.Search(len(seqs)-i, func(j int) bool { return t.fact(seqs[i+j]).time >= since })
	}
	for _, seq := range seqs[i:] {
		tf := t.fact(seq)
		if seq > hi || tf.time > until {
			break
		}
		if !kindMatches(kinds, tf.ids[store.ByKind]) {
			continue
		}
		dst = append(dst, entry{seq: seq, time: tf.time, kind: tf.ids[store.ByKind]})
	}
	return dst
}

// kindMatches reports whether kind is one of kinds, or kinds is empty.
func kindMatches[S ~string | ~[]byte](kinds []string, kind S) bool {
	if len(kinds) == 0 {
		return true
	}
	for _, k := range kinds {
		if string(kind) == k {
			return true
		}
	}
	return false
}
