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
	// Code is stable, for scripts: one of the ProblemCode constants.
	Code ProblemCode
	Msg  string
	// RetryAt, when set, is when asking again can succeed.
	RetryAt time.Time

	// held is the governor's decision behind a throttled refusal, recorded
	// after the refusal (see Service.update).
	held *store.Fact
}

func (p *Problem) Error() string { return p.Msg }

// ProblemCode names a kind of refusal or failure for scripts: it is the
// "code" of the {"error": ...} object every command prints with --json,
// in ssh command mode and in the operator's commands alike. The list below
// is every code there is (TestProblemCodes pins it, and the README's
// "--json errors" section documents each): a script may match on them, so
// adding, renaming or removing one is a deliberate change of that
// contract.
type ProblemCode string

// The refusals of the flows.
const (
	ProblemInput     ProblemCode = "bad_input"    // the input cannot be used; nothing changed
	ProblemThrottled ProblemCode = "throttled"    // the governor holds messages back until RetryAt
	ProblemNoCode    ProblemCode = "no_code"      // there is no live code to enter
	ProblemWrongCode ProblemCode = "wrong_code"   // the code did not match; tries may remain
	ProblemCodeUsed  ProblemCode = "code_used_up" // the code expired, was used, or ran out of tries
	ProblemBackoff   ProblemCode = "backoff"      // too many wrong tries for this address or account; wait until RetryAt
	ProblemSignedIn  ProblemCode = "signed_in"    // the device is already signed in
	ProblemSignedOut ProblemCode = "signed_out"   // the action needs a signed-in device
	ProblemSupport   ProblemCode = "contact_support"
	// ProblemUnavailable: the ledger's database cannot be reached for now
	// (the ledger has retried for a few seconds); nothing changed, and the
	// same request may work in a moment.
	ProblemUnavailable ProblemCode = "unavailable"
	// ProblemStepUp: a protected action on a device without a current
	// step-up.
	ProblemStepUp ProblemCode = "step_up_required"
	// ProblemWrongPassword: a wrong password where the account is already
	// known (a step-up of a signed-in device). One-stage login never says
	// it: see LoginOrRegister.
	ProblemWrongPassword ProblemCode = "wrong_password"
	// ProblemNoAuthenticator: the action needs an authenticator the account
	// does not have (or, for confirmation, an enrolment that is not waiting).
	ProblemNoAuthenticator ProblemCode = "no_authenticator"
	// ProblemWrongSignature: a signature that is not the address's key's
	// over the challenge (or cannot be read).
	ProblemWrongSignature ProblemCode = "wrong_signature"
	ProblemNothingToDo    ProblemCode = "nothing_to_do" // the operation found nothing to change
	ProblemLastAddress    ProblemCode = "last_address"  // the account's only confirmed address cannot be unlinked
	ProblemAddressLimit   ProblemCode = "address_limit" // more addresses a day than Policy.AddressesPerDay
	// Social sign-in.
	ProblemProviderUnavailable ProblemCode = "provider_unavailable" // unknown, failed discovery, or not answering
	ProblemOIDCDenied          ProblemCode = "oidc_denied"          // the person said no at the provider
	ProblemOIDCExpired         ProblemCode = "oidc_expired"         // the attempt ran out of time
	ProblemOIDCRefused         ProblemCode = "oidc_refused"         // what the provider sent did not verify
	ProblemEmailTaken          ProblemCode = "email_taken"          // the provider's email is confirmed on another account
)

// The command layer's own codes: a command line that could not run, or a
// command that failed for a reason that is not one of the refusals above.
const (
	ProblemUsage     ProblemCode = "usage"           // the command line cannot run as written (exit 2)
	ProblemUnknown   ProblemCode = "unknown_command" // no such command (exit 2)
	ProblemForbidden ProblemCode = "forbidden"       // an administrators' command run by someone else
	ProblemInternal  ProblemCode = "internal"        // the command failed; the message says why
)

// ProblemCodes is every code, in the order above, for the test that pins
// the list and for documentation.
var ProblemCodes = []ProblemCode{
	ProblemInput, ProblemThrottled, ProblemNoCode, ProblemWrongCode, ProblemCodeUsed, ProblemBackoff,
	ProblemSignedIn, ProblemSignedOut, ProblemSupport, ProblemUnavailable, ProblemStepUp,
	ProblemWrongPassword, ProblemNoAuthenticator, ProblemWrongSignature, ProblemNothingToDo,
	ProblemLastAddress, ProblemAddressLimit, ProblemProviderUnavailable, ProblemOIDCDenied,
	ProblemOIDCExpired, ProblemOIDCRefused, ProblemEmailTaken,
	ProblemUsage, ProblemUnknown, ProblemForbidden, ProblemInternal,
}

// unavailable is what a person is told when the ledger is out of reach.
var unavailable = &Problem{Code: ProblemUnavailable,
	Msg: "The ledger is unavailable, retrying: nothing changed. Try again in a moment."}

func problem(code ProblemCode, msg string) *Problem { return &Problem{Code: code, Msg: msg} }

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
