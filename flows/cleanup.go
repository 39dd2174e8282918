package flows

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/attest-dev/attest/flows/address"
	"github.com/attest-dev/attest/store"
)

// Seed 001's clean-up routine ("detect unactivated accounts (all
// challenges have expired)"), without deleting anything. A registration
// (the one-stage login's case [D]) makes a user with a password and an
// unconfirmed address, and sends a link to confirm it. One whose every
// challenge expired with nothing confirmed is unactivated. Cleaning up
// records that it was abandoned: its unconfirmed claims end (reason
// "abandoned"), so the derived state drops them, and a registration.
// abandoned fact says why. They never blocked anyone (an unconfirmed claim
// never does), and the ledger still answers what happened and when.

// Unactivated is a registration nobody confirmed.
type Unactivated struct {
	User    string
	Created time.Time // its first challenge, or its first claim
	// Addresses are its unconfirmed addresses, masked.
	Addresses []string
	// Expired is when its last challenge expired (zero: none went out).
	Expired time.Time
}

type registrationAbandonedBody struct {
	Addresses []string  `json:"addresses"` // the claims that ended, masked
	Expired   time.Time `json:"expired"`   // when the last challenge expired
}

// Unactivated lists the registrations whose every challenge (code,
// link) expired, at least olderThan ago, with nothing confirmed. It
// writes nothing.
func (s *Service) Unactivated(ctx context.Context, olderThan time.Duration) ([]Unactivated, error) {
	now := s.clock.Now()
	var out []Unactivated
	err := s.ledger.View(func(r store.Reader) error {
		var err error
		out, err = s.unactivated(r, now, olderThan)
		return err
	})
	return out, err
}

// Cleanup records, for every registration Unactivated lists, that it was
// abandoned, and returns them. Running it again finds nothing new.
func (s *Service) Cleanup(ctx context.Context, olderThan time.Duration) ([]Unactivated, error) {
	now := s.clock.Now()
	var out []Unactivated
	err := s.update("clean up registrations", func(tx store.Tx) error {
		var err error
		if out, err = s.unactivated(tx, now, olderThan); err != nil {
			return err
		}
		for _, u := range out {
			order, claims, err := userClaims(tx, u.User, time.Time{})
			if err != nil {
				return err
			}
			for _, h := range order {
				if c := claims[h]; !c.confirmed() {
					if err := endClaim(tx, now, u.User, h, "abandoned"); err != nil {
						return err
					}
				}
			}
			if _, err := tx.Append(store.Fact{Time: now, Kind: KindRegistrationAbandoned, User: u.User,
				Body: mustJSON(registrationAbandonedBody{Addresses: u.Addresses, Expired: u.Expired})}); err != nil {
				return err
			}
		}
		return nil
	})
	return out, err
}

// unactivated finds the registrations: the users a registration made
// (user.created via "register") and those a registration's link went to,
// or was held back from (a visitor who registered keeps its own tag).
func (s *Service) unactivated(r store.Reader, now time.Time, olderThan time.Duration) ([]Unactivated, error) {
	var users []string
	seen := map[string]bool{}
	add := func(u string) {
		if u != "" && !seen[u] {
			seen[u] = true
			users = append(users, u)
		}
	}
	var ferr error
	err := r.Facts(store.ByKind, KindUserCreated, store.Window{}, func(f store.Fact) bool {
		var b userCreatedBody
		if ferr = f.Decode(&b); ferr != nil {
			return false
		}
		if b.Via == "register" {
			add(f.User)
		}
		return true
	})
	if err == nil {
		err = ferr
	}
	if err != nil {
		return nil, fmt.Errorf("read registrations: %w", err)
	}
	for _, k := range linkKinds {
		err := r.Facts(store.ByKind, k, store.Window{}, func(f store.Fact) bool {
			var b linkBody
			if ferr = f.Decode(&b); ferr != nil {
				return false
			}
			if b.Purpose == PurposeConfirm {
				add(f.User)
			}
			return true
		})
		if err == nil {
			err = ferr
		}
		if err != nil {
			return nil, fmt.Errorf("read registration links: %w", err)
		}
	}
	// A registration whose link the governor held back has no link fact,
	// only the record of the hold.
	err = r.Facts(store.ByKind, KindMessageHeld, store.Window{}, func(f store.Fact) bool {
		var b messageHeldBody
		if ferr = f.Decode(&b); ferr != nil {
			return false
		}
		if b.What == "link" && b.Purpose == PurposeConfirm {
			add(f.User)
		}
		return true
	})
	if err == nil {
		err = ferr
	}
	if err != nil {
		return nil, fmt.Errorf("read held registration links: %w", err)
	}
	var out []Unactivated
	for _, u := range users {
		reg, ok, err := s.registration(r, u, now)
		if err != nil {
			return nil, err
		}
		if !ok || now.Sub(reg.Expired) < olderThan {
			continue
		}
		out = append(out, reg)
	}
	slices.SortFunc(out, func(a, b Unactivated) int { return a.Created.Compare(b.Created) })
	return out, nil
}

// registration reads one user's registration and reports whether it is
// unactivated: never an account, not abandoned already, with unconfirmed
// claims left, and every challenge to them expired.
func (s *Service) registration(r store.Reader, user string, now time.Time) (Unactivated, bool, error) {
	reg := Unactivated{User: user}
	if account, err := isAccount(r, user); err != nil || account {
		return reg, false, err
	}
	if n, err := r.Count(store.ByUser, user, store.Window{Kinds: []string{KindRegistrationAbandoned}, Limit: 1}); err != nil || n > 0 {
		return reg, false, err
	}
	order, claims, err := userClaims(r, user, time.Time{})
	if err != nil {
		return reg, false, err
	}
	for _, h := range order {
		if c := claims[h]; !c.confirmed() && (c.Kind == string(address.Email) || c.Kind == string(address.Phone)) {
			reg.Addresses = append(reg.Addresses, c.Masked)
			if reg.Created.IsZero() || c.Added.Before(reg.Created) {
				reg.Created, reg.Expired = c.Added, c.Added
			}
		}
	}
	if len(reg.Addresses) == 0 {
		return reg, false, nil
	}
	live := false
	var ferr error
	err = r.Facts(store.ByUser, user, store.Window{Kinds: append(append([]string{}, codeKinds...), linkKinds...)}, func(f store.Fact) bool {
		var b struct {
			Expires time.Time `json:"expires"`
		}
		if ferr = f.Decode(&b); ferr != nil {
			return false
		}
		if now.Before(b.Expires) {
			live = true
			return false
		}
		if b.Expires.After(reg.Expired) {
			reg.Expired = b.Expires
		}
		return true
	})
	if err == nil {
		err = ferr
	}
	if err != nil {
		return reg, false, fmt.Errorf("read the challenges of %s: %w", user, err)
	}
	return reg, !live, nil
}
