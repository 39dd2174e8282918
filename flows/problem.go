package flows

import (
	"errors"
	"time"
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
)

func problem(code, msg string) *Problem { return &Problem{Code: code, Msg: msg} }

// AsProblem returns err's Problem, if it is one.
func AsProblem(err error) (*Problem, bool) {
	var p *Problem
	ok := errors.As(err, &p)
	return p, ok
}
