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

// Demo routes both channels to inbox.
func Demo(inbox *Inbox) *Router {
	return &Router{Email: inbox, SMS: inbox}
}
