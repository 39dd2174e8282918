package tui

import (
	"sync"
	"time"

	tea "charm.land/bubbletea/v2"

	"github.com/attest-dev/attest/flows"
)

// live is one session's watch on the flows' bus, so that a sign-out
// everywhere from another device reaches this screen at once.
//
// The watch must end with the session. Quitting with q or ctrl+c stops it,
// but a session can also end from outside (the client disconnects, the
// server shuts down), and then Bubble Tea quits without telling the model.
// So the watch is leased: the root renews it on every periodic check, and
// a watch not renewed for a whole lease stops itself. Either way the
// command waiting on the bus returns, so no goroutine outlives the session.
//
// The lease runs on real time, not on the service's clock, on purpose: it
// watches Bubble Tea's own ticks (tea.Tick, real time), which renew it, not
// a moment the flows decided. On a fake clock that nobody moves a lease
// would never lapse, and a vanished session's watch would stay forever.
type live struct {
	w     *flows.Watcher
	done  chan struct{}
	once  sync.Once
	ttl   time.Duration
	mu    sync.Mutex // guards lease, which its own callback may see early
	lease *time.Timer
}

func watch(svc *flows.Service, device string, ttl time.Duration) *live {
	l := &live{w: svc.Watch(device), done: make(chan struct{}), ttl: ttl}
	l.mu.Lock()
	l.lease = time.AfterFunc(ttl, l.stop)
	l.mu.Unlock()
	return l
}

// setUser follows the user the device acts as, so that changes to that
// user (a sign-out everywhere) reach this watch.
func (l *live) setUser(user string) { l.w.SetUser(user) }

// wait is a command that returns a pokeMsg at the next poke, or nothing
// once the watch has stopped.
func (l *live) wait() tea.Cmd {
	return func() tea.Msg {
		select {
		case <-l.w.C:
			return pokeMsg{}
		case <-l.done:
			return nil
		}
	}
}

// renew keeps the watch for another lease. It reports false when the watch
// had already lapsed, and the root then starts a new one.
func (l *live) renew() bool {
	l.mu.Lock()
	l.lease.Reset(l.ttl)
	l.mu.Unlock()
	return !l.stopped()
}

func (l *live) stop() {
	l.once.Do(func() {
		l.mu.Lock()
		l.lease.Stop()
		l.mu.Unlock()
		l.w.Stop()
		close(l.done)
	})
}

func (l *live) stopped() bool {
	select {
	case <-l.done:
		return true
	default:
		return false
	}
}
