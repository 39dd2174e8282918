package flows

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/attest-dev/attest/flows/address"
	"github.com/attest-dev/attest/flows/message"
	"github.com/attest-dev/attest/flows/wallet"
	"github.com/attest-dev/attest/store"
)

// Wallet sign-in (seed 001): "derive public key from <address>, generate
// challenge, store challenge (with TTL), send challenge; verify submitted
// challenge, check expiry, check signature, create user". Over SSH the
// device asks for a challenge for its address, the person signs the
// message with their wallet, and pastes the signature back on the same
// device. A right signature is a proof like a right code: it signs the
// device in (creating the account when nobody owns the wallet), adds the
// wallet to a stepped-up account, or steps the device up.
//
// A challenge is one fact. Its nonce (128 bits) is never stored: it is a
// MAC of the challenge's random ticket under a key derived from the
// server's secret, recomputed when the signature comes, so the ledger
// holds nothing a reader could sign against. A challenge works for
// WalletTTL, once, for the device that asked and the address it named;
// only the device's newest challenge counts. Nothing is sent, but each
// challenge costs the server a fact, so they are limited per device and
// per address.

// The facts of wallet challenges.
const (
	KindWalletChallenged = "wallet.challenged" // Device, Address, Ticket (User for add and step-up)
	KindWalletFailed     = "wallet.failed"     // Device, Address, Ticket: a signature refused; body.reason
	KindWalletSigned     = "wallet.signed"     // Device, Address, Ticket: the right signature; the challenge is used
)

// Wallet challenge rules.
const (
	// WalletTTL is how long a challenge can be signed.
	WalletTTL = 5 * time.Minute
	// WalletChallengesPerHour bounds the challenges one device may ask
	// for, and those for one address, in an hour.
	WalletChallengesPerHour = 10
	// WalletTries is how many refused signatures a challenge survives.
	WalletTries = 5
)

// FactorWallet is a step-up by a signature of a wallet confirmed on the
// account.
const FactorWallet = "wallet"

// MethodWallet is how a wallet is attested: a signature over a challenge.
const MethodWallet = "wallet"

// Challenge is a message for a wallet to sign.
type Challenge struct {
	Ticket  string
	Purpose string       // PurposeSignIn, PurposeConfirm or PurposeStepUp
	Kind    address.Kind // address.Ethereum or address.SS58
	Address string       // as its owner sees it
	// Message is the exact text to sign: EIP-4361 for Ethereum, the same
	// fields in plain text for SS58. Its lines must not be re-wrapped.
	Message string
	Expires time.Time
}

type walletChallengeBody struct {
	Purpose string    `json:"purpose"`
	Expires time.Time `json:"expires"`
	// What the message said besides the nonce and the address, so that it
	// can be rebuilt exactly when the signature comes.
	Domain  string `json:"domain"`
	URI     string `json:"uri"`
	ChainID int    `json:"chain_id,omitempty"`
	Kind    string `json:"kind"`
	Sealed  string `json:"sealed"`
	Masked  string `json:"masked"`
}

func (b *walletChallengeBody) source() claimSource {
	return claimSource{Kind: b.Kind, Sealed: b.Sealed, Masked: b.Masked}
}

type walletFailedBody struct {
	Reason string `json:"reason"` // "signature", "encoding", "expired", "used"
}

// walletNonce is the nonce of a challenge: 128 bits of MAC of its ticket,
// in lower-case base32 (EIP-4361 asks for at least 8 letters and digits).
func (s *Service) walletNonce(ticket string) string {
	m := hmac.New(sha256.New, s.codeKey)
	m.Write([]byte("wallet-nonce\x00" + ticket))
	return b32.EncodeToString(m.Sum(nil)[:16])
}

// walletStatement is the line a person reads before signing.
func walletStatement(purpose string) string {
	switch purpose {
	case PurposeConfirm:
		return "Add this wallet to your attest account."
	case PurposeStepUp:
		// Short enough for an 80-column terminal: the screens show the
		// message unwrapped, or not at all.
		return "Approve protected changes to your account on this device for an hour."
	}
	return "Sign in to attest."
}

// walletMessage writes the message to sign. For Ethereum it is an
// EIP-4361 message; SS58 has the same lines, less the EIP-155 chain id.
func walletMessage(addr address.Address, b *walletChallengeBody, issued time.Time, nonce string) string {
	var m strings.Builder
	account := "Ethereum"
	if addr.Kind == address.SS58 {
		account = "Substrate"
	}
	fmt.Fprintf(&m, "%s wants you to sign in with your %s account:\n%s\n\n%s\n\n", b.Domain, account, addr.Value, walletStatement(b.Purpose))
	fmt.Fprintf(&m, "URI: %s\nVersion: 1\n", b.URI)
	if addr.Kind == address.Ethereum {
		fmt.Fprintf(&m, "Chain ID: %d\n", b.ChainID)
	}
	fmt.Fprintf(&m, "Nonce: %s\nIssued At: %s\nExpiration Time: %s", nonce,
		issued.UTC().Format(time.RFC3339), b.Expires.UTC().Format(time.RFC3339))
	return m.String()
}

// walletOrigin is the domain and URI a message names: the server's
// public URL, where its magic links point too.
func (s *Service) walletOrigin() (string, string) {
	u, err := url.Parse(s.linkBase)
	if err != nil || u.Host == "" {
		return "attest", s.linkBase
	}
	return u.Host, s.linkBase
}

// ParseWallet reads a wallet address. A *Problem says what is wrong.
func (s *Service) ParseWallet(input string) (address.Address, error) {
	a, err := address.ParseWallet(input)
	if err != nil {
		return address.Address{}, problem(ProblemInput, err.Error())
	}
	return a, nil
}

// parseInbox is ParseAddress for the flows that send a code or a link to
// the address: a wallet has no inbox, it signs a challenge instead.
func (s *Service) parseInbox(input string) (address.Address, error) {
	a, err := s.ParseAddress(input)
	if err == nil && a.Kind.IsWallet() {
		return address.Address{}, problem(ProblemInput, fmt.Sprintf("%s is a wallet address: it gets no code or link. "+
			"Ask for a challenge to sign instead (signin ADDRESS).", a.Display()))
	}
	if err == nil && !s.delivers(channelOf(a)) {
		// The same words for every address of the channel: the answer
		// depends on the server's configuration alone.
		if channelOf(a) == message.SMS {
			return address.Address{}, problem(ProblemInput, "This server sends no text messages; use an email address.")
		}
		return address.Address{}, problem(ProblemInput, "This server sends no email; use a phone number.")
	}
	return a, err
}

// Deliveries says in words what this server delivers ("real email and
// SMS", "real email only, no SMS"), for whoever asks for a demo inbox it
// does not have.
func (s *Service) Deliveries() string {
	switch email, sms := s.delivers(message.Email), s.delivers(message.SMS); {
	case email && sms:
		return "real email and SMS"
	case email:
		return "real email only, no SMS"
	case sms:
		return "real SMS only, no email"
	}
	return "no messages at all"
}

// delivers reports whether the server has a delivery for ch.
func (s *Service) delivers(ch message.Channel) bool {
	return s.channels == nil || slices.Contains(s.channels, ch)
}

// walletRequest is what a challenge needs, minted before the transaction.
type walletRequest struct {
	addr    address.Address
	hash    string
	sealed  string
	ticket  string
	purpose string
}

func (s *Service) prepareWallet(input, purpose string) (walletRequest, error) {
	addr, err := s.ParseWallet(input)
	if err != nil {
		return walletRequest{}, err
	}
	req := walletRequest{addr: addr, hash: s.hasher.Hash(addr), purpose: purpose}
	if req.ticket, err = s.token("w_"); err != nil {
		return req, err
	}
	if req.sealed, err = s.sealer.seal(s.rand, string(addr.Kind)+":"+addr.Value, req.hash); err != nil {
		return req, err
	}
	return req, nil
}

// issueWallet records a challenge, inside the caller's transaction, if the
// limits let it.
func (s *Service) issueWallet(tx store.Tx, now time.Time, dev Device, user string, req walletRequest) (Challenge, error) {
	hour := store.Window{Since: now.Add(-time.Hour), Kinds: []string{KindWalletChallenged}, Reverse: true, Limit: WalletChallengesPerHour}
	for _, by := range []struct {
		ix   store.Index
		id   string
		what string
	}{{store.ByDevice, dev.Tag, "this device"}, {store.ByAddress, req.hash, "one address"}} {
		t, err := nthNewest(tx, by.ix, by.id, hour.Kinds, hour.Since, WalletChallengesPerHour)
		if err != nil {
			return Challenge{}, fmt.Errorf("count wallet challenges: %w", err)
		}
		if next := t.Add(time.Hour); !t.IsZero() && next.After(now) {
			return Challenge{}, &Problem{Code: ProblemThrottled, RetryAt: next,
				Msg: fmt.Sprintf("Next challenge at %s: %s gets at most %d wallet challenges an hour.", When(next, now), by.what, WalletChallengesPerHour)}
		}
	}
	domain, uri := s.walletOrigin()
	body := walletChallengeBody{Purpose: req.purpose, Expires: now.Add(WalletTTL), Domain: domain, URI: uri,
		Kind: string(req.addr.Kind), Sealed: req.sealed, Masked: req.addr.Masked()}
	if req.addr.Kind == address.Ethereum {
		body.ChainID = s.chainID
	}
	if _, err := tx.Append(store.Fact{Time: now, Kind: KindWalletChallenged, User: user, Device: dev.Tag,
		Address: req.hash, Ticket: req.ticket, Body: mustJSON(body)}); err != nil {
		return Challenge{}, err
	}
	return Challenge{Ticket: req.ticket, Purpose: req.purpose, Kind: req.addr.Kind, Address: req.addr.Display(),
		Message: walletMessage(req.addr, &body, now, s.walletNonce(req.ticket)), Expires: body.Expires}, nil
}

// RequestWalletSignIn issues a sign-in challenge for a wallet address. Like
// a sign-in code it looks up nothing about the address, so its answer is
// the same whether or not an account has the wallet.
func (s *Service) RequestWalletSignIn(ctx context.Context, dev Device, input string) (Challenge, error) {
	req, err := s.prepareWallet(input, PurposeSignIn)
	if err != nil {
		return Challenge{}, err
	}
	now := s.clock.Now()
	var out Challenge
	err = s.update("request wallet challenge", func(tx store.Tx) error {
		out = Challenge{}
		b, ok, err := s.deviceBinding(tx, dev.Tag)
		if err != nil {
			return err
		}
		if ok {
			account, err := isAccount(tx, b.User)
			if err != nil {
				return err
			}
			if account {
				return problem(ProblemSignedIn, "This device is already signed in. Sign out first to sign in as someone else, or add the wallet to this account.")
			}
		}
		out, err = s.issueWallet(tx, now, dev, "", req)
		return err
	})
	return out, err
}

// AddWallet issues a challenge whose signature adds the wallet to the
// account, confirmed. Like adding any address it is a protected action,
// and an account adds at most Policy.AddressesPerDay addresses a day.
func (s *Service) AddWallet(ctx context.Context, dev Device, input string) (Challenge, error) {
	req, err := s.prepareWallet(input, PurposeConfirm)
	if err != nil {
		return Challenge{}, err
	}
	now := s.clock.Now()
	var out Challenge
	err = s.update("add wallet", func(tx store.Tx) error {
		out = Challenge{}
		user, err := s.requireStepUp(tx, dev, now, "add a wallet")
		if err != nil {
			return err
		}
		if p, err := s.walletAddable(tx, now, user, req.hash, req.addr); err != nil || p != nil {
			if p != nil {
				return p
			}
			return err
		}
		out, err = s.issueWallet(tx, now, dev, user, req)
		return err
	})
	return out, err
}

// walletAddable refuses a wallet the account has confirmed already, or
// one more address than a day allows.
func (s *Service) walletAddable(r store.Reader, now time.Time, user, hash string, addr address.Address) (*Problem, error) {
	mine, err := liveClaim(r, user, hash)
	if err != nil {
		return nil, err
	}
	if mine != nil && mine.confirmed() {
		return problem(ProblemNothingToDo, fmt.Sprintf("%s is already confirmed on your account; nothing to do.", addr.Display())), nil
	}
	return s.addressLimit(r, user, now)
}

// RequestWalletStepUp issues a step-up challenge for a wallet confirmed
// on the account: the one named, or (input "") the account's first.
func (s *Service) RequestWalletStepUp(ctx context.Context, dev Device, input string) (Challenge, error) {
	if input == "" {
		var err error
		if input, err = s.firstWallet(dev); err != nil {
			return Challenge{}, err
		}
	}
	req, err := s.prepareWallet(input, PurposeStepUp)
	if err != nil {
		return Challenge{}, err
	}
	now := s.clock.Now()
	var out Challenge
	err = s.update("request wallet step-up", func(tx store.Tx) error {
		out = Challenge{}
		b, ok, err := s.requireAccount(tx, dev)
		if err != nil || !ok {
			return err
		}
		if c, err := liveClaim(tx, b.User, req.hash); err != nil {
			return err
		} else if c == nil || !c.confirmed() {
			return problem(ProblemInput, fmt.Sprintf("%s is not a confirmed wallet of your account, so it cannot step you up.", req.addr.Display()))
		}
		out, err = s.issueWallet(tx, now, dev, b.User, req)
		return err
	})
	return out, err
}

// firstWallet is the account's first confirmed wallet, for a step-up that
// names none.
func (s *Service) firstWallet(dev Device) (string, error) {
	var out string
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
			if a.Kind.IsWallet() && a.Confirmed {
				out = a.Display
				return nil
			}
		}
		return problem(ProblemInput, "This account has no confirmed wallet to step up with.")
	})
	return out, err
}

// walletChallenge finds the device's newest challenge of the last day.
func walletChallenge(r store.Reader, device string, now time.Time) (*store.Fact, *walletChallengeBody, error) {
	var f *store.Fact
	err := r.Facts(store.ByDevice, device, store.Window{Since: now.Add(-24 * time.Hour), Kinds: []string{KindWalletChallenged}, Reverse: true, Limit: 1},
		func(x store.Fact) bool { f = &x; return false })
	if err != nil || f == nil {
		return nil, nil, err
	}
	var body walletChallengeBody
	if err := f.Decode(&body); err != nil {
		return nil, nil, err
	}
	return f, &body, nil
}

// SubmitSignature completes the device's newest wallet challenge with a
// signature of its message: sign-in, adding the wallet, or step-up, as
// the challenge was for. A refused signature is recorded and changes
// nothing else; a challenge survives WalletTries of them.
func (s *Service) SubmitSignature(ctx context.Context, dev Device, sig string) (Entered, error) {
	if len(sig) > wallet.MaxSignatureLen {
		return Entered{}, problem(ProblemInput, "That is too long for a signature: paste the signature alone, in hex (0x…).")
	}
	now := s.clock.Now()
	// The signature is checked outside the transaction (it is the costly
	// part, and the transaction may run more than once); the transaction
	// then checks that the challenge it was checked against is still the
	// device's newest, live and unused.
	var ticket string
	var verr error
	err := s.ledger.View(func(r store.Reader) error {
		f, body, err := walletChallenge(r, dev.Tag, now)
		if err != nil {
			return err
		}
		if f == nil {
			return problem(ProblemNoCode, "There is no wallet challenge waiting on this device. Ask for one first (signin ADDRESS).")
		}
		ticket = f.Ticket
		addr, err := s.unseal(body.Sealed, f.Address)
		if err != nil {
			return err
		}
		verr = s.checkSignature(addr, body, f, sig)
		return nil
	})
	if err != nil {
		return Entered{}, err
	}
	fresh, err := s.token("u_")
	if err != nil {
		return Entered{}, err
	}
	var out Entered
	var touched []string
	var msgs []message.Message
	err = s.update("submit wallet signature", func(tx store.Tx) error {
		out, touched, msgs = Entered{}, nil, nil
		f, body, err := walletChallenge(tx, dev.Tag, now)
		if err != nil {
			return err
		}
		if f == nil || f.Ticket != ticket {
			return problem(ProblemCodeUsed, "A newer wallet challenge was asked for on this device meanwhile: sign that one.")
		}
		fail := func(reason string, p *Problem) error {
			failed, err := tx.Count(store.ByTicket, f.Ticket, store.Window{Kinds: []string{KindWalletFailed}})
			if err != nil {
				return err
			}
			if failed >= WalletTries {
				return p // enough of this challenge's failures are on record
			}
			if _, err := tx.Append(store.Fact{Time: now, Kind: KindWalletFailed, User: f.User, Device: f.Device, Address: f.Address,
				Ticket: f.Ticket, Body: mustJSON(walletFailedBody{Reason: reason})}); err != nil {
				return err
			}
			return keep(p)
		}
		used, err := tx.Count(store.ByTicket, f.Ticket, store.Window{Kinds: []string{KindWalletSigned}})
		if err != nil {
			return err
		}
		if used > 0 {
			return fail("used", problem(ProblemCodeUsed, "This challenge has already been signed and used. Ask for a new one."))
		}
		if !now.Before(body.Expires) {
			return fail("expired", problem(ProblemCodeUsed, fmt.Sprintf("The challenge expired at %s. Ask for a new one.", When(body.Expires, now))))
		}
		failed, err := tx.Count(store.ByTicket, f.Ticket, store.Window{Kinds: []string{KindWalletFailed}})
		if err != nil {
			return err
		}
		if failed >= WalletTries {
			return problem(ProblemCodeUsed, fmt.Sprintf("This challenge is used up after %d refused signatures. Ask for a new one.", failed))
		}
		// What the challenge is for must be possible before it is used up.
		if p, err := s.walletPrecheck(tx, now, dev, f, body); err != nil || p != nil {
			if p != nil {
				return p
			}
			return err
		}
		if verr != nil {
			var we *wallet.Error
			if !errors.As(verr, &we) {
				return verr
			}
			reason := "signature"
			if errors.Is(verr, wallet.ErrBadEncoding) {
				reason = "encoding"
			}
			return fail(reason, problem(ProblemWrongSignature, verr.Error()))
		}
		if _, err := tx.Append(store.Fact{Time: now, Kind: KindWalletSigned, User: f.User, Device: f.Device,
			Address: f.Address, Ticket: f.Ticket}); err != nil {
			return err
		}
		out.Purpose, out.Address = body.Purpose, body.Masked
		if a, err := s.unseal(body.Sealed, f.Address); err == nil {
			out.Address = a.Display()
		}
		switch body.Purpose {
		case PurposeSignIn:
			touched, err = s.walletSignIn(tx, now, dev, f, body, fresh, &out)
		case PurposeConfirm:
			msgs, err = s.confirmWallet(tx, now, dev, f, body)
		case PurposeStepUp:
			out.StepUpUntil = now.Add(s.policy.StepUpTTL)
			err = grantStepUp(tx, now, f.User, dev.Tag, f.Ticket, FactorWallet, s.policy.StepUpTTL)
		default:
			err = fmt.Errorf("wallet challenge %s has unknown purpose %q", f.Ticket, body.Purpose)
		}
		if p, ok := AsProblem(err); ok {
			// The signature was right, but what it was for cannot happen
			// (the wallet was confirmed elsewhere meanwhile, say): the
			// challenge is still used up.
			return keep(p)
		}
		if err != nil {
			return err
		}
		out.Visitor, err = s.visitor(tx, dev)
		return err
	})
	if err != nil {
		return Entered{}, err
	}
	s.bus.publish(touched, []string{dev.Tag})
	s.send(msgs, dev.Tag)
	return out, nil
}

// checkSignature checks sig over the challenge's message by the address's
// key.
func (s *Service) checkSignature(addr address.Address, body *walletChallengeBody, f *store.Fact, sig string) error {
	msg := []byte(walletMessage(addr, body, f.Time, s.walletNonce(f.Ticket)))
	switch addr.Kind {
	case address.Ethereum:
		raw, err := address.EthereumAddress(addr)
		if err != nil {
			return err
		}
		return wallet.VerifyEthereum(msg, sig, raw)
	case address.SS58:
		_, key, err := address.SS58Key(addr)
		if err != nil {
			return err
		}
		_, err = wallet.VerifySubstrate(msg, sig, key)
		return err
	}
	return fmt.Errorf("wallet challenge %s is for a %s address", f.Ticket, addr.Kind)
}

// walletPrecheck refuses, before a signature is checked, a challenge
// whose purpose cannot be served on this device now.
func (s *Service) walletPrecheck(tx store.Tx, now time.Time, dev Device, f *store.Fact, body *walletChallengeBody) (*Problem, error) {
	var err error
	switch body.Purpose {
	case PurposeConfirm:
		var user string
		if user, err = s.requireStepUp(tx, dev, now, "add a wallet"); err == nil && user != f.User {
			err = problem(ProblemSignedOut, "This challenge adds a wallet to another account than the one this device is signed in to.")
		}
	case PurposeStepUp:
		var b binding
		if b, _, err = s.requireAccount(tx, dev); err == nil && b.User != f.User {
			err = problem(ProblemSignedOut, "This step-up challenge is for another account than the one this device is signed in to.")
		}
	}
	if p, ok := AsProblem(err); ok {
		return p, nil
	}
	return nil, err
}

// walletSignIn is what a right sign-in signature does, exactly as a right
// sign-in code: the device signs in to the account that has the wallet
// confirmed (an anonymous visitor's data merged into it), or the account
// is made with the wallet confirmed.
func (s *Service) walletSignIn(tx store.Tx, now time.Time, dev Device, f *store.Fact, body *walletChallengeBody, fresh string, out *Entered) ([]string, error) {
	claims, err := readClaims(tx, f.Address, time.Time{})
	if err != nil {
		return nil, err
	}
	if owner := ownerOf(claims); owner != nil {
		return s.switchTo(tx, now, dev, owner.User, MethodWallet, f.Ticket, out)
	}
	return s.signUp(tx, now, dev, f.Address, f.Ticket, body.source(), MethodWallet, fresh, out)
}

// confirmWallet is what a right signature for an added wallet does: the
// notes' CONFIRM, for the account that asked, and its other addresses are
// told.
func (s *Service) confirmWallet(tx store.Tx, now time.Time, dev Device, f *store.Fact, body *walletChallengeBody) ([]message.Message, error) {
	if p, err := s.walletAddable(tx, now, f.User, f.Address, address.Address{Kind: address.Kind(body.Kind), Value: body.Masked}); err != nil || p != nil {
		if p != nil {
			return nil, p
		}
		return nil, err
	}
	claims, err := readClaims(tx, f.Address, time.Time{})
	if err != nil {
		return nil, err
	}
	if err := confirmClaim(tx, now, f.User, f.Address, claims, body.source(), MethodWallet, f.Ticket); err != nil {
		return nil, err
	}
	change, err := lastFact(tx, store.ByAddress, f.Address, KindAddressConfirmed)
	if err != nil {
		return nil, err
	}
	return s.notify(tx, now, f.User, change, "", fmt.Sprintf("The %s %s was added as a way to sign in", address.Kind(body.Kind).Noun(), body.Masked))
}
