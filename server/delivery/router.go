package delivery

import (
	"context"
	"errors"
	"fmt"

	"github.com/attest-dev/attest/flows/message"
)

// The errors for a channel with no delivery behind it.
var (
	ErrNoEmail = errors.New("no email delivery configured")
	ErrNoSMS   = errors.New("no sms delivery configured")
)

// Router sends each message through the sender for its channel. A nil
// sender (including a nil *SMTP or *SMS) fails that channel's messages with
// ErrNoEmail or ErrNoSMS, so a server configured for email only still runs.
type Router struct {
	Email message.Sender
	SMS   message.Sender
}

// Send routes m by its channel.
func (r *Router) Send(ctx context.Context, m message.Message) error {
	switch m.Channel {
	case message.Email:
		if r.Email == nil {
			return ErrNoEmail
		}
		return r.Email.Send(ctx, m)
	case message.SMS:
		if r.SMS == nil {
			return ErrNoSMS
		}
		return r.SMS.Send(ctx, m)
	default:
		return fmt.Errorf("delivery: unknown channel %q", m.Channel)
	}
}

// Channels lists the channels r has a sender for, so that the flows can
// refuse an address of another channel before anything is recorded (their
// Config.Channels).
func (r *Router) Channels() []message.Channel {
	var out []message.Channel
	if present(r.Email) {
		out = append(out, message.Email)
	}
	if present(r.SMS) {
		out = append(out, message.SMS)
	}
	return out
}

// present reports whether s sends anything: a nil *SMTP or *SMS in the
// interface fails every message, as no sender does.
func present(s message.Sender) bool {
	switch v := s.(type) {
	case nil:
		return false
	case *SMTP:
		return v != nil
	case *SMS:
		return v != nil
	}
	return true
}

// ChannelsOf is the channels sender delivers: a Router's own, and every
// channel for any other sender (the demo inbox takes both).
func ChannelsOf(sender message.Sender) []message.Channel {
	if r, ok := sender.(*Router); ok {
		return r.Channels()
	}
	return []message.Channel{message.Email, message.SMS}
}

// Demo routes both channels to inbox.
func Demo(inbox *Inbox) *Router {
	return &Router{Email: inbox, SMS: inbox}
}
