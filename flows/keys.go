package flows

import (
	"context"
	"fmt"
	"time"

	"github.com/attest-dev/attest/flows/address"
	"github.com/attest-dev/attest/flows/message"
	"github.com/attest-dev/attest/store"
)

// SSH keys are one more kind of address: "remember this key" attests the
// key the device is connected with (the handshake is the proof), and a
// signed-out device whose key is remembered can sign in with one
// keystroke. They share every rule and fact of addresses.

// KeyInfo is one remembered key of an account.
type KeyInfo struct {
	Fingerprint string
	Added       time.Time
	Method      string // "ssh" (remembered on its own device) or "device-link"
	Current     bool   // the key this session is connected with
}

// KeyAccount names the account a signed-out device's key is remembered
// for, so the screen can offer "sign in as <nickname> with this key".
type KeyAccount struct {
	User     string
	Nickname string // may be empty
	Address  string // the account's first confirmed address, masked
}

func (s *Service) keyAddress(fingerprint string) (address.Address, string) {
	a := address.SSHKeyFingerprint(fingerprint)
	return a, s.hasher.Hash(a)
}

// keyOwner returns the account that remembers the device's key, if any.
func (s *Service) keyOwner(r store.Reader, dev Device) (string, error) {
	if dev.Ephemeral {
		return "", nil
	}
	_, hash := s.keyAddress(dev.Tag)
	claims, err := readClaims(r, hash, time.Time{})
	if err != nil {
		return "", err
	}
	if c := ownerOf(claims); c != nil {
		return c.User, nil
	}
	return "", nil
}

// RememberKey attests the key this device is connected with as a way to
// sign in to its account. It is a protected action.
func (s *Service) RememberKey(ctx context.Context, dev Device) error {
	if dev.Ephemeral {
		return problem(ProblemInput, "This connection has no SSH key to remember; connect with a key.")
	}
	a, hash := s.keyAddress(dev.Tag)
	sealed, err := s.sealer.seal(s.rand, string(a.Kind)+":"+a.Value, hash)
	if err != nil {
		return err
	}
	now := s.clock.Now()
	var msgs []message.Message
	err = s.update("remember key", func(tx store.Tx) error {
		msgs = nil
		user, err := s.requireStepUp(tx, dev, now, "remember this key")
		if err != nil {
			return err
		}
		claims, err := readClaims(tx, hash, time.Time{})
		if err != nil {
			return err
		}
		if o := ownerOf(claims); o != nil {
			if o.User == user {
				return problem(ProblemNothingToDo, "This key is already remembered for your account.")
			}
			return problem(ProblemSupport, "This key is remembered for another account. Sign in there and forget it first, or contact support.")
		}
		if err := confirmClaim(tx, now, user, hash, claims, claimSource{Kind: string(a.Kind), Sealed: sealed, Masked: a.Masked()}, "ssh", ""); err != nil {
			return err
		}
		change, err := lastFact(tx, store.ByAddress, hash, KindAddressConfirmed)
		if err != nil {
			return err
		}
		msgs, err = s.notify(tx, now, user, change, "", fmt.Sprintf("The SSH key %s was added as a way to sign in", shortKey(dev.Tag)))
		return err
	})
	if err != nil {
		return err
	}
	s.send(msgs, dev.Tag)
	return nil
}

// Keys lists the keys remembered for the account dev is signed in to.
func (s *Service) Keys(ctx context.Context, dev Device) ([]KeyInfo, error) {
	var out []KeyInfo
	err := s.ledger.View(func(r store.Reader) error {
		b, ok, err := s.requireAccount(r, dev)
		if err != nil || !ok {
			return err
		}
		addrs, err := s.addresses(r, b.User, time.Time{})
		if err != nil {
			return err
		}
		for _, a := range addrs {
			if a.Kind == address.SSHKey && a.Confirmed {
				out = append(out, KeyInfo{Fingerprint: a.Display, Added: a.ConfirmedAt, Method: a.Method, Current: a.Display == dev.Tag})
			}
		}
		return nil
	})
	return out, err
}

// ForgetKey stops a key from signing in to the account. It is a protected
// action. Devices signed in with the key stay signed in: signing out is
// its own decision (sign out everywhere can forget every key too).
func (s *Service) ForgetKey(ctx context.Context, dev Device, fingerprint string) error {
	_, hash := s.keyAddress(fingerprint)
	now := s.clock.Now()
	var msgs []message.Message
	err := s.update("forget key", func(tx store.Tx) error {
		msgs = nil
		user, err := s.requireStepUp(tx, dev, now, "forget a key")
		if err != nil {
			return err
		}
		c, err := liveClaim(tx, user, hash)
		if err != nil {
			return err
		}
		if c == nil || c.Kind != string(address.SSHKey) {
			return problem(ProblemInput, fmt.Sprintf("No key %s is remembered for your account.", shortKey(fingerprint)))
		}
		if err := endClaim(tx, now, user, hash, "removed"); err != nil {
			return err
		}
		change, err := lastFact(tx, store.ByAddress, hash, KindAddressEnded)
		if err != nil {
			return err
		}
		msgs, err = s.notify(tx, now, user, change, "", fmt.Sprintf("The SSH key %s was removed", shortKey(fingerprint)))
		return err
	})
	if err != nil {
		return err
	}
	s.send(msgs, dev.Tag)
	return nil
}

// SignInWithKey signs in a device whose key is remembered for an account:
// the handshake already proved the key. What an anonymous visitor had on
// the device is merged into the account, as with a code.
func (s *Service) SignInWithKey(ctx context.Context, dev Device) (Entered, error) {
	now := s.clock.Now()
	var out Entered
	var touched []string
	err := s.update("sign in with key", func(tx store.Tx) error {
		out, touched = Entered{}, nil
		owner, err := s.keyOwner(tx, dev)
		if err != nil {
			return err
		}
		if owner == "" {
			return problem(ProblemInput, "This key is not remembered for any account; sign in with a code instead.")
		}
		touched, err = s.switchTo(tx, now, dev, owner, "ssh", "", &out)
		if err != nil {
			return err
		}
		out.Purpose = PurposeSignIn
		out.Visitor, err = s.visitor(tx, dev)
		return err
	})
	if err != nil {
		return Entered{}, err
	}
	s.bus.publish(touched, []string{dev.Tag})
	return out, nil
}

// switchTo is where every way in (code, link, password, key, device
// link, and any new one) turns a proven first factor into a device signed
// in to an existing account. An account with an authenticator app holds
// the sign-in for its second factor instead (see totp.go), which then
// calls attach. It returns the users whose live sessions should look
// again.
func (s *Service) switchTo(tx store.Tx, now time.Time, dev Device, user, method, via string, out *Entered) ([]string, error) {
	if b, bound, err := s.deviceBinding(tx, dev.Tag); err != nil || (bound && b.User == user) {
		return []string{user}, err // already signed in as the account
	}
	if held, err := s.holdForSecondFactor(tx, now, dev, user, method, via); err != nil || held {
		return nil, err
	}
	return s.attach(tx, now, dev, user, method, via, out)
}

// attach signs the device in to an existing account: an anonymous
// visitor's data is merged into it, another account is signed out on this
// device first.
func (s *Service) attach(tx store.Tx, now time.Time, dev Device, user, method, via string, out *Entered) ([]string, error) {
	b, bound, err := s.deviceBinding(tx, dev.Tag)
	if err != nil {
		return nil, err
	}
	touched := []string{user}
	if bound {
		touched = append(touched, b.User)
		if b.User == user {
			return touched, nil // already signed in as the account
		}
		account, err := isAccount(tx, b.User)
		if err != nil {
			return nil, err
		}
		if account {
			if err := signOut(tx, now, dev.Tag, b.User, "switch"); err != nil {
				return nil, err
			}
		} else if out.Merged, err = merge(tx, now, dev.Tag, b.User, user); err != nil {
			return nil, err
		}
	}
	return touched, signInAs(tx, now, dev.Tag, user, method, via)
}

// shortKey shortens a fingerprint for messages: SHA256:abcdefgh….
func shortKey(fp string) string {
	if len(fp) > 19 {
		return fp[:19] + "…"
	}
	return fp
}
