package flows

import (
	"context"
	"fmt"
	"time"

	"github.com/attest-dev/attest/flows/address"
	"github.com/attest-dev/attest/flows/message"
	"github.com/attest-dev/attest/store"
)

// Step-up (seed 000): "a signed-in user authenticates with another factor
// to perform a protected action, like changing sign in. These permissions
// only extend to their current device. An hour later, their permission
// level on that device returns to normal."
//
// A grant is one fact, stepup.granted, about a user and a device. It holds
// while the device is still signed in as that user with the same sign-in,
// until it expires. Factors plug in by appending the same fact: a 6-digit
// code today; a password or an authenticator app later.

// Step-up factors, as recorded in a grant.
const (
	FactorCode     = "code"     // a fresh 6-digit code to a confirmed address
	FactorSignUp   = "signup"   // the device that created the account, for its first hour
	FactorPassword = "password" // the account's password, when the device signed in otherwise
)

type stepUpBody struct {
	Factor  string    `json:"factor"`
	Expires time.Time `json:"expires"`
}

// stepUpUntil returns when the device's step-up ends, or the zero time
// when it has none: the newest grant for the device, made after its
// current sign-in to the same user, not yet expired.
func (s *Service) stepUpUntil(r store.Reader, device string, now time.Time) (time.Time, error) {
	b, ok, err := s.bindingAt(r, device, now, false)
	if err != nil || !ok {
		return time.Time{}, err
	}
	var until time.Time
	var ferr error
	err = r.Facts(store.ByDevice, device, store.Window{Kinds: []string{KindStepUpGranted}, Reverse: true, Limit: 1},
		func(f store.Fact) bool {
			if f.Seq < b.Seq || f.User != b.User {
				return false // granted to an earlier sign-in
			}
			var body stepUpBody
			if ferr = f.Decode(&body); ferr == nil && now.Before(body.Expires) {
				until = body.Expires
			}
			return false
		})
	if err == nil {
		err = ferr
	}
	return until, err
}

// requireStepUp refuses a protected action on a device without a current
// step-up. It returns the user the device acts as.
func (s *Service) requireStepUp(r store.Reader, dev Device, now time.Time, what string) (string, error) {
	b, ok, err := s.requireAccount(r, dev)
	if err != nil || !ok {
		return "", err
	}
	until, err := s.stepUpUntil(r, dev.Tag, now)
	if err != nil {
		return "", err
	}
	if until.IsZero() {
		return "", &Problem{Code: ProblemStepUp,
			Msg: fmt.Sprintf("To %s, first prove it is you with a second factor (step up); the permission lasts %s on this device only.",
				what, shortDuration(s.policy.StepUpTTL))}
	}
	return b.User, nil
}

// requireAccount returns the device's binding when it is signed in to an
// account, or a Problem.
func (s *Service) requireAccount(r store.Reader, dev Device) (binding, bool, error) {
	b, ok, err := s.deviceBinding(r, dev.Tag)
	if err != nil {
		return binding{}, false, err
	}
	if ok {
		account, err := isAccount(r, b.User)
		if err != nil {
			return binding{}, false, err
		}
		if account {
			return b, true, nil
		}
	}
	return binding{}, false, problem(ProblemSignedOut, "This needs a signed-in account; sign in first.")
}

func grantStepUp(tx store.Tx, now time.Time, user, device, ticket, factor string, ttl time.Duration) error {
	_, err := tx.Append(store.Fact{Time: now, Kind: KindStepUpGranted, User: user, Device: device, Ticket: ticket,
		Body: mustJSON(stepUpBody{Factor: factor, Expires: now.Add(ttl)})})
	return err
}

// RequestStepUp sends a fresh 6-digit step-up code. It goes to a confirmed
// address other than the one this device signed in with when the account
// has one (a second factor), otherwise to the same address.
func (s *Service) RequestStepUp(ctx context.Context, dev Device) (Issued, error) {
	now := s.clock.Now()
	// The address is chosen inside the transaction, but a code's
	// randomness must be drawn outside it: draw for every candidate.
	var candidates map[string]codeRequest
	err := s.ledger.View(func(r store.Reader) error {
		b, ok, err := s.requireAccount(r, dev)
		if err != nil || !ok {
			return err
		}
		addrs, err := s.reachable(r, b.User)
		if err != nil {
			return err
		}
		candidates = map[string]codeRequest{}
		for _, a := range addrs {
			if !s.delivers(channelOf(a.addr)) {
				continue // this server cannot send to it
			}
			req, err := s.prepareCode(dev, b.User, a.addr, PurposeStepUp, 6)
			if err != nil {
				return err
			}
			candidates[a.hash] = req
		}
		return nil
	})
	if err != nil {
		return Issued{}, err
	}
	var iss Issued
	var msg *message.Message
	err = s.update("request step-up code", func(tx store.Tx) error {
		iss, msg = Issued{}, nil
		b, ok, err := s.requireAccount(tx, dev)
		if err != nil || !ok {
			return err
		}
		addrs, err := s.reachable(tx, b.User)
		if err != nil {
			return err
		}
		signedInWith, err := signInAddress(tx, b)
		if err != nil {
			return err
		}
		var pick *reachableAddress
		for i := range addrs {
			if _, drawn := candidates[addrs[i].hash]; !drawn {
				continue
			}
			if pick == nil || (pick.hash == signedInWith && addrs[i].hash != signedInWith) {
				pick = &addrs[i]
			}
		}
		if pick == nil && len(addrs) > 0 {
			return problem(ProblemInput, "This server cannot send a message to any of this account's addresses (it has no delivery for their kind): step up another way (stepup --password, --totp or --wallet).")
		}
		if pick == nil {
			if ways, err := waysIn(tx, b.User); err != nil {
				return err
			} else if len(ways) > 0 {
				// Only wallets: they step up by signing (RequestWalletStepUp).
				return problem(ProblemInput, "This account has no email address or phone number to send a step-up code to: step up by signing with your wallet instead (stepup --wallet).")
			}
			return problem(ProblemSupport, "This account has no confirmed email address or phone number to send a step-up code to. Please contact support.")
		}
		iss, msg, err = s.issueCode(tx, now, candidates[pick.hash])
		if p, ok := AsProblem(err); ok {
			return p
		}
		return err
	})
	if err != nil {
		return Issued{}, err
	}
	s.dispatch(*msg, dev.Tag)
	return iss, nil
}

// signInAddress returns the address hash the device's sign-in proved, if
// it was a code.
func signInAddress(r store.Reader, b binding) (string, error) {
	f, err := r.Fact(b.Seq)
	if err != nil {
		return "", err
	}
	var body signedInBody
	if err := f.Decode(&body); err != nil || body.Via == "" {
		return "", err
	}
	var hash string
	err = r.Facts(store.ByTicket, body.Via, store.Window{Kinds: codeKinds, Limit: 1},
		func(f store.Fact) bool { hash = f.Address; return false })
	return hash, err
}

// reachableAddress is a confirmed address a message can go to.
type reachableAddress struct {
	hash string
	addr address.Address
}

// reachable lists the user's confirmed email addresses and phone numbers,
// unsealed, in the order they were added.
func (s *Service) reachable(r store.Reader, user string) ([]reachableAddress, error) {
	order, claims, err := userClaims(r, user, time.Time{})
	if err != nil {
		return nil, err
	}
	var out []reachableAddress
	for _, h := range order {
		c := claims[h]
		if !c.confirmed() || (c.Kind != string(address.Email) && c.Kind != string(address.Phone)) {
			continue
		}
		a, err := s.unseal(c.Sealed, h)
		if err != nil {
			s.log.Warn("cannot open a sealed address", "address", h, "err", err)
			continue
		}
		out = append(out, reachableAddress{hash: h, addr: a})
	}
	return out, nil
}

// StepUpUntil reports until when the device is stepped up (zero: it is
// not), for the screens' countdown badge.
func (s *Service) StepUpUntil(ctx context.Context, dev Device) (time.Time, error) {
	var until time.Time
	err := s.ledger.View(func(r store.Reader) error {
		var err error
		until, err = s.stepUpUntil(r, dev.Tag, s.clock.Now())
		return err
	})
	return until, err
}
