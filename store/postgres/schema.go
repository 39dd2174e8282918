package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Advisory lock keys, the same in every attest server: one serializes
// schema migrations, the other appends (see the package comment). The
// values are "attest" in ASCII with a distinct last byte, unlikely to
// collide with another application's keys in a shared database.
const (
	migrateLock int64 = 0x617474657374_01
	appendLock  int64 = 0x617474657374_02
)

// migrations are the schema's versions, applied in order, each in its own
// transaction and recorded in attest_schema. A released migration is never
// edited: a change is a new entry.
var migrations = []string{
	// 1: the facts, their indexes, the metadata, and what keeps them
	// append-only.
	`
CREATE TABLE facts (
	seq     bigint PRIMARY KEY CHECK (seq > 0),
	ns      bigint NOT NULL,          -- the fact's time, unix nanoseconds
	kind    text   NOT NULL,
	user_tag text,                     -- NULL when the fact has none
	device  text,
	address text,
	ticket  text,
	body    text,                      -- the canonical JSON object, NULL when empty
	prev    text   NOT NULL           -- hex SHA-256 of the previous fact's encoding
);
-- The indexes are derived from the facts, as bbolt's index buckets are, but
-- PostgreSQL keeps them. Time and kind are included so that counting and
-- filtering read the index alone.
CREATE INDEX facts_by_user    ON facts (user_tag, seq) INCLUDE (ns, kind) WHERE user_tag IS NOT NULL;
CREATE INDEX facts_by_device  ON facts (device, seq)   INCLUDE (ns, kind) WHERE device IS NOT NULL;
CREATE INDEX facts_by_address ON facts (address, seq)  INCLUDE (ns, kind) WHERE address IS NOT NULL;
CREATE INDEX facts_by_ticket  ON facts (ticket, seq)   INCLUDE (ns, kind) WHERE ticket IS NOT NULL;
CREATE INDEX facts_by_kind    ON facts (kind, seq)     INCLUDE (ns);

-- Values written once when the first server starts (the secret's check).
CREATE TABLE attest_meta (
	name  text PRIMARY KEY,
	value text NOT NULL
);

CREATE FUNCTION attest_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	RAISE EXCEPTION 'attest: % on % refused: the ledger only grows', TG_OP, TG_TABLE_NAME
		USING ERRCODE = 'insufficient_privilege';
END
$$;
-- Statement triggers, so that even a statement that matches no row fails,
-- and TRUNCATE (which fires no row trigger) is caught too. They bind the
-- owner and superusers alike, who are not bound by grants.
CREATE TRIGGER facts_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON facts
	FOR EACH STATEMENT EXECUTE FUNCTION attest_refuse_change();
CREATE TRIGGER meta_write_once BEFORE UPDATE OR DELETE OR TRUNCATE ON attest_meta
	FOR EACH STATEMENT EXECUTE FUNCTION attest_refuse_change();
REVOKE UPDATE, DELETE, TRUNCATE ON facts, attest_meta FROM PUBLIC, CURRENT_USER;
`,
	// 2: which server watches which device now, so that a magic link
	// pressed on one server finds the terminal waiting on another. These
	// are not facts: rows come and go, and an unlogged table is neither
	// written to the WAL nor kept after a crash.
	`
CREATE UNLOGGED TABLE attest_watchers (
	server text NOT NULL,
	device text NOT NULL,
	seen   timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (server, device)
);
CREATE INDEX attest_watchers_by_device ON attest_watchers (device);
`,
}

// migrate brings the schema up to date. Servers starting at once take the
// migration lock in turn: the first applies what is missing, the others
// find nothing left to do.
func migrate(ctx context.Context, pool *pgxpool.Pool) error {
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock($1)", migrateLock); err != nil {
		return fmt.Errorf("take the migration lock: %w", err)
	}
	// A session lock outlives failed statements, so release it whatever
	// happens; closing the connection would release it too.
	defer conn.Exec(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock($1)", migrateLock)

	var exists bool
	if err := conn.QueryRow(ctx, "SELECT to_regclass('attest_schema') IS NOT NULL").Scan(&exists); err != nil {
		return fmt.Errorf("look for the schema table: %w", err)
	}
	if !exists {
		if _, err := conn.Exec(ctx, `CREATE TABLE attest_schema (
			version int PRIMARY KEY,
			applied timestamptz NOT NULL DEFAULT now())`); err != nil {
			return fmt.Errorf("create the schema table: %w", ownerFirst(err, 0))
		}
	}
	var version int
	if err := conn.QueryRow(ctx, "SELECT coalesce(max(version), 0) FROM attest_schema").Scan(&version); err != nil {
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && pgErr.Code == "42501" {
			return fmt.Errorf("read the schema version: %w: this role has not been granted the tables; as their owner, grant it what the README's \"Two roles\" says", err)
		}
		return fmt.Errorf("read the schema version: %w", err)
	}
	if version > len(migrations) {
		return fmt.Errorf("the database's schema is version %d, newer than this build's %d: upgrade attest", version, len(migrations))
	}
	for v := version + 1; v <= len(migrations); v++ {
		err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, migrations[v-1]); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, "INSERT INTO attest_schema (version) VALUES ($1)", v)
			return err
		})
		if err != nil {
			return fmt.Errorf("apply schema migration %d: %w", v, ownerFirst(err, version))
		}
	}
	return nil
}

// ownerFirst explains a migration this role may not apply: with two roles
// (README), the servers' role is granted only what it uses, and the
// owner applies the schema.
func ownerFirst(err error, version int) error {
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != "42501" { // insufficient_privilege
		return err
	}
	return fmt.Errorf("%w: the database's schema is version %d and this build needs %d, which this role may not apply; "+
		"run attest verify once as the tables' owner (ATTEST_DATABASE_URL naming that role), then start the servers", err, version, len(migrations))
}

// SchemaVersion is the schema version this build applies.
func SchemaVersion() int { return len(migrations) }
