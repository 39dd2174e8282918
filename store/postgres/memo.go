package postgres

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"

	"github.com/jackc/pgx/v5"

	"github.com/attest-dev/attest/store"
)

// A memo holds the database's answers to a batch's reads, as the ledger
// stood at one head (asOf): the answers its functions got when they ran
// ahead of the append lock on a snapshot, and then, under the lock, those
// brought forward to the newest fact and those read live. Each answer is
// keyed by the exact call, so the functions, run again under the lock in
// the same order, get the same answer for the same question without a
// round trip, as long as nothing appended since asOf changes it.
//
// Every answer is a filter of the facts up to asOf (by one index's id,
// times and kinds) in sequence order, cut at a limit, or its count. Facts
// only ever join the end of the chain, so the answer as of a newer head is
// the old one with the matching facts appended since merged in at the
// right end (forward) or the left (newest first), cut at the same limit:
// forward brings the answer newer rows only if it had fewer than the
// limit, newest first it is pushed along by them. So rather than drop an
// answer that a later fact touches, the memo is brought forward (advance)
// with the facts appended meanwhile, which the writer reads under the lock
// in the round trip that takes it.
type memo struct {
	asOf    head
	answers map[call]*answer
	facts   map[uint64]store.Fact // Fact(seq) for seq ≤ asOf.seq: never changes
	size    int                   // bytes held, roughly (sizeOf), all answers together
}

// call is one read of the database, as writeTx makes it.
type call struct {
	op      byte // 'e' entries, 'f' facts, 'c' count
	ix      store.Index
	id      string
	lo, hi  int64  // the window's bounds in ns (store.Window.NanoBounds)
	kinds   string // the window's kinds (none empty or with a NUL: see plain), joined by NUL
	reverse bool
	limit   int // as sent to the database (0: none)
}

type answer struct {
	entries []store.Entry // op 'e'
	facts   []store.Fact  // op 'f'
	n       int           // op 'c'
}

const (
	// memoRows caps the rows one answer may hold and memoSize the bytes
	// all of a batch's answers together; answers beyond them are read
	// live each time (what a batch's functions read is usually a few rows
	// per id, and the governor's newest thousand of a kind).
	memoRows = 1000
	memoSize = 16 << 20
	// advanceMax caps the facts read to bring a memo forward: a memo
	// further behind than this is dropped (see try).
	advanceMax = 4096
)

func newMemo(asOf head) *memo {
	return &memo{asOf: asOf, answers: map[call]*answer{}, facts: map[uint64]store.Fact{}}
}

// callOf is the call for a read whose window went through plain (so its
// kinds, joined by NUL, say unambiguously which they are).
func callOf(op byte, ix store.Index, id string, w *store.Window, limit int) call {
	lo, hi := w.NanoBounds()
	return call{op: op, ix: ix, id: id, lo: lo, hi: hi, kinds: strings.Join(w.Kinds, "\x00"), reverse: w.Reverse, limit: limit}
}

// matches says whether f is one of the rows c reads (before its limit),
// exactly as query's WHERE clause does.
func (c *call) matches(f *store.Fact) bool {
	if f.ID(c.ix) != c.id {
		return false
	}
	ns := f.Time.UnixNano()
	if ns < c.lo || ns > c.hi {
		return false
	}
	if c.kinds == "" {
		return true
	}
	return slices.Contains(strings.Split(c.kinds, "\x00"), f.Kind)
}

// catchUp brings m forward to the head to, given newer, what newerFacts
// read after m.asOf under the lock. It returns false, leaving m as it
// was, when they do not lead from m.asOf to to: too many to have been
// read in full, or not the chain's continuation.
func (m *memo) catchUp(newer []store.Fact, to head) bool {
	if len(newer) == 0 {
		return to == m.asOf
	}
	if len(newer) > advanceMax || to.seq < m.asOf.seq || uint64(len(newer)) != to.seq-m.asOf.seq ||
		newer[0].Seq != m.asOf.seq+1 || newer[0].Prev != m.asOf.link || newer[len(newer)-1].Seq != to.seq {
		return false
	}
	m.advance(newer, to)
	return true
}

// advance brings every answer forward from asOf to to, given newer, the
// facts after asOf up to to, in order.
func (m *memo) advance(newer []store.Fact, to head) {
	var byID [store.ByKind + 1]map[string][]*store.Fact
	for _, ix := range store.Indexes {
		byID[ix] = map[string][]*store.Fact{}
	}
	for i := range newer {
		f := &newer[i]
		for _, ix := range store.Indexes {
			if id := f.ID(ix); id != "" {
				byID[ix][id] = append(byID[ix][id], f)
			}
		}
	}
	for c, a := range m.answers {
		var hit []*store.Fact
		for _, f := range byID[c.ix][c.id] {
			if c.matches(f) {
				hit = append(hit, f)
			}
		}
		if len(hit) == 0 {
			continue
		}
		switch c.op {
		case 'c':
			a.n += len(hit)
			if c.limit > 0 {
				a.n = min(a.n, c.limit)
			}
		case 'e':
			m.size -= a.sizeOf()
			a.entries = merged(a.entries, hit, c.reverse, c.limit, entryOf)
			m.size += a.sizeOf()
		case 'f':
			m.size -= a.sizeOf()
			a.facts = merged(a.facts, hit, c.reverse, c.limit, func(f *store.Fact) store.Fact { return *f })
			m.size += a.sizeOf()
		}
	}
	for _, f := range newer {
		m.facts[f.Seq] = f
		m.size += factSize(&f)
	}
	m.asOf = to
}

// merged is old, an answer in call order, with hit (newer rows, oldest
// first) added where they belong and cut at limit.
func merged[T any](old []T, hit []*store.Fact, reverse bool, limit int, conv func(*store.Fact) T) []T {
	if !reverse {
		for _, f := range hit {
			if limit > 0 && len(old) >= limit {
				break
			}
			old = append(old, conv(f))
		}
		return old
	}
	out := make([]T, 0, len(hit)+len(old))
	for i := len(hit) - 1; i >= 0; i-- {
		out = append(out, conv(hit[i]))
	}
	out = append(out, old...)
	if limit > 0 && len(out) > limit {
		out = out[:limit]
	}
	return out
}

func entryOf(f *store.Fact) store.Entry { return store.Entry{Seq: f.Seq, Time: f.Time, Kind: f.Kind} }

// keep records a as c's answer if the memo has room for it.
func (m *memo) keep(c call, a *answer) {
	if n := a.sizeOf(); m.size+n <= memoSize {
		m.size += n
		m.answers[c] = a
	}
}

// sizeOf is roughly how many bytes a holds.
func (a *answer) sizeOf() int {
	n := 64 + 48*len(a.entries)
	for i := range a.facts {
		n += factSize(&a.facts[i])
	}
	return n
}

func factSize(f *store.Fact) int {
	return 160 + len(f.Kind) + len(f.User) + len(f.Device) + len(f.Address) + len(f.Ticket) + len(f.Body) + len(f.Prev)
}

// source is what writeTx reads the database through.
type source interface {
	Fact(seq uint64) (store.Fact, error)
	all(from uint64, fn func(store.Fact) bool) (more bool, err error)
	entries(ix store.Index, id string, w *store.Window, limit int, fn func(store.Entry) bool) (more bool, err error)
	facts(ix store.Index, id string, w *store.Window, limit int, fn func(store.Fact) bool) (more bool, err error)
	count(ix store.Index, id string, w *store.Window, limit int) (int, error)
}

var _ source = (*reader)(nil)

// memoReader answers from its memo what the memo holds and reads the rest
// from the database through reader, keeping the answers. The database
// must stand where the memo does: the snapshot the memo began at, or,
// under the append lock, the newest fact once the memo was brought there.
type memoReader struct {
	*reader
	m      *memo
	reused *atomic.Uint64 // answers served from the memo
	// live says whether what the memo lacks may be read from the
	// database; when it may not, such a read fails and sets refused.
	live, refused bool
}

var _ source = (*memoReader)(nil)

// errPutOff is what a read the memo cannot answer returns when it may not
// read the database; the writer drops whatever the function then does.
var errPutOff = errors.New("put off to the next batch")

// refuse reports whether a read the memo cannot answer must fail.
func (r *memoReader) refuse() bool {
	if !r.live {
		r.refused = true
	}
	return !r.live
}

func (r *memoReader) all(from uint64, fn func(store.Fact) bool) (bool, error) {
	if r.refuse() {
		return false, errPutOff
	}
	return r.reader.all(from, fn)
}

func (r *memoReader) Fact(seq uint64) (store.Fact, error) {
	if f, ok := r.m.facts[seq]; ok {
		r.reused.Add(1)
		f.Body = slices.Clone(f.Body)
		return f, nil
	}
	if r.refuse() {
		return store.Fact{}, errPutOff
	}
	f, err := r.reader.Fact(seq)
	if n := factSize(&f); err == nil && seq <= r.m.asOf.seq && r.m.size+n <= memoSize {
		r.m.size += n
		r.m.facts[seq] = f
		f.Body = slices.Clone(f.Body)
	}
	return f, err
}

func (r *memoReader) entries(ix store.Index, id string, w *store.Window, limit int, fn func(store.Entry) bool) (bool, error) {
	w, ok, err := plain(ix, id, w)
	if !ok {
		return true, err
	}
	c := callOf('e', ix, id, w, limit)
	if a, ok := r.m.answers[c]; ok {
		r.reused.Add(1)
		return each(a.entries, fn), nil
	}
	sql, args, err := query("seq, ns, kind", ix, id, w, limit)
	if err != nil {
		return false, err
	}
	if r.refuse() {
		return false, errPutOff
	}
	rows, err := r.q.Query(r.ctx, sql, args...)
	if err != nil {
		return false, fmt.Errorf("read %s index: %w", ix, classify(err))
	}
	kept, more, err := collect(rows, scanEntry, fn)
	if err == nil && kept != nil {
		r.m.keep(c, &answer{entries: kept})
	}
	return more, err
}

func (r *memoReader) facts(ix store.Index, id string, w *store.Window, limit int, fn func(store.Fact) bool) (bool, error) {
	w, ok, err := plain(ix, id, w)
	if !ok {
		return true, err
	}
	c := callOf('f', ix, id, w, limit)
	if a, ok := r.m.answers[c]; ok {
		r.reused.Add(1)
		return each(a.facts, func(f store.Fact) bool { f.Body = slices.Clone(f.Body); return fn(f) }), nil
	}
	sql, args, err := query(factColumns, ix, id, w, limit)
	if err != nil {
		return false, err
	}
	if r.refuse() {
		return false, errPutOff
	}
	rows, err := r.q.Query(r.ctx, sql, args...)
	if err != nil {
		return false, fmt.Errorf("read facts by %s: %w", ix, classify(err))
	}
	// fn gets its own copy of each body; the memo keeps the one scanned.
	kept, more, err := collect(rows, scanFact, func(f store.Fact) bool { f.Body = slices.Clone(f.Body); return fn(f) })
	if err == nil && kept != nil {
		r.m.keep(c, &answer{facts: kept})
	}
	return more, err
}

func (r *memoReader) count(ix store.Index, id string, w *store.Window, limit int) (int, error) {
	w, ok, err := plain(ix, id, w)
	if !ok {
		return 0, err
	}
	c := callOf('c', ix, id, w, limit)
	if a, ok := r.m.answers[c]; ok {
		r.reused.Add(1)
		return a.n, nil
	}
	if r.refuse() {
		return 0, errPutOff
	}
	n, err := r.reader.count(ix, id, w, limit)
	if err == nil {
		r.m.keep(c, &answer{n: n})
	}
	return n, err
}

// each calls fn with vs until it returns false; it reports whether fn
// wanted more.
func each[T any](vs []T, fn func(T) bool) bool {
	for _, v := range vs {
		if !fn(v) {
			return false
		}
	}
	return true
}

// collect is eachRow that also returns every row of the answer, read to
// its end even after fn has had enough (the driver reads the rest before
// the connection can be used again anyway), or nil when there are more
// than memoRows of them.
func collect[T any](rows pgx.Rows, scan func(pgx.Row) (T, error), fn func(T) bool) (kept []T, more bool, err error) {
	defer rows.Close()
	kept, more = []T{}, true
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, false, fmt.Errorf("read row: %w", classify(err))
		}
		if kept != nil {
			if len(kept) < memoRows {
				kept = append(kept, v)
			} else {
				kept = nil
			}
		}
		if more {
			more = fn(v)
		}
		if !more && kept == nil {
			return nil, false, nil
		}
	}
	if err := rows.Err(); err != nil {
		return nil, false, fmt.Errorf("read rows: %w", classify(err))
	}
	return kept, more, nil
}

// newerFacts queues the read of up to advanceMax+1 facts after seq, to
// bring a memo forward.
func newerFacts(b *pgx.Batch, seq uint64) {
	b.Queue("SELECT "+factColumns+" FROM facts WHERE seq > $1 ORDER BY seq LIMIT $2", int64(seq), advanceMax+1)
}

// readNewer reads newerFacts' answer.
func readNewer(br pgx.BatchResults) ([]store.Fact, error) {
	rows, err := br.Query()
	if err != nil {
		return nil, fmt.Errorf("read the facts appended since the batch ran ahead: %w", classify(err))
	}
	var out []store.Fact
	if _, err := eachRow(rows, scanFact, func(f store.Fact) bool { out = append(out, f); return true }); err != nil {
		return nil, fmt.Errorf("read the facts appended since the batch ran ahead: %w", err)
	}
	return out, nil
}
