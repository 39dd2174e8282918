package flows

import (
	"errors"
	"time"

	"github.com/attest-dev/attest/store"
)

// Problem is a refusal a person can act on. Its message is written to be
// shown as it is, and says the same thing whether or not an account
// exists behind an address.
type Problem struct {
	// Code is stable, for scripts: see the Problem* constants.
	Code string
	Msg  string
	// RetryAt, when set, is when asking again can succeed.
	RetryAt time.Time
}

func (p *Problem) Error() string { return p.Msg }

// Problem codes.
const (
	ProblemInput     = "bad_input"    // the input cannot be used; nothing changed
	ProblemThrottled = "throttled"    // the governor holds messages back until RetryAt
	ProblemNoCode    = "no_code"      // there is no live code to enter
	ProblemWrongCode = "wrong_code"   // the code did not match; tries may remain
	ProblemCodeUsed  = "code_used_up" // the code expired, was used, or ran out of tries
	ProblemBackoff   = "backoff"      // too many wrong codes for this address; wait until RetryAt
	ProblemSignedIn  = "signed_in"    // the device is already signed in
	ProblemSignedOut = "signed_out"   // the action needs a signed-in device
	ProblemSupport   = "contact_support"
	// ProblemUnavailable: the ledger's database cannot be reached for now
	// (the ledger has retried for a few seconds); nothing changed, and the
	// same request may work in a moment.
	ProblemUnavailable = "unavailable"
)

// unavailable is what a person is told when the ledger is out of reach.
var unavailable = &Problem{Code: ProblemUnavailable,
	Msg: "The ledger is unavailable, retrying: nothing changed. Try again in a moment."}

func problem(code, msg string) *Problem { return &Problem{Code: code, Msg: msg} }

// AsProblem returns err's Problem, if it is one. A ledger out of reach
// (store.ErrUnavailable) is one: screens and commands say so rather than
// showing a database's error.
func AsProblem(err error) (*Problem, bool) {
	var p *Problem
	if errors.As(err, &p) {
		return p, true
	}
	if errors.Is(err, store.ErrUnavailable) {
		return unavailable, true
	}
	return nil, false
}
