package delivery

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/attest-dev/attest/flows/message"
)

func TestRouter(t *testing.T) {
	ctx := context.Background()
	var got []string
	record := func(name string) message.Sender {
		return message.SenderFunc(func(_ context.Context, m message.Message) error {
			got = append(got, name+":"+m.ID)
			return nil
		})
	}
	r := &Router{Email: record("email"), SMS: record("sms")}
	r.Send(ctx, message.Message{ID: "1", Channel: message.Email})
	r.Send(ctx, message.Message{ID: "2", Channel: message.SMS})
	if len(got) != 2 || got[0] != "email:1" || got[1] != "sms:2" {
		t.Errorf("routed %v", got)
	}
	if err := r.Send(ctx, message.Message{Channel: "pigeon"}); err == nil {
		t.Error("unknown channel accepted")
	}

	emailOnly := &Router{Email: record("email")}
	err := emailOnly.Send(ctx, message.Message{Channel: message.SMS})
	if !errors.Is(err, ErrNoSMS) || err.Error() != "no sms delivery configured" {
		t.Errorf("Send with no SMS = %v", err)
	}
	var sms *SMS // a typed nil, as a CLI that skipped SMS setup would pass
	var email *SMTP
	typedNil := &Router{Email: email, SMS: sms}
	if err := typedNil.Send(ctx, message.Message{Channel: message.SMS}); !errors.Is(err, ErrNoSMS) {
		t.Errorf("typed nil SMS = %v", err)
	}
	if err := typedNil.Send(ctx, message.Message{Channel: message.Email}); !errors.Is(err, ErrNoEmail) {
		t.Errorf("typed nil SMTP = %v", err)
	}
}

func TestDemo(t *testing.T) {
	in := NewInbox(0)
	r := Demo(in)
	r.Send(context.Background(), message.Message{ID: "1", Channel: message.Email})
	r.Send(context.Background(), message.Message{ID: "2", Channel: message.SMS})
	if ids(in.List()) != "1,2" {
		t.Errorf("inbox has %s", ids(in.List()))
	}
}

// A router tells the flows which channels it has a sender for; a typed
// nil sender is none.
func TestRouterChannels(t *testing.T) {
	send := message.SenderFunc(func(context.Context, message.Message) error { return nil })
	var sms *SMS
	for _, c := range []struct {
		r    *Router
		want string
	}{
		{&Router{Email: send, SMS: send}, "[email sms]"},
		{&Router{Email: send}, "[email]"},
		{&Router{Email: send, SMS: sms}, "[email]"},
		{&Router{SMS: send}, "[sms]"},
		{&Router{}, "[]"},
	} {
		if got := fmt.Sprint(ChannelsOf(c.r)); got != c.want {
			t.Errorf("%+v delivers %s, want %s", c.r, got, c.want)
		}
	}
	if got := fmt.Sprint(ChannelsOf(NewInbox(1))); got != "[email sms]" {
		t.Errorf("the demo inbox delivers %s", got)
	}
}
