package flows

import (
	"context"
	"fmt"
	"time"

	"github.com/attest-dev/attest/flows/message"
	"github.com/attest-dev/attest/store"
)

// Registration by an administrator (seed 003: "Registration is the
// process of creating an account for a user. This may be done by the user
// themselves, or by an administrator"). The account is created with its
// address confirmed by the method "admin", and the address is sent a
// welcome message.

// Registered describes an account an administrator made.
type Registered struct {
	User     string
	Address  string // as its owner will see it
	Nickname string
}

type userCreatedByBody struct {
	userCreatedBody
	// By names who made the account: "operator" (the attest binary on the
	// server) or an administrator's device.
	By string `json:"by"`
}

// RegisterUser makes an account for the address, confirmed by the method
// "admin", with an optional nickname, and welcomes it. An address that
// already belongs to an account is refused.
func (s *Service) RegisterUser(ctx context.Context, input, nickname, by string) (Registered, error) {
	addr, err := s.parseInbox(input)
	if err != nil {
		return Registered{}, err
	}
	if nickname != "" {
		if nickname, err = NormalizeNickname(nickname); err != nil {
			return Registered{}, err
		}
	}
	hash := s.hasher.Hash(addr)
	sealed, err := s.sealer.seal(s.rand, string(addr.Kind)+":"+addr.Value, hash)
	if err != nil {
		return Registered{}, err
	}
	user, err := s.token("u_")
	if err != nil {
		return Registered{}, err
	}
	now := s.clock.Now()
	var msgs []message.Message
	err = s.ledger.Update(func(tx store.Tx) error {
		msgs = nil
		claims, err := readClaims(tx, hash, time.Time{})
		if err != nil {
			return err
		}
		if ownerOf(claims) != nil {
			return problem(ProblemSupport, fmt.Sprintf("%s already belongs to an account.", addr.Shown()))
		}
		if _, err := tx.Append(store.Fact{Time: now, Kind: KindUserCreated, User: user,
			Body: mustJSON(userCreatedByBody{userCreatedBody{Anonymous: false, Via: "admin"}, by})}); err != nil {
			return err
		}
		if err := confirmClaim(tx, now, user, hash, claims, claimSource{Kind: string(addr.Kind), Sealed: sealed, Masked: addr.Masked()}, "admin", ""); err != nil {
			return err
		}
		if nickname != "" {
			if _, err := tx.Append(store.Fact{Time: now, Kind: KindNicknameSet, User: user, Body: mustJSON(nicknameBody{Nickname: nickname})}); err != nil {
				return err
			}
		}
		change, err := lastFact(tx, store.ByAddress, hash, KindAddressConfirmed)
		if err != nil {
			return err
		}
		msgs, err = s.notifyList(tx, now, user, change, []reachableAddress{{hash: hash, addr: addr}}, "",
			"welcome")
		if err != nil {
			return err
		}
		for i := range msgs {
			msgs[i].Subject = "Welcome to attest"
			msgs[i].Text = fmt.Sprintf("An administrator made you an attest account for this address.\n\nTo sign in, connect with ssh (%s) and enter this address: a one-time code will be sent here.\n", s.connectHint)
			if msgs[i].Channel == message.SMS {
				msgs[i].Text = fmt.Sprintf("attest: an administrator made you an account for this number. Sign in with %s and this number.", s.connectHint)
			}
		}
		return nil
	})
	if err != nil {
		return Registered{}, fmt.Errorf("register %s: %w", addr.Masked(), err)
	}
	s.send(msgs, "")
	return Registered{User: user, Address: addr.Display(), Nickname: nickname}, nil
}
