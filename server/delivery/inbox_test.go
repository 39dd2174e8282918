package delivery

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/attest-dev/attest/flows/message"
)

func numbered(i int) message.Message {
	return message.Message{ID: fmt.Sprint(i), Channel: message.Email, To: "zoe@example.org", Text: fmt.Sprint("code ", i)}
}

func ids(ms []message.Message) string {
	s := ""
	for i, m := range ms {
		if i > 0 {
			s += ","
		}
		s += m.ID
	}
	return s
}

func TestInboxKeepsNewest(t *testing.T) {
	in := NewInbox(3)
	ctx := context.Background()
	if got := in.List(); len(got) != 0 {
		t.Fatalf("new inbox lists %v", got)
	}
	for i := 1; i <= 2; i++ {
		in.Send(ctx, numbered(i))
	}
	if got := ids(in.List()); got != "1,2" {
		t.Errorf("List = %s, want 1,2", got)
	}
	for i := 3; i <= 7; i++ {
		in.Send(ctx, numbered(i))
	}
	if got := ids(in.List()); got != "5,6,7" {
		t.Errorf("List = %s, want 5,6,7", got)
	}
	if NewInbox(0).size != DefaultInboxSize {
		t.Error("default size not applied")
	}
}

func TestInboxSubscribe(t *testing.T) {
	in := NewInbox(0)
	ctx, cancel := context.WithCancel(context.Background())
	in.Send(ctx, numbered(1))

	live1, backlog := in.Subscribe(ctx)
	live2, _ := in.Subscribe(ctx)
	if ids(backlog) != "1" {
		t.Errorf("backlog = %s, want 1", ids(backlog))
	}
	in.Send(ctx, numbered(2))
	in.Send(ctx, numbered(3))
	for _, live := range []<-chan message.Message{live1, live2} {
		if a, b := <-live, <-live; a.ID != "2" || b.ID != "3" {
			t.Errorf("live got %s,%s, want 2,3", a.ID, b.ID)
		}
	}

	cancel()
	for range live1 { // returns once the channel is closed
	}
	for range live2 {
	}
	// Sending after the subscribers left must neither block nor panic.
	if err := in.Send(context.Background(), numbered(4)); err != nil {
		t.Fatal(err)
	}
	if n := len(in.subs); n != 0 {
		t.Errorf("%d subscribers left after cancel", n)
	}

	live, backlog := in.Subscribe(ctx) // ctx already done
	if _, ok := <-live; ok || ids(backlog) != "1,2,3,4" {
		t.Errorf("subscribe on a done context: open=%v backlog=%s", ok, ids(backlog))
	}
}

func TestInboxSlowSubscriberDropsOldest(t *testing.T) {
	in := NewInbox(0)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	live, _ := in.Subscribe(ctx)
	const n = 200
	for i := 1; i <= n; i++ { // never read meanwhile: Send must not block
		in.Send(ctx, numbered(i))
	}
	for i := n - subscriberBuffer + 1; i <= n; i++ {
		if m := <-live; m.ID != fmt.Sprint(i) {
			t.Fatalf("got %s, want %d", m.ID, i)
		}
	}
	select {
	case m := <-live:
		t.Errorf("unexpected extra message %s", m.ID)
	default:
	}
	if got := len(in.List()); got != n {
		t.Errorf("List has %d, want %d", got, n)
	}
}

func TestInboxRefusesDoneContext(t *testing.T) {
	in := NewInbox(0)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := in.Send(ctx, numbered(1)); err == nil || len(in.List()) != 0 {
		t.Errorf("Send on a done context = %v, stored %d", err, len(in.List()))
	}
}

func TestInboxConcurrent(t *testing.T) {
	in := NewInbox(50)
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(3)
		go func() {
			defer wg.Done()
			for i := 0; i < 100; i++ {
				in.Send(context.Background(), numbered(i))
			}
		}()
		go func() {
			defer wg.Done()
			for i := 0; i < 50; i++ {
				if len(in.List()) > 50 {
					t.Error("inbox outgrew its size")
				}
			}
		}()
		go func() {
			defer wg.Done()
			for i := 0; i < 10; i++ {
				ctx, cancel := context.WithCancel(context.Background())
				live, _ := in.Subscribe(ctx)
				// Its own message guarantees one to receive, however the
				// senders are scheduled.
				in.Send(context.Background(), numbered(-1))
				<-live
				cancel()
				for range live {
				}
			}
		}()
	}
	wg.Wait()
}
