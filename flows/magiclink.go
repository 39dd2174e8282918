package flows

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/attest-dev/attest/flows/address"
	"github.com/attest-dev/attest/flows/message"
	"github.com/attest-dev/attest/store"
)

// Magic links (seed 003): "a smart-link is sent to that email. On clicking
// that link, the user will be signed in"; "the link is a one-time only use
// and will expire in 5 minutes". Over SSH, the link signs in the terminal
// session that asked for it, so whoever presses it must be the person at
// that terminal: the page asks for the LinkCheckLen characters that
// terminal shows (and nothing else shows: not the message, not the page),
// and signs it in only when they are typed and its one button pressed.
// Otherwise anyone could ask for a link to a victim's address and wait
// for the victim's press to sign in the asker's terminal (the device-code
// phishing of RFC 8628 section 5.4; its cure is this one). The button
// stays because mail scanners fetch links and must not use them up.
//
// The token has 128 bits from the service's randomness and the ledger
// keeps only its MAC (the ticket). A link message is a message like a
// code: the governor counts and limits it.

// LinkTTL is how long a magic link works (the notes' 5 minutes).
const LinkTTL = 5 * time.Minute

// Link states, as PeekLink and ConfirmLink report them.
const (
	LinkLive    = "live"
	LinkUsed    = "used"
	LinkExpired = "expired"
	LinkGone    = "gone" // the terminal session that asked has ended
	// LinkEnded: a link whose page was given the wrong check
	// (LinkCheckLen characters): it had its one attempt.
	LinkEnded = "ended"
	// LinkReplaced: an address-confirming link after which the account
	// was sent a newer one for the same address (a code sent again):
	// as a code sent again ends the one before, only the newest works,
	// and it is the one whose check the account's screens show.
	LinkReplaced = "replaced"
	LinkUnknown  = "unknown"
)

// LinkCheckLen is how many characters the check of a link has: from the
// 31 of the link alphabet, a guess is right once in 923,521, and the link
// allows one.
const LinkCheckLen = 4

// LinkSent describes a magic link that went out, for the waiting screen.
type LinkSent struct {
	Ticket string // for DeliveryOf
	// Check is what the link's page asks for (ConfirmLinkChecked): only
	// the terminal that asked may show it.
	Check   string
	Purpose string // PurposeSignIn, or PurposeConfirm for a registration
	Channel message.Channel
	To      string
	Expires time.Time
	NextAt  time.Time
}

// LinkDoes says what the link of a one-stage password login does, in
// words that fit every case: whether the address has an account must not
// show in them (the screens and the commands both say it).
const LinkDoes = "it signs you in if the address has an account, or confirms the address and makes your account if it is new"

// LinkInfo is what the link's page shows.
type LinkInfo struct {
	State   string
	Purpose string
	Expires time.Time
	// SecondFactor is set when the link's sign-in waits for the account's
	// authenticator app (totp.go), so the page says the terminal asks.
	SecondFactor bool
	// Away is set when the link was used while no terminal session of the
	// device that asked was waiting (a registration's link): the device
	// is signed in when it next connects.
	Away bool
	// Mistyped: the check given had not the form of one, so the link is
	// as it was and its page may ask again.
	Mistyped bool
}

type linkBody struct {
	Purpose string `json:"purpose"`
	// Label named the asking session on the pages of links made before
	// links had checks; it is read for their history only.
	Label   string    `json:"label,omitempty"`
	Expires time.Time `json:"expires"`
	Kind    string    `json:"kind"`
	Sealed  string    `json:"sealed"`
	Masked  string    `json:"masked"`
	// NextAt is when the governor lets the next message to the address
	// go, and NextRule the limit that says so ("" when only time does).
	NextAt   time.Time `json:"next_at,omitzero"`
	NextRule string    `json:"next_rule,omitempty"`
}

// linkRequest is what a magic link needs, minted before the transaction.
type linkRequest struct {
	dev     Device
	user    string // the registering user, for PurposeConfirm
	addr    address.Address
	hash    string
	sealed  string
	purpose string
	token   string
}

func (s *Service) prepareLink(dev Device, user string, addr address.Address, purpose string) (linkRequest, error) {
	req := linkRequest{dev: dev, user: user, addr: addr, hash: s.hasher.Hash(addr), purpose: purpose}
	raw := make([]byte, 16)
	if _, err := io.ReadFull(s.rand, raw); err != nil {
		return req, fmt.Errorf("read randomness: %w", err)
	}
	req.token = b32.EncodeToString(raw)
	var err error
	if req.sealed, err = s.sealer.seal(s.rand, string(addr.Kind)+":"+addr.Value, req.hash); err != nil {
		return req, err
	}
	return req, nil
}

// linkTicketOf is the ticket of a magic-link token: its MAC.
func (s *Service) linkTicketOf(token string) string {
	m := hmac.New(sha256.New, s.codeKey)
	m.Write([]byte("magic-link\x00" + token))
	return "k_" + b32.EncodeToString(m.Sum(nil)[:16])
}

// RequestMagicLink sends a sign-in link to the address. Like a sign-in
// code, it looks up nothing about the address, so its answer is the same
// whether or not an account exists; the governor alone can hold it back.
// The device must stay connected and watching (Watch) for the link to
// work: the link signs in that waiting session.
func (s *Service) RequestMagicLink(ctx context.Context, dev Device, input string) (LinkSent, error) {
	addr, err := s.parseInbox(input)
	if err != nil {
		return LinkSent{}, err
	}
	req, err := s.prepareLink(dev, "", addr, PurposeSignIn)
	if err != nil {
		return LinkSent{}, err
	}
	now := s.clock.Now()
	var sent LinkSent
	var msg *message.Message
	err = s.update("request magic link", func(tx store.Tx) error {
		sent, msg = LinkSent{}, nil
		b, bound, err := s.deviceBinding(tx, dev.Tag)
		if err != nil {
			return err
		}
		if bound {
			account, err := isAccount(tx, b.User)
			if err != nil {
				return err
			}
			if account {
				return problem(ProblemSignedIn, "This device is already signed in. Sign out first to sign in as someone else.")
			}
		}
		sent, msg, err = s.issueLink(tx, now, req)
		if p, ok := AsProblem(err); ok {
			return p
		}
		return err
	})
	if err != nil {
		return LinkSent{}, err
	}
	s.dispatch(*msg, dev.Tag)
	return sent, nil
}

// issueLink records a magic link inside a transaction, if the governor
// lets it go, and returns the message to send after the commit.
func (s *Service) issueLink(tx store.Tx, now time.Time, req linkRequest) (LinkSent, *message.Message, error) {
	ch := channelOf(req.addr)
	a := ask{hash: req.hash, device: req.dev.Tag, source: s.sourceID(req.dev.Source), ch: ch}
	next, rule, err := s.govern(tx, now, a, false)
	if err != nil {
		return LinkSent{}, nil, err
	}
	if next.After(now) {
		noteHeld(tx, "link", ch, rule)
		return LinkSent{}, nil, s.held(s.throttled(now, next, "link", rule, ch), messageHeldBody{
			What: "link", Purpose: req.purpose, Kind: string(req.addr.Kind), Masked: req.addr.Masked(), Next: next, Rule: rule,
		}, req.user, req.dev.Tag, req.hash, req.dev.Source)
	}
	sent := LinkSent{Ticket: s.linkTicketOf(req.token), Check: s.linkCheckOf(s.linkTicketOf(req.token)), Purpose: req.purpose, Channel: ch, To: req.addr.Display(), Expires: now.Add(LinkTTL)}
	kind := KindLinkEmailed
	if ch == message.SMS {
		kind = KindLinkTexted
	}
	var nextRule string
	if sent.NextAt, nextRule, err = s.govern(tx, now, a, true); err != nil {
		return LinkSent{}, nil, err
	}
	if err := noteSource(tx, now, a.source, sent.Ticket); err != nil {
		return LinkSent{}, nil, err
	}
	if _, err := tx.Append(store.Fact{Time: now, Kind: kind, User: req.user, Device: req.dev.Tag, Address: req.hash,
		Ticket: s.linkTicketOf(req.token), Body: mustJSON(linkBody{Purpose: req.purpose, Expires: sent.Expires,
			Kind: string(req.addr.Kind), Sealed: req.sealed, Masked: req.addr.Masked(),
			NextAt: sent.NextAt, NextRule: nextRule})}); err != nil {
		return LinkSent{}, nil, err
	}
	url := s.linkBase + "/link/" + req.token
	what := "sign in to attest"
	if req.purpose == PurposeConfirm {
		what = "confirm this address and finish signing up to attest"
	}
	m := message.Message{ID: s.linkTicketOf(req.token), Channel: ch, To: req.addr.Value, Created: now}
	until := sent.Expires.UTC().Format("15:04 UTC")
	// The message names nothing its page asks for: the check is on the
	// terminal alone, so a victim who gets a link an attacker asked for
	// holds nothing that would sign the attacker in.
	if ch == message.SMS {
		m.Text = fmt.Sprintf("attest: to %s, open %s before %s and type the %d characters your terminal shows. Never type characters someone else gives you.", what, url, until, LinkCheckLen)
	} else {
		m.Subject = "Your attest sign-in link"
		m.Text = fmt.Sprintf("To %s, open this link, type the %d characters that the terminal where you asked for it shows, and press the button:\n\n%s\n\nThe link works once, until %s. If you did not ask for it in a terminal yourself, ignore this message, and never type characters that someone else tells you: they would be signing in themselves, not you.\n",
			what, LinkCheckLen, url, until)
	}
	return sent, &m, nil
}

// linkCheckOf is the check of a link: the value its page asks for and
// only the terminal that asked for it (or added the address) shows. It is
// a MAC of the link's ticket under the service's code key (its own domain),
// so the ledger holds nothing new: the server works it out again when a
// screen shows it or a page is answered, and a reader of the ledger
// without the key cannot.
func (s *Service) linkCheckOf(ticket string) string { return s.checkOf("link-check", ticket) }

// oidcCheckOf is the check an OpenID code-flow attempt's start page asks
// for: as linkCheckOf, in a domain of its own, so that the two could never
// agree on a ticket whatever form tickets take.
func (s *Service) oidcCheckOf(ticket string) string { return s.checkOf("oidc-check", ticket) }

// checkOf is LinkCheckLen characters of linkAlphabet from the MAC of
// ticket in domain.
func (s *Service) checkOf(domain, ticket string) string {
	out := make([]byte, 0, LinkCheckLen)
	for block := byte(0); len(out) < LinkCheckLen; block++ {
		m := hmac.New(sha256.New, s.codeKey)
		m.Write([]byte(domain + "\x00"))
		m.Write([]byte{block})
		m.Write([]byte(ticket))
		for _, b := range m.Sum(nil) {
			// Bytes of 248 and above are skipped so that no character
			// of the 31 is likelier than another.
			if int(b) < 256-256%len(linkAlphabet) && len(out) < LinkCheckLen {
				out = append(out, linkAlphabet[int(b)%len(linkAlphabet)])
			}
		}
	}
	return string(out)
}

// normalCheck is a check as typed, upper-cased without spaces or dashes,
// if it has the form of one: anything else is a typing slip, which does
// not use up the link's one attempt.
func normalCheck(in string) (string, bool) {
	if len(in) > 64 {
		return "", false
	}
	c := strings.ToUpper(strings.NewReplacer(" ", "", "-", "", "\t", "").Replace(in))
	if len(c) != LinkCheckLen || strings.Trim(c, linkAlphabet) != "" {
		return "", false
	}
	return c, true
}

// linkFact finds the fact that issued a magic link.
func (s *Service) linkFact(r store.Reader, token string) (*store.Fact, *linkBody, error) {
	if len(token) != 26 || strings.Trim(token, "abcdefghijklmnopqrstuvwxyz234567") != "" {
		return nil, nil, nil
	}
	var f *store.Fact
	err := r.Facts(store.ByTicket, s.linkTicketOf(token), store.Window{Kinds: append([]string{KindLinkAttached}, linkKinds...), Limit: 1},
		func(x store.Fact) bool { f = &x; return false })
	if err != nil || f == nil {
		return nil, nil, err
	}
	var body linkBody
	if err := f.Decode(&body); err != nil {
		return nil, nil, err
	}
	return f, &body, nil
}

// linkState says whether a link can be used now.
func (s *Service) linkState(r store.Reader, f *store.Fact, body *linkBody, now time.Time) (string, error) {
	end := ""
	err := r.Facts(store.ByTicket, f.Ticket, store.Window{Kinds: []string{KindLinkUsed, KindLinkRefused}, Limit: 1},
		func(x store.Fact) bool { end = x.Kind; return false })
	switch {
	case err != nil:
		return "", err
	case end == KindLinkUsed:
		return LinkUsed, nil
	case end == KindLinkRefused:
		return LinkEnded, nil
	case !now.Before(body.Expires):
		return LinkExpired, nil
	case body.Purpose == PurposeConfirmAddress:
		newest := f.Ticket
		err := r.Facts(store.ByAddress, f.Address, store.Window{Since: f.Time, Kinds: []string{KindLinkAttached}, Reverse: true},
			func(x store.Fact) bool {
				if x.User == f.User {
					newest = x.Ticket
					return false
				}
				return true
			})
		if err != nil {
			return "", err
		}
		if newest != f.Ticket {
			return LinkReplaced, nil
		}
	case body.Purpose == PurposeSignIn && !s.bus.watching(f.Device):
		// A sign-in link signs in the session that waits for it, and
		// nothing else. A registration's link confirms the account
		// whether or not its terminal still waits: the device that asked
		// is signed in all the same, and finds itself so when it next
		// connects.
		return LinkGone, nil
	}
	return LinkLive, nil
}

// LinkRefused reports whether a wrong check ended the link with this
// ticket (LinkSent.Ticket), so the terminal waiting for it can say so and
// stop: nobody will be signed in by it.
func (s *Service) LinkRefused(ctx context.Context, ticket string) (bool, error) {
	n := 0
	err := s.ledger.View(func(r store.Reader) error {
		var err error
		n, err = r.Count(store.ByTicket, ticket, store.Window{Kinds: []string{KindLinkRefused}})
		return err
	})
	if err != nil {
		return false, fmt.Errorf("read the link's end: %w", err)
	}
	return n > 0, nil
}

// PeekLink describes a link for its page without using it: a GET from a
// mail scanner changes nothing.
func (s *Service) PeekLink(ctx context.Context, token string) (LinkInfo, error) {
	now := s.clock.Now()
	info := LinkInfo{State: LinkUnknown}
	err := s.ledger.View(func(r store.Reader) error {
		f, body, err := s.linkFact(r, token)
		if err != nil || f == nil {
			return err
		}
		info = LinkInfo{Purpose: body.Purpose, Expires: body.Expires}
		info.State, err = s.linkState(r, f, body, now)
		return err
	})
	return info, err
}

// ConfirmLinkChecked uses a link: it signs in the terminal session that
// asked for it (creating the account when the address has no owner), or,
// for a registration, confirms the address and signs the session in, or
// confirms an address added to an account. Exactly one of many
// concurrent calls for a token succeeds; the rest see it used.
//
// Every link needs check, the value only the terminal that asked shows
// (number matching, as authenticator apps do against push fatigue):
// whoever presses the button must have seen that terminal. Without it, an
// attacker who asks for a link to a victim's address (or adds the address
// to the attacker's account, or registers with it) would be signed in,
// or given an account on it, by the victim's press. A check that has not
// the form of one changes nothing (Mistyped); a wrong one ends the link
// (State LinkEnded), so it cannot be guessed by trying.
func (s *Service) ConfirmLinkChecked(ctx context.Context, token, check string) (LinkInfo, error) {
	fresh, err := s.token("u_")
	if err != nil {
		return LinkInfo{}, err
	}
	now := s.clock.Now()
	info := LinkInfo{State: LinkUnknown}
	var touched, devices []string
	var msgs []message.Message
	err = s.update("confirm magic link", func(tx store.Tx) error {
		info, touched, devices, msgs = LinkInfo{State: LinkUnknown}, nil, nil, nil
		f, body, err := s.linkFact(tx, token)
		if err != nil || f == nil {
			return err
		}
		info = LinkInfo{Purpose: body.Purpose, Expires: body.Expires}
		if info.State, err = s.linkState(tx, f, body, now); err != nil || info.State != LinkLive {
			return err
		}
		given, ok := normalCheck(check)
		if !ok {
			info.Mistyped = true
			where := "the terminal where you asked for this link shows"
			if body.Purpose == PurposeConfirmAddress {
				where = "the terminal which added the address shows beside it"
			}
			return problem(ProblemInput, fmt.Sprintf("Type the %d characters that %s, then press the button.", LinkCheckLen, where))
		}
		if !hmac.Equal([]byte(given), []byte(s.linkCheckOf(f.Ticket))) {
			// One attempt: the wrong check is recorded and ends the link.
			// The waiting terminal is poked, so it can say so.
			info.State = LinkEnded
			if f.User != "" {
				touched = []string{f.User}
			}
			if f.Device != "" {
				devices = []string{f.Device}
			}
			_, err := tx.Append(store.Fact{Time: now, Kind: KindLinkRefused, User: f.User, Device: f.Device, Address: f.Address, Ticket: f.Ticket})
			return err
		}
		if body.Purpose == PurposeConfirmAddress {
			touched = []string{f.User}
			if msgs, err = s.confirmAddressByLink(tx, now, f, body); err != nil {
				return err
			}
			_, err = tx.Append(store.Fact{Time: now, Kind: KindLinkUsed, User: f.User, Address: f.Address, Ticket: f.Ticket})
			return err
		}
		dev := Device{Tag: f.Device}
		src := body.source()
		var out Entered
		// The session asked while signed out; if it has signed in to an
		// account since, a late press must not switch it to another one.
		if b, ok, err := s.requireAccount(tx, dev); err == nil && ok {
			target := f.User
			if body.Purpose != PurposeConfirm {
				if claims, err := readClaims(tx, f.Address, time.Time{}); err != nil {
					return err
				} else if o := ownerOf(claims); o != nil {
					target = o.User
				}
			}
			if b.User != target {
				return problem(ProblemSignedIn, "The terminal session that asked for this link has since signed in to another account, so the link does nothing.")
			}
		} else if p, isP := AsProblem(err); err != nil && !(isP && p.Code == ProblemSignedOut) {
			return err
		}
		switch body.Purpose {
		case PurposeConfirm: // a registration: confirm the address, sign in
			claims, err := readClaims(tx, f.Address, time.Time{})
			if err != nil {
				return err
			}
			if err := confirmClaim(tx, now, f.User, f.Address, claims, src, "link", f.Ticket); err != nil {
				return err
			}
			// The registering visitor may already act as the new user;
			// either way the device is now signed in by the link.
			b, ok, err := s.deviceBinding(tx, dev.Tag)
			if err != nil {
				return err
			}
			if ok && b.User == f.User {
				touched = []string{f.User}
				if err := signInAs(tx, now, dev.Tag, f.User, "link", f.Ticket); err != nil {
					return err
				}
			} else if touched, err = s.switchTo(tx, now, dev, f.User, "link", f.Ticket, &out); err != nil {
				return err
			}
			// Confirming a registration makes the account: like a sign-up,
			// the device may add its second factor in the first hour.
			if err := grantStepUp(tx, now, f.User, dev.Tag, f.Ticket, FactorSignUp, s.policy.StepUpTTL); err != nil {
				return err
			}
		default:
			claims, err := readClaims(tx, f.Address, time.Time{})
			if err != nil {
				return err
			}
			if owner := ownerOf(claims); owner != nil {
				split, err := s.offersSplit(tx, dev, owner, f.Address)
				if err != nil {
					return err
				}
				if touched, err = s.switchTo(tx, now, dev, owner.User, "link", f.Ticket, &out); err != nil {
					return err
				}
				if split { // as after a code: offered afterwards, recorded
					if _, err := tx.Append(store.Fact{Time: now, Kind: KindSplitOffered, User: owner.User, Device: dev.Tag,
						Address: f.Address, Ticket: f.Ticket}); err != nil {
						return err
					}
				}
			} else {
				touched, err = s.signUp(tx, now, dev, f.Address, f.Ticket, src, "link", fresh, &out)
			}
			if err != nil {
				return err
			}
		}
		devices = []string{f.Device}
		info.Away = !s.bus.watching(f.Device)
		held, _, err := heldSignIn(tx, f.Device, now)
		if err != nil {
			return err
		}
		info.SecondFactor = held != nil
		_, err = tx.Append(store.Fact{Time: now, Kind: KindLinkUsed, Device: f.Device, Address: f.Address, Ticket: f.Ticket})
		return err
	})
	if p, ok := AsProblem(err); ok {
		return info, p
	}
	if err != nil {
		return LinkInfo{}, err
	}
	s.bus.publish(touched, devices)
	s.send(msgs, "")
	return info, nil
}

// confirmAddressByLink is what the link in an email's confirmation does:
// the notes' CONFIRM of that address for the account that added it, as
// the code in the same message would. The link is bound to both: the
// account's claim must still be live and unconfirmed.
func (s *Service) confirmAddressByLink(tx store.Tx, now time.Time, f *store.Fact, body *linkBody) ([]message.Message, error) {
	c, err := liveClaim(tx, f.User, f.Address)
	switch {
	case err != nil:
		return nil, err
	case c == nil:
		return nil, problem(ProblemInput, "This address is no longer on the account that added it, so the link does nothing.")
	case c.confirmed():
		return nil, problem(ProblemNothingToDo, "This address is confirmed already (by its code, perhaps): nothing to do.")
	}
	claims, err := readClaims(tx, f.Address, time.Time{})
	if err != nil {
		return nil, err
	}
	if err := confirmClaim(tx, now, f.User, f.Address, claims, body.source(), "link", f.Ticket); err != nil {
		return nil, err
	}
	change, err := lastFact(tx, store.ByAddress, f.Address, KindAddressConfirmed)
	if err != nil {
		return nil, err
	}
	return s.notify(tx, now, f.User, change, f.Address, fmt.Sprintf("The %s %s was confirmed", address.Kind(body.Kind).Noun(), address.WarnLookAlike(body.Masked)))
}
