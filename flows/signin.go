package flows

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/attest-dev/attest/flows/address"
	"github.com/attest-dev/attest/flows/message"
	"github.com/attest-dev/attest/internal/english"
	"github.com/attest-dev/attest/store"
)

// This file is the notes' two-stage login-or-register: the first stage
// takes an address and sends a code without looking up anything about the
// address's owner; the second takes the code and signs the device in,
// creating the account when the address has no confirmed owner, and
// merging what an anonymous visitor had into an account that exists.

// ParseAddress reads what a person typed as an email address or phone
// number. A *Problem says what is wrong with it.
func (s *Service) ParseAddress(input string) (address.Address, error) {
	a, err := address.Parse(input, s.policy.DefaultRegion)
	if err != nil {
		return address.Address{}, problem(ProblemInput, err.Error())
	}
	return a, nil
}

// RequestSignIn is stage one: it sends a sign-in code to the address. Its
// answer (and the time it takes) is the same whether or not the address
// belongs to an account; only the governor can hold it back.
func (s *Service) RequestSignIn(ctx context.Context, dev Device, input string) (Issued, error) {
	addr, err := s.parseInbox(input)
	if err != nil {
		return Issued{}, err
	}
	return s.sendCode("request sign-in code", dev, addr, PurposeSignIn, func(tx store.Tx, _ time.Time, _ *codeRequest) error {
		b, ok, err := s.deviceBinding(tx, dev.Tag)
		if err != nil || !ok {
			return err
		}
		account, err := isAccount(tx, b.User)
		if err != nil {
			return err
		}
		if account {
			return problem(ProblemSignedIn, "This device is already signed in. Sign out first to sign in as someone else, or add the address to this account.")
		}
		return nil
	}, nil)
}

// Entered is what the right code did.
type Entered struct {
	Purpose string
	Letter  string
	// Visitor is the device after the code.
	Visitor Visitor
	// SignedUp is true when the code created the account.
	SignedUp bool
	// Merged reports anonymous data taken into the account, if any.
	Merged *Merge
	// Split, when set, means the code signed the device in to an account
	// that has another address of the code's kind: the device may now make
	// the address an account of its own (ChooseSplit), never by default.
	Split *Split
	// Took is the split ChooseSplit took: the address that left its
	// account, and what the account kept.
	Took *Split
	// StepUpUntil is set when the code stepped the device up.
	StepUpUntil time.Time
	// Address is the address the code went to, as its owner sees it.
	Address string
}

// Merge is what moved when an anonymous visitor signed in to an account
// that already existed (the notes' "cart combined problem").
type Merge struct {
	From            string
	Stars           []string // stars the account did not have yet
	VisitorNickname string   // the visitor's nickname, kept in the merge fact
	NicknameTaken   bool     // the account had no nickname and took the visitor's
}

// EnterCode is stage two. letter picks which of the device's codes the
// person is entering ("" for the newest); code is the digits. A wrong code
// is recorded and costs a try; malformed input changes nothing.
func (s *Service) EnterCode(ctx context.Context, dev Device, letter, code string) (Entered, error) {
	letter, code, err := parseCodeInput(letter, code)
	if err != nil {
		return Entered{}, err
	}
	fresh, err := s.token("u_")
	if err != nil {
		return Entered{}, err
	}
	now := s.clock.Now()
	var out Entered
	var touched []string
	var msgs []message.Message
	err = s.update("enter code", func(tx store.Tx) error {
		out, touched, msgs = Entered{}, nil, nil
		issued, body, err := findCode(tx, dev.Tag, letter, now)
		if err != nil {
			return err
		}
		if issued == nil {
			return problem(ProblemNoCode, noCodeMessage(letter))
		}
		// What the code is for must be possible before the code is used up.
		if p, err := s.precheck(tx, now, dev, issued, body); err != nil {
			return err
		} else if p != nil {
			return p
		}
		// A wrong code is a fact: it stays, and so does its refusal.
		if p, err := s.checkCode(tx, now, issued, body, code); err != nil {
			return err
		} else if p != nil {
			return keep(p)
		}
		out.Purpose, out.Letter, out.Address = body.Purpose, body.Letter, body.Masked
		if a, err := s.unseal(body.Sealed, issued.Address); err == nil {
			out.Address = a.Display()
		}
		switch body.Purpose {
		case PurposeSignIn:
			touched, err = s.signIn(tx, now, dev, issued, body, fresh, &out)
		case PurposeConfirm:
			msgs, err = s.confirmByCode(tx, now, dev, issued, body)
		case PurposeStepUp:
			out.StepUpUntil, err = s.stepUpByCode(tx, now, dev, issued)
		default:
			err = fmt.Errorf("code %s has unknown purpose %q", issued.Ticket, body.Purpose)
		}
		if p, ok := AsProblem(err); ok {
			// The code was right, but what it was for cannot happen (the
			// address was confirmed by someone else meanwhile, say). The
			// accepted code must still be used up, so the facts stay.
			return keep(p)
		}
		if err != nil {
			return err
		}
		out.Visitor, err = s.visitor(tx, dev)
		if body.Purpose == PurposeSignIn {
			out.Split = out.Visitor.Split
		}
		return err
	})
	if err != nil {
		return Entered{}, err
	}
	s.bus.publish(touched, []string{dev.Tag})
	s.send(msgs, dev.Tag)
	return out, nil
}

// precheck refuses, before a code is checked (and so before it can be
// used up), a code whose purpose cannot be served on this device now: a
// confirmation needs the device signed in to the account and stepped up,
// a step-up needs it signed in to the account.
func (s *Service) precheck(tx store.Tx, now time.Time, dev Device, issued *store.Fact, body *codeIssuedBody) (*Problem, error) {
	var err error
	switch body.Purpose {
	case PurposeConfirm:
		var user string
		if user, err = s.requireStepUp(tx, dev, now, "confirm an address"); err == nil && user != issued.User {
			err = problem(ProblemSignedOut, "This code confirms an address for another account than the one this device is signed in to.")
		}
	case PurposeStepUp:
		var b binding
		if b, _, err = s.requireAccount(tx, dev); err == nil && b.User != issued.User {
			err = problem(ProblemSignedOut, "This step-up code is for another account than the one this device is signed in to.")
		}
	}
	if p, ok := AsProblem(err); ok {
		return p, nil
	}
	return nil, err
}

// stepUpByCode is what a right step-up code does: the device that asked,
// still signed in to the account the code was for, is stepped up.
func (s *Service) stepUpByCode(tx store.Tx, now time.Time, dev Device, issued *store.Fact) (time.Time, error) {
	b, ok, err := s.requireAccount(tx, dev)
	if err != nil || !ok {
		return time.Time{}, err
	}
	if b.User != issued.User {
		return time.Time{}, problem(ProblemSignedOut, "This step-up code is for another account than the one this device is signed in to.")
	}
	if err := grantStepUp(tx, now, b.User, dev.Tag, issued.Ticket, FactorCode, s.policy.StepUpTTL); err != nil {
		return time.Time{}, err
	}
	return now.Add(s.policy.StepUpTTL), nil
}

// parseCodeInput accepts "4821", "B 4821", "B-4821" or "b4821", with the
// letter either given separately or in front of the digits.
func parseCodeInput(letter, code string) (string, string, error) {
	code = strings.ToUpper(strings.TrimSpace(code))
	i := 0
	for i < len(code) && code[i] >= 'A' && code[i] <= 'Z' {
		i++
	}
	if i > 0 {
		rest := strings.Trim(code[i:], " -")
		switch {
		case rest == "" || strings.Trim(rest, "0123456789 -") != "":
			// Letters where digits go ("ab"): say what a code is, not
			// that a letter does not match.
			return "", "", problem(ProblemInput, "a code is 4 or 6 digits, like the 4821 in \"Code B: 4821\"; type the digits only")
		case letter != "" && !strings.EqualFold(letter, code[:i]):
			want := strings.ToUpper(strings.TrimSpace(letter))
			if len(want) > 3 || strings.Trim(want, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") != "" {
				return "", "", problem(ProblemInput, "the letter in front of the code is not the letter of the code asked for")
			}
			return "", "", problem(ProblemInput, fmt.Sprintf("this field is for code %s, not code %s: type code %s's digits", want, code[:i], want))
		}
		letter, code = code[:i], code[i:]
	}
	code = strings.NewReplacer(" ", "", "-", "").Replace(code)
	letter = strings.ToUpper(strings.TrimSpace(letter))
	if len(letter) > 3 || strings.Trim(letter, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") != "" {
		return "", "", problem(ProblemInput, "a code's letter is A to Z, like the B in \"Code B: 4821\"")
	}
	if code == "" || len(code) > 6 || strings.Trim(code, "0123456789") != "" {
		return "", "", problem(ProblemInput, "a code is 4 or 6 digits, like the 4821 in \"Code B: 4821\"")
	}
	return letter, code, nil
}

func noCodeMessage(letter string) string {
	if letter != "" {
		return fmt.Sprintf("This device has no code %s from the last day. Ask for a new code.", letter)
	}
	return "There is no code waiting on this device. Ask for one first."
}

// findCode returns the code the device means: its newest code with the
// given letter (or its newest code), within the last day.
func findCode(r store.Reader, device, letter string, now time.Time) (*store.Fact, *codeIssuedBody, error) {
	var found *store.Fact
	var body codeIssuedBody
	var ferr error
	err := r.Facts(store.ByDevice, device, store.Window{Since: now.Add(-24 * time.Hour), Kinds: codeKinds, Reverse: true},
		func(f store.Fact) bool {
			var b codeIssuedBody
			if ferr = f.Decode(&b); ferr != nil {
				return false
			}
			if letter == "" || b.Letter == letter {
				found, body = &f, b
				return false
			}
			return true
		})
	if err == nil {
		err = ferr
	}
	if err != nil || found == nil {
		return nil, nil, err
	}
	return found, &body, nil
}

// checkCode decides whether code is right for the issued code: live,
// newest for its address and device, unused, with tries left, outside any
// back-off. A wrong code is recorded here. It returns a *Problem when the
// code is not accepted; on success it has recorded the acceptance.
func (s *Service) checkCode(tx store.Tx, now time.Time, issued *store.Fact, body *codeIssuedBody, code string) (*Problem, error) {
	name := "code " + body.Letter
	if !now.Before(body.Expires) {
		return problem(ProblemCodeUsed, fmt.Sprintf("%s expired at %s. Ask for a new code.", capital(name), When(body.Expires, now))), nil
	}
	// Only the newest code for an address and device counts: asking again
	// retires the earlier one.
	var newest string
	err := tx.Facts(store.ByAddress, issued.Address, store.Window{Since: issued.Time, Kinds: codeKinds, Reverse: true},
		func(f store.Fact) bool {
			if f.Device == issued.Device {
				newest = f.Ticket
				return false
			}
			return true
		})
	if err != nil {
		return nil, fmt.Errorf("read newer codes: %w", err)
	}
	if newest != issued.Ticket {
		return problem(ProblemCodeUsed, fmt.Sprintf("%s was replaced by a newer code to the same address. Enter the newest one.", capital(name))), nil
	}
	used, err := tx.Count(store.ByTicket, issued.Ticket, store.Window{Kinds: []string{KindCodeAccepted}})
	if err != nil {
		return nil, err
	}
	if used > 0 {
		return problem(ProblemCodeUsed, fmt.Sprintf("%s has already been used. Ask for a new code.", capital(name))), nil
	}
	failed, err := tx.Count(store.ByTicket, issued.Ticket, store.Window{Kinds: []string{KindCodeFailed}})
	if err != nil {
		return nil, err
	}
	tries := s.tries(body.Digits)
	if failed >= tries {
		return problem(ProblemCodeUsed, fmt.Sprintf("%s is used up after %d wrong tries. Ask for a new code.", capital(name), failed)), nil
	}
	if until, err := s.backoffUntil(tx, issued.Address, now); err != nil {
		return nil, err
	} else if until.After(now) {
		return &Problem{Code: ProblemBackoff, RetryAt: until,
			Msg: fmt.Sprintf("Too many wrong codes for this address. Try again at %s.", When(until, now))}, nil
	}
	if len(code) != body.Digits {
		return problem(ProblemInput, fmt.Sprintf("%s has %d digits.", capital(name), body.Digits)), nil
	}
	at := store.Fact{Time: now, User: issued.User, Device: issued.Device, Address: issued.Address, Ticket: issued.Ticket}
	if !codeMatches(s.codeKey, issued.Ticket, code, body.MAC) {
		left := tries - failed - 1
		at.Kind = KindCodeFailed
		at.Body = mustJSON(codeTryBody{Letter: body.Letter, Left: &left})
		if _, err := tx.Append(at); err != nil {
			return nil, err
		}
		msg := fmt.Sprintf("That is not %s. %d %s left.", name, left, english.Plural(left, "try", "tries"))
		if left == 0 {
			msg = fmt.Sprintf("That is not %s, and it is now used up. Ask for a new code.", name)
		}
		if until, err := s.backoffUntil(tx, issued.Address, now); err != nil {
			return nil, err
		} else if until.After(now) {
			msg += fmt.Sprintf(" Too many wrong codes for this address: the next try can be at %s.", When(until, now))
		}
		return &Problem{Code: ProblemWrongCode, Msg: msg}, nil
	}
	at.Kind = KindCodeAccepted
	at.Body = mustJSON(codeTryBody{Letter: body.Letter})
	_, err = tx.Append(at)
	return nil, err
}

// backoffUntil returns when codes and passwords for the address may be
// tried again after a run of failures: BackoffAfter consecutive failures
// wait BackoffStart, doubling with each further failure up to BackoffMax.
// A right code or password ends the run.
func (s *Service) backoffUntil(r store.Reader, hash string, now time.Time) (time.Time, error) {
	return s.backoffUntilBy(r, store.ByAddress, hash, now)
}

// backoffUntilBy is backoffUntil for the failures of any id (an address
// hash, or a user for password step-ups).
func (s *Service) backoffUntilBy(r store.Reader, ix store.Index, id string, now time.Time) (time.Time, error) {
	return s.backoffRun(r, ix, id, now,
		[]string{KindCodeFailed, KindPasswordFailed, KindTOTPFailed, KindRecoveryFailed},
		[]string{KindCodeAccepted, KindPasswordAccepted, KindTOTPUsed, KindRecoveryUsed})
}

// backoffRun is the back-off after the latest run of failed facts of the
// id, a run that only one of the ended kinds breaks.
func (s *Service) backoffRun(r store.Reader, ix store.Index, id string, now time.Time, failed, ended []string) (time.Time, error) {
	p := s.policy
	run := 0
	var last time.Time
	err := r.Entries(ix, id, store.Window{Kinds: slices.Concat(failed, ended), Reverse: true},
		func(e store.Entry) bool {
			if slices.Contains(ended, e.Kind) {
				return false
			}
			if run == 0 {
				last = e.Time
			}
			run++
			return run < p.BackoffAfter+32 // beyond this the wait is at its maximum anyway
		})
	if err != nil || run < p.BackoffAfter {
		return time.Time{}, err
	}
	wait := p.BackoffStart
	for i := p.BackoffAfter; i < run && wait < p.BackoffMax; i++ {
		wait *= 2
	}
	return last.Add(min(wait, p.BackoffMax)), nil
}

// signIn is what a right sign-in code does. It returns the users whose
// live sessions should look again.
func (s *Service) signIn(tx store.Tx, now time.Time, dev Device, issued *store.Fact, body *codeIssuedBody, fresh string, out *Entered) ([]string, error) {
	claims, err := readClaims(tx, issued.Address, time.Time{})
	if err != nil {
		return nil, err
	}
	if owner := ownerOf(claims); owner != nil {
		split, err := s.offersSplit(tx, dev, owner, issued.Address)
		if err != nil {
			return nil, err
		}
		touched, err := s.switchTo(tx, now, dev, owner.User, "code", issued.Ticket, out)
		if err != nil || !split {
			return touched, err
		}
		// Signed in all the same; the split is offered afterwards, as an
		// action of its own (split.go), and the offer is recorded.
		_, err = tx.Append(store.Fact{Time: now, Kind: KindSplitOffered, User: owner.User, Device: dev.Tag,
			Address: issued.Address, Ticket: issued.Ticket})
		return touched, err
	}
	return s.signUp(tx, now, dev, issued.Address, issued.Ticket, body.source(), "code", fresh, out)
}

// signUp makes the account for an address nobody owns: an anonymous
// visitor on the device becomes the account, keeping everything;
// otherwise a user is born. The device that creates an account is stepped
// up for its first hour, so it can add its second factor at once (the
// notes' "email, then SMS" enrolment) without a code to itself.
func (s *Service) signUp(tx store.Tx, now time.Time, dev Device, hash, ticket string, src claimSource, method, fresh string, out *Entered) ([]string, error) {
	claims, err := readClaims(tx, hash, time.Time{})
	if err != nil {
		return nil, err
	}
	b, bound, err := s.deviceBinding(tx, dev.Tag)
	if err != nil {
		return nil, err
	}
	var touched []string
	user := fresh
	if bound {
		touched = append(touched, b.User)
		account, err := isAccount(tx, b.User)
		if err != nil {
			return nil, err
		}
		if !account {
			user = b.User
		} else if err := signOut(tx, now, dev.Tag, b.User, "switch"); err != nil {
			return nil, err
		}
	}
	if user == fresh {
		if _, err := tx.Append(store.Fact{Time: now, Kind: KindUserCreated, User: user, Device: dev.Tag,
			Body: mustJSON(userCreatedBody{Anonymous: false, Via: "signup"})}); err != nil {
			return nil, err
		}
	}
	if err := confirmClaim(tx, now, user, hash, claims, src, method, ticket); err != nil {
		return nil, err
	}
	out.SignedUp = true
	if err := signInAs(tx, now, dev.Tag, user, method, ticket); err != nil {
		return nil, err
	}
	return append(touched, user), grantStepUp(tx, now, user, dev.Tag, ticket, FactorSignUp, s.policy.StepUpTTL)
}

// claimSource is what a new claim records about its address.
type claimSource struct{ Kind, Sealed, Masked string }

// confirmClaim records that user proved control of the address (hash). It
// is the notes' CONFIRM: refused with "contact support" when someone else
// has it confirmed; otherwise other users' unconfirmed claims end, and the
// user's claim (added now if it has none) is confirmed.
func confirmClaim(tx store.Tx, now time.Time, user, hash string, claims []*claim, src claimSource, method, ticket string) error {
	if owner := ownerOf(claims); owner != nil {
		if owner.User == user {
			return nil
		}
		return problem(ProblemSupport, "This address is confirmed on another account. Please contact support.")
	}
	mine := false
	for _, c := range claims {
		if !c.live() {
			continue
		}
		if c.User == user {
			mine = true
			continue
		}
		if _, err := tx.Append(store.Fact{Time: now, Kind: KindAddressEnded, User: c.User, Address: hash,
			Body: mustJSON(addressEndedBody{Reason: "superseded"})}); err != nil {
			return err
		}
	}
	if !mine {
		if _, err := tx.Append(store.Fact{Time: now, Kind: KindAddressAdded, User: user, Address: hash,
			Body: mustJSON(addressAddedBody(src))}); err != nil {
			return err
		}
	}
	_, err := tx.Append(store.Fact{Time: now, Kind: KindAddressConfirmed, User: user, Address: hash, Ticket: ticket,
		Body: mustJSON(addressConfirmedBody{Method: method, Ticket: ticket})})
	return err
}

func signInAs(tx store.Tx, now time.Time, device, user, method, via string) error {
	_, err := tx.Append(store.Fact{Time: now, Kind: KindDeviceSignedIn, User: user, Device: device,
		Body: mustJSON(signedInBody{Method: method, Via: via})})
	return err
}

func signOut(tx store.Tx, now time.Time, device, user, reason string) error {
	_, err := tx.Append(store.Fact{Time: now, Kind: KindDeviceSignedOut, User: user, Device: device,
		Body: mustJSON(signedOutBody{Reason: reason})})
	return err
}

// merge takes an anonymous visitor's data into an account: stars are
// united, the account's nickname wins when it has one (the visitor's is
// kept in the merge fact), and the visitor's tag resolves to the account
// from then on. It runs inside the caller's transaction, so a failure
// half way leaves both users as they were.
func merge(tx store.Tx, now time.Time, device, from, into string) (*Merge, error) {
	visitor, err := readProfile(tx, from)
	if err != nil {
		return nil, err
	}
	account, err := readProfile(tx, into)
	if err != nil {
		return nil, err
	}
	m := &Merge{From: from, VisitorNickname: visitor.Nickname}
	for _, st := range visitor.Stars {
		if !slices.Contains(account.Stars, st) {
			m.Stars = append(m.Stars, st)
		}
	}
	m.NicknameTaken = account.Nickname == "" && visitor.Nickname != ""

	appendAll := func(fs ...store.Fact) error {
		for _, f := range fs {
			if _, err := tx.Append(f); err != nil {
				return fmt.Errorf("merge %s into %s: %w", from, into, err)
			}
		}
		return nil
	}
	if err := appendAll(
		store.Fact{Time: now, Kind: KindUserMerged, User: from, Device: device, Body: mustJSON(userMergedBody{Into: into})},
		store.Fact{Time: now, Kind: KindUserAbsorbed, User: into, Device: device, Body: mustJSON(userAbsorbedBody{
			From: from, Stars: m.Stars, VisitorNickname: visitor.Nickname, NicknameTaken: m.NicknameTaken,
		})},
	); err != nil {
		return nil, err
	}
	for _, st := range m.Stars {
		if err := appendAll(store.Fact{Time: now, Kind: KindStarAdded, User: into, Device: device,
			Body: mustJSON(starBody{Item: st, From: from})}); err != nil {
			return nil, err
		}
	}
	if m.NicknameTaken {
		if err := appendAll(store.Fact{Time: now, Kind: KindNicknameSet, User: into, Device: device,
			Body: mustJSON(nicknameBody{Nickname: visitor.Nickname, From: from})}); err != nil {
			return nil, err
		}
	}
	return m, nil
}

func capital(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// Resolve returns the user a tag answers for now: an anonymous tag merged
// into an account resolves to the account.
func (s *Service) Resolve(ctx context.Context, user string) (string, error) {
	var out string
	err := s.ledger.View(func(r store.Reader) error {
		var err error
		out, err = resolve(r, user)
		return err
	})
	return out, err
}

// AddressHash returns the keyed hash under which the ledger knows an
// address, for operators looking up its facts.
func (s *Service) AddressHash(input string) (string, error) {
	a, err := s.ParseAddress(input)
	if err != nil {
		return "", err
	}
	return s.hasher.Hash(a), nil
}
