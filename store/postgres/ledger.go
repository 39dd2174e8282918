// Package postgres is attest's ledger in a PostgreSQL database, so that
// several attest servers pointed at one database are one system.
//
// The facts are one append-only table, facts, with the same fields and the
// same hash chain as store/bolt (each fact's Prev is the SHA-256 of the
// previous fact's store.Encode), so a bbolt ledger copied in verifies
// unchanged. The indexes are PostgreSQL's, one per id column, derived from
// the facts. The server's role cannot change or remove a fact: the schema
// revokes UPDATE, DELETE and TRUNCATE on facts, and statement triggers
// refuse them for every role, the owner and superusers included. Schema
// migrations are versioned (attest_schema) and applied by Open under an
// advisory lock, so servers starting at once apply each exactly once.
//
// How read-check-append stays atomic across servers: every update
// transaction takes one transaction-scoped advisory lock (appendLock), so
// update transactions commit one at a time across every server, and under
// it each update function gets, for every read, exactly what the database
// holds at that moment (the newest fact) plus what its batch appended
// before it: "is this address confirmed by someone else? if not, confirm
// it" cannot interleave with another server's. The same lock keeps the
// hash chain linear: the holder reads the newest fact, chains onto it and
// commits before the lock is released; the primary key on seq makes a
// fork impossible even if the lock were not taken. Commits are grouped per
// server as in store/bolt: one writer goroutine runs every update function
// waiting at the time in one locked transaction, keeping what they append
// in memory (the overlay, so the next function of the batch sees it), and
// inserts it with one statement before one COMMIT, which PostgreSQL makes
// durable before it answers.
//
// The lock is held for two round trips, not one per read. A batch first
// runs its functions ahead of the lock, on a REPEATABLE READ, READ ONLY
// snapshot (a prefix of the chain up to some head S, since commits happen
// in chain order under the lock), and keeps every answer the database gave
// them, keyed by the exact read (the memo, memo.go); what they appended
// there is dropped. Under the lock, the round trip that takes it also
// reads the head H and every fact after S (at most advanceMax; past that
// the memo is dropped). Each kept answer is a filter of the facts by one
// id, times and kinds, in sequence order, cut at a limit, or its count,
// and facts only join the end of the chain, so the answer at H is the one
// at S with the matching newer facts merged in: the memo is brought
// forward to H. The functions then run again, in the same order, on H
// with a fresh overlay, their reads answered from the memo and anything
// else (a read that differs from the one made ahead, All) read live, which
// under the lock is correct by definition. A function's effect depends
// only on what it reads (the store contract: fn may run more than once,
// ids and clocks are read before Update), so this run does exactly what a
// run that read everything under the lock would, with the right Seq, Prev
// and Time; what it appends is what commits. Updates that arrive while a
// batch takes the lock join it if the memo answers all they read (an
// update that only appends, say); one that would read the database under
// the lock is stopped at that read, what it did is dropped, and it runs
// in the next batch, ahead of the lock first.
//
// Reads (View) run in a REPEATABLE READ, READ ONLY transaction: one
// snapshot, which is a prefix of the chain because commits happen in chain
// order under the lock.
//
// When the database cannot be reached (a restart, say), an update's
// batch is retried on a new connection for Options.RetryFor and then fails
// with store.ErrUnavailable; functions may run more than once, as the
// contract allows. A COMMIT whose answer was lost is settled by reading
// the batch's last fact back: either it is there, chained as this batch
// chained it, and the batch is acknowledged, or the batch is run again.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/attest-dev/attest/store"
)

// Options tune Open. The zero value is ready to use.
type Options struct {
	// RetryFor is how long an update keeps retrying while the database
	// cannot be reached before it fails with store.ErrUnavailable; 0 means
	// five seconds.
	RetryFor time.Duration
	// MaxConns caps this process's connections (one is the writer's, the
	// rest serve View); 0 means 10.
	MaxConns int32
	// Timeout bounds one View and a batch's run ahead of the lock, and
	// three times it the batch's locked transaction (its functions may
	// read live there, up to maxBatch of them),
	// so that a database that stops answering (rather than closing the
	// connection), or a lock someone holds on the facts, fails them with
	// store.ErrUnavailable instead of holding a screen forever; 0 means
	// ten seconds. Verify, which reads the whole chain, is not bounded.
	Timeout time.Duration
}

// maxBatch caps how many update functions share one commit.
const maxBatch = 1024

// Ledger is a store.Ledger and store.Maintainer on PostgreSQL. It is safe
// for concurrent use.
type Ledger struct {
	pool     *pgxpool.Pool
	retryFor time.Duration
	timeout  time.Duration // Options.Timeout

	mu       sync.RWMutex
	closed   bool
	requests chan *request
	stopped  chan struct{}

	commits, updates, appended, retries atomic.Uint64
	held, reads                         atomic.Uint64 // ns under the append lock; the batches' read statements under it
	ahead, reused                       atomic.Uint64 // read statements ahead of the lock; answers reused under it
	aheadNs                             atomic.Uint64 // ns batches spent running ahead of the lock

	// aheadDone, when set (by tests), is called after a batch has run
	// ahead of the lock and before it takes it.
	aheadDone func()
	// known is the newest fact the writer has seen, and carried the
	// updates a batch put off to the next (both its goroutine's alone).
	known   head
	carried []*request

	id   [17]byte // prefixes this process's notifications (events.go)
	logf func(format string, args ...any)
}

var (
	_ store.Ledger     = (*Ledger)(nil)
	_ store.Maintainer = (*Ledger)(nil)
)

type request struct {
	fn    func(store.Tx) error
	err   error
	done  chan error
	ahead bool // it ran ahead of the lock (see try)
}

// Open connects to the database at url (a postgres:// URL or a key=value
// connection string), applies the schema migrations this build has and the
// database lacks, and starts the writer.
func Open(ctx context.Context, url string, opts Options) (*Ledger, error) {
	if opts.RetryFor <= 0 {
		opts.RetryFor = 5 * time.Second
	}
	if opts.MaxConns <= 0 {
		opts.MaxConns = 10
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 10 * time.Second
	}
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		// pgx's message repeats the URL, password and all.
		return nil, errors.New("open ledger: the database URL does not parse")
	}
	cfg.MaxConns = max(opts.MaxConns, 2)
	if cfg.ConnConfig.ConnectTimeout == 0 || cfg.ConnConfig.ConnectTimeout > opts.RetryFor {
		cfg.ConnConfig.ConnectTimeout = opts.RetryFor
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("open ledger on %s: %w", where(cfg), err)
	}
	if err := migrate(ctx, pool); err != nil {
		pool.Close()
		return nil, fmt.Errorf("open ledger on %s: %w", where(cfg), classify(err))
	}
	l := &Ledger{
		pool:     pool,
		retryFor: opts.RetryFor,
		timeout:  opts.Timeout,
		requests: make(chan *request, maxBatch),
		stopped:  make(chan struct{}),
		id:       newID(),
	}
	go l.write()
	return l, nil
}

// where names a database for messages, without its password.
func where(cfg *pgxpool.Config) string {
	c := cfg.ConnConfig
	return fmt.Sprintf("database %s on %s as %s", c.Database, c.Host, c.User)
}

// Stats counts what the writer has done since Open.
type Stats struct {
	Commits uint64 // transactions committed
	Updates uint64 // update functions that returned nil and were committed
	Facts   uint64 // facts appended
	Retries uint64 // batches run again after losing the database
	// Held is how long this process held the append lock, which every
	// server's batches take in turn: Held over the elapsed time, summed
	// over the servers, is how busy the system's one writer slot was.
	Held time.Duration
	// Reads counts the read statements the batches' functions ran while
	// holding the lock (each a round trip to the database).
	Reads uint64
	// ReadsAhead counts the read statements they ran ahead of the lock,
	// on a snapshot, and Reused the answers they were given under the
	// lock from what they read ahead (brought up to date) instead of a
	// round trip.
	ReadsAhead, Reused uint64
	// Ahead is how long batches took to run ahead of the lock: with Held,
	// most of a batch's turn (the writer runs one batch at a time).
	Ahead time.Duration
}

// Stats returns the counters; Facts/Commits is the average batch.
func (l *Ledger) Stats() Stats {
	return Stats{Commits: l.commits.Load(), Updates: l.updates.Load(), Facts: l.appended.Load(), Retries: l.retries.Load(),
		Held: time.Duration(l.held.Load()), Reads: l.reads.Load(), ReadsAhead: l.ahead.Load(), Reused: l.reused.Load(),
		Ahead: time.Duration(l.aheadNs.Load())}
}

// Pool is the ledger's connection pool, for what else a server keeps in
// the same database (its events); it is closed by Close.
func (l *Ledger) Pool() *pgxpool.Pool { return l.pool }

// View runs fn in a REPEATABLE READ, READ ONLY transaction, for at most
// Options.Timeout.
func (l *Ledger) View(fn func(store.Reader) error) error {
	ctx, cancel := context.WithTimeout(context.Background(), l.timeout)
	defer cancel()
	return l.view(ctx, fn)
}

func (l *Ledger) view(ctx context.Context, fn func(store.Reader) error) error {
	l.mu.RLock()
	closed := l.closed
	l.mu.RUnlock()
	if closed {
		return store.ErrClosed
	}
	tx, err := l.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return fmt.Errorf("begin view: %w", classify(err))
	}
	defer tx.Rollback(ctx)
	if err := fn(&reader{ctx: ctx, q: tx}); err != nil {
		return err
	}
	// A read-only transaction has nothing to commit; ending it cleanly
	// returns the connection to the pool at once.
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("end view: %w", classify(err))
	}
	return nil
}

// Update runs fn with the other functions waiting at the time in one
// locked transaction and returns once that transaction has committed. If
// fn returns an error or panics, what it appended is dropped and the error
// is returned; the rest of the batch is unaffected. fn runs on the writer
// goroutine, ahead of the lock and then under it (see the package
// comment), and again when the database was lost before the batch
// committed; only the last run's effects and result count: it must not
// call the Ledger, nor keep the Tx beyond its return.
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

// Close waits for the pending updates, then closes the connections.
// Closing twice is harmless.
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
	l.pool.Close()
	return nil
}

func (l *Ledger) write() {
	defer close(l.stopped)
	batch := make([]*request, 0, maxBatch)
	for {
		if len(l.carried) > 0 {
			batch = append(batch[:0], l.carried...)
			clear(l.carried)
			l.carried = l.carried[:0]
		} else {
			r, ok := <-l.requests
			if !ok {
				return
			}
			batch = append(batch[:0], r)
		}
		batch = l.drain(batch)
		m := l.runAhead(batch)
		if l.aheadDone != nil {
			l.aheadDone()
		}
		batch = l.commit(batch, m)
		for _, r := range batch {
			r.done <- r.err
		}
		clear(batch)
	}
}

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

// commit runs batch until it commits, fails for good, or the database has
// been out of reach for retryFor; it sets each request's err and returns
// the batch. m is what the batch read ahead of the lock, or nil.
func (l *Ledger) commit(batch []*request, m *memo) []*request {
	deadline := time.Now().Add(l.retryFor)
	pause := 20 * time.Millisecond
	var u *unsure // a try whose COMMIT went out and whose answer was lost
	for {
		var err error
		if u != nil {
			// Before the functions run again, settle whether the lost
			// COMMIT landed: running them again after it did would make
			// their changes twice.
			var landed bool
			landed, err = l.landed(u.last, u.link)
			switch {
			case err == nil && landed:
				l.commits.Add(1)
				l.count(batch, uint64(u.facts))
				return batch // each request's err is the one that try set
			case err == nil:
				u = nil
			}
		}
		if u == nil {
			batch, err = l.try(batch, m)
			if err == nil {
				return batch
			}
			errors.As(err, &u)
		}
		if !errors.Is(err, store.ErrUnavailable) || time.Now().Add(pause).After(deadline) {
			if u != nil {
				err = fmt.Errorf("%w (the database went away as it was committing: the update may have been made)", err)
			}
			for _, r := range batch {
				r.err = err
			}
			return batch
		}
		l.retries.Add(1)
		time.Sleep(pause)
		pause = min(2*pause, time.Second)
	}
}

// unsure is try's error when the COMMIT was sent and its answer lost,
// and whether it landed could not be told yet.
type unsure struct {
	err   error
	last  store.Fact // the batch's last fact
	link  string     // its link, as chained by the batch
	facts int
}

func (u *unsure) Error() string { return u.err.Error() }
func (u *unsure) Unwrap() error { return u.err }

// try runs batch once in one locked transaction, reading through m (nil:
// a memo of its own). It returns an error for the whole batch (wrapping
// store.ErrUnavailable when trying again may help), or nil with each
// request's own err set.
func (l *Ledger) try(batch []*request, m *memo) ([]*request, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*l.timeout)
	defer cancel()
	conn, err := l.pool.Acquire(ctx)
	if err != nil {
		return batch, fmt.Errorf("connect: %w", classify(err))
	}
	defer conn.Release()
	// Round trips are what a batch waits for (and, under the lock, what
	// every server waits for), so the transaction's start and its end
	// each go in one: BEGIN, the lock, the head and the facts appended
	// since the memo's head; the insert and COMMIT.
	var start pgx.Batch
	start.Queue("BEGIN")
	start.Queue("SELECT pg_advisory_xact_lock($1)", appendLock)
	// Read the head (and what is newer than the memo) only once the lock
	// is held: these statements' snapshots include every commit made
	// under the lock before.
	start.Queue("SELECT " + factColumns + " FROM facts ORDER BY seq DESC LIMIT 1")
	if m != nil {
		newerFacts(&start, m.asOf.seq)
	}
	// Whatever happens below, the transaction does not outlive try; a
	// connection the database dropped is closed by the pool.
	defer func() {
		if !conn.Conn().IsClosed() && conn.Conn().PgConn().TxStatus() != 'I' {
			conn.Exec(context.WithoutCancel(ctx), "ROLLBACK")
		}
	}()
	base, newer, err := startBatch(ctx, conn.SendBatch(ctx, &start), m != nil)
	if err != nil {
		return batch, err
	}
	// Held until the transaction ends (a rollback's own round trip, run
	// by the deferred function above, is not counted).
	locked := time.Now()
	defer func() { l.held.Add(uint64(time.Since(locked))) }()
	l.known = base
	if m == nil || !m.catchUp(newer, base) {
		m = newMemo(base)
	}
	// The functions run again, in the same order, now on the newest fact:
	// each gets, for each of its reads, the memo's answer brought forward
	// to base (what the database would answer), or the database's, and so
	// does exactly what it would have done had it read everything here.
	// Those that arrived meanwhile wait for the next batch, which runs
	// ahead of the lock: reading here would hold every server's writes.
	ov := newOverlay(base)
	db := &memoReader{reader: &reader{ctx: ctx, q: counting{conn, &l.reads}}, m: m, reused: &l.reused}
	kept := batch[:0]
	for i := 0; i < len(batch); i++ {
		if i == len(batch)-1 {
			// Those that arrived meanwhile join the batch if what they
			// read is in the memo (or they read nothing, as when they
			// only append); one that would read the database under the
			// lock is stopped there, what it did is dropped whatever it
			// returns, and it waits for the next batch, which runs it
			// ahead of the lock first.
			batch = l.drain(batch)
		}
		r := batch[i]
		n, tip := len(ov.facts), ov.tip
		db.live, db.refused = r.ahead, false
		r.err = run(r.fn, &writeTx{db: db, ov: ov})
		switch {
		case db.refused:
			ov.truncate(n, tip)
			l.carried = append(l.carried, r)
			continue
		case r.err != nil:
			ov.truncate(n, tip)
		}
		kept = append(kept, r)
	}
	batch = kept
	// A read that failed on the database leaves the transaction aborted
	// (or the connection gone): the functions saw errors that were not
	// theirs, so the batch runs again.
	if conn.Conn().IsClosed() || conn.Conn().PgConn().TxStatus() != 'T' {
		return batch, fmt.Errorf("update: the transaction failed under the batch's functions: %w", store.ErrUnavailable)
	}
	if len(ov.facts) == 0 {
		l.count(batch, 0)
		return batch, nil
	}
	what := fmt.Sprintf("commit facts %d to %d", base.seq+1, ov.tip.seq)
	var end pgx.Batch
	if err := queueInsert(&end, ov.facts); err != nil {
		return batch, fmt.Errorf("%s: %w", what, err)
	}
	end.Queue("COMMIT")
	br := conn.SendBatch(ctx, &end)
	_, err = br.Exec()
	var tag pgconn.CommandTag
	if err == nil {
		tag, err = br.Exec()
	}
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	if err == nil && tag.String() != "COMMIT" {
		err = fmt.Errorf("the database answered %q", tag.String())
	}
	var refused *pgconn.PgError
	if errors.As(err, &refused) && refused.Severity == "ERROR" {
		// The database answered with an error (the INSERT's, and then it
		// skipped the COMMIT, or the COMMIT's): nothing was committed. A
		// FATAL one (the session ended, a shutdown) is looked into below.
		return batch, fmt.Errorf("%s: %w", what, classify(err))
	}
	if err != nil {
		// The COMMIT went out with the INSERT, so whatever answer was
		// lost (the INSERT's or the COMMIT's), it may have landed: look.
		last := ov.facts[len(ov.facts)-1]
		landed, lerr := l.landed(last, ov.tip.link)
		if lerr != nil {
			return batch, &unsure{err: fmt.Errorf("%s: %w (and could not tell whether it landed: %w)", what, classify(err), lerr),
				last: last, link: ov.tip.link, facts: len(ov.facts)}
		}
		if !landed {
			return batch, fmt.Errorf("%s: %w", what, classify(err))
		}
	}
	l.known = ov.tip
	l.commits.Add(1)
	l.count(batch, uint64(len(ov.facts)))
	return batch, nil
}

// startBatch reads the answers to BEGIN, the lock, the head and, if
// newer, to newerFacts, and returns the head and those facts.
func startBatch(ctx context.Context, br pgx.BatchResults, newer bool) (head, []store.Fact, error) {
	defer br.Close()
	if _, err := br.Exec(); err != nil {
		return head{}, nil, fmt.Errorf("begin update: %w", classify(err))
	}
	if _, err := br.Exec(); err != nil {
		return head{}, nil, fmt.Errorf("take the append lock: %w", classify(err))
	}
	h, err := headOf(br.QueryRow())
	if err != nil {
		return head{}, nil, err
	}
	var facts []store.Fact
	if newer {
		if facts, err = readNewer(br); err != nil {
			return head{}, nil, err
		}
	}
	if err := br.Close(); err != nil {
		return head{}, nil, fmt.Errorf("begin update: %w", classify(err))
	}
	return h, facts, nil
}

// counting is a querier that counts its statements.
type counting struct {
	q querier
	n *atomic.Uint64
}

func (c counting) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	c.n.Add(1)
	return c.q.Query(ctx, sql, args...)
}

func (c counting) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	c.n.Add(1)
	return c.q.QueryRow(ctx, sql, args...)
}

// headOf reads the newest fact from row, the answer to readHead's query.
func headOf(row pgx.Row) (head, error) {
	f, err := scanFact(row)
	if errors.Is(err, pgx.ErrNoRows) {
		return head{}, nil
	}
	if err != nil {
		return head{}, fmt.Errorf("read head: %w", classify(err))
	}
	enc, err := store.Encode(&f)
	if err != nil {
		return head{}, fmt.Errorf("encode fact %d: %w", f.Seq, err)
	}
	return head{seq: f.Seq, ns: f.Time.UnixNano(), link: store.Link(enc)}, nil
}

// landed reports whether last is in the database as appended, chained to
// the same predecessors (its link is the hash of its encoding).
// It asks once: when the database cannot answer, commit asks again
// before it lets the batch's functions run again.
func (l *Ledger) landed(last store.Fact, link string) (bool, error) {
	ctx, cancel := context.WithTimeout(context.Background(), l.timeout)
	defer cancel()
	got, err := (&reader{ctx: ctx, q: l.pool}).Fact(last.Seq)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return false, nil
	case err != nil:
		return false, err
	}
	enc, err := store.Encode(&got)
	return err == nil && store.Link(enc) == link, err
}

// queueInsert queues the statement that writes facts, one statement
// whatever their number.
func queueInsert(b *pgx.Batch, facts []store.Fact) error {
	n := len(facts)
	seqs, nss := make([]int64, n), make([]int64, n)
	kinds, prevs := make([]string, n), make([]string, n)
	users, devices, addresses, tickets, bodies := make([]*string, n), make([]*string, n), make([]*string, n), make([]*string, n), make([]*string, n)
	orNull := func(s string) *string {
		if s == "" {
			return nil
		}
		return &s
	}
	for i := range facts {
		f := &facts[i]
		if f.Seq > math.MaxInt64 {
			return fmt.Errorf("sequence number %d out of range", f.Seq)
		}
		seqs[i], nss[i], kinds[i], prevs[i] = int64(f.Seq), f.Time.UnixNano(), f.Kind, f.Prev
		users[i], devices[i], addresses[i], tickets[i] = orNull(f.User), orNull(f.Device), orNull(f.Address), orNull(f.Ticket)
		bodies[i] = orNull(string(f.Body))
	}
	b.Queue(`INSERT INTO facts (seq, ns, kind, user_tag, device, address, ticket, body, prev)
		SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[])`,
		seqs, nss, kinds, users, devices, addresses, tickets, bodies, prevs)
	return nil
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
func run(fn func(store.Tx) error, w store.Tx) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("update function panicked: %v", p)
		}
	}()
	return fn(w)
}

// classify marks errors that mean "the database is out of reach for now"
// as store.ErrUnavailable, so that callers can say so and try again.
func classify(err error) error {
	if err == nil || errors.Is(err, store.ErrUnavailable) {
		return err
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch pgErr.Code[:2] {
		case "08", // connection exception
			"57", // operator intervention: shutdown, crash, cannot connect now
			"53": // insufficient resources: too many connections, disk full
			return fmt.Errorf("%w: %w", store.ErrUnavailable, err)
		}
		switch pgErr.Code {
		case "40001", "40P01": // serialization failure, deadlock
			return fmt.Errorf("%w: %w", store.ErrUnavailable, err)
		}
		return err
	}
	if errors.Is(err, context.Canceled) {
		return err
	}
	// Anything else from the driver (a refused or broken connection, a
	// timeout) is the database being out of reach.
	var connErr *pgconn.ConnectError
	if errors.As(err, &connErr) || pgconn.SafeToRetry(err) || errors.Is(err, context.DeadlineExceeded) || isNetwork(err) {
		return fmt.Errorf("%w: %w", store.ErrUnavailable, err)
	}
	return err
}
