// Package bolt is attest's ledger on a single bbolt file.
//
// Facts live in the "facts" bucket under their big-endian sequence number,
// stored as their JSON encoding: the exact bytes whose SHA-256 the next
// fact's Prev holds. Each index has a bucket of its own whose keys are
// id, NUL, big-endian seq and whose values are the fact's time (big-endian
// unix nanoseconds) followed by its kind, so that counting and filtering
// never decode a fact. The "meta" bucket holds the head (last seq, time and
// hash), written in the same transaction as every append, so that opening a
// ledger of any size reads one record instead of replaying the chain.
//
// Updates are committed in groups: one writer goroutine takes every
// function waiting, runs them all in one bbolt transaction and pays one
// fsync for the lot. A batch forms while the previous one is being synced,
// so there is no timer and a lone writer waits for nobody.
package bolt

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	bbolt "go.etcd.io/bbolt"
	bberrors "go.etcd.io/bbolt/errors"

	"github.com/attest-dev/attest/store"
)

// Options tune Open. The zero value is ready to use.
type Options struct {
	// LockTimeout is how long Open waits for another process to release
	// the file before it fails with store.ErrLocked; 0 means one second.
	LockTimeout time.Duration
}

// maxBatch caps how many update functions share one commit, which bounds
// the memory one transaction holds and the latency of the last function
// in it.
const maxBatch = 1024

// Ledger is a store.Ledger and store.Maintainer on a bbolt file. It is
// safe for concurrent use.
type Ledger struct {
	db   *bbolt.DB
	path string

	// mu orders Update's sends against Close's close(requests): Update
	// holds it shared while it sends, Close exclusively while it closes.
	mu       sync.RWMutex
	closed   bool
	requests chan *request
	stopped  chan struct{} // closed when the writer has answered everything

	// head is the newest fact in bbolt and broken the error that stopped
	// the writer, if any; both belong to the writer goroutine (and to Open
	// before it starts).
	head   head
	broken error

	commits, updates, appended atomic.Uint64
}

var (
	_ store.Ledger     = (*Ledger)(nil)
	_ store.Maintainer = (*Ledger)(nil)
)

type request struct {
	fn   func(store.Tx) error
	err  error
	done chan error
}

// Open opens the ledger at path, creating it (and its directory) if it
// does not exist. It fails with an error wrapping store.ErrLocked if
// another process has the file open.
func Open(path string, opts Options) (*Ledger, error) {
	if opts.LockTimeout <= 0 {
		opts.LockTimeout = time.Second
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("open ledger %s: %w", path, err)
	}
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{Timeout: opts.LockTimeout})
	if errors.Is(err, bberrors.ErrTimeout) {
		return nil, fmt.Errorf("open ledger %s: %w, most likely a running attest server (gave up after %s)",
			path, store.ErrLocked, opts.LockTimeout)
	}
	if err != nil {
		return nil, fmt.Errorf("open ledger %s: %w", path, err)
	}
	l := &Ledger{
		db:       db,
		path:     path,
		requests: make(chan *request, maxBatch),
		stopped:  make(chan struct{}),
	}
	if err := l.init(); err != nil {
		db.Close()
		return nil, fmt.Errorf("open ledger %s: %w", path, err)
	}
	go l.write()
	return l, nil
}

// init creates the buckets of a new ledger and reads the head of an
// existing one.
func (l *Ledger) init() error {
	var ready bool
	err := l.db.View(func(tx *bbolt.Tx) error {
		meta := tx.Bucket(metaBucket)
		if meta == nil {
			// A new file; but a bbolt file of something else must not
			// quietly become a ledger.
			if k, _ := tx.Cursor().First(); k != nil {
				return fmt.Errorf("not an attest ledger: it has a %q bucket and no meta", k)
			}
			return nil
		}
		if v := meta.Get(formatKey); string(v) != format {
			return fmt.Errorf("unknown ledger format %q (this build reads %q)", v, format)
		}
		ready = true
		r := &reader{tx: tx}
		h, err := r.head()
		if err != nil {
			return err
		}
		facts, err := r.factsBucket()
		if err != nil {
			return err
		}
		// One cursor step is a cheap guard against a head that lags the
		// facts, which would make the next append overwrite one.
		var last uint64
		if k, _ := facts.Cursor().Last(); k != nil {
			last = seqOf(k)
		}
		if last != h.seq {
			return fmt.Errorf("head record says fact %d but the last fact is %d; run verify", h.seq, last)
		}
		l.head = h
		return nil
	})
	if err != nil || ready {
		return err
	}
	err = l.db.Update(func(tx *bbolt.Tx) error {
		for _, name := range append([][]byte{factsBucket, metaBucket}, indexBuckets[1:]...) {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return fmt.Errorf("create bucket %s: %w", name, err)
			}
		}
		return tx.Bucket(metaBucket).Put(formatKey, []byte(format))
	})
	if err != nil {
		return err
	}
	// bbolt syncs the file; the directory entry of a new file needs its
	// own sync to survive a power cut.
	return syncDir(filepath.Dir(l.path))
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	return nil
}

// Path returns the file the ledger lives in.
func (l *Ledger) Path() string { return l.path }

// Stats counts what the writer has done since Open.
type Stats struct {
	Commits uint64 // bbolt transactions committed (one fsync pair each)
	Updates uint64 // update functions that returned nil and were committed
	Facts   uint64 // facts appended
}

// Stats returns the counters; Facts/Commits is the average batch.
func (l *Ledger) Stats() Stats {
	return Stats{Commits: l.commits.Load(), Updates: l.updates.Load(), Facts: l.appended.Load()}
}

// View runs fn in a read-only bbolt transaction. It returns
// store.ErrClosed after Close.
func (l *Ledger) View(fn func(store.Reader) error) error {
	l.mu.RLock()
	closed := l.closed
	l.mu.RUnlock()
	if closed {
		return store.ErrClosed
	}
	err := l.db.View(func(tx *bbolt.Tx) error {
		return fn(&reader{tx: tx})
	})
	if errors.Is(err, bberrors.ErrDatabaseNotOpen) {
		return store.ErrClosed
	}
	return err
}

// Update runs fn with the other functions waiting at the time in one
// bbolt transaction and returns when that transaction is durable. If fn
// returns an error or panics, what it appended is dropped and the error
// (for a panic, one describing it) is returned; the rest of the batch is
// unaffected. If the commit fails, every function of the batch gets that
// error, and every later Update gets one too until the ledger is reopened.
// fn runs exactly once, on the writer goroutine: it must not call
// the Ledger, nor keep the Tx beyond its return. Update returns
// store.ErrClosed after Close.
func (l *Ledger) Update(fn func(store.Tx) error) error {
	r := &request{fn: fn, done: make(chan error, 1)}
	l.mu.RLock()
	if l.closed {
		l.mu.RUnlock()
		return store.ErrClosed
	}
	l.requests <- r
	l.mu.RUnlock()
	return <-r.done
}

// Close waits for the pending updates, then closes the file. Closing
// twice is harmless.
func (l *Ledger) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		<-l.stopped
		return nil
	}
	l.closed = true
	close(l.requests)
	l.mu.Unlock()
	<-l.stopped
	if err := l.db.Close(); err != nil {
		return fmt.Errorf("close ledger %s: %w", l.path, err)
	}
	return nil
}

// write is the writer goroutine. Requests that arrive while a commit is
// syncing wait in the channel and make up the next batch.
func (l *Ledger) write() {
	defer close(l.stopped)
	batch := make([]*request, 0, maxBatch)
	for r := range l.requests {
		batch = append(batch[:0], r)
	drain:
		for len(batch) < maxBatch {
			select {
			case r, ok := <-l.requests:
				if !ok {
					break drain
				}
				batch = append(batch, r)
			default:
				break drain
			}
		}
		l.commit(batch)
		for _, r := range batch {
			r.done <- r.err
		}
		clear(batch) // let answered requests be collected
	}
}

// commit runs batch in one transaction and sets each request's err.
func (l *Ledger) commit(batch []*request) {
	if l.broken != nil {
		for _, r := range batch {
			r.err = l.broken
		}
		return
	}
	tx, err := l.db.Begin(true)
	if err != nil {
		for _, r := range batch {
			r.err = fmt.Errorf("begin update: %w", err)
		}
		return
	}
	start := l.head
	fail := func(err error) {
		tx.Rollback()
		l.head = start
		for _, r := range batch {
			if r.err == nil {
				r.err = err
			}
		}
	}
	rd := &reader{tx: tx}
	for _, r := range batch {
		w := &writeTx{reader: rd, base: l.head, tip: l.head}
		if r.err = run(r.fn, w); r.err != nil || len(w.staged) == 0 {
			continue
		}
		// A failed Put leaves part of the function in the transaction, so
		// the whole batch has to go; Validate makes this unreachable short
		// of a full disk or a bbolt bug.
		if err := w.apply(); err != nil {
			fail(err)
			return
		}
		l.head = w.tip
	}
	if l.head == start {
		// Nothing to make durable: the functions only read, or failed.
		tx.Rollback()
		l.count(batch, 0)
		return
	}
	what := fmt.Sprintf("commit facts %d to %d", start.seq+1, l.head.seq)
	if err := tx.Bucket(metaBucket).Put(headKey, l.head.encode()); err != nil {
		fail(fmt.Errorf("%s: write head: %w", what, err))
		return
	}
	if err := tx.Commit(); err != nil {
		// After a failed write or fsync neither the page cache nor bbolt's
		// idea of the last meta page can be trusted to match the disk, and
		// guessing wrong would reuse a sequence number; only reading the
		// file afresh (reopening) settles what the head is.
		l.broken = fmt.Errorf("ledger %s refuses updates after a failed commit, reopen it: %w", l.path, err)
		fail(fmt.Errorf("%s: %w", what, err))
		return
	}
	l.commits.Add(1)
	l.count(batch, l.head.seq-start.seq)
}

func (l *Ledger) count(batch []*request, facts uint64) {
	var ok uint64
	for _, r := range batch {
		if r.err == nil {
			ok++
		}
	}
	l.updates.Add(ok)
	l.appended.Add(facts)
}

// run calls fn, turning a panic into an error for its caller alone.
func run(fn func(store.Tx) error, w *writeTx) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("update function panicked: %v", p)
		}
	}()
	return fn(w)
}
