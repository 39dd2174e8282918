package postgres

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/attest-dev/attest/store"
)

// ErrUsePgDump is returned by Backup: a PostgreSQL ledger is backed up with
// PostgreSQL's own tools.
var ErrUsePgDump = errors.New("a ledger in PostgreSQL is backed up with pg_dump (pg_dump --format=custom --file=attest.dump DBNAME), not attest backup")

// Backup refuses with ErrUsePgDump.
func (l *Ledger) Backup(io.Writer) (int64, error) { return 0, ErrUsePgDump }

// Verify walks the chain in one snapshot and checks, for each fact in
// turn, that it carries the next sequence number, is valid, stores its
// body canonically, does not go back in time and carries the hash of the
// fact before it. It returns a *store.Discrepancy for the first problem.
//
// The indexes are PostgreSQL's B-trees, which the database keeps in step
// with the table; when the amcheck extension is installed (CREATE
// EXTENSION amcheck, as a superuser, with EXECUTE on bt_index_check
// granted to the server's role), Verify also has it check that every fact
// is in each index.
func (l *Ledger) Verify() error {
	return l.view(context.Background(), func(r store.Reader) error {
		rd := r.(*reader)
		var want uint64 = 1
		var prevLink string
		var prevNs int64
		var bad error
		_, err := rd.all(0, func(f store.Fact) bool {
			d := func(format string, args ...any) bool {
				bad = &store.Discrepancy{Seq: f.Seq, Reason: fmt.Sprintf(format, args...)}
				return false
			}
			switch {
			case f.Seq != want:
				return d("fact missing: the sequence jumps from %d to %d", want-1, f.Seq)
			case f.Prev != prevLink:
				return d("prev %q is not the hash of fact %d", f.Prev, want-1)
			case f.Time.UnixNano() < prevNs:
				return d("time %s is before the previous fact's", f.Time)
			}
			if err := f.Validate(); err != nil {
				return d("%v", err)
			}
			if canon, err := store.CanonicalBody(f.Body); err != nil || !bytes.Equal(canon, f.Body) {
				return d("body is not canonical JSON")
			}
			enc, err := store.Encode(&f)
			if err != nil {
				return d("does not encode: %v", err)
			}
			want, prevLink, prevNs = f.Seq+1, store.Link(enc), f.Time.UnixNano()
			return true
		})
		if err != nil {
			return fmt.Errorf("verify: %w", err)
		}
		if bad != nil {
			return bad
		}
		return checkIndexes(rd.ctx, rd.q)
	})
}

// ChecksIndexes reports whether Verify checks the indexes as well as the
// chain: only when the amcheck extension is installed and the server's
// role may run it. The operator's verify says which it did, rather than
// claiming more than it checked.
func (l *Ledger) ChecksIndexes() (bool, error) {
	var usable bool
	err := l.View(func(r store.Reader) error {
		rd := r.(*reader)
		var err error
		usable, err = amcheckUsable(rd.ctx, rd.q)
		return err
	})
	return usable, err
}

// amcheckUsable reports whether amcheck is installed and its index check
// may be run by this role (a missing grant is not a broken index).
func amcheckUsable(ctx context.Context, q querier) (bool, error) {
	var usable bool
	// to_regprocedure is NULL when amcheck is not installed.
	err := q.QueryRow(ctx, `SELECT coalesce(has_function_privilege(
		to_regprocedure('bt_index_check(regclass, boolean)'), 'EXECUTE'), false)`).Scan(&usable)
	if err != nil {
		return false, fmt.Errorf("verify: look for amcheck: %w", classify(err))
	}
	return usable, nil
}

// checkIndexes runs amcheck's heapallindexed check on each of the facts
// table's indexes, when amcheck is installed and this role may run it.
func checkIndexes(ctx context.Context, q querier) error {
	usable, err := amcheckUsable(ctx, q)
	if err != nil || !usable {
		return err
	}
	rows, err := q.Query(ctx, `SELECT c.relname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
		WHERE i.indrelid = 'facts'::regclass ORDER BY c.relname`)
	if err != nil {
		return fmt.Errorf("verify: list indexes: %w", classify(err))
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return fmt.Errorf("verify: list indexes: %w", classify(err))
	}
	for _, name := range names {
		rows, err := q.Query(ctx, "SELECT bt_index_check($1::regclass, true)", name)
		if err == nil {
			rows.Close()
			err = rows.Err()
		}
		if err != nil {
			return &store.Discrepancy{Index: name, Reason: err.Error()}
		}
	}
	return nil
}

// Reindex rebuilds the facts table's indexes (REINDEX TABLE, which needs
// the table's owner).
func (l *Ledger) Reindex() error {
	if _, err := l.pool.Exec(context.Background(), "REINDEX TABLE facts"); err != nil {
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && pgErr.Code == "42501" {
			return fmt.Errorf("reindex: %w: run it as the tables' owner (ATTEST_DATABASE_URL naming that role)", err)
		}
		return fmt.Errorf("reindex: %w", classify(err))
	}
	return nil
}

// Claim stores value under name unless a value is stored there already,
// and returns the stored one: the first server to claim a name sets it for
// every server after it. Values are never changed.
func (l *Ledger) Claim(name, value string) (string, error) {
	ctx := context.Background()
	if _, err := l.pool.Exec(ctx, "INSERT INTO attest_meta (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING", name, value); err != nil {
		return "", fmt.Errorf("claim %s: %w", name, classify(err))
	}
	var stored string
	if err := l.pool.QueryRow(ctx, "SELECT value FROM attest_meta WHERE name = $1", name).Scan(&stored); err != nil {
		return "", fmt.Errorf("claim %s: %w", name, classify(err))
	}
	return stored, nil
}
