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

// DeviceInfo is one signed-in device of an account.
type DeviceInfo struct {
	Tag       string
	Current   bool      // the device asking
	Method    string    // how it signed in
	SignedIn  time.Time // when it signed in
	FirstSeen time.Time // its first sign-in to this account
	LastSeen  time.Time // its sign-in or its latest day of use (the day's first connection), whichever is later
	// Until is when it is signed out unless it is used again: 30 days
	// after its last use, at most a year after it signed in (the policy's
	// SessionIdle and SessionMax).
	Until time.Time
}

// Devices lists the devices signed in to the account dev acts as, oldest
// sign-in first.
func (s *Service) Devices(ctx context.Context, dev Device) ([]DeviceInfo, error) {
	var out []DeviceInfo
	err := s.ledger.View(func(r store.Reader) error {
		b, ok, err := s.deviceBinding(r, dev.Tag)
		if err != nil {
			return err
		}
		if !ok {
			return problem(ProblemSignedOut, "This device is not signed in.")
		}
		out, err = s.devicesOf(r, b.User, dev.Tag, s.clock.Now())
		return err
	})
	return out, err
}

// devicesOf lists the devices signed in to user at now, from the user's
// facts: the same answer, device by device, as deviceBinding.
func (s *Service) devicesOf(r store.Reader, user, current string, now time.Time) ([]DeviceInfo, error) {
	type state struct {
		DeviceInfo
		in   bool
		used time.Time // its last use of its current sign-in
	}
	devices := map[string]*state{}
	var order []string
	var ferr error
	err := r.Facts(store.ByUser, user, store.Window{
		Kinds: []string{KindDeviceSignedIn, KindDeviceSignedOut, KindDeviceSeen, KindSignedOutAll},
	}, func(f store.Fact) bool {
		if f.Kind == KindSignedOutAll {
			for _, d := range devices {
				d.in = false
			}
			return true
		}
		d, ok := devices[f.Device]
		if !ok {
			d = &state{DeviceInfo: DeviceInfo{Tag: f.Device, FirstSeen: f.Time}}
			devices[f.Device] = d
			order = append(order, f.Device)
		}
		switch f.Kind {
		case KindDeviceSignedIn:
			var b signedInBody
			if ferr = f.Decode(&b); ferr != nil {
				return false
			}
			d.in, d.Method, d.SignedIn, d.used = true, b.Method, f.Time, f.Time
		case KindDeviceSignedOut:
			d.in = false
		case KindDeviceSeen:
			if d.in {
				d.used = f.Time
			}
		}
		d.LastSeen = f.Time
		return true
	})
	if err == nil {
		err = ferr
	}
	if err != nil {
		return nil, fmt.Errorf("read devices of %s: %w", user, err)
	}
	var out []DeviceInfo
	for _, tag := range order {
		d := devices[tag]
		if !d.in {
			continue
		}
		if d.Method != methodVisit {
			if d.Until = s.lapsesAt(d.SignedIn, d.used); !now.Before(d.Until) {
				continue
			}
		}
		d.Current = tag == current
		out = append(out, d.DeviceInfo)
	}
	slices.SortStableFunc(out, func(a, b DeviceInfo) int { return a.SignedIn.Compare(b.SignedIn) })
	return out, nil
}

// SignOut signs this device out. What it stored as an account stays with
// the account; the device starts afresh as an anonymous visitor.
func (s *Service) SignOut(ctx context.Context, dev Device) error {
	now := s.clock.Now()
	var user string
	err := s.ledger.Update(func(tx store.Tx) error {
		user = ""
		b, ok, err := s.deviceBinding(tx, dev.Tag)
		if err != nil {
			return err
		}
		if !ok {
			return problem(ProblemSignedOut, "This device is not signed in.")
		}
		user = b.User
		return signOut(tx, now, dev.Tag, b.User, "signout")
	})
	if err != nil {
		return err
	}
	s.bus.publish([]string{user}, []string{dev.Tag})
	return nil
}

// SignOutEverywhere signs out every device of the account dev acts as,
// this one included; with forgetKeys, every remembered SSH key of the
// account is forgotten too, so no device can sign back in with one
// keystroke. Live sessions on other devices are told at once. It is a
// protected action: whoever holds a signed-in device must prove a second
// factor before throwing everyone else out.
func (s *Service) SignOutEverywhere(ctx context.Context, dev Device, forgetKeys bool) error {
	now := s.clock.Now()
	var user string
	var msgs []message.Message
	err := s.update("sign out everywhere", func(tx store.Tx) error {
		user, msgs = "", nil
		u, err := s.requireStepUp(tx, dev, now, "sign out everywhere")
		if err != nil {
			return err
		}
		user = u
		if forgetKeys {
			order, claims, err := userClaims(tx, user, time.Time{})
			if err != nil {
				return err
			}
			for _, h := range order {
				if c := claims[h]; c.Kind == string(address.SSHKey) && c.confirmed() {
					if err := endClaim(tx, now, user, h, "forgotten"); err != nil {
						return err
					}
				}
			}
		}
		change, err := tx.Append(store.Fact{Time: now, Kind: KindSignedOutAll, User: user, Device: dev.Tag})
		if err != nil {
			return err
		}
		what := "Every device was signed out"
		if forgetKeys {
			what += " and every remembered SSH key forgotten"
		}
		msgs, err = s.notify(tx, now, user, change, "", what)
		return err
	})
	if err != nil {
		return err
	}
	s.bus.publish([]string{user}, []string{dev.Tag})
	s.send(msgs, dev.Tag)
	return nil
}

// OwnFacts returns the facts about the device and the user it acts as, in
// ledger order: what the system recorded about this visitor.
func (s *Service) OwnFacts(ctx context.Context, dev Device) ([]store.Fact, error) {
	var out []store.Fact
	err := s.ledger.View(func(r store.Reader) error {
		var err error
		out, err = s.ownFacts(r, dev, store.Window{})
		return err
	})
	slices.Reverse(out)
	return out, err
}
