package flows

import (
	"context"
	"fmt"
	"time"

	"github.com/attest-dev/attest/flows/address"
	"github.com/attest-dev/attest/flows/message"
	"github.com/attest-dev/attest/store"
)

// The account split, from the end notes of seed 002: Bob put his own
// phone on the account he made for Alice, which has Alice's phone too.
// When Bob later signs in with his phone, the right code offers him two
// ways: "sign in to the existing account", or "start a new account with
// this phone", which takes the phone out of Alice's account (she keeps
// her own) and tells her. The choice is offered only when the account has
// another confirmed address of the same kind, so nobody is ever locked out
// of an account by it.

// Split describes the choice a sign-in code led to.
type Split struct {
	Address string       // the address, masked
	Kind    address.Kind // its kind
}

// Choices of a split.
const (
	SplitSignIn = "signin" // sign in to the account that has the address
	SplitNew    = "new"    // start a new account with the address
)

// offersSplit reports whether a right sign-in code for an address owned
// by owner must offer the split: the device is not already signed in to
// that account, and the account has another confirmed address of the
// same kind.
func (s *Service) offersSplit(r store.Reader, dev Device, owner *claim, hash string) (bool, error) {
	if owner.Kind != string(address.Phone) && owner.Kind != string(address.Email) {
		return false, nil
	}
	b, bound, err := s.deviceBinding(r, dev.Tag)
	if err != nil {
		return false, err
	}
	if bound && b.User == owner.User {
		return false, nil
	}
	order, claims, err := userClaims(r, owner.User, time.Time{})
	if err != nil {
		return false, err
	}
	for _, h := range order {
		if c := claims[h]; h != hash && c.confirmed() && c.Kind == owner.Kind {
			return true, nil
		}
	}
	return false, nil
}

// ChooseSplit carries out the choice offered by a sign-in code (Entered.
// Split) on the same device, within the code's lifetime.
func (s *Service) ChooseSplit(ctx context.Context, dev Device, choice string) (Entered, error) {
	if choice != SplitSignIn && choice != SplitNew {
		return Entered{}, problem(ProblemInput, `choose "signin" (the existing account) or "new" (a new account with this address)`)
	}
	fresh, err := s.token("u_")
	if err != nil {
		return Entered{}, err
	}
	now := s.clock.Now()
	var out Entered
	var touched []string
	var msgs []message.Message
	err = s.update("choose split", func(tx store.Tx) error {
		out, touched, msgs = Entered{}, nil, nil
		offer, ok, err := pendingSplit(tx, dev.Tag, now, s.policy.CodeTTL)
		if err != nil {
			return err
		}
		if !ok {
			return problem(ProblemNoCode, "There is no choice waiting on this device: sign in with a code first.")
		}
		issued, body, err := codeFact(tx, offer.Ticket)
		if err != nil {
			return err
		}
		out.Purpose, out.Letter = PurposeSignIn, body.Letter
		// The account may have changed since the offer: the choice stands
		// only while the offer's account still owns the address.
		claims, err := readClaims(tx, offer.Address, time.Time{})
		if err != nil {
			return err
		}
		if o := ownerOf(claims); o == nil || o.User != offer.User {
			return problem(ProblemCodeUsed, "The address changed hands since the code was entered. Sign in again.")
		}
		if _, err := tx.Append(store.Fact{Time: now, Kind: KindSplitChosen, Device: dev.Tag, Address: offer.Address,
			Ticket: offer.Ticket, Body: mustJSON(splitChosenBody{Choice: choice})}); err != nil {
			return err
		}
		if choice == SplitSignIn {
			if touched, err = s.switchTo(tx, now, dev, offer.User, "code", offer.Ticket, &out); err != nil {
				return err
			}
		} else {
			if err = endClaim(tx, now, offer.User, offer.Address, "split"); err != nil {
				return err
			}
			change, err := lastFact(tx, store.ByAddress, offer.Address, KindAddressEnded)
			if err != nil {
				return err
			}
			if msgs, err = s.notify(tx, now, offer.User, change, "", fmt.Sprintf("The %s %s left your account for an account of its own", kindNoun(body.Kind), body.Masked)); err != nil {
				return err
			}
			// Checked here, not after the if: this branch's err shadows
			// the function's, and a failed sign-up must undo the split.
			if touched, err = s.signUp(tx, now, dev, issued.Address, issued.Ticket,
				body.source(), "code", fresh, &out); err != nil {
				return err
			}
			touched = append(touched, offer.User)
		}
		out.Visitor, err = s.visitor(tx, dev)
		return err
	})
	if err != nil {
		return Entered{}, err
	}
	s.bus.publish(touched, []string{dev.Tag})
	s.send(msgs, dev.Tag)
	return out, nil
}

// pendingSplit returns the device's newest split offer if it is recent
// and not yet chosen.
func pendingSplit(r store.Reader, device string, now time.Time, within time.Duration) (store.Fact, bool, error) {
	var offer store.Fact
	found := false
	err := r.Facts(store.ByDevice, device, store.Window{Since: now.Add(-within), Kinds: []string{KindSplitOffered}, Reverse: true, Limit: 1},
		func(f store.Fact) bool { offer, found = f, true; return false })
	if err != nil || !found {
		return store.Fact{}, false, err
	}
	chosen, err := r.Count(store.ByTicket, offer.Ticket, store.Window{Kinds: []string{KindSplitChosen}})
	if err != nil || chosen > 0 {
		return store.Fact{}, false, err
	}
	return offer, true, nil
}

// codeFact returns the fact that issued the code of a ticket.
func codeFact(r store.Reader, ticket string) (*store.Fact, *codeIssuedBody, error) {
	var f *store.Fact
	err := r.Facts(store.ByTicket, ticket, store.Window{Kinds: codeKinds, Limit: 1},
		func(x store.Fact) bool { f = &x; return false })
	if err != nil {
		return nil, nil, err
	}
	if f == nil {
		return nil, nil, fmt.Errorf("no code for ticket %s", ticket)
	}
	var body codeIssuedBody
	if err := f.Decode(&body); err != nil {
		return nil, nil, err
	}
	return f, &body, nil
}
