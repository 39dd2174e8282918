package flows

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/attest-dev/attest/flows/address"
	"github.com/attest-dev/attest/flows/message"
	"github.com/attest-dev/attest/store"
)

// Code purposes: what entering the right code does.
const (
	PurposeSignIn  = "signin"  // sign the device in, creating the account if the address has no owner
	PurposeConfirm = "confirm" // confirm an address added to a signed-in account
	// PurposeConfirmAddress is a link's: it confirms an email address added
	// to an account, as the code in the same message does (seed 001's
	// "update details, then verify the email by link").
	PurposeConfirmAddress = "confirm-address"
	PurposeStepUp         = "stepup" // elevate this device for protected actions
)

// Issued describes a code that went out, for the screen that waits for it.
type Issued struct {
	Ticket  string
	Letter  string // "A", "B", ...: the n-th code this device received today
	Digits  int    // 4 or 6
	Purpose string
	Channel message.Channel
	To      string    // the address as its owner typed it, normalized
	Masked  string    // the address redacted, for showing to anyone else
	Expires time.Time // when the code stops working
	NextAt  time.Time // when another code can be asked for
	Tries   int       // wrong tries the code survives
	// LinkCheck is set when the message also carries a link that confirms
	// the address: its page asks for this value, so only someone who sees
	// this terminal can use the link (ConfirmLinkChecked).
	LinkCheck string
}

// codeRequest is everything issueCode needs, minted before the
// transaction.
type codeRequest struct {
	dev     Device
	user    string // the user the code is for, when known (confirm, step-up)
	addr    address.Address
	hash    string
	sealed  string
	purpose string
	ticket  string
	draw    string // 6 random digits; a 4-digit code uses the first 4
	min     int    // minimum digits (6 for step-up)
	// link, for an email's confirmation, is the link that goes in the
	// same message: either confirms the address.
	link *linkRequest
}

// prepareCode mints the randomness a code needs: its ticket, its digits
// and the sealed address.
func (s *Service) prepareCode(dev Device, user string, addr address.Address, purpose string, min int) (codeRequest, error) {
	req := codeRequest{dev: dev, user: user, addr: addr, hash: s.hasher.Hash(addr), purpose: purpose, min: min}
	var err error
	if req.ticket, err = s.token("t_"); err != nil {
		return req, err
	}
	if req.draw, err = randomDigits(s.rand, 6); err != nil {
		return req, err
	}
	if req.sealed, err = s.sealer.seal(s.rand, string(addr.Kind)+":"+addr.Value, req.hash); err != nil {
		return req, err
	}
	if purpose == PurposeConfirm && addr.Kind == address.Email {
		l, err := s.prepareLink(dev, user, addr, PurposeConfirmAddress)
		if err != nil {
			return req, err
		}
		req.link = &l
	}
	return req, nil
}

// sendCode is the frame of every flow that sends a first-stage code to an
// address: it prepares the code outside the transaction, runs decide (which
// may refuse, set req.user and append facts) and then issueCode inside it,
// and dispatches the message once the facts are durable. held, when not
// nil, turns the governor's refusal into the flow's own answer.
func (s *Service) sendCode(what string, dev Device, addr address.Address, purpose string,
	decide func(tx store.Tx, now time.Time, req *codeRequest) error, held func(*Problem) error) (Issued, error) {
	req, err := s.prepareCode(dev, "", addr, purpose, 4)
	if err != nil {
		return Issued{}, err
	}
	now := s.clock.Now()
	var iss Issued
	var msg *message.Message
	err = s.update(what, func(tx store.Tx) error {
		iss, msg = Issued{}, nil
		r := req
		if err := decide(tx, now, &r); err != nil {
			return err
		}
		var err error
		iss, msg, err = s.issueCode(tx, now, r)
		if p, ok := AsProblem(err); ok && held != nil {
			return held(p)
		}
		return err
	})
	if err != nil {
		return Issued{}, err
	}
	s.dispatch(*msg, dev.Tag)
	return iss, nil
}

// issueCode decides, inside a transaction, whether a code may go out and
// records it. It returns the message to send after the commit, or a
// *Problem (throttled) with nothing appended.
func (s *Service) issueCode(tx store.Tx, now time.Time, req codeRequest) (Issued, *message.Message, error) {
	ch := channelOf(req.addr)
	a := ask{hash: req.hash, device: req.dev.Tag, source: s.sourceID(req.dev.Source), ch: ch, stepUp: req.purpose == PurposeStepUp}
	next, rule, err := s.govern(tx, now, a, false)
	if err != nil {
		return Issued{}, nil, err
	}
	if next.After(now) {
		noteHeld(tx, "code", ch, rule)
		return Issued{}, nil, s.held(s.throttled(now, next, "code", rule, ch), messageHeldBody{
			What: "code", Purpose: req.purpose, Kind: string(req.addr.Kind), Masked: req.addr.Masked(), Next: next, Rule: rule,
		}, req.user, req.dev.Tag, req.hash, req.dev.Source)
	}

	day := store.Window{Since: now.Add(-24 * time.Hour), Kinds: codeKinds}
	forDevice, err := tx.Count(store.ByDevice, req.dev.Tag, day)
	if err != nil {
		return Issued{}, nil, fmt.Errorf("count codes of device: %w", err)
	}
	// The notes' rule: the first two codes a device gets in a day are 4
	// digits, the third is 6. It reads the device's own codes, not the
	// address's: a rule that also asked "was this address sent a code
	// today?" would tell any stranger who asks for a code that the address
	// is in use. What it does read of the address is its back-off: once a
	// run of wrong codes or passwords has put the address in back-off,
	// every code to it is 6 digits until a right one ends the run, so an
	// attacker cycling devices gets at most BackoffAfter guesses at 4
	// digits per run. That tells a stranger nothing new: anyone who enters
	// codes for the address meets the back-off itself.
	digits, why := 6, DigitsStrict
	switch {
	case s.policy.Strict:
	case req.min > 4:
		why = DigitsStepUp
	case forDevice >= 2:
		why = DigitsThirdOn
	default:
		held, err := s.backoffUntil(tx, req.hash, now)
		if err != nil {
			return Issued{}, nil, fmt.Errorf("read the back-off of an address: %w", err)
		}
		why = DigitsBackoff
		if held.IsZero() {
			digits, why = 4, DigitsFirstTwo
		}
	}
	code := req.draw[:digits]
	iss := Issued{
		Ticket:  req.ticket,
		Letter:  Letter(forDevice),
		Digits:  digits,
		Purpose: req.purpose,
		Channel: ch,
		To:      req.addr.Display(),
		Masked:  req.addr.Masked(),
		Expires: now.Add(s.policy.CodeTTL),
		Tries:   s.tries(digits),
	}
	kind := KindCodeEmailed
	if ch == message.SMS {
		kind = KindCodeTexted
	}
	// The fact says when the governor lets the next message go, counting
	// this one (so the ledger can say why the code went and what follows).
	var nextRule string
	if iss.NextAt, nextRule, err = s.govern(tx, now, a, true); err != nil {
		return Issued{}, nil, err
	}
	if err := noteSource(tx, now, a.source, req.ticket); err != nil {
		return Issued{}, nil, err
	}
	_, err = tx.Append(store.Fact{
		Time: now, Kind: kind, User: req.user, Device: req.dev.Tag, Address: req.hash, Ticket: req.ticket,
		Body: mustJSON(codeIssuedBody{
			Purpose: req.purpose, Letter: iss.Letter, Digits: digits, Why: why,
			MAC: codeMAC(s.codeKey, req.ticket, code), Expires: iss.Expires,
			Kind: string(req.addr.Kind), Sealed: req.sealed, Masked: req.addr.Masked(),
			NextAt: iss.NextAt, NextRule: nextRule,
		}),
	})
	if err != nil {
		return Issued{}, nil, err
	}
	m := codeMessage(iss, req.addr.Value, code, now)
	if l := req.link; l != nil {
		// The same message carries a link that confirms the address too:
		// one use, LinkTTL, bound to the account and the address. Only
		// its MAC is kept.
		expires := now.Add(LinkTTL)
		if _, err := tx.Append(store.Fact{Time: now, Kind: KindLinkAttached, User: req.user, Device: req.dev.Tag, Address: req.hash,
			Ticket: s.linkTicketOf(l.token), Body: mustJSON(linkBody{Purpose: PurposeConfirmAddress, Expires: expires,
				Kind: string(req.addr.Kind), Sealed: l.sealed, Masked: req.addr.Masked()})}); err != nil {
			return Issued{}, nil, err
		}
		iss.LinkCheck = s.linkCheckOf(s.linkTicketOf(l.token))
		m.Text = strings.TrimRight(m.Text, "\n") + fmt.Sprintf("\n\nOr confirm it with this link instead. Its page asks for the %d characters that the terminal where you added the address shows beside it; type them and press the button. A wrong answer ends the link (the code still works). It works once, until %s:\n\n%s\n\nIf you did not add this address to an attest account yourself, do not open the link and never type characters someone tells you: that would put your address in their account.\n",
			LinkCheckLen, expires.UTC().Format("15:04 UTC"), s.linkBase+"/link/"+l.token)
	}
	return iss, &m, nil
}

func (s *Service) tries(digits int) int {
	if digits == 4 {
		return s.policy.Tries4
	}
	return s.policy.Tries6
}

func channelOf(a address.Address) message.Channel {
	if a.Kind == address.Phone {
		return message.SMS
	}
	return message.Email
}

// codeMessage writes the message: the letter first, so a person with
// several codes in their inbox can tell which is which.
// to is the address in the form delivery needs (E.164 for phones); iss.To
// is the form people read.
func codeMessage(iss Issued, to, code string, now time.Time) message.Message {
	what := map[string]string{
		PurposeSignIn:  "sign in to attest",
		PurposeConfirm: "confirm this address on your attest account",
		PurposeStepUp:  "approve a protected change on your attest account",
	}[iss.Purpose]
	m := message.Message{ID: iss.Ticket, Channel: iss.Channel, To: to, Created: now}
	expires := iss.Expires.UTC().Format("15:04 UTC")
	if iss.Channel == message.SMS {
		m.Text = fmt.Sprintf("attest code %s: %s to %s. Expires %s. Never share it.", iss.Letter, code, what, expires)
		return m
	}
	m.Subject = fmt.Sprintf("attest code %s", iss.Letter)
	m.Text = fmt.Sprintf("Code %s: %s\n\nEnter it in the attest terminal where you asked to %s.\nIt works once, until %s.\n\nIf you did not ask for it, ignore this message: nothing happens without the code.\n",
		iss.Letter, code, what, expires)
	return m
}

// Letter names the n-th code (from 0) a device received today: A to Z,
// then AA, AB, ...
func Letter(n int) string {
	s := ""
	for n >= 0 {
		s = string(rune('A'+n%26)) + s
		n = n/26 - 1
	}
	return s
}

// randomDigits draws n decimal digits, each uniform: bytes of 250 and
// above are rejected so that byte % 10 does not favour 0 to 5.
func randomDigits(rand io.Reader, n int) (string, error) {
	out := make([]byte, 0, n)
	buf := make([]byte, n+8)
	for len(out) < n {
		if _, err := io.ReadFull(rand, buf); err != nil {
			return "", fmt.Errorf("read randomness: %w", err)
		}
		for _, b := range buf {
			if b < 250 && len(out) < n {
				out = append(out, '0'+b%10)
			}
		}
	}
	return string(out), nil
}

// dispatch hands a message to the sender once its deciding commit is
// durable, and records the outcome as a fact. It does not block the flow:
// a slow mail server must not hold a terminal.
func (s *Service) dispatch(m message.Message, device string) {
	s.outbox.Add(1)
	go func() {
		defer s.outbox.Done()
		defer func() {
			if r := recover(); r != nil {
				s.log.Error("delivery panicked", "ticket", m.ID, "panic", r)
			}
		}()
		s.sendSlots <- struct{}{}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		err := s.sender.Send(ctx, m)
		cancel()
		<-s.sendSlots
		f := store.Fact{Time: s.clock.Now(), Kind: KindMessageSent, Ticket: m.ID}
		if err != nil {
			s.log.Warn("delivery failed", "ticket", m.ID, "channel", m.Channel, "err", err)
			f.Kind = KindMessageFailed
			f.Body = mustJSON(messageFailedBody{Reason: truncate(err.Error(), 300)})
		}
		if err := s.ledger.Update(func(tx store.Tx) error { _, err := tx.Append(f); return err }); err != nil {
			s.log.Error("record delivery outcome", "ticket", m.ID, "err", err)
		}
		s.bus.publish(nil, []string{device})
	}()
}

// Delivery is how a message fared.
type Delivery struct {
	State  string // "pending", "sent" or "failed"
	Reason string // why it failed
}

// DeliveryOf reports how the message of a ticket fared.
func (s *Service) DeliveryOf(ticket string) (Delivery, error) {
	d := Delivery{State: "pending"}
	err := s.ledger.View(func(r store.Reader) error {
		return r.Facts(store.ByTicket, ticket, store.Window{Kinds: []string{KindMessageSent, KindMessageFailed}, Reverse: true, Limit: 1},
			func(f store.Fact) bool {
				d.State = "sent"
				if f.Kind == KindMessageFailed {
					var b messageFailedBody
					_ = f.Decode(&b)
					d.State, d.Reason = "failed", b.Reason
				}
				return false
			})
	})
	return d, err
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "") + "…"
}
