// Package sqlite is the baseline attest's ledger is measured against: the
// same facts in one SQLite table, written the way a careful SQLite user
// would write them, so that the benchmarks beside it can say how
// store/bolt compares with the obvious alternative.
//
// It uses github.com/mattn/go-sqlite3 (SQLite's C code through cgo)
// rather than the pure-Go modernc.org/sqlite: it is the faster of the
// two, and a baseline should be the strongest fair one. It lives in a
// module of its own so that neither cgo nor SQLite enter attest's
// dependencies; .ci/run vets and tests it.
//
// The choices a careful user would make, and this baseline does:
//   - WAL journal with synchronous=FULL: every acknowledged commit is
//     fsynced, as store/bolt's are;
//   - one writer goroutine that takes every update waiting and runs them
//     in one transaction, each in a savepoint so that a failing function
//     drops only its own facts (group commit, as store/bolt does);
//   - one covering partial index per id (id, time, seq, kind), so that a
//     window of one id is a range scan that never reads the table and
//     needs no sort;
//   - a memory map and a 64 MiB page cache, since store/bolt reads
//     through a memory map too;
//   - prepared statements, and single lookups outside an explicit
//     transaction (each statement is its own snapshot).
//
// Facts carry the same hash chain as in store/bolt (store.Encode, SHA-256),
// so both do the same work per append.
package sqlite

import (
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mattn/go-sqlite3"

	"github.com/attest-dev/attest/store"
)

// columns names each index's column; ByKind's is kind.
var columns = map[store.Index]string{
	store.ByUser:    "user",
	store.ByDevice:  "device",
	store.ByAddress: "address",
	store.ByTicket:  "ticket",
	store.ByKind:    "kind",
}

const schema = `
CREATE TABLE IF NOT EXISTS facts (
	seq     INTEGER PRIMARY KEY,
	time    INTEGER NOT NULL,
	kind    TEXT NOT NULL,
	user    TEXT,
	device  TEXT,
	address TEXT,
	ticket  TEXT,
	body    BLOB,
	prev    TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS facts_user ON facts (user, time, seq, kind) WHERE user IS NOT NULL;
CREATE INDEX IF NOT EXISTS facts_device ON facts (device, time, seq, kind) WHERE device IS NOT NULL;
CREATE INDEX IF NOT EXISTS facts_address ON facts (address, time, seq, kind) WHERE address IS NOT NULL;
CREATE INDEX IF NOT EXISTS facts_ticket ON facts (ticket, time, seq, kind) WHERE ticket IS NOT NULL;
CREATE INDEX IF NOT EXISTS facts_kind ON facts (kind, time, seq);
`

// maxBatch caps the updates that share one commit, as store/bolt does.
const maxBatch = 1024

// Ledger is a store.Ledger in a SQLite file.
type Ledger struct {
	write, read *sql.DB
	insert      *sql.Stmt

	mu       sync.RWMutex
	closed   bool
	requests chan *request
	stopped  chan struct{}

	commits, updates      atomic.Uint64
	head                  head // the writer goroutine's
	readStmts, writeStmts sync.Map
}

type head struct {
	seq  uint64
	time int64
	hash [32]byte
}

type request struct {
	fn   func(store.Tx) error
	done chan error
}

var _ store.Ledger = (*Ledger)(nil)

// Open opens (creating if needed) the ledger in the SQLite file at path.
func Open(path string) (*Ledger, error) {
	q := url.Values{}
	q.Set("_journal_mode", "WAL")
	q.Set("_synchronous", "FULL")
	q.Set("_busy_timeout", "5000")
	q.Set("_txlock", "immediate")
	q.Set("_cache_size", "-65536")
	dsn := "file:" + path + "?" + q.Encode()
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	w, err := sql.Open(driver, dsn)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	// One connection writes; a second only prepares statements for the
	// writer's transaction while it holds the first.
	w.SetMaxOpenConns(2)
	r, err := sql.Open(driver, dsn)
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	l := &Ledger{write: w, read: r, requests: make(chan *request, maxBatch), stopped: make(chan struct{})}
	if err := l.init(); err != nil {
		w.Close()
		r.Close()
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	go l.writer()
	return l, nil
}

func (l *Ledger) init() error {
	if _, err := l.write.Exec(schema); err != nil {
		return fmt.Errorf("create schema: %w", err)
	}
	var err error
	if l.insert, err = l.write.Prepare(`INSERT INTO facts (seq, time, kind, user, device, address, ticket, body, prev) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`); err != nil {
		return fmt.Errorf("prepare insert: %w", err)
	}
	var enc []byte
	var f store.Fact
	row := l.write.QueryRow(`SELECT seq, time, kind, user, device, address, ticket, body, prev FROM facts ORDER BY seq DESC LIMIT 1`)
	switch f, err = scanFact(row); {
	case errors.Is(err, sql.ErrNoRows):
		return nil
	case err != nil:
		return fmt.Errorf("read head: %w", err)
	}
	if enc, err = store.Encode(&f); err != nil {
		return fmt.Errorf("encode head: %w", err)
	}
	l.head = head{seq: f.Seq, time: f.Time.UnixNano(), hash: sha256.Sum256(enc)}
	return nil
}

// driver is mattn's with every connection memory-mapping the file: the
// pragma is per connection, and database/sql opens readers on demand.
const driver = "sqlite3-baseline"

func init() {
	sql.Register(driver, &sqlite3.SQLiteDriver{ConnectHook: func(c *sqlite3.SQLiteConn) error {
		_, err := c.Exec("PRAGMA mmap_size = 1073741824", nil)
		return err
	}})
}

// View runs fn in one read transaction: every read in it sees one
// snapshot.
func (l *Ledger) View(fn func(store.Reader) error) error {
	if l.isClosed() {
		return store.ErrClosed
	}
	tx, err := l.read.Begin()
	if err != nil {
		return fmt.Errorf("begin read: %w", err)
	}
	defer tx.Rollback()
	return fn(&reader{l: l, db: l.read, stmts: &l.readStmts, tx: tx})
}

// Reader answers single questions, each in its own snapshot: what a user
// who asks one question does, without the cost of a transaction.
func (l *Ledger) Reader() store.Reader { return &reader{l: l, db: l.read, stmts: &l.readStmts} }

// Update runs fn with the other updates waiting in one transaction and
// returns once that transaction is durable.
func (l *Ledger) Update(fn func(store.Tx) error) error {
	l.mu.RLock()
	if l.closed {
		l.mu.RUnlock()
		return store.ErrClosed
	}
	r := &request{fn: fn, done: make(chan error, 1)}
	l.requests <- r
	l.mu.RUnlock()
	return <-r.done
}

// Batches returns how many commits the writer made and how many updates
// they held.
func (l *Ledger) Batches() (commits, updates uint64) { return l.commits.Load(), l.updates.Load() }

func (l *Ledger) isClosed() bool {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.closed
}

// Close waits for pending updates and closes the database, which
// checkpoints the WAL into the main file.
func (l *Ledger) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.closed = true
	close(l.requests)
	l.mu.Unlock()
	<-l.stopped
	for _, m := range []*sync.Map{&l.readStmts, &l.writeStmts} {
		m.Range(func(_, v any) bool { v.(*sql.Stmt).Close(); return true })
	}
	l.insert.Close()
	return errors.Join(l.read.Close(), l.write.Close())
}

func (l *Ledger) writer() {
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
		errs := l.commit(batch)
		for i, r := range batch {
			r.done <- errs[i]
		}
	}
}

// commit runs batch in one transaction, each function in a savepoint.
func (l *Ledger) commit(batch []*request) []error {
	errs := make([]error, len(batch))
	all := func(err error) []error {
		for i := range errs {
			if errs[i] == nil {
				errs[i] = err
			}
		}
		return errs
	}
	start := l.head
	tx, err := l.write.Begin()
	if err != nil {
		return all(fmt.Errorf("begin: %w", err))
	}
	insert := tx.Stmt(l.insert)
	for i, r := range batch {
		if _, err := tx.Exec("SAVEPOINT fn"); err != nil {
			tx.Rollback()
			l.head = start
			return all(fmt.Errorf("savepoint: %w", err))
		}
		before := l.head
		w := &writeTx{reader: reader{l: l, db: l.write, stmts: &l.writeStmts, tx: tx}, insert: insert}
		errs[i] = run(r.fn, w)
		if errs[i] != nil {
			l.head = before
			if _, err := tx.Exec("ROLLBACK TO fn"); err != nil {
				tx.Rollback()
				l.head = start
				return all(fmt.Errorf("roll back a function: %w", err))
			}
		}
		if _, err := tx.Exec("RELEASE fn"); err != nil {
			tx.Rollback()
			l.head = start
			return all(fmt.Errorf("release: %w", err))
		}
	}
	if err := tx.Commit(); err != nil {
		l.head = start
		return all(fmt.Errorf("commit: %w", err))
	}
	l.commits.Add(1)
	l.updates.Add(uint64(len(batch)))
	return errs
}

func run(fn func(store.Tx) error, w *writeTx) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("update function panicked: %v", p)
		}
	}()
	return fn(w)
}

// reader runs its queries on db, inside tx when it is set.
type reader struct {
	l     *Ledger
	db    *sql.DB
	stmts *sync.Map // query -> *sql.Stmt prepared on db
	tx    *sql.Tx
}

// stmt returns the prepared statement for query, preparing it on first
// use.
func (r *reader) stmt(query string) (*sql.Stmt, error) {
	var s *sql.Stmt
	if v, ok := r.stmts.Load(query); ok {
		s = v.(*sql.Stmt)
	} else {
		var err error
		if s, err = r.db.Prepare(query); err != nil {
			return nil, fmt.Errorf("prepare %q: %w", query, err)
		}
		if v, loaded := r.stmts.LoadOrStore(query, s); loaded {
			s.Close()
			s = v.(*sql.Stmt)
		}
	}
	if r.tx != nil {
		return r.tx.Stmt(s), nil
	}
	return s, nil
}

func (r *reader) Head() (uint64, time.Time, error) {
	s, err := r.stmt(`SELECT seq, time FROM facts ORDER BY seq DESC LIMIT 1`)
	if err != nil {
		return 0, time.Time{}, err
	}
	var seq uint64
	var t int64
	switch err := s.QueryRow().Scan(&seq, &t); {
	case errors.Is(err, sql.ErrNoRows):
		return 0, time.Time{}, nil
	case err != nil:
		return 0, time.Time{}, fmt.Errorf("read head: %w", err)
	}
	return seq, time.Unix(0, t).UTC(), nil
}

const factColumns = `seq, time, kind, user, device, address, ticket, body, prev`

type scanner interface{ Scan(...any) error }

func scanFact(s scanner) (store.Fact, error) {
	var f store.Fact
	var t int64
	var user, device, address, ticket sql.NullString
	var body []byte
	if err := s.Scan(&f.Seq, &t, &f.Kind, &user, &device, &address, &ticket, &body, &f.Prev); err != nil {
		return store.Fact{}, err
	}
	f.Time = time.Unix(0, t).UTC()
	f.User, f.Device, f.Address, f.Ticket = user.String, device.String, address.String, ticket.String
	if len(body) > 0 {
		f.Body = body
	}
	return f, nil
}

func (r *reader) Fact(seq uint64) (store.Fact, error) {
	s, err := r.stmt(`SELECT ` + factColumns + ` FROM facts WHERE seq = ?`)
	if err != nil {
		return store.Fact{}, err
	}
	f, err := scanFact(s.QueryRow(seq))
	if errors.Is(err, sql.ErrNoRows) {
		return store.Fact{}, fmt.Errorf("fact %d: %w", seq, store.ErrNotFound)
	}
	if err != nil {
		return store.Fact{}, fmt.Errorf("fact %d: %w", seq, err)
	}
	return f, nil
}

func (r *reader) All(from uint64, fn func(store.Fact) bool) error {
	s, err := r.stmt(`SELECT ` + factColumns + ` FROM facts WHERE seq >= ? ORDER BY seq`)
	if err != nil {
		return err
	}
	rows, err := s.Query(from)
	if err != nil {
		return fmt.Errorf("read facts: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		f, err := scanFact(rows)
		if err != nil {
			return fmt.Errorf("read facts: %w", err)
		}
		if !fn(f) {
			return nil
		}
	}
	return rows.Err()
}

// window returns the WHERE clause and arguments that select id's entries
// in ix within w, and the ORDER BY and LIMIT that follow.
func window(ix store.Index, id string, w *store.Window) (where, tail string, args []any, err error) {
	col, ok := columns[ix]
	if !ok {
		return "", "", nil, fmt.Errorf("unknown index %s", ix)
	}
	lo, hi := w.NanoBounds()
	var b strings.Builder
	fmt.Fprintf(&b, "%s = ? AND time BETWEEN ? AND ?", col)
	args = append(args, id, lo, hi)
	if len(w.Kinds) > 0 {
		b.WriteString(" AND kind IN (?" + strings.Repeat(", ?", len(w.Kinds)-1) + ")")
		for _, k := range w.Kinds {
			args = append(args, k)
		}
	}
	tail = " ORDER BY time, seq"
	if w.Reverse {
		tail = " ORDER BY time DESC, seq DESC"
	}
	if w.Limit > 0 {
		tail += " LIMIT ?"
		args = append(args, w.Limit)
	}
	return b.String(), tail, args, nil
}

func (r *reader) Entries(ix store.Index, id string, w store.Window, fn func(store.Entry) bool) error {
	where, tail, args, err := window(ix, id, &w)
	if err != nil {
		return err
	}
	s, err := r.stmt(`SELECT seq, time, kind FROM facts WHERE ` + where + tail)
	if err != nil {
		return err
	}
	rows, err := s.Query(args...)
	if err != nil {
		return fmt.Errorf("%s entries: %w", ix, err)
	}
	defer rows.Close()
	for rows.Next() {
		var e store.Entry
		var t int64
		if err := rows.Scan(&e.Seq, &t, &e.Kind); err != nil {
			return fmt.Errorf("%s entries: %w", ix, err)
		}
		e.Time = time.Unix(0, t).UTC()
		if !fn(e) {
			return nil
		}
	}
	return rows.Err()
}

func (r *reader) Facts(ix store.Index, id string, w store.Window, fn func(store.Fact) bool) error {
	where, tail, args, err := window(ix, id, &w)
	if err != nil {
		return err
	}
	s, err := r.stmt(`SELECT ` + factColumns + ` FROM facts WHERE ` + where + tail)
	if err != nil {
		return err
	}
	rows, err := s.Query(args...)
	if err != nil {
		return fmt.Errorf("%s facts: %w", ix, err)
	}
	defer rows.Close()
	for rows.Next() {
		f, err := scanFact(rows)
		if err != nil {
			return fmt.Errorf("%s facts: %w", ix, err)
		}
		if !fn(f) {
			return nil
		}
	}
	return rows.Err()
}

func (r *reader) Count(ix store.Index, id string, w store.Window) (int, error) {
	where, tail, args, err := window(ix, id, &w)
	if err != nil {
		return 0, err
	}
	query := `SELECT count(*) FROM facts WHERE ` + where
	if w.Limit > 0 {
		query = `SELECT count(*) FROM (SELECT 1 FROM facts WHERE ` + where + tail + `)`
	}
	s, err := r.stmt(query)
	if err != nil {
		return 0, err
	}
	var n int
	if err := s.QueryRow(args...).Scan(&n); err != nil {
		return 0, fmt.Errorf("%s count: %w", ix, err)
	}
	return n, nil
}

// writeTx is the store.Tx an update function gets: reads go through the
// batch's transaction, so they see what earlier functions appended.
type writeTx struct {
	reader
	insert *sql.Stmt
}

func (w *writeTx) Append(f store.Fact) (store.Fact, error) {
	if err := f.Validate(); err != nil {
		return store.Fact{}, fmt.Errorf("append %s fact: %w", f.Kind, err)
	}
	body, err := store.CanonicalBody(f.Body)
	if err != nil {
		return store.Fact{}, fmt.Errorf("append %s fact: %w", f.Kind, err)
	}
	h := &w.l.head
	t := max(f.Time.UnixNano(), h.time)
	f.Seq = h.seq + 1
	f.Time = time.Unix(0, t).UTC()
	if h.seq > 0 {
		f.Prev = hex.EncodeToString(h.hash[:])
	}
	f.Body = body
	enc, err := store.Encode(&f)
	if err != nil {
		return store.Fact{}, fmt.Errorf("append fact %d: encode: %w", f.Seq, err)
	}
	if _, err := w.insert.Exec(f.Seq, t, f.Kind, null(f.User), null(f.Device), null(f.Address), null(f.Ticket), []byte(f.Body), f.Prev); err != nil {
		return store.Fact{}, fmt.Errorf("append fact %d: %w", f.Seq, err)
	}
	*h = head{seq: f.Seq, time: t, hash: sha256.Sum256(enc)}
	return f, nil
}

func null(s string) any {
	if s == "" {
		return nil
	}
	return s
}
