// Package message is the contract between the flows, which decide that a
// message must go out, and delivery, which sends it. It is its own package
// so that delivery code depends on this and nothing else of the flows.
package message

import (
	"context"
	"time"
)

// Channel is how a message travels.
type Channel string

// The channels.
const (
	Email Channel = "email"
	SMS   Channel = "sms"
)

// Message is one outgoing message. It is decided (and recorded as a fact,
// without the text) inside a ledger transaction, and handed to a Sender
// only after that transaction has committed.
type Message struct {
	// ID is the ticket of the fact that decided the message; delivery
	// outcomes are recorded against it.
	ID      string
	Channel Channel
	// To is the normalized address (an email address, or a phone number in
	// E.164 form). It lives only in memory: the ledger holds its keyed hash.
	To      string
	Subject string // email only
	Text    string // plain text; for SMS the whole message
	// Created is when the flow decided to send it.
	Created time.Time
}

// Sender delivers messages. Send returns once the message has been handed
// to the next hop (an SMTP server, an SMS provider, the demo inbox), or
// with an error whose text is fit to record as the failure reason (it must
// not contain credentials).
type Sender interface {
	Send(ctx context.Context, m Message) error
}

// SenderFunc adapts a function to Sender.
type SenderFunc func(ctx context.Context, m Message) error

// Send calls f.
func (f SenderFunc) Send(ctx context.Context, m Message) error { return f(ctx, m) }
