// Package address is what a user can prove control of (an email address, a
// phone number, an SSH key, later a wallet or an OIDC subject), normalized so
// that every way of writing one address yields one value, and so one governor
// bucket and one owner.
//
// Every kind shares one type and one code path: an Address is a kind and a
// normalized value, and the ledger sees only the keyed hash of the two
// (Hasher). Adding a kind adds a constant and a parser here, never a table
// elsewhere.
package address

import (
	"errors"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/nyaruka/phonenumbers"
	"golang.org/x/text/unicode/norm"
)

// Kind is what sort of address a value is. It is part of the hashed key, so
// an email and a phone number can never share a bucket even if their values
// were to collide.
type Kind string

// The kinds. OIDC has no constructor yet.
const (
	Email    Kind = "email"
	Phone    Kind = "phone"    // value in E.164 form: "+447700900123"
	SSHKey   Kind = "sshkey"   // value is the key's fingerprint: "SHA256:..."
	Ethereum Kind = "ethereum" // value with its EIP-55 checksum: "0x5aAeb605..."
	SS58     Kind = "ss58"     // value as typed: "5GrwvaEF..." (Substrate, any network)
	OIDC     Kind = "oidc"
)

// Noun names the kind in running text: "email address", "phone number",
// "SSH key", "Ethereum wallet", "SS58 wallet", "sign-in provider"; plain
// "address" for a kind it does not know, so that it never repeats text it
// was not written with.
func (k Kind) Noun() string {
	switch k {
	case Email:
		return "email address"
	case Phone:
		return "phone number"
	case SSHKey:
		return "SSH key"
	case Ethereum:
		return "Ethereum wallet"
	case SS58:
		return "SS58 wallet"
	case OIDC:
		return "sign-in provider"
	}
	return "address"
}

// IsWallet reports whether an address of kind k is proven by signing a
// challenge with its key (rather than by a code sent to it).
func (k Kind) IsWallet() bool { return k == Ethereum || k == SS58 }

// Address is one address in normalized form. Two inputs that mean the same
// address give equal Addresses, so comparing with == is correct.
type Address struct {
	Kind  Kind
	Value string // the normalized form
}

// ErrInvalid is matched, with errors.Is, by every error that means "the
// input is not a usable address", as opposed to a bug or a misconfiguration.
var ErrInvalid = errors.New("invalid address")

// Error says why an input is not a usable address. Its text is written for
// the person who typed the input and can be shown to them verbatim: it says
// what is wrong, for phone numbers gives an example of a valid one, and never
// contains control characters (anything of the input it quotes is escaped).
type Error struct {
	Kind Kind // what the input was read as: Email or Phone
	msg  string
}

func (e *Error) Error() string { return e.msg }

// Is makes errors.Is(err, ErrInvalid) true for every *Error.
func (e *Error) Is(target error) bool { return target == ErrInvalid }

// SSHKeyFingerprint is the address of an SSH public key, given its SHA256
// fingerprint as ssh.FingerprintSHA256 writes it ("SHA256:" and unpadded
// base64). It does no parsing: the fingerprint must come from the key that
// actually authenticated the connection, never from user input.
//
// (It is not called SSHKey, as the brief sketched, because that name is the
// Kind constant.)
func SSHKeyFingerprint(fingerprint string) Address {
	return Address{Kind: SSHKey, Value: fingerprint}
}

// Parse reads s as a wallet address if it looks like one (LooksLikeWallet),
// as an email address if it has an @ (in any width), and as a phone number
// otherwise. It is for the single sign-in field.
func Parse(s, defaultRegion string) (Address, error) {
	if LooksLikeWallet(s) {
		return ParseWallet(s)
	}
	// U+FF20 and U+FE6B are the only characters other than @ whose NFKC form
	// contains an @ (checked over all of Unicode); ParseEmail maps them.
	if strings.ContainsAny(s, "@\uFF20\uFE6B") {
		return ParseEmail(s)
	}
	// Mostly letters: an email address with its @ forgotten, and the message
	// should say that rather than talk about phone numbers. Mostly digits
	// (say, a number with "ext 12") goes to ParsePhone, which says letters
	// are not accepted.
	letters, digits := 0, 0
	for _, r := range s {
		switch {
		case unicode.IsLetter(r):
			letters++
		case unicode.IsDigit(r):
			digits++
		}
	}
	if letters > digits {
		return Address{}, &Error{Kind: Email, msg: "that email address has no @"}
	}
	return ParsePhone(s, defaultRegion)
}

// String is kind:value, in full. It is for logs in trusted contexts only;
// use Masked anywhere else.
func (a Address) String() string {
	if a == (Address{}) {
		return ""
	}
	return printable(string(a.Kind) + ":" + a.Value)
}

// Masked is the address with most of it hidden, for showing to people other
// than its owner and for ordinary logs: "j•••@example.com",
// "+44 •••• ••0123". It keeps just enough for the owner to recognise it.
func (a Address) Masked() string {
	switch a.Kind {
	case Email:
		return printable(maskEmail(a.Value))
	case Phone:
		return printable(maskPhone(a.Value))
	case OIDC:
		return printable(maskOIDC(a.Value))
	case SSHKey:
		// A fingerprint is not secret, but a short prefix is all anyone
		// needs to tell their keys apart.
		if rest, ok := strings.CutPrefix(a.Value, "SHA256:"); ok && len(rest) > 8 {
			return printable("SHA256:" + rest[:8] + "…")
		}
	}
	return printable(maskOther(a.Value))
}

// Display is the address for showing to its owner: an email address in full
// (the domain in Unicode if it is an internationalized one, in ASCII if the
// Unicode is a look-alike: see LookAlike), a phone number in international
// format ("+44 7700 900123"). Parsing it gives the address back, so screens
// may hand it back to the flows; Shown adds the look-alike warning.
func (a Address) Display() string {
	switch a.Kind {
	case Email:
		return printable(displayEmail(a.Value))
	case Phone:
		return printable(displayPhone(a.Value))
	case OIDC:
		return printable(displayOIDC(a.Value))
	}
	return printable(a.Value)
}

// maskOther hides all but the ends of a value of a kind with no masking rule
// of its own (wallets and OIDC subjects, later).
func maskOther(v string) string {
	if utf8.RuneCountInString(v) <= 12 {
		return "•••"
	}
	r := []rune(v)
	return string(r[:4]) + "…" + string(r[len(r)-4:])
}

// printable returns s if every rune of it is printable, and s quoted (with
// escapes) otherwise. Parsed values are always printable; this guards the
// output methods against hand-built Addresses, so that no escape sequence
// can reach a terminal or a log line through them.
func printable(s string) string {
	for _, r := range s {
		if !strconv.IsPrint(r) || r == utf8.RuneError {
			return strconv.Quote(s)
		}
	}
	return s
}

// quote shows a piece of the input in an error message: as is if it is
// short and printable, otherwise quoted with escapes, and cut to a length
// that fits in a message.
func quote(s string) string {
	const limit = 40
	if len(s) > limit {
		cut := limit
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "…"
	}
	return printable(s)
}

// displayPhone is v (E.164) in international format, or v itself if it does
// not parse (a hand-built Address).
func displayPhone(v string) string {
	num, err := phonenumbers.Parse(v, "")
	if err != nil {
		return v
	}
	return phonenumbers.Format(num, phonenumbers.INTERNATIONAL)
}

// nfkc is the normalization every text input goes through first, so that
// full-width and other compatibility forms of one address are one address.
func nfkc(s string) string { return norm.NFKC.String(s) }
