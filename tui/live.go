package tui

import (
	"sync"

	tea "charm.land/bubbletea/v2"

	"github.com/attest-dev/attest/flows"
)

// live is one session's watch on the flows' bus: a change to this device
// or the user it acts as (a sign-out everywhere from another device, a
// star added on another, on this server or another sharing the ledger)
// reaches this screen at once, and it reads its state again.
//
// The watch must end with the session, so that no goroutine outlives it:
// quitting stops it, and so does the end of the session's context, which
// the server ends with the session however it ends (the client
// disconnects, the server shuts down), even when Bubble Tea quits without
// telling the model. Either way the command waiting on the bus returns.
//
// When the caller relays the watch (Session.Watcher), the screens do not
// wait on it: the caller sends each poke.
type live struct {
	w       *flows.Watcher
	relayed bool
	done    chan struct{}
	once    sync.Once
}

// watch watches device, or takes over relayed, a watch of it the caller
// relays (nil: none).
func watch(svc *flows.Service, device string, relayed *flows.Watcher) *live {
	if relayed != nil {
		return &live{w: relayed, relayed: true, done: make(chan struct{})}
	}
	return &live{w: svc.Watch(device), done: make(chan struct{})}
}

// next is the command that starts waiting for the next poke: none when
// the caller relays them.
func (l *live) next() tea.Cmd {
	if l.relayed {
		return nil
	}
	return rewatch
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

func (l *live) stop() {
	l.once.Do(func() {
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
