package flows

import (
	"context"
	"fmt"
	"time"

	"github.com/attest-dev/attest/store"
)

// Sign-ins lapse. NIST SP 800-63B asks a subscriber to authenticate again
// at least every 30 days at AAL1, so a device signed in to an account
// stays signed in while it is used and for Policy.SessionIdle (30 days)
// after its last use, and never longer than Policy.SessionMax (a year)
// after it signed in. Nothing records the lapse: it is read from the
// sign-in and "seen" facts each time the question is asked, so it can be
// asked as of any time and follows a change of policy at once.
//
// Use is recorded by Touch, at most one device.seen fact a device a day
// (UTC), and only while the device is signed in: a seen fact after a
// sign-in proves the sign-in was alive when it was written, so a device
// cannot revive a lapsed sign-in by coming back. An anonymous visit (the
// "visit" binding made on a visitor's first write) proves nothing and
// protects nothing, so it never lapses: the visitor keeps its nickname
// and stars.

// methodVisit is the binding of an anonymous visitor's first write.
const methodVisit = "visit"

// deviceBinding returns the user the device acts as now, if any: its
// latest sign-in, unless it signed out, was signed out everywhere, or has
// lapsed.
func (s *Service) deviceBinding(r store.Reader, device string) (binding, bool, error) {
	return s.bindingAt(r, device, s.clock.Now(), false)
}

// bindingAt answers deviceBinding's question at time at. With asOf, only
// facts up to at count: the question asked of the past. Without, every
// fact counts and at is the present.
func (s *Service) bindingAt(r store.Reader, device string, at time.Time, asOf bool) (binding, bool, error) {
	var until time.Time
	if asOf {
		until = at
	}
	b, ok, err := latestBinding(r, device, until)
	if err != nil || !ok || b.Method == methodVisit {
		return b, ok, err
	}
	used, err := lastUse(r, device, b, until)
	if err != nil {
		return binding{}, false, err
	}
	b.Until = s.lapsesAt(b.Time, used)
	if !at.Before(b.Until) {
		return binding{}, false, nil
	}
	return b, true, nil
}

// lapsesAt is when a sign-in made at signedIn and last used at used
// lapses.
func (s *Service) lapsesAt(signedIn, used time.Time) time.Time {
	idle := used.Add(s.policy.SessionIdle)
	if most := signedIn.Add(s.policy.SessionMax); most.Before(idle) {
		return most
	}
	return idle
}

// lastUse is when the device last used sign-in b, as of asOf (zero: every
// fact): its newest seen fact for that sign-in, or the sign-in itself.
func lastUse(r store.Reader, device string, b binding, asOf time.Time) (time.Time, error) {
	used := b.Time
	err := r.Facts(store.ByDevice, device, store.Window{Until: asOf, Kinds: []string{KindDeviceSeen}, Reverse: true, Limit: 1},
		func(f store.Fact) bool {
			if f.Seq > b.Seq && f.User == b.User {
				used = f.Time
			}
			return false
		})
	if err != nil {
		return time.Time{}, fmt.Errorf("read when device %s was last used: %w", device, err)
	}
	return used, nil
}

// Touch records that a signed-in device connected, which keeps its
// sign-in alive (and is the devices list's "last seen"): one fact a day at
// most, so a script connecting every second costs the ledger nothing more
// than one that connects daily. Anonymous visitors leave no trace by
// connecting.
func (s *Service) Touch(ctx context.Context, dev Device) error {
	due := func(r store.Reader, now time.Time) (binding, bool, error) {
		b, ok, err := s.bindingAt(r, dev.Tag, now, false)
		if err != nil || !ok || b.Method == methodVisit {
			return b, false, err
		}
		used, err := lastUse(r, dev.Tag, b, time.Time{})
		if err != nil {
			return b, false, err
		}
		return b, day(used).Before(day(now)), nil
	}
	now := s.clock.Now()
	var need bool
	// Most connections find today's fact already written: a read answers
	// them without taking a place in the writer's queue.
	if err := s.ledger.View(func(r store.Reader) error {
		var err error
		_, need, err = due(r, now)
		return err
	}); err != nil || !need {
		return err
	}
	return s.update("record device seen", func(tx store.Tx) error {
		b, need, err := due(tx, now)
		if err != nil || !need {
			return err
		}
		_, err = tx.Append(store.Fact{Time: now, Kind: KindDeviceSeen, User: b.User, Device: dev.Tag})
		return err
	})
}

// day is the UTC day t falls in.
func day(t time.Time) time.Time { return t.UTC().Truncate(24 * time.Hour) }

// Session is what a device was signed in as at a time.
type Session struct {
	User   string // the user tag it acted as then (merges since are not followed)
	Method string
	Since  time.Time // when it signed in
	Until  time.Time // when it lapses unless used again; zero for an anonymous visit
}

// SessionAt answers, from the facts up to at, whether the device was
// signed in at that time, to whom and until when: the question "was this
// device signed in on the 3rd?" gets the answer the device got on the
// 3rd.
func (s *Service) SessionAt(ctx context.Context, device string, at time.Time) (Session, bool, error) {
	var out Session
	var ok bool
	err := s.ledger.View(func(r store.Reader) error {
		b, bound, err := s.bindingAt(r, device, at, true)
		if err != nil || !bound {
			return err
		}
		out, ok = Session{User: b.User, Method: b.Method, Since: b.Time, Until: b.Until}, true
		return nil
	})
	return out, ok, err
}
