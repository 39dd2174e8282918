package flows

import (
	"fmt"
	"slices"
	"time"

	"github.com/attest-dev/attest/store"
)

// This file derives the present from facts. Every function takes a
// store.Reader, so the same question can be asked inside an update (to
// decide) or a view (to show), and most take an "as of" time so it can be
// asked of the past too. Nothing here writes.

// binding is what a device currently acts as.
type binding struct {
	User   string
	Method string
	Seq    uint64
	Time   time.Time
	// Until is when the sign-in lapses unless the device is used again
	// (see sessions.go); zero for an anonymous visit, which does not.
	Until time.Time
}

// latestBinding returns the user the device acts as by its sign-in facts
// alone, as of asOf (zero: every fact): the latest sign-in of the device,
// unless the device signed out since or the user signed out everywhere
// since. Whether the sign-in has lapsed is deviceBinding's question.
func latestBinding(r store.Reader, device string, asOf time.Time) (binding, bool, error) {
	var last store.Fact
	found := false
	err := r.Facts(store.ByDevice, device, store.Window{
		Until: asOf, Kinds: []string{KindDeviceSignedIn, KindDeviceSignedOut}, Reverse: true, Limit: 1,
	}, func(f store.Fact) bool { last, found = f, true; return false })
	if err != nil {
		return binding{}, false, fmt.Errorf("read device %s: %w", device, err)
	}
	if !found || last.Kind != KindDeviceSignedIn {
		return binding{}, false, nil
	}
	var everywhere uint64
	err = r.Entries(store.ByUser, last.User, store.Window{
		Until: asOf, Kinds: []string{KindSignedOutAll}, Reverse: true, Limit: 1,
	}, func(e store.Entry) bool { everywhere = e.Seq; return false })
	if err != nil {
		return binding{}, false, fmt.Errorf("read user %s: %w", last.User, err)
	}
	if everywhere > last.Seq {
		return binding{}, false, nil
	}
	var body signedInBody
	if err := last.Decode(&body); err != nil {
		return binding{}, false, err
	}
	return binding{User: last.User, Method: body.Method, Seq: last.Seq, Time: last.Time}, true, nil
}

// resolve follows merges: an anonymous user tag merged into an account
// answers for the account from then on.
func resolve(r store.Reader, user string) (string, error) {
	for range 16 { // merges only ever go anonymous -> account, so chains are short
		var into string
		err := r.Facts(store.ByUser, user, store.Window{Kinds: []string{KindUserMerged}, Reverse: true, Limit: 1},
			func(f store.Fact) bool {
				var b userMergedBody
				if f.Decode(&b) == nil {
					into = b.Into
				}
				return false
			})
		if err != nil {
			return "", fmt.Errorf("resolve user %s: %w", user, err)
		}
		if into == "" {
			return user, nil
		}
		user = into
	}
	return "", fmt.Errorf("resolve user %s: merge chain too long", user)
}

// profile is what a user has set: a nickname and stars.
type profile struct {
	Nickname string
	Stars    []string // in the order they were starred
}

func readProfile(r store.Reader, user string) (profile, error) {
	var p profile
	var ferr error
	err := r.Facts(store.ByUser, user, store.Window{
		Kinds: []string{KindNicknameSet, KindStarAdded, KindStarRemoved},
	}, func(f store.Fact) bool {
		switch f.Kind {
		case KindNicknameSet:
			var b nicknameBody
			if ferr = f.Decode(&b); ferr == nil {
				p.Nickname = b.Nickname
			}
		case KindStarAdded, KindStarRemoved:
			var b starBody
			if ferr = f.Decode(&b); ferr != nil {
				break
			}
			p.Stars = slices.DeleteFunc(p.Stars, func(s string) bool { return s == b.Item })
			if f.Kind == KindStarAdded {
				p.Stars = append(p.Stars, b.Item)
			}
		}
		return ferr == nil
	})
	if err == nil {
		err = ferr
	}
	if err != nil {
		return profile{}, fmt.Errorf("read profile of %s: %w", user, err)
	}
	return p, nil
}

// isAccount tells an account from an anonymous visitor (or a registration
// still waiting for its address): an account has confirmed an address at
// some time. Sign-up, an administrator and a confirmed registration all
// confirm one in the transaction that makes the account.
func isAccount(r store.Reader, user string) (bool, error) {
	n, err := r.Count(store.ByUser, user, store.Window{Kinds: []string{KindAddressConfirmed}, Limit: 1})
	if err != nil {
		return false, fmt.Errorf("read user %s: %w", user, err)
	}
	return n > 0, nil
}

// claim is one user's claim on an address: added, perhaps confirmed,
// perhaps ended. Only the latest claim of each user matters.
type claim struct {
	User      string
	Kind      string
	Sealed    string
	Masked    string
	Added     time.Time
	Confirmed time.Time // zero: not confirmed
	Method    string    // how it was confirmed
	Ended     time.Time // zero: still live
}

func (c *claim) live() bool      { return c.Ended.IsZero() }
func (c *claim) confirmed() bool { return c.live() && !c.Confirmed.IsZero() }

// readClaims returns every user's latest claim on the address hash, as of
// asOf (zero: now), in the order the claims were added.
func readClaims(r store.Reader, hash string, asOf time.Time) ([]*claim, error) {
	var claims []*claim
	byUser := map[string]*claim{}
	var ferr error
	err := r.Facts(store.ByAddress, hash, store.Window{
		Until: asOf,
		Kinds: []string{KindAddressAdded, KindAddressConfirmed, KindAddressEnded},
	}, func(f store.Fact) bool {
		switch f.Kind {
		case KindAddressAdded:
			var b addressAddedBody
			if ferr = f.Decode(&b); ferr != nil {
				return false
			}
			c := &claim{User: f.User, Kind: b.Kind, Sealed: b.Sealed, Masked: b.Masked, Added: f.Time}
			if old, ok := byUser[f.User]; ok {
				claims = slices.DeleteFunc(claims, func(x *claim) bool { return x == old })
			}
			byUser[f.User] = c
			claims = append(claims, c)
		case KindAddressConfirmed:
			if c, ok := byUser[f.User]; ok && c.live() {
				var b addressConfirmedBody
				if ferr = f.Decode(&b); ferr != nil {
					return false
				}
				c.Confirmed, c.Method = f.Time, b.Method
			}
		case KindAddressEnded:
			if c, ok := byUser[f.User]; ok && c.live() {
				c.Ended = f.Time
			}
		}
		return true
	})
	if err == nil {
		err = ferr
	}
	if err != nil {
		return nil, fmt.Errorf("read claims on %s: %w", hash, err)
	}
	return claims, nil
}

// ownerOf returns the user holding a confirmed claim, or nil.
func ownerOf(claims []*claim) *claim {
	for _, c := range claims {
		if c.confirmed() {
			return c
		}
	}
	return nil
}

// userClaims returns a user's live claims (address hash -> claim) as of
// asOf, in the order they were added.
func userClaims(r store.Reader, user string, asOf time.Time) ([]string, map[string]*claim, error) {
	var order []string
	out := map[string]*claim{}
	seen := map[string]bool{}
	// The user's index says which addresses to look at; each address's own
	// facts say the state of the claim.
	var hashes []string
	err := r.Facts(store.ByUser, user, store.Window{Until: asOf, Kinds: []string{KindAddressAdded}},
		func(f store.Fact) bool {
			if !seen[f.Address] {
				seen[f.Address] = true
				hashes = append(hashes, f.Address)
			}
			return true
		})
	if err != nil {
		return nil, nil, fmt.Errorf("read addresses of %s: %w", user, err)
	}
	for _, h := range hashes {
		claims, err := readClaims(r, h, asOf)
		if err != nil {
			return nil, nil, err
		}
		for _, c := range claims {
			if c.User == user && c.live() {
				out[h] = c
				order = append(order, h)
			}
		}
	}
	return order, out, nil
}
