package flows

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/attest-dev/attest/flows/address"
	"github.com/attest-dev/attest/flows/message"
	"github.com/attest-dev/attest/flows/password"
	"github.com/attest-dev/attest/store"
)

// Passwords (seed 003) and the one-stage login-or-register (seed 002).
// The ledger keeps a password only as an argon2id PHC string; at most two
// hashes run at once (the Hasher's semaphore), so a flood of password
// sign-ins cannot starve other sessions. A wrong password costs a try
// against the same per-address back-off as a wrong code.

type passwordSetBody struct {
	PHC string `json:"phc"`
	// Rehash marks the same password hashed again at the hasher's current
	// costs after it was typed right (its old hash's were lower): not a
	// change, so nobody is told and nothing signed in with it ends.
	Rehash bool `json:"rehash,omitempty"`
}

// samePassword reports whether phc, read before a slow check, is still a
// hash of the user's current password: it is the newest PHC string, or
// only rehashes of it came after. Any real change (SetPassword) between
// makes it an old password's.
func samePassword(r store.Reader, user, phc string) (bool, error) {
	same := false
	var ferr error
	err := r.Facts(store.ByUser, user, store.Window{Kinds: []string{KindPasswordSet}, Reverse: true},
		func(f store.Fact) bool {
			var b passwordSetBody
			if ferr = f.Decode(&b); ferr != nil {
				return false
			}
			if b.PHC == phc {
				same = true
				return false
			}
			return b.Rehash // a rehash of something: look further back
		})
	if err == nil {
		err = ferr
	}
	return same, err
}

// rehashFor returns a fresh hash of pw when phc, which pw just matched,
// was made at lower costs than the hasher's current ones; "" otherwise.
// A hash that fails is logged and skipped: the sign-in stands, and the
// next one tries again.
func (s *Service) rehashFor(ctx context.Context, pw, phc string) string {
	if !s.passwords.NeedsRehash(phc) {
		return ""
	}
	fresh, err := s.passwords.Hash(ctx, s.rand, pw)
	if err != nil {
		s.log.Warn("rehash a password at the current costs", "err", err)
		return ""
	}
	return fresh
}

// recordRehash appends the rehash of the user's password, inside the
// transaction that accepted it, if the stored hash is still phc: a
// concurrent change or rehash wins, and this one is dropped.
func recordRehash(tx store.Tx, now time.Time, user, device, phc, rehash string) error {
	if rehash == "" {
		return nil
	}
	current, err := currentPassword(tx, user)
	if err != nil || current != phc {
		return err
	}
	_, err = tx.Append(store.Fact{Time: now, Kind: KindPasswordSet, User: user, Device: device,
		Body: mustJSON(passwordSetBody{PHC: rehash, Rehash: true})})
	return err
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
	if err := s.allowPasswordWork(dev, now); err != nil {
		return err
	}
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
	if err := s.passwords.Check(ctx, pw, onlyFactor, inputs...); err != nil {
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
	// Pending: every other case, which all answer alike: "follow the
	// link we sent to <To>". Link is the link that went out, or nil when
	// the governor held it back.
	Pending bool
	To      string
	Link    *LinkSent
}

// LoginOrRegister is the notes' one-stage login-or-register: an address
// and a password in one request. The notes' cases:
//
//	[A] address confirmed, right password: signed in;
//	[B] address confirmed, wrong password;
//	[C] address added but not confirmed;
//	[D] unknown address: the user is created, the password saved, the
//	    address added unconfirmed and a confirmation link sent.
//
// The notes answer [B] "wrong password", which tells anyone who types an
// address whether it has an account (ASVS 5.0 6.3.8). Here every case but
// [A] answers the same, in text, status and work: a link goes to the
// address (if the governor lets it) and the answer is "follow the link we
// sent". Which link depends on the case, and only the address's holder
// sees it: [D] the registration's confirmation link; [C], given the
// registration's password, that link again; otherwise a sign-in link, the
// one `signin --link` sends, so the owner in [B] who mistyped gets a way
// in and a stranger learns nothing they could not learn from `signin`.
// A password the policy would refuse for a new account is refused in
// every case but [A], for the same reason.
//
// Cost: every request counts against the device's and the source's
// PasswordTries before anything is looked up. Then every case does one
// argon2id computation, and every case but [A] one strength estimate
// (both in the hashing slots); every case but [A] counts a failed try
// against the address's back-off, so that the back-off, too, reads the
// same for every address.
func (s *Service) LoginOrRegister(ctx context.Context, dev Device, input, pw string) (Login, error) {
	addr, err := s.parseInbox(input)
	if err != nil {
		return Login{}, err
	}
	pw = password.Normalize(pw)
	if pw == "" {
		return Login{}, problem(ProblemInput, "Type a password.")
	}
	now := s.clock.Now()
	if err := s.allowPasswordWork(dev, now); err != nil {
		return Login{}, err
	}
	hash := s.hasher.Hash(addr)
	st, err := s.readLoginState(dev, hash, now)
	if err != nil {
		return Login{}, err
	}
	if st.signedIn {
		return Login{}, problem(ProblemSignedIn, "This device is already signed in. Sign out first to sign in as someone else.")
	}
	if st.until.After(now) {
		s.passwords.VerifyNothing(ctx, pw)
		return Login{}, backoffProblem(st.until, now)
	}

	var matched bool // the password is the owner's, or the registration's
	switch {
	case st.owner != "":
		if matched, err = s.verifyOrNothing(ctx, pw, st.ownerPHC); err != nil {
			return Login{}, err
		}
		if matched { // [A]
			login, lerr := s.finishLogin(dev, hash, st.owner, st.ownerPHC, s.rehashFor(ctx, pw, st.ownerPHC), now)
			if !errors.Is(lerr, errPasswordChanged) {
				return login, lerr
			}
			// The password changed while it was checked: the one typed is
			// an old one now, and answered as any wrong password.
			matched = false
		}
	case st.claimed:
		if matched, err = s.verifyOrNothing(ctx, pw, st.regPHC); err != nil {
			return Login{}, err
		}
	}
	// Not signed in: judge the password as a new account's, whatever the
	// case, so that a refusal reads the same for every address.
	verdict := s.passwords.Check(ctx, pw, true, addr.Value, strings.SplitN(addr.Value, "@", 2)[0])
	var pe *password.PolicyError
	if verdict != nil && !errors.As(verdict, &pe) {
		return Login{}, fmt.Errorf("judge password: %w", verdict)
	}
	var newPHC string
	if st.owner == "" && !st.claimed { // [D]: the one argon2id is the new hash
		if pe != nil {
			s.passwords.VerifyNothing(ctx, pw)
		} else if newPHC, err = s.passwords.Hash(ctx, s.rand, pw); err != nil {
			return Login{}, fmt.Errorf("hash password: %w", err)
		}
	}
	fresh, err := s.token("u_")
	if err != nil {
		return Login{}, err
	}
	req, err := s.prepareLink(dev, "", addr, PurposeSignIn)
	if err != nil {
		return Login{}, err
	}
	var out Login
	var msg *message.Message
	var heldFact *store.Fact
	err = s.update("login or register", func(tx store.Tx) error {
		out, msg, heldFact = Login{Pending: true, To: addr.Shown()}, nil, nil
		claims, err := readClaims(tx, hash, time.Time{})
		if err != nil {
			return err
		}
		live := ownerOf(claims) != nil
		for _, c := range claims {
			live = live || c.live()
		}
		user := st.owner
		if user == "" {
			user = st.reg
		}
		link := req
		switch {
		case pe != nil:
		case !live && newPHC != "": // [D], still unknown
			if user, err = s.register(tx, now, dev, fresh, hash, addr, req.sealed, newPHC); err != nil {
				return err
			}
			link.user, link.purpose = user, PurposeConfirm
		case matched && st.reg != "" && !live: // the registration ended meanwhile
		case matched && st.reg != "": // [C] with the registration's password
			link.user, link.purpose = st.reg, PurposeConfirm
		}
		// Every answer but [A] counts against the address's back-off.
		if _, err := tx.Append(store.Fact{Time: now, Kind: KindPasswordFailed, User: user, Device: dev.Tag, Address: hash}); err != nil {
			return err
		}
		if pe != nil {
			return keep(problem(ProblemInput, "Not signed in, and this password cannot make a new account. "+pe.Message))
		}
		sent, m, err := s.issueLink(tx, now, link)
		if p, throttled := AsProblem(err); throttled {
			// The link waits (sending again is ResendVerification); the
			// governor's decision is recorded all the same, after the
			// commit, as any refusal's is: a registration whose link was
			// held is one the clean-up must find.
			heldFact = p.held
			return nil
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
	if heldFact != nil {
		s.recordHeld(*heldFact)
	}
	return out, nil
}

// loginState is what LoginOrRegister and ResendVerification read about
// an address and a device before any password work.
type loginState struct {
	signedIn bool   // the device is signed in to an account
	owner    string // the address's confirmed owner ([A], [B])
	ownerPHC string
	claimed  bool   // [C]: a live claim, none confirmed
	reg      string // [C]: the newest claim's user, when it is a registration (no account yet)
	regPHC   string
	until    time.Time // the address's back-off
}

func (s *Service) readLoginState(dev Device, hash string, now time.Time) (loginState, error) {
	var st loginState
	err := s.ledger.View(func(r store.Reader) error {
		st = loginState{}
		b, bound, err := s.deviceBinding(r, dev.Tag)
		if err != nil {
			return err
		}
		if bound {
			if st.signedIn, err = isAccount(r, b.User); err != nil {
				return err
			}
		}
		claims, err := readClaims(r, hash, time.Time{})
		if err != nil {
			return err
		}
		if o := ownerOf(claims); o != nil {
			st.owner = o.User
			if st.ownerPHC, err = currentPassword(r, st.owner); err != nil {
				return err
			}
		} else {
			for _, c := range claims { // in the order added: the newest live claim wins
				if c.live() {
					st.claimed, st.reg = true, c.User
				}
			}
			// Only a registration (a user who is not yet an account) is
			// confirmed by a link; an address added to an existing account
			// is confirmed from that account, with a code.
			if st.reg != "" {
				account, err := isAccount(r, st.reg)
				if err != nil {
					return err
				}
				if account {
					st.reg = ""
				} else if st.regPHC, err = currentPassword(r, st.reg); err != nil {
					return err
				}
			}
		}
		st.until, err = s.backoffUntil(r, hash, now)
		return err
	})
	return st, err
}

// verifyOrNothing checks pw against phc, or does the same work for
// nothing when there is no phc: either way one argon2id computation.
func (s *Service) verifyOrNothing(ctx context.Context, pw, phc string) (bool, error) {
	if phc == "" {
		s.passwords.VerifyNothing(ctx, pw)
		return false, ctx.Err()
	}
	ok, err := s.passwords.Verify(ctx, pw, phc)
	if err != nil {
		return false, fmt.Errorf("verify password: %w", err)
	}
	return ok, nil
}

func backoffProblem(until, now time.Time) *Problem {
	return &Problem{Code: ProblemBackoff, RetryAt: until,
		Msg: fmt.Sprintf("Too many wrong passwords or codes for this address. Try again at %s.", When(until, now))}
}

// register is case [D] inside the transaction: a new account (or the
// device's anonymous visitor, keeping its data), its password, its
// address added unconfirmed. It returns the registering user.
func (s *Service) register(tx store.Tx, now time.Time, dev Device, fresh, hash string, addr address.Address, sealed, phc string) (string, error) {
	user := fresh
	if b, ok, err := s.deviceBinding(tx, dev.Tag); err != nil {
		return "", err
	} else if ok {
		account, err := isAccount(tx, b.User)
		if err != nil {
			return "", err
		}
		if account {
			return "", problem(ProblemSignedIn, "This device is already signed in. Sign out first to sign in as someone else.")
		}
		user = b.User // the anonymous visitor registers, keeping its data
	} else if _, err := tx.Append(store.Fact{Time: now, Kind: KindUserCreated, User: user, Device: dev.Tag,
		Body: mustJSON(userCreatedBody{Anonymous: false, Via: "register"})}); err != nil {
		return "", err
	}
	if _, err := tx.Append(store.Fact{Time: now, Kind: KindPasswordSet, User: user, Device: dev.Tag,
		Body: mustJSON(passwordSetBody{PHC: phc})}); err != nil {
		return "", err
	}
	if _, err := tx.Append(store.Fact{Time: now, Kind: KindAddressAdded, User: user, Address: hash,
		Body: mustJSON(addressAddedBody{Kind: string(addr.Kind), Sealed: sealed, Masked: addr.Masked()})}); err != nil {
		return "", err
	}
	return user, nil
}

// errPasswordChanged is finishLogin's answer when the password it was
// given was checked against a hash that is no longer the account's.
var errPasswordChanged = errors.New("the password changed while it was checked")

// finishLogin signs the device in after the right password ([A]): the
// password matched phc, the owner's password hash as read before the
// (slow, unlocked) check. The transaction reads both again: a password
// changed meanwhile must not let the old one in once (errPasswordChanged,
// nothing written); a rehash meanwhile is no change. rehash, when not "",
// replaces phc in the same transaction (recordRehash).
func (s *Service) finishLogin(dev Device, hash, owner, phc, rehash string, now time.Time) (Login, error) {
	var out Login
	var touched []string
	err := s.update("login", func(tx store.Tx) error {
		out, touched = Login{}, nil
		claims, err := readClaims(tx, hash, time.Time{})
		if err != nil {
			return err
		}
		if o := ownerOf(claims); o == nil || o.User != owner {
			// Only someone with the right password gets here.
			return problem(ProblemInput, "The address changed hands while you signed in. Try again.")
		}
		same, err := samePassword(tx, owner, phc)
		if err != nil {
			return err
		}
		if !same {
			return errPasswordChanged
		}
		if _, err := tx.Append(store.Fact{Time: now, Kind: KindPasswordAccepted, User: owner, Device: dev.Tag, Address: hash}); err != nil {
			return err
		}
		if err := recordRehash(tx, now, owner, dev.Tag, phc, rehash); err != nil {
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

// ResendVerification sends a registration's confirmation link again (the
// notes' "send again" of case [C]). The link signs in the terminal that
// asks, so it takes the registration's password: otherwise anyone could
// have a link sent that signs their own terminal in to someone else's new
// account.
//
// Like LoginOrRegister it answers every address alike: with the
// registration's password the confirmation link goes again; in every
// other case (a wrong password, an address with an account, an unknown
// address) a sign-in link goes instead, the one `signin --link` sends,
// which signs the terminal in only when the address's holder presses it.
// Every case costs one argon2id computation and counts against the
// address's back-off; the governor may hold any of them back.
func (s *Service) ResendVerification(ctx context.Context, dev Device, input, pw string) (LinkSent, error) {
	addr, err := s.parseInbox(input)
	if err != nil {
		return LinkSent{}, err
	}
	pw = password.Normalize(pw)
	if pw == "" {
		return LinkSent{}, problem(ProblemInput, "Type a password.")
	}
	now := s.clock.Now()
	if err := s.allowPasswordWork(dev, now); err != nil {
		return LinkSent{}, err
	}
	hash := s.hasher.Hash(addr)
	st, err := s.readLoginState(dev, hash, now)
	if err != nil {
		return LinkSent{}, err
	}
	if st.signedIn {
		return LinkSent{}, problem(ProblemSignedIn, "This device is already signed in. Sign out first to sign in as someone else.")
	}
	if st.until.After(now) {
		s.passwords.VerifyNothing(ctx, pw)
		return LinkSent{}, backoffProblem(st.until, now)
	}
	matched, err := s.verifyOrNothing(ctx, pw, st.regPHC)
	if err != nil {
		return LinkSent{}, err
	}
	req, err := s.prepareLink(dev, "", addr, PurposeSignIn)
	if err != nil {
		return LinkSent{}, err
	}
	var sent LinkSent
	var msg *message.Message
	err = s.update("resend verification", func(tx store.Tx) error {
		sent, msg = LinkSent{}, nil
		link := req
		if matched {
			link.user, link.purpose = st.reg, PurposeConfirm
		}
		if _, err := tx.Append(store.Fact{Time: now, Kind: KindPasswordFailed, User: link.user, Device: dev.Tag, Address: hash}); err != nil {
			return err
		}
		var err error
		sent, msg, err = s.issueLink(tx, now, link)
		if p, ok := AsProblem(err); ok {
			return keep(p) // the try still counts
		}
		return err
	})
	if err != nil {
		return LinkSent{}, err
	}
	s.dispatch(*msg, dev.Tag)
	return sent, nil
}

// allowPasswordWork counts a request for password work against the
// device's and the source network's budgets (Policy.PasswordTries). It
// comes before any work and before the address is looked up, so its
// refusal is the same for every address.
func (s *Service) allowPasswordWork(dev Device, now time.Time) error {
	// The device first: one device over its own limit must not spend its
	// network's budget, which other devices behind the same address share.
	ok, next := s.triesByDevice.Allow(dev.Tag, now)
	if ok && dev.Source != "" { // in-process callers (tests, embedders) have none
		ok, next = s.triesBySource.Allow(dev.Source, now)
	}
	if ok {
		return nil
	}
	return &Problem{Code: ProblemThrottled, RetryAt: next,
		Msg: fmt.Sprintf("Too many passwords from this device or network. Try again at %s.", When(next, now))}
}

// StepUpWithPassword steps the device up with the account's password, a
// second factor when the device signed in some other way.
func (s *Service) StepUpWithPassword(ctx context.Context, dev Device, pw string) (time.Time, error) {
	pw = password.Normalize(pw)
	now := s.clock.Now()
	if err := s.allowPasswordWork(dev, now); err != nil {
		return time.Time{}, err
	}
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
	rehash := ""
	if ok {
		rehash = s.rehashFor(ctx, pw, phc)
	}
	err = s.update("step up with password", func(tx store.Tx) error {
		b, bound, err := s.requireAccount(tx, dev)
		if err != nil || !bound || b.User != user {
			return problem(ProblemSignedOut, "This device is no longer signed in to that account.")
		}
		// A password changed during the check makes the one typed an old,
		// wrong one (a rehash is no change).
		same, err := samePassword(tx, user, phc)
		if err != nil {
			return err
		}
		try := store.Fact{Time: now, Kind: KindPasswordFailed, User: user, Device: dev.Tag}
		if !ok || !same {
			if _, err := tx.Append(try); err != nil {
				return err
			}
			return keep(problem(ProblemWrongPassword, "Wrong password.")) // the failed try counts
		}
		try.Kind = KindPasswordAccepted
		if _, err := tx.Append(try); err != nil {
			return err
		}
		if err := recordRehash(tx, now, user, dev.Tag, phc, rehash); err != nil {
			return err
		}
		return grantStepUp(tx, now, user, dev.Tag, "", FactorPassword, s.policy.StepUpTTL)
	})
	if err != nil {
		return time.Time{}, err
	}
	return now.Add(s.policy.StepUpTTL), nil
}
