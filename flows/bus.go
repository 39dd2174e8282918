package flows

import (
	"slices"
	"sync"
)

// bus tells live sessions that something about their device or user
// changed (a sign-out elsewhere, say), so a screen can re-read its state
// at once instead of on its next poll. It carries no data: a poke means
// "ask the ledger again", which keeps the ledger the only source of truth.
type bus struct {
	mu       sync.Mutex
	watchers map[*Watcher]struct{}
	relay    Relay // nil when the ledger is this server's alone
}

func newBus(relay Relay) *bus { return &bus{watchers: map[*Watcher]struct{}{}, relay: relay} }

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
	w.bus.mu.Lock()
	delete(w.bus.watchers, w)
	w.bus.mu.Unlock()
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

// watching reports whether a live session watches the device: a magic
// link signs in a waiting session, so without one it has nothing to do.
func (b *bus) watching(device string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	for w := range b.watchers {
		if w.device == device {
			return true
		}
	}
	return false
}
