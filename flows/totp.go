package flows

import (
	"context"
	"crypto/hmac"
	"encoding/base32"
	"fmt"
	"io"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/attest-dev/attest/flows/message"
	"github.com/attest-dev/attest/store"
)

// Authenticator apps (RFC 6238): the factor that sends nothing. An account
// enrols one with a protected change: the secret is drawn and sealed, the
// app is shown it (as a QR code or in base32), and the enrolment counts
// only once the app's first code comes back. From then on every sign-in
// of a device, whatever proved the first factor, leaves the device
// waiting (signin.held) until the app's code or a recovery code follows;
// the same code steps a signed-in device up.

// Facts of authenticators and of sign-ins held for a second factor. None
// holds a secret in plaintext: the TOTP secret is sealed, recovery codes
// are MACs, a used code is recorded only by its time step.
const (
	KindTOTPAdded     = "totp.added"     // User, Device, Ticket (the authenticator): enrolment began; body.sealed
	KindTOTPConfirmed = "totp.confirmed" // User, Device, Ticket: the app's first code was right; the authenticator counts
	KindTOTPUsed      = "totp.used"      // User, Device, Ticket: a code was accepted; body.step, body.purpose
	KindTOTPFailed    = "totp.failed"    // User, Device, Ticket: a wrong or replayed code
	KindTOTPRemoved   = "totp.removed"   // User, Device, Ticket

	KindRecoveryIssued = "recovery.issued" // User, Device, Ticket (the set): body.macs, body.authenticator
	KindRecoveryUsed   = "recovery.used"   // User, Device, Ticket (the set): body.index, body.purpose
	KindRecoveryFailed = "recovery.failed" // User, Device: a wrong recovery code

	// KindSignInHeld is a first factor proven for an account with an
	// authenticator: the device does not act as the account until a
	// second factor follows (then device.signed_in is appended), and the
	// hold lapses at body.expires.
	KindSignInHeld = "signin.held" // User, Device: body.method, body.via, body.expires
)

// FactorTOTP and FactorRecovery are the step-up factors of this file.
const (
	FactorTOTP     = "totp"
	FactorRecovery = "recovery"
)

const (
	totpPeriod     = 30 // seconds per step (RFC 6238's default, what every app assumes)
	totpDigits     = 6
	totpSkew       = 1                // steps either side of now
	totpSecretSize = 20               // bytes: 160 bits, RFC 4226's recommendation
	enrolTTL       = 30 * time.Minute // an enrolment not confirmed by then is abandoned
	// HoldTTL is how long a device waits for its second factor.
	HoldTTL = 10 * time.Minute
	// RecoveryCodes is how many recovery codes a set has.
	RecoveryCodes = 10
	// maxQRURI keeps the URI within a version 5 QR code at error
	// correction L (106 bytes), the largest that fits an 80x24 terminal
	// with its quiet zone; the label is shortened to fit.
	maxQRURI = 106
)

type totpAddedBody struct {
	// Sealed is the base32 secret sealed under the server's TOTP key, with
	// the ticket as additional data.
	Sealed string `json:"sealed"`
}

type totpUsedBody struct {
	Step    int64  `json:"step"`    // the RFC 6238 time step the code was for
	Purpose string `json:"purpose"` // "confirm", "signin", "stepup"
}

type recoveryIssuedBody struct {
	Authenticator string   `json:"authenticator"` // the ticket of the authenticator the set belongs to
	MACs          []string `json:"macs"`          // HMAC(recovery key, set/index, code), one per code
}

type recoveryUsedBody struct {
	Index   int    `json:"index"`
	Purpose string `json:"purpose"`
}

type heldBody struct {
	Method  string    `json:"method"`
	Via     string    `json:"via,omitempty"`
	Expires time.Time `json:"expires"`
}

// Enrolment is a started enrolment, for the screen and `totp add`.
type Enrolment struct {
	URI     string // otpauth://totp/ISSUER:LABEL?secret=...&issuer=ISSUER
	Secret  string // base32, no padding
	Issuer  string
	Label   string
	Expires time.Time // confirm before this
}

// SecretGroups writes a base32 secret in groups of four for typing by hand.
func SecretGroups(secret string) string {
	var b strings.Builder
	for i, r := range secret {
		if i > 0 && i%4 == 0 {
			b.WriteByte(' ')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// Waiting says what a device's held sign-in waits for.
type Waiting struct {
	Method string    // how the first factor was proven: "code", "link", "password", "ssh", ...
	Until  time.Time // the hold lapses then
}

// Authenticator is what an account's owner sees of its authenticator.
type Authenticator struct {
	Since        time.Time
	RecoveryLeft int
}

// authenticator is one enrolment, pending or confirmed.
type authenticator struct {
	Ticket    string
	Sealed    string
	Added     time.Time
	Confirmed time.Time // zero: pending
}

// authenticators returns the user's confirmed authenticator (nil when it
// has none) and its newest pending enrolment (nil when none is live).
func authenticators(r store.Reader, user string, now time.Time) (active, pending *authenticator, err error) {
	var ferr error
	err = r.Facts(store.ByUser, user, store.Window{Kinds: []string{KindTOTPAdded, KindTOTPConfirmed, KindTOTPRemoved}},
		func(f store.Fact) bool {
			switch f.Kind {
			case KindTOTPAdded:
				var b totpAddedBody
				if ferr = f.Decode(&b); ferr != nil {
					return false
				}
				pending = &authenticator{Ticket: f.Ticket, Sealed: b.Sealed, Added: f.Time}
			case KindTOTPConfirmed:
				if pending != nil && pending.Ticket == f.Ticket {
					pending.Confirmed = f.Time
					active, pending = pending, nil
				}
			case KindTOTPRemoved:
				if active != nil && active.Ticket == f.Ticket {
					active = nil
				}
				if pending != nil && pending.Ticket == f.Ticket {
					pending = nil
				}
			}
			return true
		})
	if err == nil {
		err = ferr
	}
	if err != nil {
		return nil, nil, fmt.Errorf("read authenticators of %s: %w", user, err)
	}
	if pending != nil && !now.Before(pending.Added.Add(enrolTTL)) {
		pending = nil
	}
	return active, pending, nil
}

// heldSignIn returns the sign-in the device waits to complete, if any:
// its newest sign-in fact is a hold that has not lapsed.
func heldSignIn(r store.Reader, device string, now time.Time) (*store.Fact, *heldBody, error) {
	var last store.Fact
	found := false
	err := r.Facts(store.ByDevice, device, store.Window{
		Kinds: []string{KindSignInHeld, KindDeviceSignedIn, KindDeviceSignedOut}, Reverse: true, Limit: 1,
	}, func(f store.Fact) bool { last, found = f, true; return false })
	if err != nil {
		return nil, nil, fmt.Errorf("read device %s: %w", device, err)
	}
	if !found || last.Kind != KindSignInHeld {
		return nil, nil, nil
	}
	var b heldBody
	if err := last.Decode(&b); err != nil {
		return nil, nil, err
	}
	if !now.Before(b.Expires) {
		return nil, nil, nil
	}
	return &last, &b, nil
}

// holdForSecondFactor is the gate every way in passes through (switchTo):
// when the account has a confirmed authenticator, the device is not
// signed in but held, and nothing of the account (merging a visitor's
// data included) happens until the second factor. It reports whether it
// held the sign-in.
func (s *Service) holdForSecondFactor(tx store.Tx, now time.Time, dev Device, user, method, via string) (bool, error) {
	active, _, err := authenticators(tx, user, now)
	if err != nil || active == nil {
		return false, err
	}
	_, err = tx.Append(store.Fact{Time: now, Kind: KindSignInHeld, User: user, Device: dev.Tag,
		Body: mustJSON(heldBody{Method: method, Via: via, Expires: now.Add(HoldTTL)})})
	return err == nil, err
}

// secondFactorState fills in a visitor's wait and authenticator.
func (s *Service) secondFactorState(r store.Reader, now time.Time, v *Visitor) error {
	held, body, err := heldSignIn(r, v.Device.Tag, now)
	if err != nil {
		return err
	}
	if held != nil {
		// Nothing of the account itself (not even how many recovery codes
		// it has left): the device has proven only one factor.
		v.Waiting = &Waiting{Method: body.Method, Until: body.Expires}
	}
	if !v.Account {
		return nil
	}
	active, _, err := authenticators(r, v.User, now)
	if err != nil || active == nil {
		return err
	}
	left, err := recoveryLeft(r, v.User, now)
	if err != nil {
		return err
	}
	v.Authenticator = &Authenticator{Since: active.Confirmed, RecoveryLeft: left}
	return nil
}

// totpLabel is the account's name in the app: its nickname, else its
// first confirmed address.
func (s *Service) totpLabel(r store.Reader, user string) (string, error) {
	p, err := readProfile(r, user)
	if err != nil {
		return "", err
	}
	if p.Nickname != "" {
		return p.Nickname, nil
	}
	reach, err := s.reachable(r, user)
	if err != nil || len(reach) == 0 {
		return "account", err
	}
	return reach[0].addr.Display(), nil
}

// otpauthURI builds the key URI apps read (Google's Key Uri Format),
// shortening the label until the URI fits the QR code budget.
func otpauthURI(issuer, label, secret string) (string, string) {
	issuer = strings.ReplaceAll(issuer, ":", " ")
	label = strings.ReplaceAll(label, ":", " ")
	for {
		u := url.URL{Scheme: "otpauth", Host: "totp", Path: "/" + issuer + ":" + label,
			RawQuery: "secret=" + secret + "&issuer=" + url.QueryEscape(issuer)}
		s := u.String()
		if len(s) <= maxQRURI || label == "" {
			return s, label
		}
		_, size := utf8.DecodeLastRuneInString(label)
		label = label[:len(label)-size]
	}
}

// AddTOTP starts enrolling an authenticator app, a protected change. The
// secret is returned once, here, for the screen to show; the ledger keeps
// it only sealed. Until ConfirmTOTP the account signs in as before.
func (s *Service) AddTOTP(ctx context.Context, dev Device) (Enrolment, error) {
	raw := make([]byte, totpSecretSize)
	if _, err := io.ReadFull(s.rand, raw); err != nil {
		return Enrolment{}, fmt.Errorf("read randomness: %w", err)
	}
	secret := base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(raw)
	ticket, err := s.token("t_")
	if err != nil {
		return Enrolment{}, err
	}
	sealed, err := s.totpSealer.seal(s.rand, secret, ticket)
	if err != nil {
		return Enrolment{}, err
	}
	now := s.clock.Now()
	var out Enrolment
	err = s.update("add authenticator", func(tx store.Tx) error {
		out = Enrolment{}
		user, err := s.requireStepUp(tx, dev, now, "add an authenticator app")
		if err != nil {
			return err
		}
		active, _, err := authenticators(tx, user, now)
		if err != nil {
			return err
		}
		if active != nil {
			return problem(ProblemNothingToDo, "This account already has an authenticator app. Remove it first (totp remove) to enrol another.")
		}
		label, err := s.totpLabel(tx, user)
		if err != nil {
			return err
		}
		out.URI, out.Label = otpauthURI(s.issuer, label, secret)
		out.Secret, out.Issuer, out.Expires = secret, s.issuer, now.Add(enrolTTL)
		_, err = tx.Append(store.Fact{Time: now, Kind: KindTOTPAdded, User: user, Device: dev.Tag, Ticket: ticket,
			Body: mustJSON(totpAddedBody{Sealed: sealed})})
		return err
	})
	if err != nil {
		return Enrolment{}, err
	}
	return out, nil
}

// ConfirmTOTP completes an enrolment with the app's first code, a
// protected change. It returns the recovery codes, shown this once.
func (s *Service) ConfirmTOTP(ctx context.Context, dev Device, code string) ([]string, error) {
	code, err := parseTOTP(code)
	if err != nil {
		return nil, err
	}
	set, err := s.drawRecovery()
	if err != nil {
		return nil, err
	}
	now := s.clock.Now()
	var msgs []message.Message
	err = s.update("confirm authenticator", func(tx store.Tx) error {
		msgs = nil
		user, err := s.requireStepUp(tx, dev, now, "add an authenticator app")
		if err != nil {
			return err
		}
		active, pending, err := authenticators(tx, user, now)
		if err != nil {
			return err
		}
		if active != nil {
			return problem(ProblemNothingToDo, "This account already has an authenticator app.")
		}
		if pending == nil {
			return problem(ProblemNoAuthenticator, "No authenticator app is waiting to be confirmed (an enrolment lasts 30 minutes). Start again with totp add.")
		}
		if p, err := s.checkTOTP(tx, now, dev, user, pending, code, "confirm"); err != nil || p != nil {
			if err != nil {
				return err
			}
			return keep(p)
		}
		change, err := tx.Append(store.Fact{Time: now, Kind: KindTOTPConfirmed, User: user, Device: dev.Tag, Ticket: pending.Ticket})
		if err != nil {
			return err
		}
		if err := set.append(tx, now, s.recoveryKey, user, dev.Tag, pending.Ticket); err != nil {
			return err
		}
		msgs, err = s.notify(tx, now, user, change, "", "An authenticator app was added as a second factor")
		return err
	})
	if err != nil {
		return nil, err
	}
	s.send(msgs, dev.Tag)
	return set.codes, nil
}

// EnterTOTP completes the device's held sign-in with the app's code. The
// device is then signed in, and stepped up for the hour: it has just
// proven two factors.
func (s *Service) EnterTOTP(ctx context.Context, dev Device, code string) (Entered, error) {
	code, err := parseTOTP(code)
	if err != nil {
		return Entered{}, err
	}
	return s.completeHeld("enter authenticator code", dev, func(tx store.Tx, now time.Time, user string) (*Problem, string, error) {
		active, _, err := authenticators(tx, user, now)
		if err != nil {
			return nil, "", err
		}
		if active == nil {
			return problem(ProblemNoAuthenticator, "This account no longer has an authenticator app; sign in again."), "", nil
		}
		p, err := s.checkTOTP(tx, now, dev, user, active, code, "signin")
		return p, FactorTOTP, err
	})
}

// completeHeld runs a second factor against the device's held sign-in
// and, when it is accepted, signs the device in as the hold said.
func (s *Service) completeHeld(what string, dev Device, check func(tx store.Tx, now time.Time, user string) (*Problem, string, error)) (Entered, error) {
	now := s.clock.Now()
	var out Entered
	var touched []string
	err := s.update(what, func(tx store.Tx) error {
		out, touched = Entered{}, nil
		held, body, err := heldSignIn(tx, dev.Tag, now)
		if err != nil {
			return err
		}
		if held == nil {
			return problem(ProblemNoCode, "This device is not waiting for a second factor (a sign-in waits 10 minutes). Sign in first.")
		}
		p, factor, err := check(tx, now, held.User)
		if err != nil {
			return err
		}
		if p != nil {
			return keep(p)
		}
		if touched, err = s.attach(tx, now, dev, held.User, body.Method, body.Via, &out); err != nil {
			return err
		}
		if err := grantStepUp(tx, now, held.User, dev.Tag, "", factor, s.policy.StepUpTTL); err != nil {
			return err
		}
		out.Purpose, out.StepUpUntil = PurposeSignIn, now.Add(s.policy.StepUpTTL)
		out.Visitor, err = s.visitor(tx, dev)
		return err
	})
	if err != nil {
		return Entered{}, err
	}
	s.bus.publish(touched, []string{dev.Tag})
	return out, nil
}

// StepUpWithTOTP steps a signed-in device up with the app's code.
func (s *Service) StepUpWithTOTP(ctx context.Context, dev Device, code string) (time.Time, error) {
	code, err := parseTOTP(code)
	if err != nil {
		return time.Time{}, err
	}
	now := s.clock.Now()
	err = s.update("step up with authenticator", func(tx store.Tx) error {
		b, _, err := s.requireAccount(tx, dev)
		if err != nil {
			return err
		}
		active, _, err := authenticators(tx, b.User, now)
		if err != nil {
			return err
		}
		if active == nil {
			return problem(ProblemNoAuthenticator, "This account has no authenticator app: step up with a code.")
		}
		if p, err := s.checkTOTP(tx, now, dev, b.User, active, code, "stepup"); err != nil || p != nil {
			if err != nil {
				return err
			}
			return keep(p)
		}
		return grantStepUp(tx, now, b.User, dev.Tag, "", FactorTOTP, s.policy.StepUpTTL)
	})
	if err != nil {
		return time.Time{}, err
	}
	return now.Add(s.policy.StepUpTTL), nil
}

// RemoveTOTP removes the account's authenticator and its recovery codes,
// a protected change told to the account's addresses.
func (s *Service) RemoveTOTP(ctx context.Context, dev Device) error {
	now := s.clock.Now()
	var msgs []message.Message
	err := s.update("remove authenticator", func(tx store.Tx) error {
		msgs = nil
		user, err := s.requireStepUp(tx, dev, now, "remove the authenticator app")
		if err != nil {
			return err
		}
		active, _, err := authenticators(tx, user, now)
		if err != nil {
			return err
		}
		if active == nil {
			return problem(ProblemNoAuthenticator, "This account has no authenticator app.")
		}
		change, err := tx.Append(store.Fact{Time: now, Kind: KindTOTPRemoved, User: user, Device: dev.Tag, Ticket: active.Ticket})
		if err != nil {
			return err
		}
		msgs, err = s.notify(tx, now, user, change, "", "The authenticator app was removed; signing in no longer asks for its code")
		return err
	})
	if err != nil {
		return err
	}
	s.send(msgs, dev.Tag)
	return nil
}

// authenticatorHistoryKinds are the authenticator's changes an account's
// history lists beside its addresses: each is a change to how it signs in.
var authenticatorHistoryKinds = []string{KindTOTPConfirmed, KindTOTPRemoved, KindRecoveryIssued, KindRecoveryUsed}

// HistoryAuthenticator is the kind of the authenticator's history events.
const HistoryAuthenticator = "authenticator"

// authenticatorEvent is a history event for one of
// authenticatorHistoryKinds; ok is false for any other fact.
func authenticatorEvent(f store.Fact) (AddressEvent, bool) {
	ev := AddressEvent{Time: f.Time, Kind: HistoryAuthenticator, Display: "authenticator app"}
	switch f.Kind {
	case KindTOTPConfirmed:
		ev.Event = "added"
	case KindTOTPRemoved:
		ev.Event = "removed"
	case KindRecoveryIssued:
		ev.Display, ev.Event = "recovery codes", "made"
	case KindRecoveryUsed:
		ev.Display, ev.Event = "recovery code", "used"
		var b recoveryUsedBody
		if f.Decode(&b) == nil {
			ev.Detail = b.Purpose // a body that does not decode leaves only the how out
		}
	default:
		return AddressEvent{}, false
	}
	return ev, true
}

// parseTOTP accepts "123456" or "123 456".
func parseTOTP(code string) (string, error) {
	code = strings.NewReplacer(" ", "", "-", "").Replace(strings.TrimSpace(code))
	if len(code) != totpDigits || strings.Trim(code, "0123456789") != "" {
		return "", problem(ProblemInput, "an authenticator code is the 6 digits your app shows, like 123456")
	}
	return code, nil
}

// totpStep is RFC 6238's T for a time.
func totpStep(t time.Time) int64 { return t.Unix() / totpPeriod }

// totpCode is the app's code for a step: SHA-1, 6 digits, 30 seconds.
func totpCode(secret string, step int64) (string, error) {
	c, err := totp.GenerateCodeCustom(secret, time.Unix(step*totpPeriod, 0), totp.ValidateOpts{
		Period: totpPeriod, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		return "", fmt.Errorf("compute authenticator code: %w", err)
	}
	return c, nil
}

// checkTOTP decides a code for the authenticator: outside any back-off,
// right for a step within the skew, and for a later step than any code
// accepted before (so a code works once, on any device). It records the
// outcome: totp.used with the step, or totp.failed. It returns a
// *Problem when the code is refused.
func (s *Service) checkTOTP(tx store.Tx, now time.Time, dev Device, user string, a *authenticator, code, purpose string) (*Problem, error) {
	if until, err := s.secondFactorBackoff(tx, user, now); err != nil {
		return nil, err
	} else if until.After(now) {
		return &Problem{Code: ProblemBackoff, RetryAt: until,
			Msg: fmt.Sprintf("Too many wrong codes for this account. Try again at %s.", When(until, now))}, nil
	}
	secret, err := s.totpSealer.open(a.Sealed, a.Ticket)
	if err != nil {
		return nil, fmt.Errorf("open authenticator %s: %w", a.Ticket, err)
	}
	last, err := lastTOTPStep(tx, a.Ticket)
	if err != nil {
		return nil, err
	}
	matched, fresh := int64(-1), int64(-1)
	for d := int64(totpSkew); d >= -totpSkew; d-- { // newest first
		step := totpStep(now) + d
		want, err := totpCode(secret, step)
		if err != nil {
			return nil, err
		}
		if hmac.Equal([]byte(want), []byte(code)) {
			if matched < 0 {
				matched = step
			}
			if step > last && fresh < 0 {
				fresh = step
			}
		}
	}
	at := store.Fact{Time: now, User: user, Device: dev.Tag, Ticket: a.Ticket}
	if fresh < 0 {
		at.Kind = KindTOTPFailed
		if _, err := tx.Append(at); err != nil {
			return nil, err
		}
		msg := "That is not the code your authenticator app shows."
		if matched >= 0 {
			msg = "That code was already used. Wait for the app's next code (a new one every 30 seconds)."
		}
		if until, err := s.secondFactorBackoff(tx, user, now); err != nil {
			return nil, err
		} else if until.After(now) {
			msg += fmt.Sprintf(" Too many wrong codes for this account: the next try can be at %s.", When(until, now))
		}
		return &Problem{Code: ProblemWrongCode, Msg: msg}, nil
	}
	at.Kind = KindTOTPUsed
	at.Body = mustJSON(totpUsedBody{Step: fresh, Purpose: purpose})
	_, err = tx.Append(at)
	return nil, err
}

// lastTOTPStep returns the step of the newest code accepted for the
// authenticator (-1 when none was).
func lastTOTPStep(r store.Reader, ticket string) (int64, error) {
	last := int64(-1)
	var ferr error
	err := r.Facts(store.ByTicket, ticket, store.Window{Kinds: []string{KindTOTPUsed}, Reverse: true, Limit: 1},
		func(f store.Fact) bool {
			var b totpUsedBody
			if ferr = f.Decode(&b); ferr == nil {
				last = b.Step
			}
			return false
		})
	if err == nil {
		err = ferr
	}
	if err != nil {
		return 0, fmt.Errorf("read authenticator %s: %w", ticket, err)
	}
	return last, nil
}

// secondFactorBackoff is the account's lockout as second factors see it:
// every wrong code, password or recovery code of the account counts, and
// only a right second factor ends the run (a right password must not, or
// someone who has it could guess codes without end).
func (s *Service) secondFactorBackoff(r store.Reader, user string, now time.Time) (time.Time, error) {
	return s.backoffRun(r, store.ByUser, user, now,
		[]string{KindTOTPFailed, KindRecoveryFailed, KindPasswordFailed, KindCodeFailed},
		[]string{KindTOTPUsed, KindRecoveryUsed})
}
