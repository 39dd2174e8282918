package postgres

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"

	"github.com/attest-dev/attest/store"
)

// querier is what reads need of a transaction.
type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// reader implements store.Reader with SQL on one transaction: a
// REPEATABLE READ snapshot for View, the writer's locked transaction for
// Update (see writeTx).
type reader struct {
	ctx context.Context
	q   querier
}

var _ store.Reader = (*reader)(nil)

// factColumns are read in this order by scanFact.
const factColumns = "seq, ns, kind, coalesce(user_tag, ''), coalesce(device, ''), coalesce(address, ''), coalesce(ticket, ''), coalesce(body, ''), prev"

func scanFact(row pgx.Row) (store.Fact, error) {
	var f store.Fact
	var seq, ns int64
	var body string
	if err := row.Scan(&seq, &ns, &f.Kind, &f.User, &f.Device, &f.Address, &f.Ticket, &body, &f.Prev); err != nil {
		return store.Fact{}, err
	}
	f.Seq, f.Time = uint64(seq), time.Unix(0, ns).UTC()
	if body != "" {
		f.Body = []byte(body)
	}
	return f, nil
}

// column names the column an index reads.
func column(ix store.Index) (string, error) {
	switch ix {
	case store.ByUser:
		return "user_tag", nil
	case store.ByDevice:
		return "device", nil
	case store.ByAddress:
		return "address", nil
	case store.ByTicket:
		return "ticket", nil
	case store.ByKind:
		return "kind", nil
	}
	return "", fmt.Errorf("unknown index %s", ix)
}

// plain is w as the database is asked it, less the kinds no fact can
// have, and whether any fact can be among id's entries of ix inside it
// at all (err says why not when ix is no index). A fact's ids and kind
// are UTF-8 without NUL (store.Fact.Validate), and its kind is never
// empty; PostgreSQL would refuse such text with an error that ends the
// transaction (an update's whole batch with it), so a read of them is
// answered here: none.
func plain(ix store.Index, id string, w *store.Window) (*store.Window, bool, error) {
	if _, err := column(ix); err != nil {
		return w, false, err
	}
	if !storable(id) {
		return w, false, nil
	}
	if len(w.Kinds) == 0 || !slices.ContainsFunc(w.Kinds, func(k string) bool { return !storable(k) }) {
		return w, true, nil
	}
	p := *w
	p.Kinds = slices.DeleteFunc(slices.Clone(w.Kinds), func(k string) bool { return !storable(k) })
	return &p, len(p.Kinds) > 0, nil
}

func storable(s string) bool { return s != "" && utf8.ValidString(s) && strings.IndexByte(s, 0) < 0 }

// query builds the SELECT for id's entries of ix inside w, at most limit
// of them (0: all). what is the select list.
func query(what string, ix store.Index, id string, w *store.Window, limit int) (string, []any, error) {
	col, err := column(ix)
	if err != nil {
		return "", nil, err
	}
	var b strings.Builder
	args := []any{id}
	b.WriteString("SELECT " + what + " FROM facts WHERE " + col + " = $1")
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	lo, hi := w.NanoBounds()
	if lo != math.MinInt64 {
		b.WriteString(" AND ns >= " + arg(lo))
	}
	if hi != math.MaxInt64 {
		b.WriteString(" AND ns <= " + arg(hi))
	}
	if len(w.Kinds) > 0 {
		b.WriteString(" AND kind = ANY(" + arg(w.Kinds) + ")")
	}
	b.WriteString(" ORDER BY seq")
	if w.Reverse {
		b.WriteString(" DESC")
	}
	if limit > 0 {
		b.WriteString(" LIMIT " + arg(limit))
	}
	return b.String(), args, nil
}

func (r *reader) Head() (uint64, time.Time, error) {
	var seq, ns int64
	err := r.q.QueryRow(r.ctx, "SELECT seq, ns FROM facts ORDER BY seq DESC LIMIT 1").Scan(&seq, &ns)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, time.Time{}, nil
	}
	if err != nil {
		return 0, time.Time{}, fmt.Errorf("read head: %w", classify(err))
	}
	return uint64(seq), time.Unix(0, ns).UTC(), nil
}

func (r *reader) Fact(seq uint64) (store.Fact, error) {
	if seq == 0 || seq > math.MaxInt64 {
		return store.Fact{}, store.ErrNotFound
	}
	f, err := scanFact(r.q.QueryRow(r.ctx, "SELECT "+factColumns+" FROM facts WHERE seq = $1", int64(seq)))
	if errors.Is(err, pgx.ErrNoRows) {
		return store.Fact{}, store.ErrNotFound
	}
	if err != nil {
		return store.Fact{}, fmt.Errorf("read fact %d: %w", seq, classify(err))
	}
	return f, nil
}

func (r *reader) All(from uint64, fn func(store.Fact) bool) error {
	_, err := r.all(from, fn)
	return err
}

// all is All, reporting whether fn wanted more at the end.
func (r *reader) all(from uint64, fn func(store.Fact) bool) (more bool, err error) {
	if from > math.MaxInt64 {
		return true, nil
	}
	// A page at a time: stopping part way through a result would make the
	// driver read the rest of it (to the end of the table) before the
	// connection could be used again, so a caller reading a thousand facts
	// at a time from the start of a long ledger would read it all each time.
	for {
		rows, err := r.q.Query(r.ctx, "SELECT "+factColumns+" FROM facts WHERE seq >= $1 ORDER BY seq LIMIT $2", int64(from), allPage)
		if err != nil {
			return false, fmt.Errorf("read facts from %d: %w", from, classify(err))
		}
		n := 0
		more, err := eachRow(rows, scanFact, func(f store.Fact) bool {
			n++
			from = f.Seq + 1
			return fn(f)
		})
		if err != nil || !more || n < allPage {
			return more, err
		}
	}
}

// allPage is how many facts all reads per statement.
const allPage = 1000

// eachRow calls fn with each row until it returns false, and closes rows.
func eachRow[T any](rows pgx.Rows, scan func(pgx.Row) (T, error), fn func(T) bool) (more bool, err error) {
	defer rows.Close()
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return false, fmt.Errorf("read row: %w", classify(err))
		}
		if !fn(v) {
			return false, nil
		}
	}
	if err := rows.Err(); err != nil {
		return false, fmt.Errorf("read rows: %w", classify(err))
	}
	return true, nil
}

func scanEntry(row pgx.Row) (store.Entry, error) {
	var seq, ns int64
	var e store.Entry
	if err := row.Scan(&seq, &ns, &e.Kind); err != nil {
		return store.Entry{}, err
	}
	e.Seq, e.Time = uint64(seq), time.Unix(0, ns).UTC()
	return e, nil
}

func (r *reader) Entries(ix store.Index, id string, w store.Window, fn func(store.Entry) bool) error {
	_, err := r.entries(ix, id, &w, w.Limit, fn)
	return err
}

func (r *reader) entries(ix store.Index, id string, w *store.Window, limit int, fn func(store.Entry) bool) (more bool, err error) {
	w, ok, err := plain(ix, id, w)
	if !ok {
		return true, err
	}
	sql, args, err := query("seq, ns, kind", ix, id, w, limit)
	if err != nil {
		return false, err
	}
	rows, err := r.q.Query(r.ctx, sql, args...)
	if err != nil {
		return false, fmt.Errorf("read %s index: %w", ix, classify(err))
	}
	return eachRow(rows, scanEntry, fn)
}

func (r *reader) Facts(ix store.Index, id string, w store.Window, fn func(store.Fact) bool) error {
	_, err := r.facts(ix, id, &w, w.Limit, fn)
	return err
}

func (r *reader) facts(ix store.Index, id string, w *store.Window, limit int, fn func(store.Fact) bool) (more bool, err error) {
	w, ok, err := plain(ix, id, w)
	if !ok {
		return true, err
	}
	sql, args, err := query(factColumns, ix, id, w, limit)
	if err != nil {
		return false, err
	}
	rows, err := r.q.Query(r.ctx, sql, args...)
	if err != nil {
		return false, fmt.Errorf("read facts by %s: %w", ix, classify(err))
	}
	return eachRow(rows, scanFact, fn)
}

func (r *reader) Count(ix store.Index, id string, w store.Window) (int, error) {
	return r.count(ix, id, &w, w.Limit)
}

func (r *reader) count(ix store.Index, id string, w *store.Window, limit int) (int, error) {
	w, ok, err := plain(ix, id, w)
	if !ok {
		return 0, err
	}
	sql, args, err := query("1", ix, id, w, limit)
	if err != nil {
		return 0, err
	}
	var n int
	if err := r.q.QueryRow(r.ctx, "SELECT count(*) FROM ("+sql+") AS matches", args...).Scan(&n); err != nil {
		return 0, fmt.Errorf("count %s entries: %w", ix, classify(err))
	}
	return n, nil
}
