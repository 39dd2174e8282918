package flows

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/attest-dev/attest/flows/address"
	"github.com/attest-dev/attest/flows/message"
	"github.com/attest-dev/attest/flows/openid"
	"github.com/attest-dev/attest/store"
)

// Social sign-in (seed 003: "using Google (or another social password
// vendor) to both register and signin"). The address is the provider's
// issuer and subject (the oidc kind), never the email, and the proof is a
// verified ID token. It has the shape of every way in: ask (start a device
// grant, or mint a link to the provider), prove (the person signs in at
// the provider; attest polls, or the provider sends the browser back to
// /oidc/callback), attest (the same sign-in-is-sign-up step as codes and
// links, merging an anonymous visitor).
//
// The ledger keeps what was asked and what came of it, never a token:
// oidc.started (with the MAC of the code flow's state as its ticket, so a
// callback finds its attempt without the ledger holding the state),
// oidc.verified (issuer, masked subject, which claims were used, when the
// person signed in at the provider) or oidc.failed (why). The nonce and
// the PKCE verifier derive from the state under the server's key, so
// nothing secret is stored at all.
//
// The code flow's start link signs in the terminal that asked for it,
// so, as with a magic link, whoever opens it must be the person at that
// terminal: its page asks for the LinkCheckLen characters that terminal
// shows (a MAC of the attempt's ticket, oidcCheckOf, worked out again when needed,
// never stored), and a wrong answer ends the attempt. Otherwise an
// attacker could start a sign-in in their own terminal, send the victim
// the start link, and be signed in to the victim's account by the
// victim's click (the device-code phishing of RFC 8628 section 5.4).
// The right answer sends the browser on to the provider with a cookie
// (a MAC of the state: oidcBindingOf) that binds the attempt to that
// browser, and the callback refuses a browser without it: else the
// attacker would type the characters himself and send the victim the
// provider's URL he was sent on to instead. The device grant has neither:
// its code is typed at the provider's own page, which attest does not
// serve.

// Facts of social sign-in.
const (
	KindOIDCStarted  = "oidc.started"  // Device, Ticket (User for a link or a step-up)
	KindOIDCVerified = "oidc.verified" // User, Device, Address, Ticket
	KindOIDCFailed   = "oidc.failed"   // Device, Ticket; body.reason
)

// PurposeLink adds a provider's account to the signed-in account.
const PurposeLink = "link"

// FactorOIDC is a step-up by a fresh sign-in at a linked provider.
const FactorOIDC = "oidc"

// authTimeSkew is how far the provider's clock may be behind this
// server's when it says when the person signed in.
const authTimeSkew = 5 * time.Minute

// OIDCTTL is how long a code-flow link works.
const OIDCTTL = 10 * time.Minute

// oidcStartsPerHour bounds the attempts one device starts in an hour:
// nothing is sent to an inbox, but each attempt costs the provider and
// this server requests.
const oidcStartsPerHour = 10

// ProviderInfo describes a configured provider.
type ProviderInfo struct {
	Name        string
	DisplayName string
	Available   bool
	Reason      string // why it is unavailable
	Flow        string // openid.FlowDevice or openid.FlowCode
}

// Providers lists the configured providers, in configuration order.
func (s *Service) Providers() []ProviderInfo {
	out := make([]ProviderInfo, 0, len(s.providers))
	for _, p := range s.providers {
		out = append(out, ProviderInfo{Name: p.Name(), DisplayName: p.DisplayName(), Available: p.Available(), Reason: p.Reason(), Flow: p.Flow()})
	}
	return out
}

func (s *Service) provider(name string) (*openid.Provider, error) {
	for _, p := range s.providers {
		if p.Name() == name {
			if !p.Available() {
				return nil, problem(ProblemProviderUnavailable, fmt.Sprintf("%s is unavailable right now; try another way to sign in.", p.DisplayName()))
			}
			return p, nil
		}
	}
	names := make([]string, 0, len(s.providers))
	for _, p := range s.providers {
		names = append(names, p.Name())
	}
	if len(names) == 0 {
		return nil, problem(ProblemProviderUnavailable, "This server has no sign-in providers configured.")
	}
	return nil, problem(ProblemInput, fmt.Sprintf("There is no provider %s; the providers are %s.", quoteInput(name), strings.Join(names, ", ")))
}

// OIDCStart is an attempt under way, for the screen that waits for it.
type OIDCStart struct {
	Ticket      string
	Provider    string // the provider's name
	DisplayName string
	Purpose     string // PurposeSignIn, PurposeLink or PurposeStepUp
	Flow        string
	Expires     time.Time

	// The device grant: where to go and what to enter there.
	VerificationURI         string
	VerificationURIComplete string
	UserCode                string

	// The code flow: the short link to open, and the check its page
	// asks for (LinkCheckLen characters, as a magic link's): only the
	// terminal that started the attempt may show it.
	Link  string
	Check string

	deviceCode string
	interval   time.Duration
}

// OIDCResult is what a finished attempt did.
type OIDCResult struct {
	Purpose  string
	Provider string
	Entered  Entered // Visitor, SignedUp, Merged, StepUpUntil
	// Email is the provider's email when it is now confirmed on the
	// account ("confirmed by the provider").
	Email string
	// Note says, when there is something to say, what was not done and
	// why (the provider's email is another account's).
	Note string
}

type oidcStartedBody struct {
	Provider string `json:"provider"`
	Issuer   string `json:"issuer"`
	Purpose  string `json:"purpose"`
	Flow     string `json:"flow"`
	// Label named the terminal session on the start pages of code-flow
	// attempts made before those pages asked for a check; it is read
	// for their history only. New attempts store neither a label nor
	// the check, which is worked out from the ticket.
	Label   string    `json:"label,omitempty"`
	Expires time.Time `json:"expires"`
}

type oidcVerifiedBody struct {
	Provider string `json:"provider"`
	Issuer   string `json:"issuer"`
	// Subject is masked; the claim's sealed copy has it in full.
	Subject string `json:"subject"`
	// Claims names the claims used, and where each came from.
	Claims   []string   `json:"claims"`
	AuthTime *time.Time `json:"auth_time,omitempty"`
	// Outcome: "signed_in", "signed_up", "linked", "stepped_up", or "held"
	// (the account's authenticator app holds the sign-in).
	Outcome string `json:"outcome"`
	// Email says what became of the provider's email: "confirmed" (added,
	// confirmed by the provider), "already" (the account had it), "taken"
	// (another account has it: not linked), "unverified", "none", "limit".
	Email string `json:"email"`
}

type oidcFailedBody struct {
	Code   ProblemCode `json:"code"`
	Reason string      `json:"reason"`
}

// oidcStateLen is the length of a code-flow state: 16 random bytes in
// lower-case base32, like a magic link's token.
const oidcStateLen = 26

func validOIDCState(st string) bool {
	return len(st) == oidcStateLen && strings.Trim(st, "abcdefghijklmnopqrstuvwxyz234567") == ""
}

func (s *Service) oidcMAC(label, state string) []byte {
	m := hmac.New(sha256.New, s.codeKey)
	m.Write([]byte(label + "\x00" + state))
	return m.Sum(nil)
}

// oidcTicketOf is the ticket of a code-flow attempt: the MAC of its state.
func (s *Service) oidcTicketOf(state string) string {
	return "o_" + b32.EncodeToString(s.oidcMAC("oidc state", state)[:16])
}

// oidcBindingOf is the value of the cookie that binds a code-flow attempt
// to the browser whose page was given its check: a MAC of the state under
// the server's key, so nothing is stored and nobody without the key can
// make one. The callback compares it in constant time.
func (s *Service) oidcBindingOf(state string) string {
	return base64.RawURLEncoding.EncodeToString(s.oidcMAC("oidc browser", state))
}

// oidcNonce and oidcVerifier derive the attempt's nonce and PKCE verifier
// (43 characters, RFC 7636's minimum) from its state.
func (s *Service) oidcNonce(state string) string {
	return b32.EncodeToString(s.oidcMAC("oidc nonce", state)[:16])
}

func (s *Service) oidcVerifier(state string) string {
	return base64.RawURLEncoding.EncodeToString(s.oidcMAC("oidc pkce", state))
}

// CallbackURL is where providers send the browser back to in the code
// flow: it must be registered at the provider as a redirect URI.
func (s *Service) CallbackURL() string { return s.linkBase + "/oidc/callback" }

// StartOIDC starts an attempt with the named provider: PurposeSignIn on a
// device not signed in to an account, PurposeLink on a stepped-up device
// (to add the provider's account to this one), PurposeStepUp on a device
// of an account that has this provider linked. With the device grant it
// asks the provider for codes; with the code flow it mints the link.
// Either way WaitOIDC then waits for the outcome.
func (s *Service) StartOIDC(ctx context.Context, dev Device, name, purpose string) (OIDCStart, error) {
	switch purpose {
	case PurposeSignIn, PurposeLink, PurposeStepUp:
	default:
		return OIDCStart{}, problem(ProblemInput, fmt.Sprintf("unknown purpose %q", purpose))
	}
	p, err := s.provider(name)
	if err != nil {
		return OIDCStart{}, err
	}
	now := s.clock.Now()
	// Refuse before asking the provider for anything.
	if err := s.ledger.View(func(r store.Reader) error {
		_, err := s.oidcPrecheck(r, dev, p, purpose, now)
		return err
	}); err != nil {
		return OIDCStart{}, err
	}
	st := OIDCStart{Provider: p.Name(), DisplayName: p.DisplayName(), Purpose: purpose, Flow: p.Flow()}
	if p.Flow() == openid.FlowDevice {
		ds, err := p.StartDevice(ctx)
		if err != nil {
			s.log.Warn("device authorization failed", "provider", p.Name(), "err", err)
			return OIDCStart{}, providerProblem(p, err)
		}
		st.VerificationURI, st.VerificationURIComplete, st.UserCode = ds.VerificationURI, ds.VerificationURIComplete, ds.UserCode
		st.deviceCode, st.interval, st.Expires = ds.DeviceCode, ds.Interval, now.Add(ds.ExpiresIn)
		if st.Ticket, err = s.token("o_"); err != nil {
			return OIDCStart{}, err
		}
	} else {
		raw := make([]byte, 16)
		if _, err := io.ReadFull(s.rand, raw); err != nil {
			return OIDCStart{}, fmt.Errorf("read randomness: %w", err)
		}
		state := b32.EncodeToString(raw)
		st.Ticket, st.Link, st.Expires = s.oidcTicketOf(state), s.linkBase+"/oidc/start/"+state, now.Add(OIDCTTL)
		st.Check = s.oidcCheckOf(st.Ticket)
	}
	err = s.update("start provider sign-in", func(tx store.Tx) error {
		user, err := s.oidcPrecheck(tx, dev, p, purpose, now)
		if err != nil {
			return err
		}
		_, err = tx.Append(store.Fact{Time: now, Kind: KindOIDCStarted, User: user, Device: dev.Tag, Ticket: st.Ticket,
			Body: mustJSON(oidcStartedBody{Provider: p.Name(), Issuer: p.Issuer(), Purpose: purpose, Flow: st.Flow, Expires: st.Expires})})
		return err
	})
	if err != nil {
		return OIDCStart{}, err
	}
	return st, nil
}

// oidcPrecheck refuses an attempt that cannot serve its purpose on this
// device now, or one past the device's hourly allowance. It returns the
// account the attempt is for (link, step-up).
func (s *Service) oidcPrecheck(r store.Reader, dev Device, p *openid.Provider, purpose string, now time.Time) (string, error) {
	// The oldest of the last oidcStartsPerHour starts must be an hour old.
	if nth, err := nthNewest(r, store.ByDevice, dev.Tag, []string{KindOIDCStarted}, now.Add(-time.Hour), oidcStartsPerHour); err != nil {
		return "", err
	} else if next := nth.Add(time.Hour); !nth.IsZero() && next.After(now) {
		return "", &Problem{Code: ProblemThrottled, RetryAt: next,
			Msg: fmt.Sprintf("Too many sign-ins with a provider from this device; try again at %s.", When(next, now))}
	}
	switch purpose {
	case PurposeSignIn:
		if b, ok, err := s.deviceBinding(r, dev.Tag); err != nil {
			return "", err
		} else if ok {
			if account, err := isAccount(r, b.User); err != nil {
				return "", err
			} else if account {
				return "", problem(ProblemSignedIn, fmt.Sprintf("This device is already signed in. Sign out first to sign in as someone else, or link %s to this account.", p.DisplayName()))
			}
		}
		return "", nil
	case PurposeLink:
		return s.requireStepUp(r, dev, now, "link "+p.DisplayName()+" to your account")
	default: // PurposeStepUp
		b, _, err := s.requireAccount(r, dev)
		if err != nil {
			return "", err
		}
		linked, err := s.linkedIdentities(r, b.User, p.Issuer())
		if err != nil {
			return "", err
		}
		if len(linked) == 0 {
			return "", problem(ProblemInput, fmt.Sprintf("No %s account is linked to this account, so %s cannot be a step-up factor here.", p.DisplayName(), p.DisplayName()))
		}
		return b.User, nil
	}
}

// linkedIdentities returns the address hashes of the user's confirmed
// identities at the issuer.
func (s *Service) linkedIdentities(r store.Reader, user, issuer string) ([]string, error) {
	order, claims, err := userClaims(r, user, time.Time{})
	if err != nil {
		return nil, err
	}
	var out []string
	for _, h := range order {
		c := claims[h]
		if c.Kind != string(address.OIDC) || !c.confirmed() {
			continue
		}
		a, err := s.unseal(c.Sealed, h)
		if err != nil {
			return nil, err
		}
		if iss, _, ok := a.OIDCParts(); ok && iss == issuer {
			out = append(out, h)
		}
	}
	return out, nil
}

// providerProblem turns a provider's failure into words for the person;
// the details go to the log.
func providerProblem(p *openid.Provider, err error) error {
	if d, ok := errors.AsType[*openid.Denied](err); ok {
		if d.Code == "access_denied" {
			return problem(ProblemOIDCDenied, fmt.Sprintf("You said no at %s, so nothing changed.", p.DisplayName()))
		}
		return problem(ProblemOIDCRefused, fmt.Sprintf("%s refused (%s), so nothing changed.", p.DisplayName(), quoteInput(d.Code)))
	}
	if ve, ok := errors.AsType[*openid.VerifyError](err); ok {
		return problem(ProblemOIDCRefused, fmt.Sprintf("What %s sent back does not verify (%s), so nothing changed.", p.DisplayName(), ve.Reason))
	}
	if _, ok := AsProblem(err); ok {
		return err
	}
	return problem(ProblemProviderUnavailable, fmt.Sprintf("%s cannot be reached right now; try again later.", p.DisplayName()))
}

// sleep is PollWait's default: a wait on the service's clock, so that a
// test clock moved past it ends it.
func (s *Service) sleep(ctx context.Context, d time.Duration) error {
	done, release := s.Reached(s.clock.Now().Add(d))
	defer release()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-done:
		return nil
	}
}

// maxPollFailures is how many polls in a row may fail to reach the
// provider before the attempt gives up.
const maxPollFailures = 3

// WaitOIDC waits for an attempt's outcome: with the device grant it polls
// the provider, honouring its interval and slow_down, until the person
// has signed in there, said no, or the codes expired; with the code flow
// it waits for the callback, which signs in only a session that watches
// the device (Watch), as magic links do. It returns when ctx ends, too.
func (s *Service) WaitOIDC(ctx context.Context, dev Device, st OIDCStart) (OIDCResult, error) {
	p, err := s.provider(st.Provider)
	if err != nil {
		return OIDCResult{}, err
	}
	if st.Flow != openid.FlowDevice {
		return s.awaitCallback(ctx, dev, st)
	}
	interval, failures := st.interval, 0
	for {
		if err := s.pollWait(ctx, interval); err != nil {
			return OIDCResult{}, err
		}
		if !s.clock.Now().Before(st.Expires) {
			return OIDCResult{}, s.failOIDC(st.Ticket, problem(ProblemOIDCExpired,
				fmt.Sprintf("The code expired before it was entered at %s. Start again.", p.DisplayName())))
		}
		tok, err := p.PollDevice(ctx, st.deviceCode)
		switch {
		case errors.Is(err, openid.ErrPending):
			failures = 0
			continue
		case errors.Is(err, openid.ErrSlowDown):
			failures = 0
			interval = openid.SlowDown(interval)
			continue
		case ctx.Err() != nil:
			return OIDCResult{}, ctx.Err()
		case err != nil:
			if d, ok := errors.AsType[*openid.Denied](err); ok && d.Code == "expired_token" {
				return OIDCResult{}, s.failOIDC(st.Ticket, problem(ProblemOIDCExpired,
					fmt.Sprintf("The code expired before it was entered at %s. Start again.", p.DisplayName())))
			}
			if _, ok := errors.AsType[*openid.Denied](err); ok {
				return OIDCResult{}, s.failOIDC(st.Ticket, providerProblem(p, err))
			}
			failures++
			s.log.Warn("device poll failed", "provider", p.Name(), "failures", failures, "err", err)
			if failures >= maxPollFailures {
				return OIDCResult{}, s.failOIDC(st.Ticket, providerProblem(p, err))
			}
			continue
		}
		id, err := p.Identify(ctx, tok, "", s.clock.Now)
		if err != nil {
			s.log.Warn("provider tokens refused", "provider", p.Name(), "err", err)
			return OIDCResult{}, s.failOIDC(st.Ticket, providerProblem(p, err))
		}
		return s.finishOIDC(st.Ticket, p, id)
	}
}

// failOIDC records that an attempt ended without success, unless it has
// ended already, and returns the refusal.
func (s *Service) failOIDC(ticket string, refusal error) error {
	p, ok := AsProblem(refusal)
	if !ok {
		return refusal
	}
	now := s.clock.Now()
	var device string
	err := s.update("record provider sign-in failure", func(tx store.Tx) error {
		device = ""
		f, _, done, err := oidcAttempt(tx, ticket)
		if err != nil || f == nil || done {
			return err
		}
		device = f.Device
		_, err = tx.Append(store.Fact{Time: now, Kind: KindOIDCFailed, Device: f.Device, Ticket: ticket,
			Body: mustJSON(oidcFailedBody{Code: p.Code, Reason: truncate(p.Msg, 300)})})
		return err
	})
	if err != nil {
		return err
	}
	if device != "" {
		s.bus.publish(nil, []string{device})
	}
	return p
}

// oidcAttempt finds an attempt's start and whether it has ended.
func oidcAttempt(r store.Reader, ticket string) (*store.Fact, *oidcStartedBody, bool, error) {
	var start, end *store.Fact
	err := r.Facts(store.ByTicket, ticket, store.Window{Kinds: []string{KindOIDCStarted, KindOIDCVerified, KindOIDCFailed}},
		func(f store.Fact) bool {
			if f.Kind == KindOIDCStarted {
				start = &f
			} else if end == nil {
				end = &f
			}
			return true
		})
	if err != nil || start == nil {
		return nil, nil, false, err
	}
	var body oidcStartedBody
	if err := start.Decode(&body); err != nil {
		return nil, nil, false, err
	}
	return start, &body, end != nil, nil
}

// oidcOutcome reads how an ended attempt ended.
func (s *Service) oidcOutcome(r store.Reader, ticket string) (*OIDCResult, *Problem, error) {
	var end *store.Fact
	err := r.Facts(store.ByTicket, ticket, store.Window{Kinds: []string{KindOIDCVerified, KindOIDCFailed}, Limit: 1},
		func(f store.Fact) bool { end = &f; return false })
	if err != nil || end == nil {
		return nil, nil, err
	}
	if end.Kind == KindOIDCFailed {
		var b oidcFailedBody
		if err := end.Decode(&b); err != nil {
			return nil, nil, err
		}
		return nil, problem(b.Code, b.Reason), nil
	}
	var b oidcVerifiedBody
	if err := end.Decode(&b); err != nil {
		return nil, nil, err
	}
	res := &OIDCResult{Provider: b.Provider, Entered: Entered{SignedUp: b.Outcome == "signed_up"}}
	for _, p := range s.providers {
		if p.Name() == b.Provider {
			res.Provider = p.DisplayName()
		}
	}
	res.Purpose = map[string]string{"signed_in": PurposeSignIn, "held": PurposeSignIn, "signed_up": PurposeSignIn, "linked": PurposeLink, "stepped_up": PurposeStepUp}[b.Outcome]
	res.Entered.Purpose = res.Purpose
	if b.Email == "taken" {
		res.Note = emailTakenNote(res.Provider)
	}
	if res.Entered.Visitor, err = s.visitor(r, Device{Tag: end.Device}); err != nil {
		return nil, nil, err
	}
	if res.Purpose == PurposeStepUp {
		res.Entered.StepUpUntil = res.Entered.Visitor.StepUpUntil
	}
	if b.Email == "confirmed" {
		// The email the provider gave, confirmed in this very attempt.
		for _, a := range res.Entered.Visitor.Addresses {
			if a.Kind == address.Email && a.Method == "oidc" && a.ConfirmedAt.Equal(end.Time) {
				res.Email = a.Display
			}
		}
	}
	return res, nil, nil
}

func emailTakenNote(provider string) string {
	return fmt.Sprintf("The email address %s gave is confirmed on another attest account, so it was not linked. If that account is yours, sign in to it and link %s from there.", provider, provider)
}

// awaitCallback waits for the code flow's callback to end the attempt.
// It wakes on the device's pokes and re-reads the ledger each time, and
// at the expiry, waited for on the service's clock.
func (s *Service) awaitCallback(ctx context.Context, dev Device, st OIDCStart) (OIDCResult, error) {
	w := s.Watch(dev.Tag)
	defer w.Stop()
	expired, release := s.Reached(st.Expires)
	defer release()
	for {
		var res *OIDCResult
		var refusal *Problem
		err := s.ledger.View(func(r store.Reader) error {
			var err error
			res, refusal, err = s.oidcOutcome(r, st.Ticket)
			return err
		})
		switch {
		case err != nil:
			return OIDCResult{}, err
		case refusal != nil:
			return OIDCResult{}, refusal
		case res != nil:
			return *res, nil
		}
		if !s.clock.Now().Before(st.Expires) {
			return OIDCResult{}, s.failOIDC(st.Ticket, problem(ProblemOIDCExpired,
				fmt.Sprintf("The link to %s expired before it was used. Start again.", st.DisplayName)))
		}
		select {
		case <-ctx.Done():
			return OIDCResult{}, ctx.Err()
		case <-w.C:
		case <-expired:
		}
	}
}

// OIDCPage is what the code flow's pages show.
type OIDCPage struct {
	// State is LinkLive, LinkUsed, LinkEnded (a wrong check, a refusal),
	// LinkExpired, LinkGone or LinkUnknown.
	State    string
	Provider string // display name
	Purpose  string
	// AuthOrigin is the origin of the provider's authorization endpoint
	// (LinkLive only): the start page's form may be sent on there.
	AuthOrigin string
	// Expires is when the attempt stops working.
	Expires time.Time

	// From ConfirmOIDCChecked, when the check was right: where to send the
	// browser, and the cookie that binds the attempt to it, for BindFor.
	AuthURL string
	Binding string
	BindFor time.Duration
	// Mistyped: the check given had not the form of one; the attempt is
	// as it was and its page may ask again.
	Mistyped bool
}

// OIDCCheckRefused is why an attempt whose start page was given a wrong
// check ended, as its oidc.failed fact and the waiting terminal say it.
const OIDCCheckRefused = "A wrong answer on its page ended this sign-in; nobody was signed in. " +
	"If that was not you, someone else had its link: never give anyone the characters your terminal shows."

// OIDCOtherBrowser is why an attempt ended when the provider sent back a
// browser that was not the one its check was typed in, as its oidc.failed
// fact and the waiting terminal say it; oidcOtherBrowserPage is what that
// browser's page says.
const OIDCOtherBrowser = "This sign-in was finished in a different browser from the one that started it, " +
	"so it ended and nobody was signed in. Start again, and finish it in the browser where you type the characters."

const oidcOtherBrowserPage = "This sign-in was finished in a different browser from the one that started it, " +
	"so it ended and nobody was signed in. If you started it yourself, start again in the terminal and finish it " +
	"in the browser where you type the characters. If someone sent you this link, close this page: it would have " +
	"signed them in to your account, not you."

// oidcPage reads an attempt by its state for a page.
func (s *Service) oidcPage(r store.Reader, state string, now time.Time) (OIDCPage, *store.Fact, *openid.Provider, error) {
	page := OIDCPage{State: LinkUnknown}
	if !validOIDCState(state) {
		return page, nil, nil, nil
	}
	f, body, done, err := oidcAttempt(r, s.oidcTicketOf(state))
	if err != nil || f == nil || body.Flow != openid.FlowCode {
		return page, nil, nil, err
	}
	page = OIDCPage{Provider: body.Provider, Purpose: body.Purpose, Expires: body.Expires}
	var p *openid.Provider
	for _, x := range s.providers {
		if x.Name() == body.Provider {
			p, page.Provider = x, x.DisplayName()
		}
	}
	switch {
	case done:
		page.State = LinkUsed
		failed, err := r.Count(store.ByTicket, f.Ticket, store.Window{Kinds: []string{KindOIDCFailed}})
		if err != nil {
			return page, nil, nil, err
		}
		if failed > 0 {
			page.State = LinkEnded
		}
	case !now.Before(body.Expires):
		page.State = LinkExpired
	case !s.bus.watching(f.Device):
		page.State = LinkGone
	case p == nil || !p.Available():
		page.State = LinkUnknown
	default:
		page.State = LinkLive
	}
	return page, f, p, nil
}

// authURL is the provider's authorization URL for a live attempt.
func (s *Service) authURL(p *openid.Provider, state, purpose string) (string, error) {
	return p.AuthURL(s.CallbackURL(), state, s.oidcNonce(state), s.oidcVerifier(state), purpose == PurposeStepUp)
}

// originOf is the origin of an http(s) URL, or "" for anything else.
func originOf(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || strings.ContainsAny(u.Host, " ;,'\"") {
		return ""
	}
	return u.Scheme + "://" + u.Host
}

// PeekOIDC describes a code-flow attempt for its start page, which asks
// for the check. It changes nothing, and gives nothing that leads on to
// the provider: only ConfirmOIDCChecked does, for the right check.
func (s *Service) PeekOIDC(ctx context.Context, state string) (OIDCPage, error) {
	var page OIDCPage
	var p *openid.Provider
	err := s.ledger.View(func(r store.Reader) error {
		var err error
		page, _, p, err = s.oidcPage(r, state, s.clock.Now())
		return err
	})
	if err != nil || page.State != LinkLive {
		return page, err
	}
	u, err := s.authURL(p, state, page.Purpose)
	page.AuthOrigin = originOf(u)
	return page, err
}

// ConfirmOIDCChecked is the start page's answer. A check without the form
// of one changes nothing (Mistyped, with a Problem to show). A wrong one
// ends the attempt (State LinkEnded; its oidc.failed says
// OIDCCheckRefused, and the waiting terminal hears it), so it cannot be
// guessed by trying. The right one changes nothing either, and gives the
// provider's authorization URL and the binding for this browser's cookie:
// OIDCCallback wants it back.
func (s *Service) ConfirmOIDCChecked(ctx context.Context, state, check string) (OIDCPage, error) {
	now := s.clock.Now()
	var page OIDCPage
	var p *openid.Provider
	err := s.ledger.View(func(r store.Reader) error {
		var err error
		page, _, p, err = s.oidcPage(r, state, now)
		return err
	})
	if err != nil || page.State != LinkLive {
		return page, err
	}
	u, err := s.authURL(p, state, page.Purpose)
	if err != nil {
		return page, err
	}
	page.AuthOrigin = originOf(u)
	given, ok := normalCheck(check)
	if !ok {
		page.Mistyped = true
		return page, problem(ProblemInput, fmt.Sprintf("Type the %d characters that the terminal where you started this sign-in shows, then press the button.", LinkCheckLen))
	}
	ticket := s.oidcTicketOf(state)
	if !hmac.Equal([]byte(given), []byte(s.oidcCheckOf(ticket))) {
		// One attempt: the wrong check ends it, through the same record
		// as any other end, which pokes the waiting terminal.
		refusal := problem(ProblemCodeUsed, OIDCCheckRefused)
		if err := s.failOIDC(ticket, refusal); !errors.Is(err, refusal) {
			return OIDCPage{}, err
		}
		// Read again: an attempt that finished meanwhile is used, not ended.
		err := s.ledger.View(func(r store.Reader) error {
			var err error
			page, _, _, err = s.oidcPage(r, state, now)
			return err
		})
		return page, err
	}
	page.AuthURL, page.Binding, page.BindFor = u, s.oidcBindingOf(state), page.Expires.Sub(now)
	return page, nil
}

// maxCodeLen bounds the authorization code a callback may carry.
const maxCodeLen = 2048

// OIDCCallback is the code flow's return: the provider sent the browser
// back with the state and a code (or an error), and binding is the
// browser's cookie ("" when it has none). A state this server did not
// mint, one already used, one past its time or one whose terminal has
// left changes nothing, and the page says which. A browser without the
// binding ConfirmOIDCChecked gave for this state is not the one the check
// was typed in: the attempt ends (OIDCOtherBrowser) before anything is
// asked of the provider. Otherwise the code is exchanged (with the PKCE
// verifier), the ID token verified (with the nonce), and the waiting
// terminal moves on. A refusal (the person said no, tokens that do not
// verify, an email that is another account's) ends the attempt and comes
// back as a *Problem the page shows.
func (s *Service) OIDCCallback(ctx context.Context, state, binding, code, errCode, errDesc string) (OIDCPage, error) {
	var page OIDCPage
	var p *openid.Provider
	err := s.ledger.View(func(r store.Reader) error {
		var err error
		page, _, p, err = s.oidcPage(r, state, s.clock.Now())
		return err
	})
	if err != nil || page.State != LinkLive {
		return page, err
	}
	ticket := s.oidcTicketOf(state)
	if !hmac.Equal([]byte(binding), []byte(s.oidcBindingOf(state))) {
		s.log.Info("provider sign-in came back to another browser", "provider", p.Name(), "cookie", binding != "")
		refusal := problem(ProblemOIDCRefused, OIDCOtherBrowser)
		if err := s.failOIDC(ticket, refusal); !errors.Is(err, refusal) {
			return page, err
		}
		return page, problem(ProblemOIDCRefused, oidcOtherBrowserPage)
	}
	if errCode != "" {
		s.log.Info("provider sign-in refused at the provider", "provider", p.Name(), "error", truncate(errCode, 64), "description", truncate(errDesc, 200))
		if errCode == "access_denied" {
			return page, s.failOIDC(ticket, problem(ProblemOIDCDenied, fmt.Sprintf("You said no at %s, so nothing changed.", p.DisplayName())))
		}
		return page, s.failOIDC(ticket, problem(ProblemOIDCRefused, fmt.Sprintf("%s refused (%s), so nothing changed.", p.DisplayName(), quoteInput(truncate(errCode, 64)))))
	}
	if code == "" || len(code) > maxCodeLen {
		return page, s.failOIDC(ticket, problem(ProblemOIDCRefused, fmt.Sprintf("%s sent the browser back without a usable code, so nothing changed.", p.DisplayName())))
	}
	tok, err := p.Exchange(ctx, s.CallbackURL(), code, s.oidcVerifier(state))
	if err != nil {
		s.log.Warn("code exchange failed", "provider", p.Name(), "err", err)
		return page, s.failOIDC(ticket, providerProblem(p, err))
	}
	id, err := p.Identify(ctx, tok, s.oidcNonce(state), s.clock.Now)
	if err != nil {
		s.log.Warn("provider tokens refused", "provider", p.Name(), "err", err)
		return page, s.failOIDC(ticket, providerProblem(p, err))
	}
	if _, err := s.finishOIDC(ticket, p, id); err != nil {
		if pr, ok := AsProblem(err); ok && pr.Code == ProblemCodeUsed {
			page.State = LinkUsed
			return page, nil
		}
		return page, err
	}
	return page, nil
}

// finishOIDC is the attest step for a verified identity: sign in or up,
// link, or step up, as the attempt was for. A refusal ends the attempt
// (its oidc.failed stays) and changes nothing else.
func (s *Service) finishOIDC(ticket string, p *openid.Provider, id openid.Identity) (OIDCResult, error) {
	addr, err := address.OIDCSubject(id.Issuer, id.Subject)
	if err != nil {
		return OIDCResult{}, s.failOIDC(ticket, problem(ProblemOIDCRefused, fmt.Sprintf("%s sent an identity attest cannot use (%s).", p.DisplayName(), err)))
	}
	hash := s.hasher.Hash(addr)
	sealed, err := s.sealer.seal(s.rand, string(addr.Kind)+":"+addr.Value, hash)
	if err != nil {
		return OIDCResult{}, err
	}
	src := claimSource{Kind: string(address.OIDC), Sealed: sealed, Masked: addr.Masked()}
	var mail *oidcEmail
	if id.Email != "" {
		// An email the provider names that is no usable address is left
		// out; the sign-in goes on without it.
		a, invalid := address.ParseEmail(id.Email)
		if invalid == nil {
			mail = &oidcEmail{addr: a, hash: s.hasher.Hash(a), verified: id.EmailVerified}
			if mail.sealed, err = s.sealer.seal(s.rand, string(a.Kind)+":"+a.Value, mail.hash); err != nil {
				return OIDCResult{}, err
			}
		}
	}
	fresh, err := s.token("u_")
	if err != nil {
		return OIDCResult{}, err
	}
	now := s.clock.Now()
	var out OIDCResult
	var touched, devices []string
	var msgs []message.Message
	err = s.update("finish provider sign-in", func(tx store.Tx) error {
		out, touched, devices, msgs = OIDCResult{Provider: p.DisplayName()}, nil, nil, nil
		f, body, done, err := oidcAttempt(tx, ticket)
		switch {
		case err != nil:
			return err
		case f == nil:
			return problem(ProblemInput, "This sign-in is not one this server started.")
		case done:
			return problem(ProblemCodeUsed, "This sign-in has already ended.")
		case !now.Before(body.Expires):
			return problem(ProblemOIDCExpired, fmt.Sprintf("This sign-in with %s expired before it finished. Start again.", p.DisplayName()))
		}
		out.Purpose = body.Purpose
		dev := Device{Tag: f.Device}
		devices = []string{f.Device}
		var user, outcome, emailState string
		switch body.Purpose {
		case PurposeSignIn:
			// Asked while signed out; a device that has signed in to an
			// account since must not be switched by a late answer.
			if _, ok, err := s.requireAccount(tx, dev); err == nil && ok {
				return problem(ProblemSignedIn, "The terminal session that started this sign-in has since signed in, so this sign-in does nothing.")
			} else if pr, isP := AsProblem(err); err != nil && !(isP && pr.Code == ProblemSignedOut) {
				return err
			}
			claims, err := readClaims(tx, hash, time.Time{})
			if err != nil {
				return err
			}
			if owner := ownerOf(claims); owner != nil {
				user, outcome = owner.User, "signed_in"
				if touched, err = s.switchTo(tx, now, dev, owner.User, "oidc", ticket, &out.Entered); err != nil {
					return err
				}
				// An account with an authenticator holds the sign-in for
				// its second factor: until then nothing of the account
				// changes, the provider's email included.
				if b, ok, err := s.deviceBinding(tx, dev.Tag); err != nil {
					return err
				} else if !ok || b.User != owner.User {
					outcome, mail = "held", nil
				}
			} else {
				// A new identity whose verified email is another account's:
				// nothing is linked, and no second account is made for the
				// same person (the takeover Ory closed automatic linking for).
				if mail != nil && mail.verified {
					eclaims, err := readClaims(tx, mail.hash, time.Time{})
					if err != nil {
						return err
					}
					if ownerOf(eclaims) != nil {
						return problem(ProblemEmailTaken, fmt.Sprintf(
							"%s says you are %s, and an attest account already has that address confirmed. Nothing was linked and no account was made: sign in to that account (with a code to %s) and link %s from there.",
							p.DisplayName(), mail.addr.Display(), mail.addr.Display(), p.DisplayName()))
					}
				}
				outcome = "signed_up"
				if touched, err = s.signUp(tx, now, dev, hash, ticket, src, "oidc", fresh, &out.Entered); err != nil {
					return err
				}
				b, _, err := s.deviceBinding(tx, dev.Tag)
				if err != nil {
					return err
				}
				user = b.User
			}
		case PurposeLink:
			if user, err = s.requireStepUp(tx, dev, now, "link "+p.DisplayName()+" to your account"); err != nil {
				return err
			}
			if user != f.User {
				return problem(ProblemSignedOut, "The terminal session that started this link is now signed in to another account, so nothing was linked.")
			}
			claims, err := readClaims(tx, hash, time.Time{})
			if err != nil {
				return err
			}
			if o := ownerOf(claims); o != nil && o.User == user {
				return problem(ProblemNothingToDo, fmt.Sprintf("That %s account is already linked to this account; nothing to do.", p.DisplayName()))
			} else if o != nil {
				return problem(ProblemSupport, fmt.Sprintf("That %s account is linked to another attest account, so nothing changed. Please contact support if it is yours.", p.DisplayName()))
			}
			if err := confirmClaim(tx, now, user, hash, claims, src, "oidc", ticket); err != nil {
				return err
			}
			change, err := lastFact(tx, store.ByAddress, hash, KindAddressConfirmed)
			if err != nil {
				return err
			}
			if msgs, err = s.notify(tx, now, user, change, "", fmt.Sprintf("A sign-in with %s (%s) was linked", p.DisplayName(), addr.Masked())); err != nil {
				return err
			}
			outcome, touched = "linked", []string{user}
		default: // PurposeStepUp
			b, _, err := s.requireAccount(tx, dev)
			if err != nil {
				return err
			}
			if b.User != f.User {
				return problem(ProblemSignedOut, "The terminal session that started this step-up is now signed in to another account.")
			}
			claims, err := readClaims(tx, hash, time.Time{})
			if err != nil {
				return err
			}
			if o := ownerOf(claims); o == nil || o.User != b.User {
				return problem(ProblemOIDCRefused, fmt.Sprintf("That %s account is not the one linked to this account, so it cannot step it up.", p.DisplayName()))
			}
			// A step-up needs a fresh sign-in at the provider, not a
			// session it remembered from last week: the provider must say
			// the person signed in after the attempt began (give or take
			// authTimeSkew between its clock and this server's).
			if id.AuthTime.IsZero() || id.AuthTime.Before(f.Time.Add(-authTimeSkew)) {
				return problem(ProblemOIDCRefused, fmt.Sprintf("%s did not confirm that you signed in just now, so this is no step-up.", p.DisplayName()))
			}
			if err := grantStepUp(tx, now, b.User, dev.Tag, ticket, FactorOIDC, s.policy.StepUpTTL); err != nil {
				return err
			}
			user, outcome, touched = b.User, "stepped_up", []string{b.User}
			out.Entered.StepUpUntil = now.Add(s.policy.StepUpTTL)
		}
		if body.Purpose != PurposeStepUp {
			if emailState, out.Email, err = s.linkProviderEmail(tx, now, user, mail, ticket); err != nil {
				return err
			}
			if emailState == "taken" {
				out.Note = emailTakenNote(p.DisplayName())
			}
		}
		out.Entered.SignedUp = outcome == "signed_up"
		vb := oidcVerifiedBody{Provider: p.Name(), Issuer: id.Issuer, Subject: addr.Masked(),
			Claims: id.Claims, Outcome: outcome, Email: emailState}
		if !id.AuthTime.IsZero() {
			at := id.AuthTime.UTC()
			vb.AuthTime = &at
		}
		if _, err := tx.Append(store.Fact{Time: now, Kind: KindOIDCVerified, User: user, Device: dev.Tag, Address: hash, Ticket: ticket,
			Body: mustJSON(vb)}); err != nil {
			return err
		}
		out.Entered.Purpose = body.Purpose
		out.Entered.Visitor, err = s.visitor(tx, dev)
		return err
	})
	if pr, ok := AsProblem(err); ok {
		// A refusal dropped what the transaction appended; the attempt's
		// end is recorded on its own (unless it had ended already).
		if pr.Code == ProblemCodeUsed {
			return OIDCResult{}, pr
		}
		return OIDCResult{}, s.failOIDC(ticket, pr)
	}
	if err != nil {
		return OIDCResult{}, err
	}
	s.bus.publish(touched, devices)
	s.send(msgs, devices[0])
	return out, nil
}

type oidcEmail struct {
	addr     address.Address
	hash     string
	sealed   string
	verified bool
}

// linkProviderEmail adds the provider's email to the account, confirmed
// by the provider, when the provider verified it and no account has it
// confirmed. It returns what became of it (oidcVerifiedBody.Email) and the
// address when it is now the account's.
func (s *Service) linkProviderEmail(tx store.Tx, now time.Time, user string, mail *oidcEmail, ticket string) (string, string, error) {
	switch {
	case mail == nil:
		return "none", "", nil
	case !mail.verified:
		return "unverified", "", nil
	}
	claims, err := readClaims(tx, mail.hash, time.Time{})
	if err != nil {
		return "", "", err
	}
	if o := ownerOf(claims); o != nil {
		if o.User == user {
			return "already", mail.addr.Display(), nil
		}
		return "taken", "", nil
	}
	if at, err := addedToday(tx, user, now); err != nil {
		return "", "", err
	} else if len(at) >= s.policy.AddressesPerDay {
		return "limit", "", nil
	}
	src := claimSource{Kind: string(address.Email), Sealed: mail.sealed, Masked: mail.addr.Masked()}
	if err := confirmClaim(tx, now, user, mail.hash, claims, src, "oidc", ticket); err != nil {
		return "", "", err
	}
	return "confirmed", mail.addr.Display(), nil
}

// UnlinkProvider removes the provider's identities from the account, by
// seed 002's rules: on a stepped-up device; never the account's last
// confirmed way in (an email address, a phone number or another
// provider); with history (the claims end, nothing is deleted) and a
// notice to the account's addresses.
func (s *Service) UnlinkProvider(ctx context.Context, dev Device, name string) (Unlinked, error) {
	var p *openid.Provider
	for _, x := range s.providers {
		if x.Name() == name {
			p = x // an unavailable provider can still be unlinked
		}
	}
	if p == nil {
		_, err := s.provider(name)
		return Unlinked{}, err
	}
	now := s.clock.Now()
	var out Unlinked
	var msgs []message.Message
	err := s.update("unlink provider", func(tx store.Tx) error {
		out, msgs = Unlinked{}, nil
		user, err := s.requireStepUp(tx, dev, now, "unlink "+p.DisplayName())
		if err != nil {
			return err
		}
		linked, err := s.linkedIdentities(tx, user, p.Issuer())
		if err != nil {
			return err
		}
		if len(linked) == 0 {
			s.log.Info("unlink of a provider that is not linked", "user", user, "provider", p.Name())
			return nil
		}
		order, claims, err := userClaims(tx, user, time.Time{})
		if err != nil {
			return err
		}
		left := 0
		for _, h := range order {
			c := claims[h]
			if c.confirmed() && !slices.Contains(linked, h) && slices.Contains([]string{string(address.Email), string(address.Phone), string(address.OIDC)}, c.Kind) {
				left++
			}
		}
		if left == 0 {
			return problem(ProblemLastAddress, fmt.Sprintf("%s is the only way into your account: without it you could not sign in again. Add and confirm an email address or phone number first.", p.DisplayName()))
		}
		for _, h := range linked {
			if err := endClaim(tx, now, user, h, "unlinked"); err != nil {
				return err
			}
			change, err := lastFact(tx, store.ByAddress, h, KindAddressEnded)
			if err != nil {
				return err
			}
			m, err := s.notify(tx, now, user, change, "", fmt.Sprintf("A sign-in with %s (%s) was removed", p.DisplayName(), claims[h].Masked))
			if err != nil {
				return err
			}
			msgs = append(msgs, m...)
		}
		out.Changed = true
		return nil
	})
	if err != nil {
		return Unlinked{}, err
	}
	s.send(msgs, dev.Tag)
	return out, nil
}
