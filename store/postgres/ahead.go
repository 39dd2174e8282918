package postgres

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/attest-dev/attest/store"
)

// runAhead runs batch's functions without the append lock, on a snapshot,
// and returns the memo of the database's answers to their reads, or nil
// when they read nothing or the database could not be read. What the
// functions did is dropped: they run again under the lock (try), with the
// memo. The snapshot is taken at the first read, so a batch that only
// appends costs nothing here.
func (l *Ledger) runAhead(batch []*request) *memo {
	start := time.Now()
	defer func() { l.aheadNs.Add(uint64(time.Since(start))) }()
	ctx, cancel := context.WithTimeout(context.Background(), l.timeout)
	defer cancel()
	s := &snapshot{ctx: ctx, pool: l.pool, m: newMemo(head{})}
	defer s.close()
	db := &memoReader{reader: &reader{ctx: ctx, q: counting{s, &l.ahead}}, m: s.m, reused: new(atomic.Uint64), live: true}
	// Where the facts appended here chain does not matter (they are
	// dropped), but reads of facts by number should go to the database,
	// and into the memo, as they will under the lock: the overlay starts
	// at the newest fact known, and at the snapshot's head once there is
	// one, if nothing was appended before.
	ov := newOverlay(l.known)
	tx := &aheadTx{writeTx: writeTx{db: db, ov: ov}, s: s}
	for _, r := range batch {
		r.ahead = true
		n, tip := len(ov.facts), ov.tip
		if run(r.fn, tx) != nil {
			ov.truncate(n, tip)
		}
	}
	if s.conn == nil || s.err != nil {
		return nil
	}
	return s.m
}

// snapshot is a querier on a REPEATABLE READ, READ ONLY transaction begun
// at its first statement, which also sets its memo's head: the snapshot
// is a prefix of the chain, up to that head, since commits happen in chain
// order under the lock.
type snapshot struct {
	ctx  context.Context
	pool *pgxpool.Pool
	conn *pgxpool.Conn
	m    *memo
	err  error // why it could not begin
}

func (s *snapshot) begin() error {
	if s.conn != nil || s.err != nil {
		return s.err
	}
	conn, err := s.pool.Acquire(s.ctx)
	if err != nil {
		s.err = fmt.Errorf("read ahead: %w", classify(err))
		return s.err
	}
	s.conn = conn
	var start pgx.Batch
	start.Queue("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
	start.Queue("SELECT " + factColumns + " FROM facts ORDER BY seq DESC LIMIT 1")
	br := conn.SendBatch(s.ctx, &start)
	_, err = br.Exec()
	if err == nil {
		s.m.asOf, err = headOf(br.QueryRow())
	}
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		s.err = fmt.Errorf("read ahead: %w", classify(err))
	}
	return s.err
}

func (s *snapshot) close() {
	if s.conn == nil {
		return
	}
	// Nothing to keep: a rollback ends a read-only transaction as well as
	// a commit does.
	if c := s.conn.Conn(); !c.IsClosed() && c.PgConn().TxStatus() != 'I' {
		c.Exec(context.WithoutCancel(s.ctx), "ROLLBACK")
	}
	s.conn.Release()
}

func (s *snapshot) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	if err := s.begin(); err != nil {
		return nil, err
	}
	return s.conn.Query(ctx, sql, args...)
}

func (s *snapshot) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	if err := s.begin(); err != nil {
		return errRow{err}
	}
	return s.conn.QueryRow(ctx, sql, args...)
}

// errRow is a row that could not be read.
type errRow struct{ err error }

func (r errRow) Scan(...any) error { return r.err }

// aheadTx is the Tx of a function run ahead: a writeTx whose reads begin
// the snapshot first.
type aheadTx struct {
	writeTx
	s *snapshot
}

var _ store.Tx = (*aheadTx)(nil)

// read begins the snapshot and, if the overlay is empty, moves it onto
// the snapshot's head.
func (t *aheadTx) read() {
	if t.s.conn != nil || t.s.begin() != nil || len(t.ov.facts) > 0 {
		return
	}
	*t.ov = *newOverlay(t.s.m.asOf)
}

func (t *aheadTx) Head() (uint64, time.Time, error) {
	t.read()
	return t.writeTx.Head()
}

func (t *aheadTx) Fact(seq uint64) (store.Fact, error) {
	t.read()
	return t.writeTx.Fact(seq)
}

func (t *aheadTx) All(from uint64, fn func(store.Fact) bool) error {
	t.read()
	return t.writeTx.All(from, fn)
}

func (t *aheadTx) Entries(ix store.Index, id string, w store.Window, fn func(store.Entry) bool) error {
	t.read()
	return t.writeTx.Entries(ix, id, w, fn)
}

func (t *aheadTx) Facts(ix store.Index, id string, w store.Window, fn func(store.Fact) bool) error {
	t.read()
	return t.writeTx.Facts(ix, id, w, fn)
}

func (t *aheadTx) Count(ix store.Index, id string, w store.Window) (int, error) {
	t.read()
	return t.writeTx.Count(ix, id, w)
}
