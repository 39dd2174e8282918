package flows

import (
	"slices"
	"sync"

	"github.com/attest-dev/attest/store"
)

// bus tells live sessions that something about their device or user
// changed (a sign-out elsewhere, say), so a screen can re-read its state
// at once instead of on its next poll. It carries no data: a poke means
// "ask the ledger again", which keeps the ledger the only source of truth.
type bus struct {
	mu       sync.Mutex
	watchers map[*Watcher]struct{}
	relay    Relay // nil when the ledger is this server's alone

	// With a relay that implements Presence: how many watchers each
	// device has here, so the others hear of its first and last.
	presence Presence
	devices  map[string]int
}

func newBus(relay Relay) *bus {
	b := &bus{watchers: map[*Watcher]struct{}{}, relay: relay}
	if p, ok := relay.(Presence); ok {
		b.presence, b.devices = p, map[string]int{}
	}
	return b
}

// Presence is what a Relay implements to say which devices have a live
// session on which server: a magic link pressed on one server must find
// the terminal waiting for it on another.
type Presence interface {
	// Watched and Unwatched say that this server's first watch of a
	// device began, or its last ended. They must not wait.
	Watched(device string)
	Unwatched(device string)
	// WatchedElsewhere reports whether another server watches device.
	WatchedElsewhere(device string) bool
}

// Relay carries pokes between the servers that share a ledger: a sign-out
// everywhere on one server must reach the open screens of every other.
type Relay interface {
	// Publish passes a poke for users and devices on to the other
	// servers, which call their Service's Poke with it. It must not wait
	// for them: it is called on the flows' path.
	Publish(users, devices []string)
}

// Poke tells this server's live sessions that the state of users and
// devices may have changed: another server changed it, and its Relay
// says so here.
func (s *Service) Poke(users, devices []string) { s.bus.local(users, devices) }

// PokeAll tells every live session of this server to read its state
// again: pokes from the other servers may have been missed (the
// connection that carries them was lost), or the ledger may be out of
// reach, which a session finds out by reading.
func (s *Service) PokeAll() {
	b := s.bus
	b.mu.Lock()
	defer b.mu.Unlock()
	for w := range b.watchers {
		w.poke()
	}
}

// Watcher receives pokes for one device and the user it acts as.
type Watcher struct {
	// C receives a value when the device's or user's state may have
	// changed. It has room for one poke: several changes before the reader
	// looks coalesce into one.
	C      <-chan struct{}
	c      chan struct{}
	bus    *bus
	device string
	mu     sync.Mutex
	user   string
}

// Watch starts watching device. Call Stop when done.
func (s *Service) Watch(device string) *Watcher {
	c := make(chan struct{}, 1)
	w := &Watcher{C: c, c: c, bus: s.bus, device: device}
	s.bus.mu.Lock()
	s.bus.watchers[w] = struct{}{}
	if s.bus.presence != nil {
		if s.bus.devices[device]++; s.bus.devices[device] == 1 {
			s.bus.presence.Watched(device)
		}
	}
	s.bus.mu.Unlock()
	return w
}

// SetUser tells the watcher which user the device acts as now, so changes
// to that user (sign-out everywhere) reach it.
func (w *Watcher) SetUser(user string) {
	w.mu.Lock()
	w.user = user
	w.mu.Unlock()
}

// Stop ends the watch.
func (w *Watcher) Stop() {
	b := w.bus
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, ok := b.watchers[w]; !ok {
		return
	}
	delete(b.watchers, w)
	if b.presence != nil {
		if b.devices[w.device]--; b.devices[w.device] == 0 {
			delete(b.devices, w.device)
			b.presence.Unwatched(w.device)
		}
	}
}

func (w *Watcher) poke() {
	select {
	case w.c <- struct{}{}:
	default: // a poke is already waiting
	}
}

// publish pokes the watchers of the given devices and users, here and on
// the other servers. It is called after the commit that made the change,
// never inside a transaction.
func (b *bus) publish(users, devices []string) {
	if len(users) == 0 && len(devices) == 0 {
		return
	}
	b.local(users, devices)
	if b.relay != nil {
		b.relay.Publish(users, devices)
	}
}

// local pokes this server's watchers.
func (b *bus) local(users, devices []string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for w := range b.watchers {
		if slices.Contains(devices, w.device) {
			w.poke()
			continue
		}
		w.mu.Lock()
		u := w.user
		w.mu.Unlock()
		if u != "" && slices.Contains(users, u) {
			w.poke()
		}
	}
}

// watching reports whether a live session watches the device, here or
// on another server: a magic link signs in a waiting session, so without
// one it has nothing to do.
func (b *bus) watching(device string) bool {
	b.mu.Lock()
	for w := range b.watchers {
		if w.device == device {
			b.mu.Unlock()
			return true
		}
	}
	b.mu.Unlock()
	return b.presence != nil && b.presence.WatchedElsewhere(device)
}

// announcing is the ledger as the flows write to it: every update that
// commits pokes the live sessions of the users and devices its facts
// name, here and on the other servers. So a screen learns of every
// change to what it shows (a star added on another device of the
// account, an address unlinked, a sign-out everywhere) when it happens,
// and never has to poll; a flow cannot forget to say so.
type announcing struct {
	store.Ledger
	bus *bus
}

func (l announcing) Update(fn func(store.Tx) error) error {
	var t *naming
	err := l.Ledger.Update(func(tx store.Tx) error {
		t = &naming{Tx: tx} // fn may run again: only the last run counts
		return fn(t)
	})
	if err == nil && t != nil {
		l.bus.publish(t.users, t.devices)
	}
	return err
}

// naming is a transaction that notes the users and devices of the facts
// appended in it.
type naming struct {
	store.Tx
	users, devices []string
}

func (t *naming) Append(f store.Fact) (store.Fact, error) {
	f, err := t.Tx.Append(f)
	if err != nil {
		return f, err
	}
	if f.User != "" && !slices.Contains(t.users, f.User) {
		t.users = append(t.users, f.User)
	}
	if f.Device != "" && !slices.Contains(t.devices, f.Device) {
		t.devices = append(t.devices, f.Device)
	}
	return f, nil
}
