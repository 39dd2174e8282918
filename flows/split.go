package flows

import (
	"context"
	"fmt"
	"time"

	"github.com/attest-dev/attest/flows/address"
	"github.com/attest-dev/attest/flows/message"
	"github.com/attest-dev/attest/store"
)

// The account split, from the end notes of seed 002: Bob put his own
// phone on the account he made for Alice, which has Alice's phone too.
// Later Bob wants an account of his own. A right code for his phone signs
// him in to the account that has it confirmed, like any sign-in: a split
// is never what a sign-in does by default, nor a question standing in its
// way. Afterwards the device may take the explicit step "this phone is
// mine, not this account's": the phone leaves Alice's account (which
// keeps her phone, and is told) and becomes a new account, to which the
// device is signed in. The step is offered only while the notes'
// condition holds, the account has another confirmed address of the same
// kind, so nobody is ever locked out of an account by it; and only on a
// device whose sign-in proved that address (a code or a link to it), so
// that it is the address's holder who takes it.

// Split is the split a device may take: the address its sign-in proved,
// and what stays behind.
type Split struct {
	Address string       // the address, masked
	Display string       // the address as its holder sees it
	Kind    address.Kind // its kind
	// Keeps are the account's other confirmed addresses of that kind,
	// masked: what the account keeps when the address leaves it.
	Keeps []string
	// Account is the account's nickname, or "" when it has none.
	Account string
	// OfferedUntil is when the code (or link) that signed the device in
	// expires: until then the split is offered right after the sign-in;
	// afterwards it stays on the account screen for that address.
	OfferedUntil time.Time
}

// Choices of a split.
const (
	SplitSignIn = "signin" // stay signed in to the account that has the address
	SplitNew    = "new"    // start a new account with the address
)

// splitOption is a split the device may take, as read from the ledger.
type splitOption struct {
	Split
	user   string // the account the address leaves
	hash   string
	ticket string // the code or link the device signed in with
	method string // "code" or "link"
	letter string // the code's letter
	src    claimSource
}

// splitFor returns the split the device may take now, or nil: the device
// is signed in to an account by a sign-in code or link to an email
// address or phone number, the account still has that address confirmed,
// and it has another confirmed address of the same kind.
func (s *Service) splitFor(r store.Reader, b binding) (*splitOption, error) {
	f, err := r.Fact(b.Seq)
	if err != nil {
		return nil, err
	}
	var signed signedInBody
	if err := f.Decode(&signed); err != nil || signed.Via == "" {
		return nil, err
	}
	var proof *store.Fact
	err = r.Facts(store.ByTicket, signed.Via, store.Window{Kinds: append(append([]string{}, codeKinds...), linkKinds...), Limit: 1},
		func(x store.Fact) bool { proof = &x; return false })
	if err != nil || proof == nil {
		return nil, err
	}
	opt := &splitOption{user: b.User, hash: proof.Address, ticket: proof.Ticket}
	switch proof.Kind {
	case KindCodeEmailed, KindCodeTexted:
		var body codeIssuedBody
		if err := proof.Decode(&body); err != nil {
			return nil, err
		}
		if body.Purpose != PurposeSignIn {
			return nil, nil
		}
		opt.method, opt.letter, opt.src, opt.OfferedUntil = "code", body.Letter, body.source(), body.Expires
	default:
		var body linkBody
		if err := proof.Decode(&body); err != nil {
			return nil, err
		}
		if body.Purpose != PurposeSignIn {
			return nil, nil
		}
		opt.method, opt.src, opt.OfferedUntil = "link", body.source(), body.Expires
	}
	kind := address.Kind(opt.src.Kind)
	if kind != address.Phone && kind != address.Email {
		return nil, nil
	}
	order, claims, err := userClaims(r, b.User, time.Time{})
	if err != nil {
		return nil, err
	}
	mine := claims[opt.hash]
	if mine == nil || !mine.confirmed() {
		return nil, nil
	}
	for _, h := range order {
		if c := claims[h]; h != opt.hash && c.confirmed() && c.Kind == opt.src.Kind {
			opt.Keeps = append(opt.Keeps, c.Masked)
		}
	}
	if len(opt.Keeps) == 0 {
		return nil, nil
	}
	p, err := readProfile(r, b.User)
	if err != nil {
		return nil, err
	}
	opt.Address, opt.Display, opt.Kind, opt.Account = mine.Masked, mine.Masked, kind, p.Nickname
	if a, err := s.unseal(mine.Sealed, opt.hash); err == nil {
		opt.Display = a.Display()
	}
	return opt, nil
}

// offersSplit reports whether a right sign-in code for an address owned
// by owner is to be followed by the offer of a split: the device is not
// already signed in to that account, and the account has another
// confirmed address of the same kind. The offer is a fact, so that the
// ledger tells what the person was offered.
func (s *Service) offersSplit(r store.Reader, dev Device, owner *claim, hash string) (bool, error) {
	if owner.Kind != string(address.Phone) && owner.Kind != string(address.Email) {
		return false, nil
	}
	b, bound, err := s.deviceBinding(r, dev.Tag)
	if err != nil {
		return false, err
	}
	if bound && b.User == owner.User {
		return false, nil
	}
	order, claims, err := userClaims(r, owner.User, time.Time{})
	if err != nil {
		return false, err
	}
	for _, h := range order {
		if c := claims[h]; h != hash && c.confirmed() && c.Kind == owner.Kind {
			return true, nil
		}
	}
	return false, nil
}

// ChooseSplit takes the split the device may take (Visitor.Split).
// SplitNew moves the address the device signed in with out of its account
// into a new account, signs the device in to that one and tells the old
// account; SplitSignIn records that the person stays, while the offer
// made at sign-in lasts. Scripts call it right after `code`.
func (s *Service) ChooseSplit(ctx context.Context, dev Device, choice string) (Entered, error) {
	if choice != SplitSignIn && choice != SplitNew {
		return Entered{}, problem(ProblemInput, `choose "signin" (the existing account) or "new" (a new account with this address)`)
	}
	fresh, err := s.token("u_")
	if err != nil {
		return Entered{}, err
	}
	now := s.clock.Now()
	var out Entered
	var touched []string
	var msgs []message.Message
	err = s.update("choose split", func(tx store.Tx) error {
		out, touched, msgs = Entered{}, nil, nil
		b, ok, err := s.deviceBinding(tx, dev.Tag)
		if err != nil {
			return err
		}
		var opt *splitOption
		if ok {
			if opt, err = s.splitFor(tx, b); err != nil {
				return err
			}
		}
		if opt == nil {
			return problem(ProblemNoCode, "There is nothing to split on this device: it did not sign in with an address that its account has another of.")
		}
		out.Purpose, out.Letter = PurposeSignIn, opt.letter
		if choice == SplitSignIn {
			offer, open, err := pendingSplit(tx, dev.Tag, opt.ticket, now, s.policy.CodeTTL)
			if err != nil {
				return err
			}
			if !open {
				return problem(ProblemNoCode, "There is no choice waiting on this device: it is signed in to the account already.")
			}
			if _, err := tx.Append(store.Fact{Time: now, Kind: KindSplitChosen, Device: dev.Tag, Address: offer.Address,
				Ticket: offer.Ticket, Body: mustJSON(splitChosenBody{Choice: choice})}); err != nil {
				return err
			}
			out.Visitor, err = s.visitor(tx, dev)
			return err
		}
		took, err := broughtAlong(tx, dev, b, opt.user)
		if err != nil {
			return err
		}
		if _, err := tx.Append(store.Fact{Time: now, Kind: KindSplitChosen, User: opt.user, Device: dev.Tag, Address: opt.hash,
			Ticket: opt.ticket, Body: mustJSON(splitChosenBody{Choice: choice, Stars: took.stars, Nickname: took.nickname})}); err != nil {
			return err
		}
		if err := endClaim(tx, now, opt.user, opt.hash, "split"); err != nil {
			return err
		}
		change, err := lastFact(tx, store.ByAddress, opt.hash, KindAddressEnded)
		if err != nil {
			return err
		}
		if msgs, err = s.notify(tx, now, opt.user, change, "", "split"); err != nil {
			return err
		}
		for i := range msgs {
			msgs[i].Subject, msgs[i].Text = splitNotice(msgs[i].Channel, opt, now)
		}
		// Checked here: a failed sign-up must undo the split.
		if touched, err = s.signUp(tx, now, dev, opt.hash, opt.ticket, opt.src, opt.method, fresh, &out); err != nil {
			return err
		}
		if err := took.move(tx, now, dev.Tag, opt.user, fresh); err != nil {
			return err
		}
		if took.from != "" { // say what came along, as a sign-in's merge does
			out.Merged = &Merge{From: took.from, Stars: took.stars, VisitorNickname: took.nickname, NicknameTaken: took.nickname != ""}
		}
		touched = append(touched, opt.user)
		out.Took = &opt.Split
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

// brought is what a device's anonymous visitor brought into the account
// when the device signed in, and still there: on a split it goes with the
// address, since it was never the account's.
type brought struct {
	from     string   // the visitor's tag
	stars    []string // the visitor's stars, as they were at the merge
	leave    []string // those of them the account had only from the merge, still starred
	nickname string   // the visitor's nickname
	clear    bool     // the account took that nickname at the merge and still has it
}

// broughtAlong reads what the merge at the device's current sign-in (b)
// brought into the account user: the merge facts are in the sign-in's
// transaction, so they have its time and device. Nothing when the
// sign-in merged nothing.
//
// What a person expects of "this phone is mine, not this account's": the
// stars and nickname they had on this device before signing in come with
// them to their new account; the account keeps what it had itself, and
// loses what only the merge gave it. A star the account starred again
// since (or had before) stays on it too.
func broughtAlong(r store.Reader, dev Device, b binding, user string) (*brought, error) {
	var absorbed *store.Fact
	err := r.Facts(store.ByUser, user, store.Window{Since: b.Time, Kinds: []string{KindUserAbsorbed}, Reverse: true},
		func(f store.Fact) bool {
			if f.Device == dev.Tag && f.Time.Equal(b.Time) {
				absorbed = &f
				return false
			}
			return true
		})
	if err != nil || absorbed == nil {
		return &brought{}, err
	}
	var body userAbsorbedBody
	if err := absorbed.Decode(&body); err != nil {
		return nil, err
	}
	visitor, err := readProfile(r, body.From)
	if err != nil {
		return nil, err
	}
	out := &brought{from: body.From, stars: visitor.Stars, nickname: visitor.Nickname}
	// The newest star fact of each item, and the newest nickname, on the
	// account: whether the merge's is still the one that stands.
	last := map[string]store.Fact{}
	var nick *store.Fact
	var ferr error
	err = r.Facts(store.ByUser, user, store.Window{Kinds: []string{KindStarAdded, KindStarRemoved, KindNicknameSet}},
		func(f store.Fact) bool {
			if f.Kind == KindNicknameSet {
				nick = &f
				return true
			}
			var sb starBody
			if ferr = f.Decode(&sb); ferr != nil {
				return false
			}
			last[sb.Item] = f
			return true
		})
	if err == nil {
		err = ferr
	}
	if err != nil {
		return nil, fmt.Errorf("read what the merge brought: %w", err)
	}
	for _, item := range body.Stars {
		var sb starBody
		if f, ok := last[item]; ok && f.Kind == KindStarAdded && f.Decode(&sb) == nil && sb.From == body.From {
			out.leave = append(out.leave, item)
		}
	}
	if body.NicknameTaken && nick != nil {
		var nb nicknameBody
		out.clear = nick.Decode(&nb) == nil && nb.From == body.From
	}
	return out, nil
}

// move records the split's share of what the merge brought: the visitor's
// stars and nickname on the new account, and the account losing what it
// had only from the merge.
func (t *brought) move(tx store.Tx, now time.Time, device, old, fresh string) error {
	if t.from == "" {
		return nil
	}
	var fs []store.Fact
	for _, item := range t.leave {
		fs = append(fs, store.Fact{Time: now, Kind: KindStarRemoved, User: old, Device: device, Body: mustJSON(starBody{Item: item, Split: true})})
	}
	if t.clear {
		fs = append(fs, store.Fact{Time: now, Kind: KindNicknameSet, User: old, Device: device, Body: mustJSON(nicknameBody{Split: true})})
	}
	for _, item := range t.stars {
		fs = append(fs, store.Fact{Time: now, Kind: KindStarAdded, User: fresh, Device: device, Body: mustJSON(starBody{Item: item, From: t.from})})
	}
	if t.nickname != "" {
		fs = append(fs, store.Fact{Time: now, Kind: KindNicknameSet, User: fresh, Device: device,
			Body: mustJSON(nicknameBody{Nickname: t.nickname, From: t.from})})
	}
	for _, f := range fs {
		if _, err := tx.Append(f); err != nil {
			return fmt.Errorf("move what the merge brought: %w", err)
		}
	}
	return nil
}

// splitNotice is what the account an address left is told: which address
// left, that it left for an account of its own, and what the account
// keeps. Never the new account, nor anything secret.
func splitNotice(ch message.Channel, opt *splitOption, now time.Time) (subject, text string) {
	noun := address.Kind(opt.src.Kind).Noun()
	keeps := opt.Keeps[0]
	if len(opt.Keeps) > 1 {
		keeps = fmt.Sprintf("%s and %d more", keeps, len(opt.Keeps)-1)
	}
	at := now.UTC().Format("2006-01-02 15:04 UTC")
	if ch == message.SMS {
		return "", fmt.Sprintf("attest: at %s the %s %s left your account: whoever signed in with it made it an account of its own. Your account keeps %s.",
			at, noun, opt.Address, keeps)
	}
	return "A " + noun + " left your attest account", fmt.Sprintf(
		"At %s the %s %s left your attest account: whoever signed in with it chose to make it an account of its own. "+
			"Your account keeps %s.\n\nIf that was someone you share the account with, there is nothing to do. If not, sign in, "+
			"review your devices and addresses, and sign out everywhere.\n", at, noun, opt.Address, keeps)
}

// pendingSplit returns the offer made when the device signed in with the
// ticket, if it is recent and nothing was chosen yet.
func pendingSplit(r store.Reader, device, ticket string, now time.Time, within time.Duration) (store.Fact, bool, error) {
	var offer store.Fact
	found := false
	err := r.Facts(store.ByTicket, ticket, store.Window{Since: now.Add(-within), Kinds: []string{KindSplitOffered}, Reverse: true, Limit: 1},
		func(f store.Fact) bool { offer, found = f, f.Device == device; return false })
	if err != nil || !found {
		return store.Fact{}, false, err
	}
	chosen, err := r.Count(store.ByTicket, offer.Ticket, store.Window{Kinds: []string{KindSplitChosen}})
	if err != nil || chosen > 0 {
		return store.Fact{}, false, err
	}
	return offer, true, nil
}
