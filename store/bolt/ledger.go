// Package bolt is attest's ledger on a single bbolt file.
//
// Facts live in the "facts" bucket under their big-endian sequence number,
// stored as their JSON encoding: the exact bytes whose SHA-256 the next
// fact's Prev holds. Each index has a bucket of its own whose keys are
// id, NUL, big-endian seq and whose values are the fact's time (big-endian
// unix nanoseconds) followed by its kind, so that counting and filtering
// never decode a fact. The newest facts' entries wait in a level 0 before
// they reach those buckets (see tail.go). The "meta" bucket holds the head
// (last seq, time and hash) and the indexed marks, written in the same
// transaction as every append, so that opening a ledger of any size reads
// two records and level 0 instead of replaying the chain.
//
// Updates are committed in groups: one writer goroutine takes every
// function waiting, runs them all in one bbolt transaction and pays one
// fsync for the lot. A batch forms while the previous one is being synced,
// so there is no timer and a lone writer waits for nobody.
package bolt

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
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

	// Tail is how many facts' entries each partition of the index
	// gathers in level 0 before the writer moves them into the index
	// buckets, so level 0 holds Tail to 2×Tail facts; 0 means DefaultTail,
	// and 1 moves every commit's facts at once.
	Tail int

	// InitialMmapSize is how many bytes of the file bbolt maps at Open.
	// bbolt remaps as the file grows, and a remap waits for every open
	// read transaction, so a commit that grows the file past the map
	// stalls behind the longest read; mapping ahead avoids that.
	InitialMmapSize int
}

// DefaultTail keeps level 0 at 32k to 64k facts: tens of MiB of memory at
// most, tens of milliseconds to load at Open, and merges large enough that
// the index buckets take many entries per page they rewrite.
const DefaultTail = 32 << 10

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

	// settle is set by Close (under mu, before the writer sees the
	// requests end) when the writer should merge level 0 before it stops.
	settle    bool
	settleErr error // the writer's, read by Close once it has stopped

	// marks says how far each partition of the index buckets reaches,
	// tail holds the facts after the least of them (level 0), and mergeAt
	// is Options.Tail. The writer goroutine owns marks; tail is shared
	// with readers under its own lock.
	marks   marks
	tail    *tail
	mergeAt int

	// loaded is closed once level 0 is in memory. After a crash Open
	// finds it in its records only, and a goroutine reads it back while
	// Open's caller goes on: until then questions read the records
	// themselves (see reader.recent) and the writer waits, because its
	// merges would delete them. loadErr is that goroutine's failure.
	loaded  chan struct{}
	loadErr error

	// latest is the span of the newest commit, for readers whose
	// snapshot it is (see View).
	latest atomic.Pointer[snapshot]

	commits, updates, appended, merges atomic.Uint64

	advised advised
}

// snapshot is the head and marks as of one bbolt transaction: what a
// reader would otherwise read from the meta bucket.
type snapshot struct {
	txid  int
	head  head
	marks marks
}

var (
	_ store.Ledger     = (*Ledger)(nil)
	_ store.Maintainer = (*Ledger)(nil)
)

type request struct {
	fn       func(store.Tx) error
	mergeAll bool // move all of level 0 into the index buckets
	err      error
	done     chan error
}

// Open opens the ledger at path, creating it (and its directory) if it
// does not exist. It fails with an error wrapping store.ErrLocked if
// another process has the file open. After a crash it returns before
// level 0 is back in memory (see loaded): reads are answered meanwhile,
// and updates wait.
func Open(path string, opts Options) (*Ledger, error) {
	if opts.LockTimeout <= 0 {
		opts.LockTimeout = time.Second
	}
	if opts.Tail <= 0 {
		opts.Tail = DefaultTail
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("open ledger %s: %w", path, err)
	}
	// Nothing reads bbolt's statistics, and keeping them costs every
	// read transaction a lock.
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{Timeout: opts.LockTimeout, InitialMmapSize: opts.InitialMmapSize, NoStatistics: true})
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
		mergeAt:  opts.Tail,
	}
	if err := l.init(); err != nil {
		db.Close()
		return nil, fmt.Errorf("open ledger %s: %w", path, err)
	}
	l.advise()
	l.loaded = make(chan struct{})
	if least := l.marks.least(); !l.tail.ready() {
		go l.load(least, l.head.seq)
	} else {
		close(l.loaded)
	}
	go l.write()
	return l, nil
}

// init creates the buckets of a new ledger, upgrades one of format 1, and
// reads the head, the indexed marks and level 0 of an existing one.
func (l *Ledger) init() error {
	var state string // "" for a new file, else format1 or format
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
		switch v := meta.Get(formatKey); string(v) {
		case format, format1:
			state = string(v)
		default:
			return fmt.Errorf("unknown ledger format %q (this build reads %q)", v, format)
		}
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
		if state == format1 {
			return nil
		}
		if l.marks, err = r.readMarks(); err != nil {
			return err
		}
		for _, ix := range store.Indexes {
			for _, m := range l.marks[ix] {
				if m.seq > h.seq {
					return fmt.Errorf("an indexed mark says fact %d but the last fact is %d; run verify", m.seq, h.seq)
				}
			}
		}
		l.tail = newTail(l.marks.least().seq)
		if l.marks.least().seq < h.seq {
			l.tail.pending = true // see load
		}
		l.publish(tx.ID())
		return nil
	})
	if err != nil || state == format {
		return err
	}
	// A new ledger, or one of format 1 whose index buckets hold every
	// fact but without partitions: every mark is the head, level 0 is
	// empty, and format 1's index buckets are rebuilt.
	l.marks.all(mark{seq: l.head.seq, time: l.head.time})
	l.tail = newTail(l.head.seq)
	err = l.db.Update(func(tx *bbolt.Tx) error {
		for _, name := range append([][]byte{factsBucket, metaBucket, recentBucket}, indexBuckets[1:]...) {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return fmt.Errorf("create bucket %s: %w", name, err)
			}
		}
		meta := tx.Bucket(metaBucket)
		if err := meta.Put(indexedKey, l.marks.encode()); err != nil {
			return fmt.Errorf("write indexed marks: %w", err)
		}
		if state == format1 {
			if err := rebuild(tx, &l.marks); err != nil {
				return fmt.Errorf("upgrade from format 1: %w", err)
			}
		}
		return meta.Put(formatKey, []byte(format))
	})
	if err != nil || state == format1 {
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
	Merges  uint64 // moves of level 0 into the index buckets
}

// Stats returns the counters; Facts/Commits is the average batch.
func (l *Ledger) Stats() Stats {
	return Stats{Commits: l.commits.Load(), Updates: l.updates.Load(), Facts: l.appended.Load(), Merges: l.merges.Load()}
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
		r := &reader{tx: tx, tail: l.tail}
		// A snapshot of the newest commit, as most are, takes its span
		// from memory instead of two reads of the meta bucket.
		if s := l.latest.Load(); s != nil && s.txid == tx.ID() {
			r.known = s
		}
		return fn(r)
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
	return l.send(&request{fn: fn, done: make(chan error, 1)})
}

// mergeAll moves all of level 0 into the index buckets. Benchmarks call it
// so that the facts they count have paid for their whole index.
func (l *Ledger) mergeAll() error {
	return l.send(&request{fn: func(store.Tx) error { return nil }, mergeAll: true, done: make(chan error, 1)})
}

func (l *Ledger) send(r *request) error {
	l.mu.RLock()
	if l.closed {
		l.mu.RUnlock()
		return store.ErrClosed
	}
	l.requests <- r
	l.mu.RUnlock()
	return <-r.done
}

// Close waits for the pending updates, moves level 0 into the index
// buckets (so that the next Open has no level 0 to load), then closes the
// file. Closing twice is harmless.
func (l *Ledger) Close() error {
	return l.close(true)
}

// close is Close; with settle false it leaves level 0 as it is, as a
// crash would, for the tests of loading it.
func (l *Ledger) close(settle bool) error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		<-l.stopped
		return nil
	}
	l.closed = true
	l.settle = settle
	close(l.requests)
	l.mu.Unlock()
	<-l.stopped
	if err := l.db.Close(); err != nil {
		return fmt.Errorf("close ledger %s: %w", l.path, err)
	}
	if l.settleErr != nil {
		return fmt.Errorf("close ledger %s: move level 0 into the index buckets: %w", l.path, l.settleErr)
	}
	return nil
}

// load reads level 0 back from its records, the facts in (indexed, top],
// into the tail, and closes l.loaded. Any snapshot holds the same records
// for those facts until the writer, which waits for l.loaded, merges them
// (Reindex rewrites them from the facts, the same).
func (l *Ledger) load(indexed mark, top uint64) {
	defer close(l.loaded)
	if beforeLoad != nil {
		beforeLoad()
	}
	err := l.db.View(func(tx *bbolt.Tx) error {
		t, err := loadTail(&reader{tx: tx}, indexed, top)
		if err != nil {
			return err
		}
		l.tail.adopt(t)
		return nil
	})
	if err != nil {
		l.loadErr = fmt.Errorf("load level 0 of %s: %w", l.path, err)
	}
}

// beforeLoad, when set, runs as load begins: tests hold the load with it.
var beforeLoad func()

// write is the writer goroutine. Requests that arrive while a commit is
// syncing wait in the channel and make up the next batch; those that
// arrive while the batch's functions run join it (see commit).
func (l *Ledger) write() {
	defer close(l.stopped)
	<-l.loaded
	if l.loadErr != nil {
		l.broken = fmt.Errorf("ledger %s refuses updates, reopen it: %w", l.path, l.loadErr)
	}
	batch := make([]*request, 0, maxBatch)
	for r := range l.requests {
		batch = l.drain(append(batch[:0], r))
		batch = l.commit(batch)
		for _, r := range batch {
			r.done <- r.err
		}
		clear(batch) // let answered requests be collected
	}
	if l.settle {
		// A failure loses nothing: the next Open loads level 0 as it
		// does after a crash. Close reports it.
		r := &request{fn: func(store.Tx) error { return nil }, mergeAll: true}
		l.commit([]*request{r})
		l.settleErr = r.err
	}
}

// drain adds the requests waiting in the channel to batch, up to maxBatch.
func (l *Ledger) drain(batch []*request) []*request {
	for len(batch) < maxBatch {
		select {
		case r, ok := <-l.requests:
			if !ok {
				return batch
			}
			batch = append(batch, r)
		default:
			return batch
		}
	}
	return batch
}

// commit runs batch in one transaction and sets each request's err. Before
// it commits, it runs the requests that arrived meanwhile too, as long as
// there are any: they would otherwise wait for this commit's fsyncs to
// begin their own. It returns the batch it ran.
func (l *Ledger) commit(batch []*request) []*request {
	if l.broken != nil {
		for _, r := range batch {
			r.err = l.broken
		}
		return batch
	}
	tx, err := l.db.Begin(true)
	if err != nil {
		for _, r := range batch {
			r.err = fmt.Errorf("begin update: %w", err)
		}
		return batch
	}
	start := l.head
	fail := func(err error) {
		tx.Rollback()
		l.tail.truncate(start.seq)
		l.head = start
		for _, r := range batch {
			if r.err == nil {
				r.err = err
			}
		}
	}
	rd := &reader{tx: tx, tail: l.tail, spanned: true, marks: &l.marks}
	yielded := false
	for i := 0; i < len(batch); i++ {
		if i == len(batch)-1 {
			batch = l.drain(batch)
			if i == len(batch)-1 && !yielded {
				// Once per batch, let the goroutines the last commit
				// answered run: they come back with their next update,
				// which then shares this commit instead of the next.
				yielded = true
				runtime.Gosched()
				batch = l.drain(batch)
			}
		}
		r := batch[i]
		w := &writeTx{reader: rd, base: l.head, tip: l.head}
		rd.top = l.head.seq
		if r.err = run(r.fn, w); r.err != nil || len(w.staged) == 0 {
			continue
		}
		// A failed Put leaves part of the function in the transaction, so
		// the whole batch has to go; Validate makes this unreachable short
		// of a full disk or a bbolt bug.
		if err := w.apply(); err != nil {
			fail(err)
			return batch
		}
		l.head = w.tip
	}
	all := slices.ContainsFunc(batch, func(r *request) bool { return r.mergeAll }) && l.tail.len() > 0
	if l.head == start && !all {
		// Nothing to make durable: the functions only read, or failed.
		tx.Rollback()
		l.count(batch, 0)
		return batch
	}
	what := fmt.Sprintf("commit facts %d to %d", start.seq+1, l.head.seq)
	merged, err := l.mergeDue(tx, all)
	if err != nil {
		fail(fmt.Errorf("%s: %w", what, err))
		return batch
	}
	if err := tx.Bucket(metaBucket).Put(headKey, l.head.encode()); err != nil {
		fail(fmt.Errorf("%s: write head: %w", what, err))
		return batch
	}
	if err := tx.Commit(); err != nil {
		// After a failed write or fsync neither the page cache nor bbolt's
		// idea of the last meta page can be trusted to match the disk, and
		// guessing wrong would reuse a sequence number; only reading the
		// file afresh (reopening) settles what the head is.
		l.broken = fmt.Errorf("ledger %s refuses updates after a failed commit, reopen it: %w", l.path, err)
		fail(fmt.Errorf("%s: %w", what, err))
		return batch
	}
	if merged != nil {
		// The tail drops what the previous merge moved, not this one: a
		// read transaction that began before this commit still finds its
		// level 0 there, and only one that spans two merges has to read
		// its snapshot's records.
		l.tail.trim(l.marks.least().seq)
		l.marks = *merged
		l.merges.Add(1)
	}
	l.publish(tx.ID())
	l.commits.Add(1)
	// A commit that grew the file may have remapped it, as random again.
	l.advise()
	l.count(batch, l.head.seq-start.seq)
	return batch
}

// publish records the head and marks as of bbolt transaction txid, which
// has committed. Readers of an older or newer snapshot read their own.
func (l *Ledger) publish(txid int) {
	l.latest.Store(&snapshot{txid: txid, head: l.head, marks: l.marks})
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

// mergeDue moves into the index buckets the partitions that are due, in
// tx, deletes the level 0 records that every partition has now passed, and
// records the new marks. It returns them, for the caller to adopt once tx
// has committed, or nil if no partition was due.
//
// A partition is due when it lags the head by Tail facts and is the one
// that lags most: each commit merges at most one partition, so each
// partition is merged about once every Tail facts and no commit does more
// than a partition's share of the work. A partition that lags by 2×Tail
// (after one update of many facts) is merged at once, which bounds level 0
// to 2×Tail facts; with all, every partition is.
func (l *Ledger) mergeDue(tx *bbolt.Tx, all bool) (*marks, error) {
	head := l.head.seq
	tail := uint64(l.mergeAt)
	next := l.marks
	least, leastIx, leastR := ^uint64(0), store.Index(0), 0
	for _, ix := range store.Indexes {
		for r, m := range next[ix] {
			if m.seq < least {
				least, leastIx, leastR = m.seq, ix, r
			}
		}
	}
	moved := false
	for _, ix := range store.Indexes {
		for r, m := range next[ix] {
			lag := head - m.seq
			due := lag >= 2*tail-1 || all && lag > 0 || ix == leastIx && r == leastR && lag >= tail
			if !due {
				continue
			}
			if err := l.mergePartition(tx, ix, byte(r), m.seq); err != nil {
				return nil, err
			}
			next[ix][r] = mark{seq: head, time: l.head.time}
			moved = true
		}
	}
	if !moved {
		return nil, nil
	}
	recent := tx.Bucket(recentBucket)
	if recent == nil {
		return nil, fmt.Errorf("recent: %w", errNoBucket)
	}
	for seq := least + 1; seq <= next.least().seq; seq++ {
		if err := recent.Delete(seqKey(seq)); err != nil {
			return nil, fmt.Errorf("merge: drop recent record %d: %w", seq, err)
		}
	}
	if err := tx.Bucket(metaBucket).Put(indexedKey, next.encode()); err != nil {
		return nil, fmt.Errorf("merge: write indexed marks: %w", err)
	}
	return &next, nil
}

// mergePartition puts partition r of index ix's entries of the facts after
// from into the index bucket, in key order so that each page is rewritten
// once however many of the entries land on it.
func (l *Ledger) mergePartition(tx *bbolt.Tx, ix store.Index, r byte, from uint64) error {
	b := tx.Bucket(indexBuckets[ix])
	if b == nil {
		return fmt.Errorf("%s index: %w", ix, errNoBucket)
	}
	// One buffer holds every key, because bbolt copies keys on Put and the
	// sort only needs them until then.
	type kv struct{ k, v []byte }
	var entries []kv
	size := 0
	for seq := from + 1; seq <= l.head.seq; seq++ {
		if tf := l.tail.fact(seq); tf.ids[ix] != "" && tf.ranges[ix] == r {
			size += len(tf.ids[ix]) + 10
		}
	}
	keys := make([]byte, 0, size)
	for seq := from + 1; seq <= l.head.seq; seq++ {
		tf := l.tail.fact(seq)
		if id := tf.ids[ix]; id != "" && tf.ranges[ix] == r {
			n := len(keys)
			keys = indexKey(keys, id, seq)
			entries = append(entries, kv{keys[n:len(keys):len(keys)], indexValue(tf.time, tf.ids[store.ByKind])})
		}
	}
	slices.SortFunc(entries, func(a, b kv) int { return bytes.Compare(a.k, b.k) })
	for _, e := range entries {
		if err := b.Put(e.k, e.v); err != nil {
			return fmt.Errorf("merge into %s index: %w", ix, err)
		}
	}
	return nil
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
