package flows_test

import (
	"fmt"
	"testing"

	"github.com/attest-dev/attest/flows"
	"github.com/attest-dev/attest/store"
)

// awayLedger is a ledger whose database is out of reach.
type awayLedger struct{ store.Ledger }

func (awayLedger) Update(func(store.Tx) error) error {
	return fmt.Errorf("connect: %w: dial unix: connection refused", store.ErrUnavailable)
}

func (awayLedger) View(func(store.Reader) error) error {
	return fmt.Errorf("begin view: %w: dial unix: connection refused", store.ErrUnavailable)
}

// A ledger out of reach is a Problem that says so, not a database error.
func TestLedgerUnavailable(t *testing.T) {
	h := newHarness(t, flows.Policy{})
	svc := h.rebuild(awayLedger{h.ledger})
	_, err := svc.RequestSignIn(ctx, device("desk"), "ada@example.com")
	p, ok := flows.AsProblem(err)
	if !ok || p.Code != flows.ProblemUnavailable || p.Msg != "The ledger is unavailable, retrying: nothing changed. Try again in a moment." {
		t.Fatalf("RequestSignIn with the ledger away: %v", err)
	}
	if h.bag.count() != 0 {
		t.Error("a message went out")
	}
}
