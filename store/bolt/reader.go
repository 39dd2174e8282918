package bolt

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"time"
	"unsafe"

	bbolt "go.etcd.io/bbolt"

	"github.com/attest-dev/attest/store"
)

// reader implements store.Reader on a bbolt transaction and the ledger's
// tail. Buckets are looked up lazily and remembered: a read transaction
// does not cache them itself and Count usually needs one index only.
type reader struct {
	tx      *bbolt.Tx
	facts   *bbolt.Bucket
	indexes [len(indexBuckets)]*bbolt.Bucket

	// The snapshot's span: each partition of the index buckets holds
	// entries up to its mark, and level 0 the rest up to top. Read from the
	// meta bucket on first use (rawMarks, decoded one mark at a time), or
	// set by the writer (spanned true, marks).
	tail     *tail
	spanned  bool
	marks    *marks
	rawMarks []byte
	top      uint64

	// known, when set, is the snapshot's head and marks, published by the
	// writer when it committed this snapshot.
	known *snapshot
}

var errNoBucket = errors.New("bucket missing")

func (r *reader) factsBucket() (*bbolt.Bucket, error) {
	if r.facts == nil {
		if r.facts = r.tx.Bucket(factsBucket); r.facts == nil {
			return nil, fmt.Errorf("facts: %w", errNoBucket)
		}
	}
	return r.facts, nil
}

func (r *reader) index(ix store.Index) (*bbolt.Bucket, error) {
	if !validIndex(ix) {
		return nil, fmt.Errorf("unknown index %s", ix)
	}
	if r.indexes[ix] == nil {
		if r.indexes[ix] = r.tx.Bucket(indexBuckets[ix]); r.indexes[ix] == nil {
			return nil, fmt.Errorf("%s index: %w", ix, errNoBucket)
		}
	}
	return r.indexes[ix], nil
}

func (r *reader) head() (head, error) {
	if r.known != nil {
		return r.known.head, nil
	}
	meta := r.tx.Bucket(metaBucket)
	if meta == nil {
		return head{}, fmt.Errorf("meta: %w", errNoBucket)
	}
	v := meta.Get(headKey)
	if v == nil {
		return head{}, nil
	}
	return decodeHead(v)
}

// marksRecord returns the snapshot's encoded marks.
func (r *reader) marksRecord() ([]byte, error) {
	meta := r.tx.Bucket(metaBucket)
	if meta == nil {
		return nil, fmt.Errorf("meta: %w", errNoBucket)
	}
	v := meta.Get(indexedKey)
	if want := len(store.Indexes) * ranges * markLen; len(v) != want {
		return nil, fmt.Errorf("indexed marks have %d bytes, want %d", len(v), want)
	}
	return v, nil
}

func (r *reader) readMarks() (marks, error) {
	v, err := r.marksRecord()
	if err != nil {
		return marks{}, err
	}
	return decodeMarks(v)
}

// span reads the snapshot's marks and head, once.
func (r *reader) span() error {
	if r.spanned {
		return nil
	}
	if r.known != nil {
		r.marks, r.top, r.spanned = &r.known.marks, r.known.head.seq, true
		return nil
	}
	v, err := r.marksRecord()
	if err != nil {
		return err
	}
	h, err := r.head()
	if err != nil {
		return fmt.Errorf("read head: %w", err)
	}
	r.rawMarks, r.top, r.spanned = v, h.seq, true
	return nil
}

// markOf is the mark of id's partition of ix.
func (r *reader) markOf(ix store.Index, id string) mark {
	if r.marks != nil {
		return r.marks.of(ix, id)
	}
	i := (slices.Index(store.Indexes, ix)*ranges + int(rangeOf(id))) * markLen
	return mark{seq: binary.BigEndian.Uint64(r.rawMarks[i:]), time: int64(binary.BigEndian.Uint64(r.rawMarks[i+8:]))}
}

func (r *reader) Head() (uint64, time.Time, error) {
	h, err := r.head()
	if err != nil {
		return 0, time.Time{}, fmt.Errorf("read head: %w", err)
	}
	return h.seq, headTime(h), nil
}

func headTime(h head) time.Time {
	if h.seq == 0 {
		return time.Time{}
	}
	return time.Unix(0, h.time).UTC()
}

func (r *reader) Fact(seq uint64) (store.Fact, error) {
	facts, err := r.factsBucket()
	if err != nil {
		return store.Fact{}, err
	}
	v := facts.Get(seqKey(seq))
	if v == nil {
		return store.Fact{}, fmt.Errorf("fact %d: %w", seq, store.ErrNotFound)
	}
	f, err := decodeFact(v)
	if err != nil {
		return store.Fact{}, fmt.Errorf("decode fact %d: %w", seq, err)
	}
	return f, nil
}

func (r *reader) All(from uint64, fn func(store.Fact) bool) error {
	_, err := r.all(from, fn)
	return err
}

// all is All that also says whether fn stopped the walk, so that the
// overlay knows whether to go on with staged facts.
func (r *reader) all(from uint64, fn func(store.Fact) bool) (more bool, err error) {
	facts, err := r.factsBucket()
	if err != nil {
		return false, err
	}
	c := facts.Cursor()
	for k, v := c.Seek(seqKey(from)); k != nil; k, v = c.Next() {
		f, err := decodeFact(v)
		if err != nil {
			return false, fmt.Errorf("decode fact %x: %w", k, err)
		}
		if !fn(f) {
			return false, nil
		}
	}
	return true, nil
}

func (r *reader) Entries(ix store.Index, id string, w store.Window, fn func(store.Entry) bool) error {
	return entries(r, ix, id, w, fn)
}

func (r *reader) Facts(ix store.Index, id string, w store.Window, fn func(store.Fact) bool) error {
	return facts(r, ix, id, w, fn)
}

func (r *reader) Count(ix store.Index, id string, w store.Window) (int, error) {
	// count(r, ...) would do, but through the interface the window, the
	// counter and the visitor all escape to the heap; called on the
	// reader itself they stay on the stack, and Count is the governor's
	// most frequent question.
	w.Reverse = !w.Since.IsZero()
	n := 0
	_, err := r.scan(ix, id, &w, limited(&w, func(uint64, int64, []byte) bool {
		n++
		return true
	}))
	return n, err
}

// indexSource is what Entries, Facts and Count are built on; both the read
// transaction and the overlay of an update implement it.
type indexSource interface {
	scan(ix store.Index, id string, w *store.Window, fn visit) (more bool, err error)
	Fact(seq uint64) (store.Fact, error)
}

func entries(s indexSource, ix store.Index, id string, w store.Window, fn func(store.Entry) bool) error {
	_, err := s.scan(ix, id, &w, limited(&w, func(seq uint64, t int64, kind []byte) bool {
		return fn(store.Entry{Seq: seq, Time: time.Unix(0, t).UTC(), Kind: string(kind)})
	}))
	return err
}

func facts(s indexSource, ix store.Index, id string, w store.Window, fn func(store.Fact) bool) error {
	var ferr error
	_, err := s.scan(ix, id, &w, limited(&w, func(seq uint64, _ int64, _ []byte) bool {
		f, err := s.Fact(seq)
		if err != nil {
			ferr = fmt.Errorf("%s index entry for %q: %w", ix, id, err)
			return false
		}
		return fn(f)
	}))
	if err != nil {
		return err
	}
	return ferr
}

func count(s indexSource, ix store.Index, id string, w store.Window) (int, error) {
	// Order does not change a count, and from the newest end a walk with
	// Since stops as soon as it leaves the window.
	w.Reverse = !w.Since.IsZero()
	n := 0
	_, err := s.scan(ix, id, &w, limited(&w, func(uint64, int64, []byte) bool {
		n++
		return true
	}))
	return n, err
}

// visit receives one index entry; kind is only valid during the call.
type visit func(seq uint64, unixNano int64, kind []byte) bool

// limited stops fn after w.Limit matches. The overlay shares one limited
// visitor between the committed and the staged entries so that the limit
// spans both.
func limited(w *store.Window, fn visit) visit {
	if w.Limit <= 0 {
		return fn
	}
	n := 0
	return func(seq uint64, t int64, kind []byte) bool {
		n++
		return fn(seq, t, kind) && n < w.Limit
	}
}

// scan calls fn with id's entries in ix that match w's times and kinds, in
// w's order, ignoring w.Limit: those of the index buckets, then those of
// level 0 (reversed for a reverse window). It returns more=false when fn
// stopped it.
//
// Facts up to the mark of id's partition are no newer than the mark's
// time, so a window that starts after it ("the last hour", when level 0
// spans more than an hour) is answered from memory without touching the
// index buckets.
func (r *reader) scan(ix store.Index, id string, w *store.Window, fn visit) (more bool, err error) {
	if !validIndex(ix) {
		return false, fmt.Errorf("unknown index %s", ix)
	}
	if err := r.span(); err != nil {
		return false, err
	}
	since, until := w.NanoBounds()
	if id == "" || since > until {
		return true, nil
	}
	m := r.markOf(ix, id)
	var buf [8]entry
	recent, err := r.recent(buf[:0], ix, id, m.seq, since, until, w.Kinds)
	if err != nil {
		return false, err
	}
	indexed := m.seq > 0 && since <= m.time
	if w.Reverse {
		for i := len(recent) - 1; i >= 0; i-- {
			if e := &recent[i]; !fn(e.seq, e.time, bytesOf(e.kind)) {
				return false, nil
			}
		}
		if !indexed {
			return true, nil
		}
		return r.scanIndex(ix, id, w, fn)
	}
	if indexed {
		if more, err := r.scanIndex(ix, id, w, fn); err != nil || !more {
			return more, err
		}
	}
	for i := range recent {
		if e := &recent[i]; !fn(e.seq, e.time, bytesOf(e.kind)) {
			return false, nil
		}
	}
	return true, nil
}

// recent appends to dst id's level 0 entries in the snapshot: those of the
// facts after its partition's mark. They come from the tail, unless it is
// still being loaded after a crash (see Ledger.load), or merges that
// committed after the snapshot began have trimmed some of them away; then
// from the snapshot's own level 0 records, which is slower (a walk over
// all of them, a few milliseconds at the most) and rare.
func (r *reader) recent(dst []entry, ix store.Index, id string, after uint64, since, until int64, kinds []string) ([]entry, error) {
	if r.top <= after {
		return dst, nil
	}
	if es, ok := r.tail.match(dst, ix, id, after, r.top, since, until, kinds); ok {
		return es, nil
	}
	b := r.tx.Bucket(recentBucket)
	if b == nil {
		return nil, fmt.Errorf("recent: %w", errNoBucket)
	}
	err := eachRecord(b, after, r.top, func(i int, rec []byte) error {
		seq := after + 1 + uint64(i)
		t, ids, err := splitRecent(rec)
		if err != nil {
			// As Open's load does, a missing or damaged record is read
			// from its fact.
			f, ferr := r.Fact(seq)
			if ferr != nil {
				return fmt.Errorf("recent index at fact %d: %w", seq, ferr)
			}
			t = f.Time.UnixNano()
			for _, ix := range store.Indexes {
				ids[ix] = bytesOf(f.ID(ix))
			}
		}
		kind := ids[store.ByKind]
		if string(ids[ix]) == id && t >= since && t <= until && kindMatches(kinds, kind) {
			dst = append(dst, entry{seq: seq, time: t, kind: string(kind)})
		}
		return nil
	})
	return dst, err
}

// bytesOf returns s's bytes without copying them, for visitors, which
// only read kind during the call.
func bytesOf(s string) []byte { return unsafe.Slice(unsafe.StringData(s), len(s)) }

// scanIndex is scan for the index buckets alone.
//
// Times never decrease along the chain, so an id's entries are in time
// order too: a walk stops at the first entry beyond the window instead of
// filtering the id's whole history. With Since set the walk starts from the
// newest end, which makes "how many in the last hour" cost what the last
// hour holds, however long the id's history.
func (r *reader) scanIndex(ix store.Index, id string, w *store.Window, fn visit) (more bool, err error) {
	b, err := r.index(ix)
	if err != nil {
		return false, err
	}
	since, until := w.NanoBounds()
	var buf [1 + store.MaxIDLen + 9]byte
	end := indexKey(buf[:0], id, ^uint64(0)) // past the id's last entry
	prefix := end[:len(end)-8]
	c := b.Cursor()
	// entry decodes the cursor's position; ok is false past the id's range.
	entry := func(k, v []byte) (seq uint64, t int64, kind []byte, ok bool, err error) {
		if k == nil || len(k) != len(prefix)+8 || !bytes.HasPrefix(k, prefix) {
			return 0, 0, nil, false, nil
		}
		t, kind, ok = parseIndexValue(v)
		if !ok {
			return 0, 0, nil, false, fmt.Errorf("%s index: corrupt entry %x", ix, k)
		}
		_, _, seq, _ = parseIndexKey(k)
		return seq, t, kind, true, nil
	}

	if !w.Reverse && w.Since.IsZero() {
		for k, v := c.Seek(prefix); ; k, v = c.Next() {
			seq, t, kind, ok, err := entry(k, v)
			if err != nil || !ok || t > until {
				return true, err
			}
			if kindMatches(w.Kinds, kind) && !fn(seq, t, kind) {
				return false, nil
			}
		}
	}

	// Walk back from the id's newest entry.
	var k, v []byte
	if k, _ = c.Seek(end); k == nil {
		k, v = c.Last()
	} else {
		k, v = c.Prev()
	}
	var first []byte // oldest entry inside the window, for the forward walk
	for ; ; k, v = c.Prev() {
		seq, t, kind, ok, err := entry(k, v)
		if err != nil {
			return false, err
		}
		if !ok || t < since {
			break
		}
		if t > until {
			continue
		}
		if !w.Reverse {
			first = k
			continue
		}
		if kindMatches(w.Kinds, kind) && !fn(seq, t, kind) {
			return false, nil
		}
	}
	if w.Reverse || first == nil {
		return true, nil
	}
	for k, v = c.Seek(first); ; k, v = c.Next() {
		seq, t, kind, ok, err := entry(k, v)
		if err != nil || !ok || t > until {
			return true, err
		}
		if kindMatches(w.Kinds, kind) && !fn(seq, t, kind) {
			return false, nil
		}
	}
}
