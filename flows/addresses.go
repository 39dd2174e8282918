package flows

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/attest-dev/attest/flows/address"
	"github.com/attest-dev/attest/flows/message"
	"github.com/attest-dev/attest/store"
)

// The rules of seed 002 for phones, applied to every kind of address.
// Every operation here changes how an account signs in, so each needs a
// current step-up on the device asking.

// AddAddress is the notes' ADD: the address becomes a claim of the
// account and a confirmation code goes to it. The cases: [A] new to the
// system, [B1] added by others but unconfirmed, [B2] confirmed by another
// (the claim is added; confirming it will ask the person to contact
// support), [C1] added by this user but unconfirmed (the old claim ends, a
// new one starts), [C2] confirmed by this user (nothing to do). A user adds
// at most Policy.AddressesPerDay addresses a day.
//
// When the governor holds the code back, the claim is still added and the
// Problem says when a code can be asked for (ConfirmAddress).
func (s *Service) AddAddress(ctx context.Context, dev Device, input string) (Issued, error) {
	return s.changeAddress(dev, "", input)
}

// EditAddress is the notes' EDIT: with the old address unconfirmed, it is
// replaced by the new one in one transaction; with the old one confirmed,
// the new one is added beside it (the old stays until unlinked).
func (s *Service) EditAddress(ctx context.Context, dev Device, oldInput, newInput string) (Issued, error) {
	if oldInput == "" {
		return Issued{}, problem(ProblemInput, "say which address to change")
	}
	return s.changeAddress(dev, oldInput, newInput)
}

func (s *Service) changeAddress(dev Device, oldInput, input string) (Issued, error) {
	addr, err := s.parseInbox(input)
	if err != nil {
		return Issued{}, err
	}
	var old address.Address
	if oldInput != "" {
		if old, err = s.ParseAddress(oldInput); err != nil {
			return Issued{}, err
		}
	}
	return s.sendCode("add address", dev, addr, PurposeConfirm, func(tx store.Tx, now time.Time, req *codeRequest) error {
		user, err := s.requireStepUp(tx, dev, now, "change your addresses")
		if err != nil {
			return err
		}
		req.user = user
		// Every check comes before the first fact, so a refusal leaves the
		// account exactly as it was.
		var oldClaim *claim
		if oldInput != "" {
			if s.hasher.Hash(old) == req.hash {
				return problem(ProblemNothingToDo, "The old and the new address are the same; nothing to do.")
			}
			if oldClaim, err = liveClaim(tx, user, s.hasher.Hash(old)); err != nil {
				return err
			}
			if oldClaim == nil {
				return problem(ProblemInput, fmt.Sprintf("%s is not on your account, so there is nothing to edit; add the new address instead.", old.Shown()))
			}
		}
		mine, err := liveClaim(tx, user, req.hash)
		if err != nil {
			return err
		}
		if mine != nil && mine.confirmed() { // [C2]
			return problem(ProblemNothingToDo, fmt.Sprintf("%s is already confirmed on your account; nothing to do.", addr.Shown()))
		}
		if p, err := s.addressLimit(tx, user, now); err != nil {
			return err
		} else if p != nil {
			return p
		}

		if oldClaim != nil && !oldClaim.confirmed() { // EDIT of an unconfirmed address replaces it
			if err := endClaim(tx, now, user, s.hasher.Hash(old), "edited"); err != nil {
				return err
			}
		}
		if mine != nil { // [C1]: the old claim ends and a new one starts
			if err := endClaim(tx, now, user, req.hash, "replaced"); err != nil {
				return err
			}
		}
		_, err = tx.Append(store.Fact{Time: now, Kind: KindAddressAdded, User: user, Address: req.hash,
			Body: mustJSON(addressAddedBody{Kind: string(addr.Kind), Sealed: req.sealed, Masked: addr.Masked()})})
		return err
	}, func(p *Problem) error { // the claim stays; its code waits
		return keep(&Problem{Code: p.Code, RetryAt: p.RetryAt,
			Msg: fmt.Sprintf("%s is added, unconfirmed. Its code is held back: %s", addr.Shown(), p.Msg)})
	})
}

// ConfirmAddress sends a fresh code for an address on the account that is
// not confirmed yet (the code itself is entered with EnterCode).
func (s *Service) ConfirmAddress(ctx context.Context, dev Device, input string) (Issued, error) {
	addr, err := s.parseInbox(input)
	if err != nil {
		return Issued{}, err
	}
	return s.sendCode("confirm address", dev, addr, PurposeConfirm, func(tx store.Tx, now time.Time, req *codeRequest) error {
		user, err := s.requireStepUp(tx, dev, now, "confirm an address")
		if err != nil {
			return err
		}
		req.user = user
		c, err := liveClaim(tx, user, req.hash)
		switch {
		case err != nil:
			return err
		case c == nil:
			return problem(ProblemInput, fmt.Sprintf("%s is not on your account; add it first.", addr.Shown()))
		case c.confirmed():
			return problem(ProblemNothingToDo, fmt.Sprintf("%s is already confirmed on your account; nothing to do.", addr.Shown()))
		}
		return nil
	}, nil)
}

// confirmByCode is what a right confirmation code does: the notes'
// CONFIRM, for the account the code was sent for, on a device still
// signed in to it and stepped up.
func (s *Service) confirmByCode(tx store.Tx, now time.Time, dev Device, issued *store.Fact, body *codeIssuedBody) ([]message.Message, error) {
	user, err := s.requireStepUp(tx, dev, now, "confirm an address")
	if err != nil {
		return nil, err
	}
	if user != issued.User {
		return nil, problem(ProblemSignedOut, "This code confirms an address for another account than the one this device is signed in to.")
	}
	// The link in the same message may have confirmed it already: then
	// the code has nothing left to do, and nobody is told twice.
	if c, err := liveClaim(tx, user, issued.Address); err != nil {
		return nil, err
	} else if c != nil && c.confirmed() {
		return nil, nil
	}
	claims, err := readClaims(tx, issued.Address, time.Time{})
	if err != nil {
		return nil, err
	}
	if err := confirmClaim(tx, now, user, issued.Address, claims,
		body.source(), "code", issued.Ticket); err != nil {
		return nil, err
	}
	change, err := lastFact(tx, store.ByAddress, issued.Address, KindAddressConfirmed)
	if err != nil {
		return nil, err
	}
	return s.notify(tx, now, user, change, issued.Address, fmt.Sprintf("The %s %s was confirmed", address.Kind(body.Kind).Noun(), address.WarnLookAlike(body.Masked)))
}

// Unlinked reports what UnlinkAddress did.
type Unlinked struct {
	// Changed is false when the address was not on the account: the notes
	// answer "successful" (there is nothing left to unlink) and log it.
	Changed bool
}

// UnlinkAddress is the notes' UNLINK: an address not on the account is a
// success that changes nothing; an unconfirmed one ends; the account's
// only confirmed address is refused (it would lose its way back in);
// another confirmed one ends, and the account's other addresses are told.
func (s *Service) UnlinkAddress(ctx context.Context, dev Device, input string) (Unlinked, error) {
	addr, err := s.ParseAddress(input)
	if err != nil {
		return Unlinked{}, err
	}
	hash := s.hasher.Hash(addr)
	now := s.clock.Now()
	var out Unlinked
	var msgs []message.Message
	err = s.update("unlink address", func(tx store.Tx) error {
		out, msgs = Unlinked{}, nil
		user, err := s.requireStepUp(tx, dev, now, "unlink an address")
		if err != nil {
			return err
		}
		c, err := liveClaim(tx, user, hash)
		if err != nil {
			return err
		}
		if c == nil {
			s.log.Info("unlink of an address that is not on the account", "user", user, "address", hash)
			return nil
		}
		if c.confirmed() {
			ways, err := waysIn(tx, user)
			if err != nil {
				return err
			}
			if len(ways) == 1 && ways[0] == hash {
				return problem(ProblemLastAddress, fmt.Sprintf("%s is the only confirmed address on your account: without it you could not sign in again or receive step-up codes. Add and confirm another first.", addr.Shown()))
			}
		}
		if err := endClaim(tx, now, user, hash, "unlinked"); err != nil {
			return err
		}
		out.Changed = true
		if !c.confirmed() {
			return nil // an unconfirmed claim never signed anyone in
		}
		change, err := lastFact(tx, store.ByAddress, hash, KindAddressEnded)
		if err != nil {
			return err
		}
		what := fmt.Sprintf("The %s %s was removed", addr.Kind.Noun(), address.WarnLookAlike(addr.Masked()))
		if msgs, err = s.notify(tx, now, user, change, hash, what); err != nil {
			return err
		}
		// The address that left is told too: it may be the real owner's.
		msgs = append(msgs, s.noticeTo(tx, now, user, change, reachableAddress{hash: hash, addr: addr}, what)...)
		return nil
	})
	if err != nil {
		return Unlinked{}, err
	}
	s.send(msgs, dev.Tag)
	return out, nil
}

// waysIn lists the hashes of the account's confirmed addresses it can
// sign in with: email addresses, phone numbers and wallets.
func waysIn(r store.Reader, user string) ([]string, error) {
	order, claims, err := userClaims(r, user, time.Time{})
	if err != nil {
		return nil, err
	}
	var out []string
	for _, h := range order {
		c := claims[h]
		if k := address.Kind(c.Kind); c.confirmed() && (k == address.Email || k == address.Phone || k.IsWallet()) {
			out = append(out, h)
		}
	}
	return out, nil
}

// noticeTo is notify for one address outside the account's list.
func (s *Service) noticeTo(tx store.Tx, now time.Time, user string, change store.Fact, a reachableAddress, what string) []message.Message {
	if a.addr.Kind != address.Email && a.addr.Kind != address.Phone {
		return nil
	}
	msgs, err := s.notifyList(tx, now, user, change, []reachableAddress{a}, "", what)
	if err != nil {
		s.log.Warn("notice to a removed address", "err", err)
	}
	return msgs
}

// liveClaim returns the user's live claim on the address hash, or nil.
func liveClaim(r store.Reader, user, hash string) (*claim, error) {
	claims, err := readClaims(r, hash, time.Time{})
	if err != nil {
		return nil, err
	}
	for _, c := range claims {
		if c.User == user && c.live() {
			return c, nil
		}
	}
	return nil, nil
}

func endClaim(tx store.Tx, now time.Time, user, hash, reason string) error {
	_, err := tx.Append(store.Fact{Time: now, Kind: KindAddressEnded, User: user, Address: hash,
		Body: mustJSON(addressEndedBody{Reason: reason})})
	return err
}

// lastFact returns the newest fact of a kind for an id: in a transaction,
// the one just appended.
func lastFact(r store.Reader, ix store.Index, id, kind string) (store.Fact, error) {
	var out store.Fact
	err := r.Facts(ix, id, store.Window{Kinds: []string{kind}, Reverse: true, Limit: 1},
		func(f store.Fact) bool { out = f; return false })
	return out, err
}

// AddressEvent is one change to one of an account's addresses.
type AddressEvent struct {
	Time    time.Time
	Kind    address.Kind
	Display string // the address itself, for its owner
	Event   string // "added", "confirmed", "ended"
	Detail  string // how it was confirmed, or why it ended
}

// History lists every change to the addresses of the account dev is
// signed in to, oldest first: "which addresses did this user have, when".
func (s *Service) History(ctx context.Context, dev Device) ([]AddressEvent, error) {
	var out []AddressEvent
	err := s.ledger.View(func(r store.Reader) error {
		b, ok, err := s.requireAccount(r, dev)
		if err != nil || !ok {
			return err
		}
		shown := map[string]string{} // hash -> display
		kinds := map[string]address.Kind{}
		var ferr error
		err = r.Facts(store.ByUser, b.User, store.Window{Kinds: append([]string{KindAddressAdded, KindAddressConfirmed, KindAddressEnded}, authenticatorHistoryKinds...)},
			func(f store.Fact) bool {
				if ev, ok := authenticatorEvent(f); ok { // totp.go
					out = append(out, ev)
					return true
				}
				ev := AddressEvent{Time: f.Time}
				switch f.Kind {
				case KindAddressAdded:
					var body addressAddedBody
					if ferr = f.Decode(&body); ferr != nil {
						return false
					}
					kinds[f.Address] = address.Kind(body.Kind)
					shown[f.Address] = body.Masked
					if a, err := s.unseal(body.Sealed, f.Address); err == nil {
						shown[f.Address] = a.Display()
					}
					ev.Event = "added"
				case KindAddressConfirmed:
					var body addressConfirmedBody
					if ferr = f.Decode(&body); ferr != nil {
						return false
					}
					ev.Event, ev.Detail = "confirmed", body.Method
				case KindAddressEnded:
					var body addressEndedBody
					if ferr = f.Decode(&body); ferr != nil {
						return false
					}
					ev.Event, ev.Detail = "ended", body.Reason
				}
				ev.Kind, ev.Display = kinds[f.Address], shown[f.Address]
				out = append(out, ev)
				return true
			})
		if err == nil {
			err = ferr
		}
		return err
	})
	return out, err
}

// Ownership answers "who owned this address at time T".
type Ownership struct {
	User      string // "" when nobody had it confirmed
	Since     time.Time
	Method    string
	Pending   []string // users with unconfirmed claims at that time
	Addresses []AddressInfo
}

// OwnerAt answers, for an operator, who had the address confirmed at the
// given time (zero: now), and which users had unconfirmed claims on it.
func (s *Service) OwnerAt(ctx context.Context, input string, at time.Time) (Ownership, error) {
	addr, err := s.ParseAddress(input)
	if err != nil {
		return Ownership{}, err
	}
	var out Ownership
	err = s.ledger.View(func(r store.Reader) error {
		claims, err := readClaims(r, s.hasher.Hash(addr), at)
		if err != nil {
			return err
		}
		for _, c := range claims {
			switch {
			case c.confirmed():
				out.User, out.Since, out.Method = c.User, c.Confirmed, c.Method
			case c.live():
				out.Pending = append(out.Pending, c.User)
			}
		}
		return nil
	})
	return out, err
}

// AddressesAt lists the addresses a user had at a time (zero: now), for an
// operator: "which addresses did this user have at T".
func (s *Service) AddressesAt(ctx context.Context, user string, at time.Time) ([]AddressInfo, error) {
	var out []AddressInfo
	err := s.ledger.View(func(r store.Reader) error {
		var err error
		out, err = s.addresses(r, user, at)
		return err
	})
	slices.SortStableFunc(out, func(a, b AddressInfo) int { return a.Added.Compare(b.Added) })
	return out, err
}

// addedToday returns when the user added each email address, phone
// number and wallet of the last day, oldest first (remembered SSH keys do
// not count against the limit).
func addedToday(r store.Reader, user string, now time.Time) ([]time.Time, error) {
	var at []time.Time
	var ferr error
	err := r.Facts(store.ByUser, user, store.Window{Since: now.Add(-24 * time.Hour), Kinds: []string{KindAddressAdded}},
		func(f store.Fact) bool {
			var b addressAddedBody
			if ferr = f.Decode(&b); ferr != nil {
				return false
			}
			if k := address.Kind(b.Kind); k == address.Email || k == address.Phone || k.IsWallet() {
				at = append(at, f.Time)
			}
			return true
		})
	if err == nil {
		err = ferr
	}
	return at, err
}

// addressLimit refuses one more address than a day allows, saying when
// the next can be added: when the oldest add that counts leaves the
// 24 hours, as every other limit says when it lifts.
func (s *Service) addressLimit(r store.Reader, user string, now time.Time) (*Problem, error) {
	at, err := addedToday(r, user, now)
	if err != nil || len(at) < s.policy.AddressesPerDay {
		return nil, err
	}
	next := at[len(at)-s.policy.AddressesPerDay].Add(24 * time.Hour)
	return &Problem{Code: ProblemAddressLimit, RetryAt: next,
		Msg: fmt.Sprintf("An account can add at most %d addresses a day; the next can be added at %s.", s.policy.AddressesPerDay, When(next, now))}, nil
}
