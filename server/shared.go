package server

import (
	"context"
	"encoding/json"
	"errors"
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

	// What Watched and Unwatched asked, waiting to be recorded: each
	// device's latest wish, so a later call for a device replaces an
	// earlier one that had not gone out yet (on then off is off).
	wmu     sync.Mutex
	watches map[string]bool
	wready  chan struct{} // has room for one signal: watches is not empty
	// setWatching records one wish in the database (the ledger's
	// SetWatching; tests replace it and stopWatching), and retry is how
	// long a failed one waits before it is tried again.
	setWatching  func(ctx context.Context, device string, on bool) error
	stopWatching func(ctx context.Context) error
	retry        time.Duration
}

// maxWatches bounds the wishes waiting to be recorded while the database
// is out of reach: one per device whose screen opened or closed meanwhile.
const maxWatches = 1 << 16

func newPokeRelay(led *postgres.Ledger, log *slog.Logger) *pokeRelay {
	r := &pokeRelay{
		led: led, notify: led.Notify, log: log,
		seen: map[string]struct{}{}, ready: make(chan struct{}, 1),
		watches: map[string]bool{}, wready: make(chan struct{}, 1),
		setWatching: led.SetWatching, stopWatching: led.StopWatching, retry: time.Second,
	}
	return r
}

// The relay is the flows' Presence too: it records which devices this
// server watches, for magic links pressed on another server.
var _ flows.Presence = (*pokeRelay)(nil)

func (r *pokeRelay) Watched(device string)   { r.wish(device, true) }
func (r *pokeRelay) Unwatched(device string) { r.wish(device, false) }

// wish notes that device's watch should be on or off and returns: a slow
// database delays the record, never a screen. Nothing is dropped short of
// maxWatches devices waiting (a watch missing from the database would let
// a magic link pressed on another server miss this server's screen).
func (r *pokeRelay) wish(device string, on bool) {
	r.wmu.Lock()
	_, waiting := r.watches[device]
	full := !waiting && len(r.watches) >= maxWatches
	if !full {
		r.watches[device] = on
	}
	r.wmu.Unlock()
	if full {
		r.log.Warn("live-session watches for the other servers are falling behind; one was dropped", "waiting", maxWatches)
		return
	}
	select {
	case r.wready <- struct{}{}:
	default: // a signal is already waiting, and covers this
	}
}

// takeWatches returns the wishes waiting, and empties them.
func (r *pokeRelay) takeWatches() map[string]bool {
	r.wmu.Lock()
	defer r.wmu.Unlock()
	w := r.watches
	r.watches = make(map[string]bool, len(w))
	return w
}

// again puts back the wishes that failed, unless a newer wish for the
// same device came meanwhile.
func (r *pokeRelay) again(failed map[string]bool) {
	r.wmu.Lock()
	defer r.wmu.Unlock()
	for device, on := range failed {
		if _, newer := r.watches[device]; !newer {
			r.watches[device] = on
		}
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

// recordWatches writes the wishes waiting and refreshes the watches until
// ctx ends, then drops them. A wish the database refused is tried again
// after r.retry (a database outage passes in real time, so this wait is
// on the wall clock).
func (r *pokeRelay) recordWatches(ctx context.Context) {
	tick := time.NewTicker(presenceRefresh)
	defer tick.Stop()
	var retry <-chan time.Time
	for {
		var err error
		select {
		case <-ctx.Done():
			dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			defer cancel()
			if err := r.stopWatching(dctx); err != nil {
				r.log.Warn("could not drop this server's watches", "err", err)
			}
			return
		case <-retry:
			retry = nil
			err = r.recordWishes(ctx)
		case <-r.wready:
			if retry == nil { // else the retry takes these along
				err = r.recordWishes(ctx)
			}
		case <-tick.C:
			wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			err = r.led.KeepWatching(wctx)
			cancel()
		}
		if errors.Is(err, errWishesLeft) && retry == nil {
			retry = time.After(r.retry)
		}
		if err != nil && ctx.Err() == nil {
			r.log.Warn("could not record this server's watches", "err", err)
		}
	}
}

// errWishesLeft says some wishes wait for another try.
var errWishesLeft = errors.New("some wait for another try")

// recordWishes records the wishes waiting; those the database refused are
// put back, and the error then wraps errWishesLeft.
func (r *pokeRelay) recordWishes(ctx context.Context) error {
	wishes := r.takeWatches()
	var failed map[string]bool
	var first error
	for device, on := range wishes {
		if ctx.Err() != nil {
			return nil // the watches are dropped as the server stops
		}
		wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err := r.setWatching(wctx, device, on)
		cancel()
		if err == nil {
			continue
		}
		if failed == nil {
			failed, first = map[string]bool{}, err
		}
		failed[device] = on
	}
	if failed == nil {
		return nil
	}
	r.again(failed)
	return fmt.Errorf("%d of %d (%w): %w", len(failed), len(wishes), errWishesLeft, first)
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
