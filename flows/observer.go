package flows

import (
	"slices"

	"github.com/attest-dev/attest/flows/message"
	"github.com/attest-dev/attest/store"
)

// Observer hears what the flows decide that leaves no fact in the ledger
// as it is decided, for metrics (a held-back message is recorded after its
// refusal, and only up to HeldRecords for an address: not a count).
// Everything else (codes and links issued, sign-ins,
// step-ups) is a fact, and whoever wants to count it can watch the
// facts that commit. An Observer's methods must be quick and must not
// call the Service.
type Observer interface {
	// HeldBack says the governor held a message back: what is "code" or
	// "link", ch the channel it would have gone by, rule the limit that
	// held it (a Rule* value).
	HeldBack(what string, ch message.Channel, rule string)
}

type noObserver struct{}

func (noObserver) HeldBack(string, message.Channel, string) {}

// heldBack is one message the governor held back during an update.
type heldBack struct {
	what string
	ch   message.Channel
	rule string
}

// notingTx is the transaction s.update hands its function: it gathers
// what the function decided besides its facts, so that the observer hears
// of it once the update is over, and once even when the ledger ran the
// function more than once.
//
// It notes too the users and devices of the facts appended, whose live
// sessions are poked once the facts are durable.
type notingTx struct {
	store.Tx
	held           []heldBack
	users, devices []string
}

func (n *notingTx) Append(f store.Fact) (store.Fact, error) {
	f, err := n.Tx.Append(f)
	if err == nil {
		if f.User != "" && !slices.Contains(n.users, f.User) {
			n.users = append(n.users, f.User)
		}
		if f.Device != "" && !slices.Contains(n.devices, f.Device) {
			n.devices = append(n.devices, f.Device)
		}
	}
	return f, err
}

// noteHeld records, for the observer, that the governor held a message
// back inside tx. A transaction s.update did not open has no notes (none
// does today: every flow that sends goes through s.update).
func noteHeld(tx store.Tx, what string, ch message.Channel, rule string) {
	if n, ok := tx.(*notingTx); ok {
		n.held = append(n.held, heldBack{what: what, ch: ch, rule: rule})
	}
}
