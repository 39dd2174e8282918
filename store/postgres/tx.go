package postgres

import (
	"fmt"
	"time"

	"github.com/attest-dev/attest/store"
)

// overlay holds the facts a batch's functions have appended so far: they
// are inserted together at the end of the batch, so until then reads must
// find them here. Every overlay fact is newer than every fact in the
// database, since the batch holds the append lock.
type overlay struct {
	base  head         // the newest fact in the database
	tip   head         // base plus the overlay
	facts []store.Fact // sequence numbers base.seq+1 onwards
	// ids maps each index's ids to positions in facts, in order.
	ids [store.ByKind + 1]map[string][]int
}

// head is a ledger's newest fact.
type head struct {
	seq  uint64
	ns   int64
	link string // the Prev of the fact after it; "" for an empty ledger
}

func newOverlay(base head) *overlay {
	o := &overlay{base: base, tip: base}
	for _, ix := range store.Indexes {
		o.ids[ix] = map[string][]int{}
	}
	return o
}

func (o *overlay) add(f store.Fact, link string) {
	i := len(o.facts)
	o.facts = append(o.facts, f)
	for _, ix := range store.Indexes {
		if id := f.ID(ix); id != "" {
			o.ids[ix][id] = append(o.ids[ix][id], i)
		}
	}
	o.tip = head{seq: f.Seq, ns: f.Time.UnixNano(), link: link}
}

// truncate drops the facts after the first n, those of a function that
// failed; tip says where the chain continues from.
func (o *overlay) truncate(n int, tip head) {
	for i := len(o.facts) - 1; i >= n; i-- {
		f := &o.facts[i]
		for _, ix := range store.Indexes {
			if id := f.ID(ix); id != "" {
				o.ids[ix][id] = o.ids[ix][id][:len(o.ids[ix][id])-1]
			}
		}
	}
	o.facts = o.facts[:n]
	o.tip = tip
}

// matching calls fn with the overlay's facts for id inside w, in w's
// order, at most limit of them (0: all); it returns how many it passed and
// whether fn wanted more.
func (o *overlay) matching(ix store.Index, id string, w *store.Window, limit int, fn func(*store.Fact) bool) (n int, more bool) {
	pos := o.ids[ix][id]
	for k := range pos {
		if w.Reverse {
			k = len(pos) - 1 - k
		}
		f := &o.facts[pos[k]]
		if !w.Matches(store.Entry{Seq: f.Seq, Time: f.Time, Kind: f.Kind}) {
			continue
		}
		if limit > 0 && n == limit {
			return n, false
		}
		n++
		if !fn(f) {
			return n, false
		}
	}
	return n, true
}

// writeTx is the store.Tx an update function receives: reads of the
// database (db: a snapshot ahead of the lock, the batch's locked
// transaction under it, through the batch's memo) followed by the overlay.
type writeTx struct {
	db source
	ov *overlay
}

var _ store.Tx = (*writeTx)(nil)

func (w *writeTx) Append(f store.Fact) (store.Fact, error) {
	if err := f.Validate(); err != nil {
		return store.Fact{}, fmt.Errorf("append %s fact: %w", f.Kind, err)
	}
	body, err := store.CanonicalBody(f.Body)
	if err != nil {
		return store.Fact{}, fmt.Errorf("append %s fact: %w", f.Kind, err)
	}
	tip := w.ov.tip
	t := max(f.Time.UnixNano(), tip.ns)
	f.Seq = tip.seq + 1
	f.Time = time.Unix(0, t).UTC()
	f.Prev = tip.link
	f.Body = body
	enc, err := store.Encode(&f)
	if err != nil {
		return store.Fact{}, fmt.Errorf("append fact %d: encode: %w", f.Seq, err)
	}
	w.ov.add(f, store.Link(enc))
	return f, nil
}

func (w *writeTx) Head() (uint64, time.Time, error) {
	if w.ov.tip.seq == 0 {
		return 0, time.Time{}, nil
	}
	return w.ov.tip.seq, time.Unix(0, w.ov.tip.ns).UTC(), nil
}

func (w *writeTx) Fact(seq uint64) (store.Fact, error) {
	if seq > w.ov.base.seq && seq <= w.ov.tip.seq {
		return w.ov.facts[seq-w.ov.base.seq-1], nil
	}
	if seq > w.ov.tip.seq {
		return store.Fact{}, store.ErrNotFound
	}
	return w.db.Fact(seq)
}

func (w *writeTx) All(from uint64, fn func(store.Fact) bool) error {
	more, err := w.db.all(from, fn)
	if err != nil || !more {
		return err
	}
	for _, f := range w.ov.facts {
		if f.Seq >= from && !fn(f) {
			break
		}
	}
	return nil
}

// The database holds the older facts, the overlay the newer: forward, the
// database's come first; reversed, the overlay's.

func (w *writeTx) Entries(ix store.Index, id string, win store.Window, fn func(store.Entry) bool) error {
	return overlaid(w, ix, id, &win, fn, w.db.entries, func(f *store.Fact) store.Entry {
		return store.Entry{Seq: f.Seq, Time: f.Time, Kind: f.Kind}
	})
}

func (w *writeTx) Facts(ix store.Index, id string, win store.Window, fn func(store.Fact) bool) error {
	return overlaid(w, ix, id, &win, fn, w.db.facts, func(f *store.Fact) store.Fact { return *f })
}

// overlaid reads id's entries of ix inside win from the database (with
// db) and the overlay (with conv) as one sequence.
func overlaid[T any](w *writeTx, ix store.Index, id string, win *store.Window, fn func(T) bool,
	db func(store.Index, string, *store.Window, int, func(T) bool) (bool, error), conv func(*store.Fact) T) error {
	if _, err := column(ix); err != nil || id == "" {
		return err
	}
	fromOverlay := func(limit int) (int, bool) {
		return w.ov.matching(ix, id, win, limit, func(f *store.Fact) bool { return fn(conv(f)) })
	}
	if win.Reverse {
		n, more := fromOverlay(win.Limit)
		if !more || win.Limit > 0 && n == win.Limit {
			return nil
		}
		_, err := db(ix, id, win, remaining(win.Limit, n), fn)
		return err
	}
	n := 0
	more, err := db(ix, id, win, win.Limit, func(v T) bool { n++; return fn(v) })
	if err != nil || !more || win.Limit > 0 && n == win.Limit {
		return err
	}
	fromOverlay(remaining(win.Limit, n))
	return nil
}

func (w *writeTx) Count(ix store.Index, id string, win store.Window) (int, error) {
	if _, err := column(ix); err != nil || id == "" {
		return 0, err
	}
	n, _ := w.ov.matching(ix, id, &win, win.Limit, func(*store.Fact) bool { return true })
	if win.Limit > 0 && n == win.Limit {
		return n, nil
	}
	m, err := w.db.count(ix, id, &win, remaining(win.Limit, n))
	return n + m, err
}

// remaining is what is left of limit after n (0 stays "no limit").
func remaining(limit, n int) int {
	if limit == 0 {
		return 0
	}
	return limit - n
}
