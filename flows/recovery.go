package flows

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/attest-dev/attest/flows/message"
	"github.com/attest-dev/attest/store"
)

// Recovery codes stand in for the authenticator app when it is lost: ten
// per set, each works once wherever the app's code does. They are drawn
// from Crockford's base32 alphabet (no I, L, O or U, so nothing reads as
// two things aloud), 12 symbols (60 bits) in three groups of four, and
// the ledger keeps only their MACs.

const (
	recoveryAlphabet = "0123456789abcdefghjkmnpqrstvwxyz"
	recoveryLen      = 12
)

// recoverySet is a freshly drawn set: the codes to show and the MACs to
// keep. It is drawn before the transaction that records it, since a
// transaction's function may run twice.
type recoverySet struct {
	ticket string
	codes  []string // as shown: xxxx-xxxx-xxxx
	raw    []string // normalized: 12 symbols
}

func (s *Service) drawRecovery() (*recoverySet, error) {
	ticket, err := s.token("r_")
	if err != nil {
		return nil, err
	}
	set := &recoverySet{ticket: ticket}
	buf := make([]byte, recoveryLen)
	for range RecoveryCodes {
		if _, err := io.ReadFull(s.rand, buf); err != nil {
			return nil, fmt.Errorf("read randomness: %w", err)
		}
		raw := make([]byte, recoveryLen)
		for i, b := range buf {
			raw[i] = recoveryAlphabet[b&31] // 256 is a multiple of 32: uniform
		}
		set.raw = append(set.raw, string(raw))
		set.codes = append(set.codes, string(raw[:4])+"-"+string(raw[4:8])+"-"+string(raw[8:]))
	}
	return set, nil
}

func recoveryMACID(set string, i int) string { return set + "/" + strconv.Itoa(i) }

// append records the set for the authenticator; it replaces any earlier set.
func (set *recoverySet) append(tx store.Tx, now time.Time, key []byte, user, device, authenticator string) error {
	macs := make([]string, len(set.raw))
	for i, r := range set.raw {
		macs[i] = codeMAC(key, recoveryMACID(set.ticket, i), r)
	}
	_, err := tx.Append(store.Fact{Time: now, Kind: KindRecoveryIssued, User: user, Device: device, Ticket: set.ticket,
		Body: mustJSON(recoveryIssuedBody{Authenticator: authenticator, MACs: macs})})
	return err
}

// normalizeRecovery reads a recovery code as a person may type it: any
// case, with or without dashes and spaces, with O for 0 and I or L for 1.
func normalizeRecovery(input string) (string, error) {
	in := strings.ToLower(strings.TrimSpace(input))
	if len(in) > 40 {
		return "", problem(ProblemInput, "a recovery code is 12 letters and digits, like k7qx-m3pa-9rtw")
	}
	var b strings.Builder
	for _, r := range in {
		switch r {
		case ' ', '-':
			continue
		case 'o':
			r = '0'
		case 'i', 'l':
			r = '1'
		case 'u':
			r = 'v'
		}
		if !strings.ContainsRune(recoveryAlphabet, r) {
			return "", problem(ProblemInput, "a recovery code is 12 letters and digits, like k7qx-m3pa-9rtw")
		}
		b.WriteRune(r)
	}
	if b.Len() != recoveryLen {
		return "", problem(ProblemInput, "a recovery code is 12 letters and digits, like k7qx-m3pa-9rtw")
	}
	return b.String(), nil
}

// currentRecovery returns the user's live set (nil when none): the newest
// set issued for the authenticator that is still active, with which of its
// codes are used.
func currentRecovery(r store.Reader, user string, now time.Time) (*store.Fact, *recoveryIssuedBody, map[int]bool, error) {
	active, _, err := authenticators(r, user, now)
	if err != nil || active == nil {
		return nil, nil, nil, err
	}
	var issued *store.Fact
	var body recoveryIssuedBody
	var ferr error
	err = r.Facts(store.ByUser, user, store.Window{Kinds: []string{KindRecoveryIssued}, Reverse: true, Limit: 1},
		func(f store.Fact) bool {
			if ferr = f.Decode(&body); ferr == nil && body.Authenticator == active.Ticket {
				issued = &f
			}
			return false
		})
	if err == nil {
		err = ferr
	}
	if err != nil || issued == nil {
		return nil, nil, nil, err
	}
	used := map[int]bool{}
	err = r.Facts(store.ByTicket, issued.Ticket, store.Window{Kinds: []string{KindRecoveryUsed}}, func(f store.Fact) bool {
		var b recoveryUsedBody
		if ferr = f.Decode(&b); ferr == nil {
			used[b.Index] = true
		}
		return ferr == nil
	})
	if err == nil {
		err = ferr
	}
	if err != nil {
		return nil, nil, nil, fmt.Errorf("read recovery codes of %s: %w", user, err)
	}
	return issued, &body, used, nil
}

// recoveryLeft counts the user's unused recovery codes.
func recoveryLeft(r store.Reader, user string, now time.Time) (int, error) {
	_, body, used, err := currentRecovery(r, user, now)
	if err != nil || body == nil {
		return 0, err
	}
	return len(body.MACs) - len(used), nil
}

// Recovered is what a recovery code did.
type Recovered struct {
	// Entered is set when the code completed a held sign-in.
	Entered *Entered
	// StepUpUntil is set when it stepped a signed-in device up.
	StepUpUntil time.Time
	// Left is how many recovery codes remain.
	Left int
}

// UseRecoveryCode spends a recovery code where the app's code would go:
// to complete the device's held sign-in, or else to step a signed-in
// device up. The account's other addresses are told.
func (s *Service) UseRecoveryCode(ctx context.Context, dev Device, input string) (Recovered, error) {
	code, err := normalizeRecovery(input)
	if err != nil {
		return Recovered{}, err
	}
	now := s.clock.Now()
	var held bool
	if err := s.ledger.View(func(r store.Reader) error {
		f, _, err := heldSignIn(r, dev.Tag, now)
		held = f != nil
		return err
	}); err != nil {
		return Recovered{}, err
	}
	var out Recovered
	var msgs []message.Message
	check := func(tx store.Tx, user, purpose string) (*Problem, error) {
		out.Left, msgs = 0, nil
		p, left, change, err := s.checkRecovery(tx, now, dev, user, code, purpose)
		if err != nil || p != nil {
			return p, err
		}
		out.Left = left
		msgs, err = s.notify(tx, now, user, change, "", fmt.Sprintf("A recovery code was used (%d left)", left))
		return nil, err
	}
	if held {
		e, err := s.completeHeld("use recovery code", dev, func(tx store.Tx, now time.Time, user string) (*Problem, string, error) {
			p, err := check(tx, user, "signin")
			return p, FactorRecovery, err
		})
		if err != nil {
			return Recovered{}, err
		}
		out.Entered = &e
		s.send(msgs, dev.Tag)
		return out, nil
	}
	err = s.update("step up with recovery code", func(tx store.Tx) error {
		b, _, err := s.requireAccount(tx, dev)
		if err != nil {
			return err
		}
		if p, err := check(tx, b.User, "stepup"); err != nil || p != nil {
			if err != nil {
				return err
			}
			return keep(p)
		}
		return grantStepUp(tx, now, b.User, dev.Tag, "", FactorRecovery, s.policy.StepUpTTL)
	})
	if err != nil {
		return Recovered{}, err
	}
	out.StepUpUntil = now.Add(s.policy.StepUpTTL)
	s.send(msgs, dev.Tag)
	return out, nil
}

// checkRecovery decides a recovery code for the user and records the
// outcome: recovery.used (returned, to notify about) or recovery.failed.
func (s *Service) checkRecovery(tx store.Tx, now time.Time, dev Device, user, code, purpose string) (*Problem, int, store.Fact, error) {
	if until, err := s.secondFactorBackoff(tx, user, now); err != nil {
		return nil, 0, store.Fact{}, err
	} else if until.After(now) {
		return &Problem{Code: ProblemBackoff, RetryAt: until,
			Msg: fmt.Sprintf("Too many wrong codes for this account. Try again at %s.", When(until, now))}, 0, store.Fact{}, nil
	}
	issued, body, used, err := currentRecovery(tx, user, now)
	if err != nil {
		return nil, 0, store.Fact{}, err
	}
	if body == nil {
		return problem(ProblemNoAuthenticator, "This account has no recovery codes."), 0, store.Fact{}, nil
	}
	match := -1
	for i, mac := range body.MACs {
		// Every code is compared, used or not, so the time taken does not
		// say which one matched.
		if codeMatches(s.recoveryKey, recoveryMACID(issued.Ticket, i), code, mac) && match < 0 {
			match = i
		}
	}
	if match < 0 || used[match] {
		if _, err := tx.Append(store.Fact{Time: now, Kind: KindRecoveryFailed, User: user, Device: dev.Tag}); err != nil {
			return nil, 0, store.Fact{}, err
		}
		msg := "That is not one of this account's recovery codes."
		if match >= 0 {
			msg = "That recovery code was already used; each works once."
		}
		return problem(ProblemWrongCode, msg), 0, store.Fact{}, nil
	}
	change, err := tx.Append(store.Fact{Time: now, Kind: KindRecoveryUsed, User: user, Device: dev.Tag, Ticket: issued.Ticket,
		Body: mustJSON(recoveryUsedBody{Index: match, Purpose: purpose})})
	if err != nil {
		return nil, 0, store.Fact{}, err
	}
	return nil, len(body.MACs) - len(used) - 1, change, nil
}

// NewRecoveryCodes replaces the account's recovery codes with a new set,
// a protected change. The old set stops working.
func (s *Service) NewRecoveryCodes(ctx context.Context, dev Device) ([]string, error) {
	set, err := s.drawRecovery()
	if err != nil {
		return nil, err
	}
	now := s.clock.Now()
	var msgs []message.Message
	err = s.update("new recovery codes", func(tx store.Tx) error {
		msgs = nil
		user, err := s.requireStepUp(tx, dev, now, "make new recovery codes")
		if err != nil {
			return err
		}
		active, _, err := authenticators(tx, user, now)
		if err != nil {
			return err
		}
		if active == nil {
			return problem(ProblemNoAuthenticator, "This account has no authenticator app, so it has no recovery codes.")
		}
		if err := set.append(tx, now, s.recoveryKey, user, dev.Tag, active.Ticket); err != nil {
			return err
		}
		change, err := lastFact(tx, store.ByTicket, set.ticket, KindRecoveryIssued)
		if err != nil {
			return err
		}
		msgs, err = s.notify(tx, now, user, change, "", "New recovery codes were made; the old ones no longer work")
		return err
	})
	if err != nil {
		return nil, err
	}
	s.send(msgs, dev.Tag)
	return set.codes, nil
}
