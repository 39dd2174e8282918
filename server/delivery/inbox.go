package delivery

import (
	"context"
	"sync"

	"github.com/attest-dev/attest/flows/message"
)

// DefaultInboxSize is how many messages an Inbox keeps when not told.
const DefaultInboxSize = 500

// subscriberBuffer bounds what a slow subscriber can fall behind by. A demo
// watcher that falls further behind than this loses its oldest unread
// messages, never the newest: the newest is the code someone is waiting for.
const subscriberBuffer = 64

// Inbox is the demo delivery: messages stay in this process, where a second
// terminal can watch them arrive. It is for demos only; nothing leaves the
// machine and the newest DefaultInboxSize (or the configured number) of
// messages are all that is kept.
//
// An Inbox is safe for concurrent use. Send never blocks on subscribers.
type Inbox struct {
	mu   sync.Mutex
	ring []message.Message // ring buffer of the newest messages
	head int               // index of the oldest message once the ring is full
	size int
	subs map[*subscriber]struct{}
}

type subscriber struct {
	ch chan message.Message
}

// NewInbox returns an inbox keeping the newest size messages; size <= 0
// means DefaultInboxSize.
func NewInbox(size int) *Inbox {
	if size <= 0 {
		size = DefaultInboxSize
	}
	return &Inbox{size: size, subs: make(map[*subscriber]struct{})}
}

// Send stores m and hands it to every subscriber.
func (in *Inbox) Send(ctx context.Context, m message.Message) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	if len(in.ring) < in.size {
		in.ring = append(in.ring, m)
	} else {
		in.ring[in.head] = m
		in.head = (in.head + 1) % in.size
	}
	for s := range in.subs {
		s.offer(m)
	}
	return nil
}

// offer never blocks. Only Send writes to ch, and always under the inbox
// lock, so after taking one message out there is room, whatever the reader
// does meanwhile.
func (s *subscriber) offer(m message.Message) {
	select {
	case s.ch <- m:
		return
	default:
	}
	select {
	case <-s.ch: // drop the oldest unread message
	default:
	}
	select {
	case s.ch <- m:
	default:
	}
}

// List returns the kept messages, oldest first.
func (in *Inbox) List() []message.Message {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.listLocked()
}

func (in *Inbox) listLocked() []message.Message {
	out := make([]message.Message, 0, len(in.ring))
	out = append(out, in.ring[in.head:]...)
	return append(out, in.ring[:in.head]...)
}

// Subscribe returns a channel that receives every message sent from now on,
// and the messages kept so far (oldest first). The two are taken together, so
// a watcher that shows the backlog and then the channel sees every message
// once, with no gap.
//
// The channel is buffered (64 messages). A subscriber that falls further
// behind loses its oldest unread messages rather than slow down Send. The
// channel is closed once ctx is done.
func (in *Inbox) Subscribe(ctx context.Context) (live <-chan message.Message, backlog []message.Message) {
	s := &subscriber{ch: make(chan message.Message, subscriberBuffer)}
	in.mu.Lock()
	backlog = in.listLocked()
	if ctx.Err() != nil {
		in.mu.Unlock()
		close(s.ch)
		return s.ch, backlog
	}
	in.subs[s] = struct{}{}
	in.mu.Unlock()

	context.AfterFunc(ctx, func() {
		in.mu.Lock()
		defer in.mu.Unlock()
		delete(in.subs, s)
		// Closed under the lock so that Send never sends on a closed channel.
		close(s.ch)
	})
	return s.ch, backlog
}
