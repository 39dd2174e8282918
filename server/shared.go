package server

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/attest-dev/attest/flows"
	"github.com/attest-dev/attest/flows/message"
	"github.com/attest-dev/attest/server/delivery"
	"github.com/attest-dev/attest/store/postgres"
)

// Servers that share a PostgreSQL ledger pass on, as notifications, what
// each would otherwise know alone: pokes for live screens (a sign-out
// everywhere on one reaches open screens on all) and, in demo mode, the
// inbox's messages (each server's inbox shows every server's messages;
// they pass through notifications only, never a table, see
// store/postgres/events.go).
const (
	pokeChannel  = "attest_pokes"
	inboxChannel = "attest_inbox"
)

// poke is a notification on pokeChannel. All asks every server to poke
// every live screen: more changed than is worth naming (see maxPending).
type poke struct {
	Users   []string `json:"u,omitempty"`
	Devices []string `json:"d,omitempty"`
	All     bool     `json:"a,omitempty"`
}

// maxPokeIDs bounds what one notification makes this server look for.
const maxPokeIDs = 256

// maxPending bounds the users and devices waiting to be passed on while
// the database is slow; past it the next notification pokes everyone.
const maxPending = 4096

// pokeRelay is the flows' Relay over notifications. Publish notes and
// returns: a slow database delays pokes, never a flow.
//
// No poke is dropped: nothing polls, so a screen on another server that
// misses one shows a stale state until something else pokes it. What
// waits is a set, not a queue: a user or device already waiting covers
// any later poke for it, so a slow database costs one notification per
// id, however many changes it missed.
type pokeRelay struct {
	led *postgres.Ledger
	// notify sends a payload on a channel (the ledger's Notify; tests
	// replace it).
	notify func(ctx context.Context, channel string, payload []byte) error
	log    *slog.Logger

	mu      sync.Mutex
	pending poke                // users and devices to pass on (All: everyone)
	seen    map[string]struct{} // pending's ids, "u"+user and "d"+device
	ready   chan struct{}       // has room for one signal: pending is not empty

	// watches carries Watched and Unwatched, in order, to the database.
	watches chan watch
}

type watch struct {
	device string
	on     bool
}

func newPokeRelay(led *postgres.Ledger, log *slog.Logger) *pokeRelay {
	return &pokeRelay{
		led: led, notify: led.Notify, log: log,
		seen: map[string]struct{}{}, ready: make(chan struct{}, 1),
		watches: make(chan watch, 4096),
	}
}

// The relay is the flows' Presence too: it records which devices this
// server watches, for magic links pressed on another server.
var _ flows.Presence = (*pokeRelay)(nil)

func (r *pokeRelay) Watched(device string)   { r.queueWatch(watch{device, true}) }
func (r *pokeRelay) Unwatched(device string) { r.queueWatch(watch{device, false}) }

func (r *pokeRelay) queueWatch(w watch) {
	select {
	case r.watches <- w:
	default:
		r.log.Warn("live-session watches for the other servers are falling behind; one was dropped")
	}
}

func (r *pokeRelay) WatchedElsewhere(device string) bool {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	yes, err := r.led.WatchedElsewhere(ctx, device)
	if err != nil {
		r.log.Warn("could not ask whether another server has the device's session", "err", err)
	}
	return yes
}

// presenceRefresh is how often this server's watch rows are refreshed; a
// server that stops refreshing (it crashed) stops counting after
// postgres.PresenceTTL. It is the database's liveness, on real time.
const presenceRefresh = 30 * time.Second

// recordWatches writes the queued watches and refreshes them until ctx
// ends, then drops them.
func (r *pokeRelay) recordWatches(ctx context.Context) {
	tick := time.NewTicker(presenceRefresh)
	defer tick.Stop()
	for {
		var err error
		select {
		case <-ctx.Done():
			dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			defer cancel()
			if err := r.led.StopWatching(dctx); err != nil {
				r.log.Warn("could not drop this server's watches", "err", err)
			}
			return
		case w := <-r.watches:
			wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			err = r.led.SetWatching(wctx, w.device, w.on)
			cancel()
		case <-tick.C:
			wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			err = r.led.KeepWatching(wctx)
			cancel()
		}
		if err != nil && ctx.Err() == nil {
			r.log.Warn("could not record this server's watches", "err", err)
		}
	}
}

func (r *pokeRelay) Publish(users, devices []string) {
	r.mu.Lock()
	if !r.pending.All {
		note := func(prefix string, ids []string, to *[]string) {
			for _, id := range ids {
				if _, ok := r.seen[prefix+id]; !ok {
					r.seen[prefix+id] = struct{}{}
					*to = append(*to, id)
				}
			}
		}
		note("u", users, &r.pending.Users)
		note("d", devices, &r.pending.Devices)
		if len(r.seen) > maxPending {
			r.pending = poke{All: true}
			clear(r.seen)
		}
	}
	r.mu.Unlock()
	select {
	case r.ready <- struct{}{}:
	default: // a signal is already waiting, and covers this
	}
}

// take returns what waits to be passed on, and empties it.
func (r *pokeRelay) take() poke {
	r.mu.Lock()
	defer r.mu.Unlock()
	p := r.pending
	r.pending = poke{}
	clear(r.seen)
	return p
}

// send passes pending pokes on until ctx ends.
func (r *pokeRelay) send(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-r.ready:
			p := r.take()
			if !p.All && len(p.Users)+len(p.Devices) == 0 {
				continue // what the signal was for went with the last take
			}
			for _, part := range split(p) {
				payload, _ := json.Marshal(part)
				nctx, cancel := context.WithTimeout(ctx, 5*time.Second)
				if err := r.notify(nctx, pokeChannel, payload); err != nil {
					r.log.Warn("could not pass a live-session poke to the other servers", "err", err)
				}
				cancel()
			}
		}
	}
}

// split cuts a poke into pieces that fit a notification (tags are at most
// a few dozen bytes, so 64 ids a piece always fit).
func split(p poke) []poke {
	var out []poke
	for len(p.Users)+len(p.Devices) > 64 {
		var q poke
		n := min(len(p.Users), 64)
		q.Users, p.Users = p.Users[:n], p.Users[n:]
		m := min(len(p.Devices), 64-n)
		q.Devices, p.Devices = p.Devices[:m], p.Devices[m:]
		out = append(out, q)
	}
	return append(out, p)
}

// receive pokes this server's sessions for what other servers publish.
func receivePokes(svc *flows.Service, log *slog.Logger) func([]byte) {
	return func(payload []byte) {
		var p poke
		if err := json.Unmarshal(payload, &p); err != nil || len(p.Users)+len(p.Devices) > maxPokeIDs {
			log.Warn("ignored a malformed live-session poke from another server")
			return
		}
		if p.All {
			svc.PokeAll()
			return
		}
		svc.Poke(p.Users, p.Devices)
	}
}

// sharedInbox is the demo inbox of a server that shares its ledger: what
// it is sent goes to its own inbox and to the other servers'.
type sharedInbox struct {
	*delivery.Inbox
	led *postgres.Ledger
	log *slog.Logger
}

func (s *sharedInbox) Send(ctx context.Context, m message.Message) error {
	if err := s.Inbox.Send(ctx, m); err != nil {
		return err
	}
	payload, err := json.Marshal(m)
	if err == nil {
		err = s.led.Notify(ctx, inboxChannel, payload)
	}
	if err != nil {
		// Delivered here all the same: the demo inbox of this server has it.
		s.log.Warn("could not pass a demo message to the other servers' inboxes", "err", err)
	}
	return nil
}

// receiveMessages puts the other servers' demo messages in this inbox.
func receiveMessages(in *delivery.Inbox, log *slog.Logger) func([]byte) {
	return func(payload []byte) {
		var m message.Message
		if err := json.Unmarshal(payload, &m); err != nil {
			log.Warn("ignored a malformed demo message from another server")
			return
		}
		// The inbox keeps what it is given; it fails only for a context
		// that has ended, which this one never does.
		_ = in.Send(context.Background(), m)
	}
}

// share starts passing pokes and demo messages between the servers on
// led, until the returned function is called.
func (a *App) share(led *postgres.Ledger, relay *pokeRelay) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	led.SetLogger(func(format string, args ...any) { a.Logger.Warn("shared ledger: " + fmt.Sprintf(format, args...)) })
	var running sync.WaitGroup
	running.Go(func() { relay.send(ctx) })
	running.Go(func() { relay.recordWatches(ctx) })
	listen := func(channel string, fn func([]byte), ready func(), lost func(error)) {
		var once sync.Once
		a.listening.Add(1)
		running.Go(func() {
			led.Listen(ctx, channel, fn, func() {
				once.Do(a.listening.Done)
				if ready != nil {
					ready()
				}
			}, lost)
		})
	}
	// Pokes sent while this server was not listening are missed: when the
	// connection is lost (the database may be down: screens read, and say
	// so) and when it is back (screens read what they missed), every live
	// screen here reads again.
	pokeAll := func() { a.Service.PokeAll() }
	listen(pokeChannel, receivePokes(a.Service, a.Logger), pokeAll, func(error) { pokeAll() })
	if a.Inbox != nil {
		listen(inboxChannel, receiveMessages(a.Inbox, a.Logger), nil, nil)
	}
	return func() {
		cancel()
		running.Wait()
	}
}

// WaitShared waits until the server listens for the other servers'
// pokes and messages (at once when it shares no ledger), for at most
// timeout; it reports whether it does.
func (a *App) WaitShared(timeout time.Duration) bool {
	done := make(chan struct{})
	go func() { a.listening.Wait(); close(done) }()
	select {
	case <-done:
		return true
	case <-time.After(timeout):
		return false
	}
}
