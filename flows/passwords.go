package flows

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/attest-dev/attest/flows/message"
	"github.com/attest-dev/attest/flows/password"
	"github.com/attest-dev/attest/store"
)

// Passwords (seed 003) and the one-stage login-or-register (seed 002).
// The ledger keeps a password only as an argon2id PHC string; at most two
// hashes run at once (the Hasher's semaphore), so a flood of password
// sign-ins cannot starve other sessions. A wrong password costs a try
// against the same per-address back-off as a wrong code.

// ProblemWrongPassword is the [B] case: the address is confirmed, the
// password is not its account's.
const ProblemWrongPassword = "wrong_password"

type passwordSetBody struct {
	PHC string `json:"phc"`
}

// currentPassword returns the user's newest PHC string, or "".
func currentPassword(r store.Reader, user string) (string, error) {
	var phc string
	var ferr error
	err := r.Facts(store.ByUser, user, store.Window{Kinds: []string{KindPasswordSet}, Reverse: true, Limit: 1},
		func(f store.Fact) bool {
			var b passwordSetBody
			ferr = f.Decode(&b)
			phc = b.PHC
			return false
		})
	if err == nil {
		err = ferr
	}
	return phc, err
}

// policyProblem turns the password policy's refusal into a Problem.
func policyProblem(err error) error {
	var pe *password.PolicyError
	if errors.As(err, &pe) {
		return problem(ProblemInput, pe.Error())
	}
	return err
}

// SetPassword sets or changes the password of the account dev is signed
// in to. It is a protected action. With signOutOthers, every other device
// of the account is signed out. The account's addresses are told.
func (s *Service) SetPassword(ctx context.Context, dev Device, pw string, signOutOthers bool) error {
	pw = password.Normalize(pw)
	now := s.clock.Now()
	var inputs []string
	var onlyFactor bool
	if err := s.ledger.View(func(r store.Reader) error {
		user, err := s.requireStepUp(r, dev, now, "set a password")
		if err != nil {
			return err
		}
		reach, err := s.reachable(r, user)
		if err != nil {
			return err
		}
		onlyFactor = len(reach) == 0
		for _, a := range reach {
			inputs = append(inputs, a.addr.Value, strings.SplitN(a.addr.Value, "@", 2)[0])
		}
		p, err := readProfile(r, user)
		inputs = append(inputs, p.Nickname)
		return err
	}); err != nil {
		return err
	}
	if err := password.Check(pw, onlyFactor, inputs...); err != nil {
		return policyProblem(err)
	}
	phc, err := s.passwords.Hash(ctx, s.rand, pw)
	if err != nil {
		return fmt.Errorf("hash password: %w", err)
	}
	var msgs []message.Message
	var touched []string
	err = s.update("set password", func(tx store.Tx) error {
		msgs, touched = nil, nil
		user, err := s.requireStepUp(tx, dev, now, "set a password")
		if err != nil {
			return err
		}
		had, err := currentPassword(tx, user)
		if err != nil {
			return err
		}
		change, err := tx.Append(store.Fact{Time: now, Kind: KindPasswordSet, User: user, Device: dev.Tag, Body: mustJSON(passwordSetBody{PHC: phc})})
		if err != nil {
			return err
		}
		if signOutOthers {
			devices, err := s.devicesOf(tx, user, dev.Tag, now)
			if err != nil {
				return err
			}
			for _, d := range devices {
				if !d.Current {
					if err := signOut(tx, now, d.Tag, user, "password-change"); err != nil {
						return err
					}
					touched = append(touched, d.Tag)
				}
			}
		}
		what := "A password was set"
		if had != "" {
			what = "The password was changed"
		}
		if signOutOthers {
			what += " and every other device signed out"
		}
		msgs, err = s.notify(tx, now, user, change, "", what)
		return err
	})
	if err != nil {
		return err
	}
	s.bus.publish(nil, touched)
	s.send(msgs, dev.Tag)
	return nil
}

// Login is the outcome of LoginOrRegister.
type Login struct {
	// SignedIn: case [A], the device is signed in.
	SignedIn bool
	Visitor  Visitor
	Merged   *Merge
	// Pending: cases [C] and [D], which answer alike: "follow the link we
	// sent to <To> to continue". Link is set when a link went out just now.
	Pending bool
	To      string
	Link    *LinkSent
}

// LoginOrRegister is the notes' one-stage login-or-register: an address
// and a password in one request.
//
//	[A] address confirmed, right password: signed in;
//	[B] address confirmed, wrong password: "wrong password";
//	[C] address added but not confirmed: the password is not checked;
//	    "follow the link we sent you" (ResendVerification sends it again);
//	[D] unknown address: the user is created, the password saved, the
//	    address added unconfirmed and a verification link sent; answered
//	    as [C].
//
// Every case does one argon2id computation, so none is faster to answer.
func (s *Service) LoginOrRegister(ctx context.Context, dev Device, input, pw string) (Login, error) {
	addr, err := s.parseInbox(input)
	if err != nil {
		return Login{}, err
	}
	pw = password.Normalize(pw)
	if pw == "" {
		return Login{}, problem(ProblemInput, "Type a password.")
	}
	hash := s.hasher.Hash(addr)
	now := s.clock.Now()

	var owner, phc string
	var pending bool
	var until time.Time
	if err := s.ledger.View(func(r store.Reader) error {
		claims, err := readClaims(r, hash, time.Time{})
		if err != nil {
			return err
		}
		if o := ownerOf(claims); o != nil {
			owner = o.User
			if phc, err = currentPassword(r, owner); err != nil {
				return err
			}
			until, err = s.backoffUntil(r, hash, now)
			return err
		}
		for _, c := range claims {
			pending = pending || c.live()
		}
		return nil
	}); err != nil {
		return Login{}, err
	}

	switch {
	case owner != "": // [A] or [B]
		if until.After(now) {
			s.passwords.VerifyNothing(ctx, pw)
			return Login{}, &Problem{Code: ProblemBackoff, RetryAt: until,
				Msg: fmt.Sprintf("Too many wrong passwords or codes for this address. Try again at %s.", When(until, now))}
		}
		ok := false
		if phc == "" {
			s.passwords.VerifyNothing(ctx, pw) // an account without a password
		} else if ok, err = s.passwords.Verify(ctx, pw, phc); err != nil {
			return Login{}, fmt.Errorf("verify password: %w", err)
		}
		return s.finishLogin(dev, hash, owner, ok, now)
	case pending: // [C]
		s.passwords.VerifyNothing(ctx, pw)
		return Login{Pending: true, To: addr.Display()}, nil
	}

	// [D]: a new account, its password, its address unconfirmed.
	if err := password.Check(pw, true, addr.Value, strings.SplitN(addr.Value, "@", 2)[0]); err != nil {
		return Login{}, policyProblem(err)
	}
	newPHC, err := s.passwords.Hash(ctx, s.rand, pw)
	if err != nil {
		return Login{}, fmt.Errorf("hash password: %w", err)
	}
	fresh, err := s.token("u_")
	if err != nil {
		return Login{}, err
	}
	req, err := s.prepareLink(dev, "", addr, PurposeConfirm)
	if err != nil {
		return Login{}, err
	}
	var out Login
	var msg *message.Message
	err = s.update("register", func(tx store.Tx) error {
		out, msg = Login{Pending: true, To: addr.Display()}, nil
		claims, err := readClaims(tx, hash, time.Time{})
		if err != nil {
			return err
		}
		for _, c := range claims {
			if c.live() { // someone registered it meanwhile: answer as [C]
				return nil
			}
		}
		user := fresh
		if b, ok, err := s.deviceBinding(tx, dev.Tag); err != nil {
			return err
		} else if ok {
			account, err := isAccount(tx, b.User)
			if err != nil {
				return err
			}
			if account {
				return problem(ProblemSignedIn, "This device is already signed in. Sign out first to make another account.")
			}
			user = b.User // the anonymous visitor registers, keeping its data
		} else if _, err := tx.Append(store.Fact{Time: now, Kind: KindUserCreated, User: user, Device: dev.Tag,
			Body: mustJSON(userCreatedBody{Anonymous: false, Via: "register"})}); err != nil {
			return err
		}
		if _, err := tx.Append(store.Fact{Time: now, Kind: KindPasswordSet, User: user, Device: dev.Tag,
			Body: mustJSON(passwordSetBody{PHC: newPHC})}); err != nil {
			return err
		}
		if _, err := tx.Append(store.Fact{Time: now, Kind: KindAddressAdded, User: user, Address: hash,
			Body: mustJSON(addressAddedBody{Kind: string(addr.Kind), Sealed: req.sealed, Masked: addr.Masked()})}); err != nil {
			return err
		}
		req.user = user
		sent, m, err := s.issueLink(tx, now, req)
		if _, throttled := AsProblem(err); throttled {
			return nil // registered; the link waits for ResendVerification
		}
		if err != nil {
			return err
		}
		out.Link, msg = &sent, m
		return nil
	})
	if err != nil {
		return Login{}, err
	}
	if msg != nil {
		s.dispatch(*msg, dev.Tag)
	}
	return out, nil
}

// finishLogin records a password try for an owned address and, when it
// was right, signs the device in.
func (s *Service) finishLogin(dev Device, hash, owner string, ok bool, now time.Time) (Login, error) {
	var out Login
	var touched []string
	err := s.update("login", func(tx store.Tx) error {
		out, touched = Login{}, nil
		claims, err := readClaims(tx, hash, time.Time{})
		if err != nil {
			return err
		}
		if o := ownerOf(claims); o == nil || o.User != owner {
			return problem(ProblemWrongPassword, "Wrong password.")
		}
		try := store.Fact{Time: now, Kind: KindPasswordFailed, User: owner, Device: dev.Tag, Address: hash}
		if !ok {
			if _, err := tx.Append(try); err != nil {
				return err
			}
			msg := "Wrong password."
			if until, err := s.backoffUntil(tx, hash, now); err != nil {
				return err
			} else if until.After(now) {
				msg += fmt.Sprintf(" Too many wrong tries for this address: the next can be at %s.", When(until, now))
			}
			return keep(problem(ProblemWrongPassword, msg)) // the failed try counts
		}
		try.Kind = KindPasswordAccepted
		if _, err := tx.Append(try); err != nil {
			return err
		}
		var e Entered
		if touched, err = s.switchTo(tx, now, dev, owner, "password", "", &e); err != nil {
			return err
		}
		out.Merged = e.Merged
		out.Visitor, err = s.visitor(tx, dev)
		out.SignedIn = out.Visitor.Waiting == nil // else an authenticator app holds the sign-in
		return err
	})
	if err != nil {
		return Login{}, err
	}
	s.bus.publish(touched, []string{dev.Tag})
	return out, nil
}

// ResendVerification sends the verification link of a registration again
// (the notes' "send again" of case [C]). The link signs in the terminal
// that asks, so it takes the registration's password: otherwise anyone
// could have a link sent that signs their own terminal in to someone
// else's new account.
func (s *Service) ResendVerification(ctx context.Context, dev Device, input, pw string) (LinkSent, error) {
	addr, err := s.parseInbox(input)
	if err != nil {
		return LinkSent{}, err
	}
	pw = password.Normalize(pw)
	hash := s.hasher.Hash(addr)
	now := s.clock.Now()
	var user, phc string
	var until time.Time
	if err := s.ledger.View(func(r store.Reader) error {
		claims, err := readClaims(r, hash, time.Time{})
		if err != nil {
			return err
		}
		if ownerOf(claims) != nil {
			return problem(ProblemNothingToDo, fmt.Sprintf("%s is already confirmed: sign in instead.", addr.Shown()))
		}
		for _, c := range claims { // in the order added: the newest live claim wins
			if c.live() {
				user = c.User
			}
		}
		// Only a registration (a user who is not yet an account) is
		// confirmed by a link; an address added to an existing account is
		// confirmed from that account, with a code.
		if account, err := isAccount(r, user); err != nil {
			return err
		} else if user == "" || account {
			return problem(ProblemNoCode, fmt.Sprintf("No registration is waiting for %s to be confirmed.", addr.Shown()))
		}
		if phc, err = currentPassword(r, user); err != nil {
			return err
		}
		until, err = s.backoffUntil(r, hash, now)
		return err
	}); err != nil {
		return LinkSent{}, err
	}
	if until.After(now) {
		s.passwords.VerifyNothing(ctx, pw)
		return LinkSent{}, &Problem{Code: ProblemBackoff, RetryAt: until,
			Msg: fmt.Sprintf("Too many wrong passwords for this address. Try again at %s.", When(until, now))}
	}
	ok := false
	if phc == "" {
		s.passwords.VerifyNothing(ctx, pw)
	} else if ok, err = s.passwords.Verify(ctx, pw, phc); err != nil {
		return LinkSent{}, fmt.Errorf("verify password: %w", err)
	}
	if !ok {
		// A wrong guess counts against the address like any other.
		if err := s.ledger.Update(func(tx store.Tx) error {
			_, err := tx.Append(store.Fact{Time: now, Kind: KindPasswordFailed, User: user, Device: dev.Tag, Address: hash})
			return err
		}); err != nil {
			return LinkSent{}, fmt.Errorf("record password try: %w", err)
		}
		return LinkSent{}, problem(ProblemWrongPassword, "Wrong password: type the password you chose for this account.")
	}
	req, err := s.prepareLink(dev, user, addr, PurposeConfirm)
	if err != nil {
		return LinkSent{}, err
	}
	var sent LinkSent
	var msg *message.Message
	err = s.update("resend verification", func(tx store.Tx) error {
		var err error
		sent, msg, err = s.issueLink(tx, now, req)
		return err
	})
	if err != nil {
		return LinkSent{}, err
	}
	s.dispatch(*msg, dev.Tag)
	return sent, nil
}

// StepUpWithPassword steps the device up with the account's password, a
// second factor when the device signed in some other way.
func (s *Service) StepUpWithPassword(ctx context.Context, dev Device, pw string) (time.Time, error) {
	pw = password.Normalize(pw)
	now := s.clock.Now()
	var user, phc string
	var until time.Time
	if err := s.ledger.View(func(r store.Reader) error {
		b, ok, err := s.requireAccount(r, dev)
		if err != nil || !ok {
			return err
		}
		if b.Method == "password" {
			return problem(ProblemInput, "This device signed in with the password, so the password cannot be its second factor: step up with a code.")
		}
		user = b.User
		if phc, err = currentPassword(r, user); err != nil {
			return err
		}
		if phc == "" {
			return problem(ProblemInput, "This account has no password: step up with a code.")
		}
		until, err = s.backoffUntilBy(r, store.ByUser, user, now)
		return err
	}); err != nil {
		return time.Time{}, err
	}
	if until.After(now) {
		return time.Time{}, &Problem{Code: ProblemBackoff, RetryAt: until,
			Msg: fmt.Sprintf("Too many wrong passwords. Try again at %s.", When(until, now))}
	}
	ok, err := s.passwords.Verify(ctx, pw, phc)
	if err != nil {
		return time.Time{}, fmt.Errorf("verify password: %w", err)
	}
	err = s.update("step up with password", func(tx store.Tx) error {
		b, bound, err := s.requireAccount(tx, dev)
		if err != nil || !bound || b.User != user {
			return problem(ProblemSignedOut, "This device is no longer signed in to that account.")
		}
		try := store.Fact{Time: now, Kind: KindPasswordFailed, User: user, Device: dev.Tag}
		if !ok {
			if _, err := tx.Append(try); err != nil {
				return err
			}
			return keep(problem(ProblemWrongPassword, "Wrong password.")) // the failed try counts
		}
		try.Kind = KindPasswordAccepted
		if _, err := tx.Append(try); err != nil {
			return err
		}
		return grantStepUp(tx, now, user, dev.Tag, "", FactorPassword, s.policy.StepUpTTL)
	})
	if err != nil {
		return time.Time{}, err
	}
	return now.Add(s.policy.StepUpTTL), nil
}
