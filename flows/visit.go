package flows

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"

	"github.com/attest-dev/attest/flows/address"
	"github.com/attest-dev/attest/store"
)

// Device is one device, a "browser tag" in the notes' words. Over SSH it
// is the SHA256 fingerprint of the key the connection authenticated with;
// a client without a key gets a tag for that one connection.
type Device struct {
	Tag string
	// Ephemeral devices last one connection: nothing they do can be found
	// again by reconnecting.
	Ephemeral bool
	// Source is the network the connection came from (an IPv4 address, or
	// an IPv6 /64), for per-source limits on expensive requests; "" when
	// unknown. It identifies nothing and is never stored.
	Source string
}

// KeyDevice is the device of an SSH key, named by its SHA256 fingerprint.
func KeyDevice(fingerprint string) Device { return Device{Tag: fingerprint} }

// EphemeralDevice mints a device for a connection that offered no key.
func (s *Service) EphemeralDevice() (Device, error) {
	tag, err := s.token("conn:")
	if err != nil {
		return Device{}, fmt.Errorf("mint device: %w", err)
	}
	return Device{Tag: tag, Ephemeral: true}, nil
}

// Item is something in the catalogue a visitor can star.
type Item struct {
	ID   string
	Name string
	Note string
}

// DefaultCatalogue: stars, to star.
var DefaultCatalogue = []Item{
	{"sirius", "Sirius", "Canis Major, 8.6 light years: the brightest star of the night sky"},
	{"canopus", "Canopus", "Carina, 310 light years: second brightest, a southern guide star"},
	{"arcturus", "Arcturus", "Bootes, 37 light years: an orange giant, brightest in the north"},
	{"vega", "Vega", "Lyra, 25 light years: the zero point of the magnitude scale"},
	{"capella", "Capella", "Auriga, 43 light years: four stars that look like one"},
	{"rigel", "Rigel", "Orion, 860 light years: a blue supergiant at Orion's knee"},
	{"betelgeuse", "Betelgeuse", "Orion, 550 light years: a red supergiant that dimmed in 2019"},
	{"altair", "Altair", "Aquila, 17 light years: spins so fast it is flattened"},
	{"polaris", "Polaris", "Ursa Minor, 430 light years: stands still above the north pole"},
	{"antares", "Antares", "Scorpius, 550 light years: the rival of Mars, and as red"},
}

// Visitor is everything a device's screen shows about who it is.
type Visitor struct {
	Device Device
	// User is the user tag the device acts as; "" until an anonymous
	// visitor first stores something.
	User string
	// Account is true when the device is signed in to an account (a user
	// with a confirmed address), false for anonymous visitors.
	Account  bool
	Method   string    // how the device signed in ("visit" for anonymous)
	Since    time.Time // when it signed in
	Until    time.Time // when it is signed out unless used again; zero for an anonymous visit
	Nickname string
	Stars    []string
	// Addresses are the account's live claims, confirmed or not (SSH keys
	// included, with Kind address.SSHKey).
	Addresses []AddressInfo
	// StepUpUntil is when the device's step-up ends; zero when it has none.
	StepUpUntil time.Time
	// HasPassword is true when the account has a password.
	HasPassword bool
	// KeyAccount is set when the device's key is remembered for an account
	// the device is not signed in to: it can sign in with one keystroke.
	KeyAccount *KeyAccount
	// Waiting is set when the device proved a first factor for an account
	// with an authenticator app and waits for its code (totp.go).
	Waiting *Waiting
	// Authenticator is set when the account has an authenticator app.
	Authenticator *Authenticator
	// Split is set when the device may make the address it signed in with
	// an account of its own (split.go).
	Split *Split
}

// AddressInfo is one of an account's addresses, as its owner sees it.
type AddressInfo struct {
	Hash        string
	Kind        address.Kind
	Display     string // the address itself, for its owner's eyes
	Masked      string // a redacted form, for anyone else
	Confirmed   bool
	Method      string // how it was confirmed
	Added       time.Time
	ConfirmedAt time.Time
	// LinkCheck, for an unconfirmed email address whose newest
	// confirmation link still works, is what that link's page asks for
	// (ConfirmLinkChecked). Only the account's own screens show it.
	LinkCheck string
}

// Visit returns what the device is now. It writes nothing.
func (s *Service) Visit(ctx context.Context, dev Device) (Visitor, error) {
	var v Visitor
	err := s.ledger.View(func(r store.Reader) error {
		var err error
		v, err = s.visitor(r, dev)
		return err
	})
	return v, err
}

func (s *Service) visitor(r store.Reader, dev Device) (Visitor, error) {
	v := Visitor{Device: dev}
	if err := s.offerKey(r, &v); err != nil {
		return v, err
	}
	b, ok, err := s.deviceBinding(r, dev.Tag)
	if err != nil || !ok {
		if err == nil {
			err = s.secondFactorState(r, s.clock.Now(), &v)
		}
		return v, err
	}
	v.User, v.Method, v.Since, v.Until = b.User, b.Method, b.Time, b.Until
	if v.Account, err = isAccount(r, b.User); err != nil {
		return v, err
	}
	p, err := readProfile(r, b.User)
	if err != nil {
		return v, err
	}
	v.Nickname, v.Stars = p.Nickname, p.Stars
	if v.Account {
		if v.Addresses, err = s.addresses(r, b.User, time.Time{}); err != nil {
			return v, err
		}
		if err = s.linkChecks(r, b.User, v.Addresses); err != nil {
			return v, err
		}
		if v.KeyAccount != nil && v.KeyAccount.User == b.User {
			v.KeyAccount = nil
		}
		if v.StepUpUntil, err = s.stepUpUntil(r, dev.Tag, s.clock.Now()); err != nil {
			return v, err
		}
		var phc string
		if phc, err = currentPassword(r, b.User); err != nil {
			return v, err
		}
		v.HasPassword = phc != ""
		opt, err := s.splitFor(r, b)
		if err != nil {
			return v, err
		}
		if opt != nil {
			v.Split = &opt.Split
		}
	}
	return v, s.secondFactorState(r, s.clock.Now(), &v)
}

// offerKey fills in the account the device's key is remembered for.
func (s *Service) offerKey(r store.Reader, v *Visitor) error {
	owner, err := s.keyOwner(r, v.Device)
	if err != nil || owner == "" {
		return err
	}
	p, err := readProfile(r, owner)
	if err != nil {
		return err
	}
	v.KeyAccount = &KeyAccount{User: owner, Nickname: p.Nickname}
	if reach, err := s.reachable(r, owner); err != nil {
		return err
	} else if len(reach) > 0 {
		v.KeyAccount.Address = reach[0].addr.Masked()
	}
	return nil
}

// addresses lists the user's live claims as of asOf (zero: now).
func (s *Service) addresses(r store.Reader, user string, asOf time.Time) ([]AddressInfo, error) {
	order, claims, err := userClaims(r, user, asOf)
	if err != nil {
		return nil, err
	}
	out := make([]AddressInfo, 0, len(order))
	for _, h := range order {
		c := claims[h]
		info := AddressInfo{Hash: h, Kind: address.Kind(c.Kind), Masked: c.Masked, Display: c.Masked,
			Confirmed: !c.Confirmed.IsZero(), Method: c.Method, Added: c.Added, ConfirmedAt: c.Confirmed}
		if a, err := s.unseal(c.Sealed, h); err == nil {
			info.Display = a.Display()
		} else {
			s.log.Warn("cannot open a sealed address; showing it masked", "address", h, "err", err)
		}
		out = append(out, info)
	}
	return out, nil
}

// linkChecks fills in the check of each unconfirmed email address whose
// newest confirmation link still works.
func (s *Service) linkChecks(r store.Reader, user string, addrs []AddressInfo) error {
	now := s.clock.Now()
	for i := range addrs {
		a := &addrs[i]
		if a.Confirmed || a.Kind != address.Email {
			continue
		}
		var f *store.Fact
		err := r.Facts(store.ByAddress, a.Hash, store.Window{Since: now.Add(-LinkTTL), Kinds: []string{KindLinkAttached}, Reverse: true},
			func(x store.Fact) bool {
				if x.User == user {
					f = &x
					return false
				}
				return true
			})
		if err != nil {
			return fmt.Errorf("read the links of an address: %w", err)
		}
		if f == nil {
			continue
		}
		var body linkBody
		if err := f.Decode(&body); err != nil {
			return fmt.Errorf("read a link fact: %w", err)
		}
		state, err := s.linkState(r, f, &body, now)
		if err != nil {
			return err
		}
		if state == LinkLive {
			a.LinkCheck = s.linkCheckOf(f.Ticket)
		}
	}
	return nil
}

// unseal recovers an address from its sealed form.
func (s *Service) unseal(sealed, hash string) (address.Address, error) {
	pt, err := s.sealer.open(sealed, hash)
	if err != nil {
		return address.Address{}, err
	}
	kind, value, ok := strings.Cut(pt, ":")
	if !ok {
		return address.Address{}, fmt.Errorf("flows: sealed address %s has no kind", hash)
	}
	return address.Address{Kind: address.Kind(kind), Value: value}, nil
}

// SetNickname sets the visitor's nickname, creating the visitor's user
// tag if this is its first write.
func (s *Service) SetNickname(ctx context.Context, dev Device, input string) (Visitor, error) {
	name, err := NormalizeNickname(input)
	if err != nil {
		return Visitor{}, err
	}
	return s.write(dev, func(tx store.Tx, now time.Time, user string, p profile) error {
		if p.Nickname == name {
			return nil // nothing changed, so no fact
		}
		_, err := tx.Append(store.Fact{Time: now, Kind: KindNicknameSet, User: user, Device: dev.Tag,
			Body: mustJSON(nicknameBody{Nickname: name})})
		return err
	})
}

// Star adds item to the visitor's stars. Starring twice changes nothing.
func (s *Service) Star(ctx context.Context, dev Device, item string) (Visitor, error) {
	return s.setStar(dev, item, true)
}

// Unstar removes item from the visitor's stars.
func (s *Service) Unstar(ctx context.Context, dev Device, item string) (Visitor, error) {
	return s.setStar(dev, item, false)
}

func (s *Service) setStar(dev Device, input string, on bool) (Visitor, error) {
	item, ok := s.item(input)
	if !ok {
		return Visitor{}, problem(ProblemInput, fmt.Sprintf("there is no %s to star; try one of: %s",
			quoteInput(input), strings.Join(s.itemIDs(), ", ")))
	}
	return s.write(dev, func(tx store.Tx, now time.Time, user string, p profile) error {
		if slices.Contains(p.Stars, item.ID) == on {
			return nil
		}
		kind := KindStarRemoved
		if on {
			kind = KindStarAdded
		}
		_, err := tx.Append(store.Fact{Time: now, Kind: kind, User: user, Device: dev.Tag,
			Body: mustJSON(starBody{Item: item.ID})})
		return err
	})
}

func (s *Service) item(input string) (Item, bool) {
	id := strings.ToLower(strings.TrimSpace(input))
	for _, it := range s.catalogue {
		if it.ID == id || strings.EqualFold(it.Name, id) {
			return it, true
		}
	}
	return Item{}, false
}

func (s *Service) itemIDs() []string {
	ids := make([]string, len(s.catalogue))
	for i, it := range s.catalogue {
		ids[i] = it.ID
	}
	return ids
}

// write runs a visitor's write: it finds (or lazily creates) the user the
// device acts as, then lets change append. The user tag is minted before
// the transaction because the transaction's function may run twice.
func (s *Service) write(dev Device, change func(tx store.Tx, now time.Time, user string, p profile) error) (Visitor, error) {
	fresh, err := s.token("u_")
	if err != nil {
		return Visitor{}, err
	}
	now := s.clock.Now()
	var v Visitor
	err = s.ledger.Update(func(tx store.Tx) error {
		user, err := s.actingUser(tx, dev, now, fresh)
		if err != nil {
			return err
		}
		p, err := readProfile(tx, user)
		if err != nil {
			return err
		}
		if err := change(tx, now, user, p); err != nil {
			return err
		}
		v, err = s.visitor(tx, dev)
		return err
	})
	if err != nil {
		return Visitor{}, err
	}
	return v, nil
}

// actingUser returns the user the device acts as, creating an anonymous
// one (the notes' "user tag, lazily, on first write") when it acts as
// nobody.
func (s *Service) actingUser(tx store.Tx, dev Device, now time.Time, fresh string) (string, error) {
	b, ok, err := s.deviceBinding(tx, dev.Tag)
	if err != nil {
		return "", err
	}
	if ok {
		return b.User, nil
	}
	if _, err := tx.Append(store.Fact{Time: now, Kind: KindUserCreated, User: fresh, Device: dev.Tag,
		Body: mustJSON(userCreatedBody{Anonymous: true, Via: "visit"})}); err != nil {
		return "", err
	}
	if _, err := tx.Append(store.Fact{Time: now, Kind: KindDeviceSignedIn, User: fresh, Device: dev.Tag,
		Body: mustJSON(signedInBody{Method: "visit"})}); err != nil {
		return "", err
	}
	return fresh, nil
}

// MaxNicknameLen is the longest nickname, in characters.
const MaxNicknameLen = 32

// NormalizeNickname returns the stored form of a nickname: surrounding
// space trimmed, Unicode NFC, 1 to 32 printable characters. Control
// characters (escape sequences start with one) and invisible formatting
// characters are refused, never stripped: a visitor should see exactly the
// name others will see. The message never repeats the input, which is
// exactly what must not reach a terminal.
func NormalizeNickname(input string) (string, error) {
	if !utf8.ValidString(input) {
		return "", problem(ProblemInput, "a nickname must be valid UTF-8 text")
	}
	name := norm.NFC.String(strings.TrimSpace(input))
	n := 0
	for _, r := range name {
		n++
		if unicode.IsControl(r) {
			return "", problem(ProblemInput, fmt.Sprintf("a nickname cannot contain control characters or escape sequences (character %d is one)", n))
		}
		if !unicode.IsPrint(r) {
			return "", problem(ProblemInput, fmt.Sprintf("a nickname can only hold visible characters and plain spaces (character %d is not one)", n))
		}
	}
	switch {
	case n == 0:
		return "", problem(ProblemInput, "a nickname needs at least one character")
	case n > MaxNicknameLen:
		return "", problem(ProblemInput, fmt.Sprintf("a nickname can have at most %d characters, not %d", MaxNicknameLen, n))
	}
	return name, nil
}

// quoteInput renders untrusted input for a message: shortened, quoted and
// with every control or invisible character escaped, so that echoing it
// can never move a cursor or change a terminal's state.
func quoteInput(s string) string {
	const max = 40
	if utf8.RuneCountInString(s) > max {
		s = string([]rune(s)[:max]) + "…"
	}
	return strconv.Quote(s)
}
