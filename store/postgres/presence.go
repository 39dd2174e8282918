package postgres

import (
	"context"
	"fmt"
)

// Presence: which devices each server has a live session watching, kept
// in attest_watchers under the Ledger's id. A server refreshes its rows
// with KeepWatching; rows not refreshed for PresenceTTL (a server that
// crashed) no longer count.

// PresenceTTL is how long a server's watch rows count without a refresh,
// as an SQL interval; refresh more often than this.
const PresenceTTL = "90 seconds"

// SetWatching records whether this server watches device.
func (l *Ledger) SetWatching(ctx context.Context, device string, on bool) error {
	var err error
	if on {
		_, err = l.pool.Exec(ctx, `INSERT INTO attest_watchers (server, device) VALUES ($1, $2)
			ON CONFLICT (server, device) DO UPDATE SET seen = now()`, l.serverID(), device)
	} else {
		_, err = l.pool.Exec(ctx, "DELETE FROM attest_watchers WHERE server = $1 AND device = $2", l.serverID(), device)
	}
	if err != nil {
		return fmt.Errorf("record a watch: %w", classify(err))
	}
	return nil
}

// WatchedElsewhere reports whether another server watches device.
func (l *Ledger) WatchedElsewhere(ctx context.Context, device string) (bool, error) {
	var yes bool
	err := l.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM attest_watchers
		WHERE device = $1 AND server <> $2 AND seen > now() - interval '`+PresenceTTL+`')`, device, l.serverID()).Scan(&yes)
	if err != nil {
		return false, fmt.Errorf("look for a watch elsewhere: %w", classify(err))
	}
	return yes, nil
}

// KeepWatching refreshes this server's watch rows.
func (l *Ledger) KeepWatching(ctx context.Context) error {
	if _, err := l.pool.Exec(ctx, "UPDATE attest_watchers SET seen = now() WHERE server = $1", l.serverID()); err != nil {
		return fmt.Errorf("refresh watches: %w", classify(err))
	}
	return nil
}

// StopWatching drops this server's watch rows.
func (l *Ledger) StopWatching(ctx context.Context) error {
	if _, err := l.pool.Exec(ctx, "DELETE FROM attest_watchers WHERE server = $1", l.serverID()); err != nil {
		return fmt.Errorf("drop watches: %w", classify(err))
	}
	return nil
}

func (l *Ledger) serverID() string { return string(l.id[:16]) }
