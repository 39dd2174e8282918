package postgres

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// What one server knew in memory (live sign-outs, the demo inbox) crosses
// to the others as PostgreSQL notifications (LISTEN/NOTIFY). They carry no
// fact: a notification says "ask the ledger again" or, for the demo inbox,
// carries the message itself, which never enters a table. PostgreSQL keeps
// a notification in its notification queue (neither a table nor the
// write-ahead log) only until every listener has read it. A server that is
// not listening at the time misses it, which is why pokes carry no state.

// MaxPayload is the largest notification PostgreSQL takes, less room for
// the sender's id.
const MaxPayload = 7900

// sender is the prefix of this process's notifications, so that it can
// skip its own.
func (l *Ledger) sender() []byte { return l.id[:] }

func newID() (id [17]byte) {
	var b [8]byte
	rand.Read(b[:])
	hex.Encode(id[:16], b[:])
	id[16] = ' '
	return id
}

// Notify sends payload to the Ledgers (this one excepted) listening on
// channel.
func (l *Ledger) Notify(ctx context.Context, channel string, payload []byte) error {
	if len(payload) > MaxPayload {
		return fmt.Errorf("notify %s: payload of %d bytes exceeds %d", channel, len(payload), MaxPayload)
	}
	msg := append(l.sender(), payload...)
	if _, err := l.pool.Exec(ctx, "SELECT pg_notify($1, $2)", channel, string(msg)); err != nil {
		return fmt.Errorf("notify %s: %w", channel, classify(err))
	}
	return nil
}

// Listen calls fn with each payload that another Ledger sends on channel,
// in order, until ctx ends. It listens on a connection of its own; when
// that is lost it connects again, every second at most, and what was sent
// meanwhile is lost. ready, if not nil, is called each time the listening
// starts (tests wait for it), and lost, if not nil, each time a connection
// that listened is lost (not for each failed try to connect again): what is
// sent from then until ready is missed.
func (l *Ledger) Listen(ctx context.Context, channel string, fn func(payload []byte), ready func(), lost func(error)) {
	for ctx.Err() == nil {
		listened, err := l.listenOnce(ctx, channel, fn, ready)
		if ctx.Err() != nil {
			return
		}
		if l.logf != nil {
			l.logf("listen for %s: %v; connecting again", channel, err)
		}
		if listened && lost != nil {
			lost(err)
		}
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
}

func (l *Ledger) listenOnce(ctx context.Context, channel string, fn func([]byte), ready func()) (listened bool, err error) {
	conn, err := pgx.ConnectConfig(ctx, l.pool.Config().ConnConfig.Copy())
	if err != nil {
		return false, classify(err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{channel}.Sanitize()); err != nil {
		return false, classify(err)
	}
	if ready != nil {
		ready()
	}
	self := l.sender()
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return true, classify(err)
		}
		p := []byte(n.Payload)
		if len(p) < len(self) || bytes.Equal(p[:len(self)], self) {
			continue
		}
		fn(p[len(self):])
	}
}

// SetLogger makes Listen report lost connections through logf.
func (l *Ledger) SetLogger(logf func(format string, args ...any)) { l.logf = logf }
