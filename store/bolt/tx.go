package bolt

import (
	"crypto/sha256"
	"fmt"
	"time"

	"github.com/attest-dev/attest/store"
)

// writeTx is the store.Tx an Update function receives. Append stages facts
// in memory instead of writing them to bbolt, so that a function that fails
// is dropped by forgetting its staging, without rolling back the bbolt
// transaction it shares with the rest of its batch. Reads see the batch's
// bbolt transaction (everything committed so far plus the facts of earlier
// functions in the batch) followed by the staged facts, which are always
// newer than anything in bbolt.
type writeTx struct {
	*reader
	base   head // the head in bbolt when the function began
	tip    head // base plus the staged facts
	staged []stagedFact
}

type stagedFact struct {
	fact store.Fact
	enc  []byte // the stored bytes, hashed into the next fact's Prev
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
	t := max(f.Time.UnixNano(), w.tip.time)
	f.Seq = w.tip.seq + 1
	f.Time = time.Unix(0, t).UTC()
	f.Prev = w.tip.prev()
	f.Body = body
	enc, err := encodeFact(&f)
	if err != nil {
		return store.Fact{}, fmt.Errorf("append fact %d: encode: %w", f.Seq, err)
	}
	w.staged = append(w.staged, stagedFact{fact: f, enc: enc})
	w.tip = head{seq: f.Seq, time: t, hash: sha256.Sum256(enc)}
	return f, nil
}

// apply writes the staged facts and their level 0 records into the
// batch's bbolt transaction, and adds them to the tail so that the next
// function of the batch finds them by id.
func (w *writeTx) apply() error {
	facts, err := w.factsBucket()
	if err != nil {
		return err
	}
	recent := w.tx.Bucket(recentBucket)
	if recent == nil {
		return fmt.Errorf("recent: %w", errNoBucket)
	}
	// Keys only ever grow, so full pages are never split again.
	facts.FillPercent = 1.0
	recent.FillPercent = 1.0
	for i := range w.staged {
		s := &w.staged[i]
		f := &s.fact
		key := seqKey(f.Seq)
		if err := facts.Put(key, s.enc); err != nil {
			return fmt.Errorf("append fact %d: %w", f.Seq, err)
		}
		tf := tailFactOf(f)
		if err := recent.Put(key, encodeRecent(&tf)); err != nil {
			return fmt.Errorf("append fact %d to the recent index: %w", f.Seq, err)
		}
		w.tail.add(f.Seq, tf)
	}
	return nil
}

// stagedFrom returns the staged facts with sequence numbers from from on.
func (w *writeTx) stagedFrom(from uint64) []stagedFact {
	if from <= w.base.seq {
		return w.staged
	}
	if i := from - w.base.seq - 1; i < uint64(len(w.staged)) {
		return w.staged[i:]
	}
	return nil
}

func (w *writeTx) Head() (uint64, time.Time, error) {
	return w.tip.seq, headTime(w.tip), nil
}

func (w *writeTx) Fact(seq uint64) (store.Fact, error) {
	if seq > w.base.seq && seq <= w.tip.seq {
		return w.staged[seq-w.base.seq-1].fact, nil
	}
	return w.reader.Fact(seq)
}

func (w *writeTx) All(from uint64, fn func(store.Fact) bool) error {
	more, err := w.reader.all(from, fn)
	if err != nil || !more {
		return err
	}
	for _, s := range w.stagedFrom(from) {
		if !fn(s.fact) {
			break
		}
	}
	return nil
}

// scanStaged is scan for the staged facts.
func (w *writeTx) scanStaged(ix store.Index, id string, win *store.Window, fn visit) (more bool) {
	if id == "" {
		return true
	}
	since, until := win.NanoBounds()
	for i := range w.staged {
		if win.Reverse {
			i = len(w.staged) - 1 - i
		}
		f := &w.staged[i].fact
		t := f.Time.UnixNano()
		if f.ID(ix) != id || t < since || t > until || !kindMatches(win.Kinds, f.Kind) {
			continue
		}
		if !fn(f.Seq, t, bytesOf(f.Kind)) {
			return false
		}
	}
	return true
}

// scan runs over the committed entries (the index buckets and level 0 up
// to the facts of earlier functions in the batch) and the staged ones as
// one sequence: staged facts come after every committed one.
func (w *writeTx) scan(ix store.Index, id string, win *store.Window, fn visit) (more bool, err error) {
	if len(w.staged) == 0 {
		return w.reader.scan(ix, id, win, fn)
	}
	if !validIndex(ix) {
		return false, fmt.Errorf("unknown index %s", ix)
	}
	if win.Reverse {
		if !w.scanStaged(ix, id, win, fn) {
			return false, nil
		}
		return w.reader.scan(ix, id, win, fn)
	}
	if more, err = w.reader.scan(ix, id, win, fn); err != nil || !more {
		return more, err
	}
	return w.scanStaged(ix, id, win, fn), nil
}

func (w *writeTx) Entries(ix store.Index, id string, win store.Window, fn func(store.Entry) bool) error {
	return entries(w, ix, id, win, fn)
}

func (w *writeTx) Facts(ix store.Index, id string, win store.Window, fn func(store.Fact) bool) error {
	return facts(w, ix, id, win, fn)
}

func (w *writeTx) Count(ix store.Index, id string, win store.Window) (int, error) {
	return count(w, ix, id, win)
}
