package address

import (
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/net/idna"
)

// Limits from RFC 5321 §4.5.3.1 (local part 64 octets) and the 254-octet
// path limit that follows from its 256-octet reverse-path (minus the angle
// brackets). maxEmailInput only bounds the work done on hostile input before
// normalization; NFKC can lengthen text, so the real limits are checked on
// the result.
const (
	maxLocal      = 64
	maxEmail      = 254
	maxEmailInput = 1024
)

// domainProfile converts a domain to its ASCII (A-label) form and rejects
// anything that is not a valid host name: UTS #46 lookup mapping
// (non-transitional, as browsers and registries now use, so "ß" stays "ß"),
// STD3 letters-digits-hyphen rules, hyphen and joiner checks, the Bidi rule,
// and DNS lengths (labels 1–63 octets, name ≤ 253). Punycode input is
// decoded and checked too, so "bücher.example" and "xn--bcher-kva.example"
// give the same result.
var domainProfile = idna.New(
	idna.MapForLookup(),
	idna.Transitional(false),
	idna.BidiRule(),
	idna.CheckHyphens(true),
	idna.CheckJoiners(true),
	idna.VerifyDNSLength(true),
)

// displayProfile turns a stored (ASCII) domain back into Unicode for its
// owner. The input was validated when it was parsed.
var displayProfile = idna.New(
	idna.MapForLookup(),
	idna.Transitional(false),
	idna.BidiRule(),
)

func emailErr(msg string) error { return &Error{Kind: Email, msg: msg} }

// ParseEmail reads s as an email address and returns it normalized:
// surrounding white space trimmed, NFKC-normalized, lower-cased, and with
// the domain in its ASCII (punycode) form. Every spelling that reaches the
// same mailbox at any real provider (case, width, Unicode or punycode
// domain) gives the same value, so that an attacker cannot get past the
// governor by varying them. Plus tags and dots are kept: whether they matter
// is up to each provider.
//
// The error, if any, is an *Error.
func ParseEmail(s string) (Address, error) {
	v, err := canonEmail(s)
	if err != nil {
		return Address{}, err
	}
	// Parsing the result must give the result, or one mailbox could end up
	// under two keys. canonEmail is built to be idempotent, but it leans on
	// Unicode tables from three packages; if some corner of them ever
	// disagrees, refuse the address rather than store an unstable key.
	if again, err := canonEmail(v); err != nil || again != v {
		return Address{}, emailErr("that email address contains characters that can't be used")
	}
	return Address{Kind: Email, Value: v}, nil
}

func canonEmail(s string) (string, error) {
	if len(s) > maxEmailInput {
		return "", emailErr("that email address is too long")
	}
	if !utf8.ValidString(s) {
		return "", emailErr("that email address is not valid text")
	}
	s = strings.TrimSpace(nfkc(s))
	if s == "" {
		return "", emailErr("enter an email address")
	}
	for _, r := range s {
		// Invisible characters (Cf: zero-width joiners, bidi overrides) would
		// let two addresses that look identical differ, and control
		// characters could reach a terminal; neither is ever in a real
		// address.
		if unicode.IsControl(r) || unicode.Is(unicode.Cf, r) {
			return "", emailErr("that email address contains an invisible or control character")
		}
	}
	if strings.ContainsAny(s, "<>") {
		return "", emailErr("enter just the address, like bob@example.com, without a name or <>")
	}
	if strings.IndexFunc(s, unicode.IsSpace) >= 0 {
		return "", emailErr("an email address can't contain spaces")
	}
	s, ok := lowerNFKC(s)
	if !ok {
		return "", emailErr("that email address contains characters that can't be used")
	}
	switch strings.Count(s, "@") {
	case 0:
		return "", emailErr("that email address has no @")
	case 1:
	default:
		return "", emailErr("that email address has more than one @")
	}
	local, domain, _ := strings.Cut(s, "@")
	if err := checkLocal(local); err != nil {
		return "", err
	}
	domain, err := canonDomain(domain)
	if err != nil {
		return "", err
	}
	v := local + "@" + domain
	if len(v) > maxEmail {
		return "", emailErr("that email address is too long")
	}
	return v, nil
}

// lowerNFKC lower-cases s and keeps it in NFKC form. Lower-casing an NFKC
// string can leave one that is not NFKC, and normalizing can in principle
// bring back upper case, so repeat until neither changes anything; in
// practice one round does. Local parts are case-insensitive at every real
// provider, and case variants must share a governor bucket (security
// reference, check 8).
func lowerNFKC(s string) (string, bool) {
	for range 4 {
		t := nfkc(strings.ToLower(s))
		if t == s {
			return s, true
		}
		s = t
	}
	return "", false
}

// checkLocal enforces the dot-atom form of RFC 5322 §3.2.3 with the UTF-8
// extension of RFC 6531: the ASCII atext characters, dots only between
// them, and non-ASCII letters, marks and digits. Quoted local parts
// ("john doe"@example.com) are valid in theory, unsupported in practice and
// a source of confusion, so they are refused.
func checkLocal(local string) error {
	switch {
	case local == "":
		return emailErr("there is nothing before the @")
	case len(local) > maxLocal:
		return emailErr("the part before @ is too long (at most 64 characters)")
	case local[0] == '.' || local[len(local)-1] == '.':
		return emailErr("the part before @ can't start or end with a dot")
	case strings.Contains(local, ".."):
		return emailErr("the part before @ can't have two dots in a row")
	}
	for _, r := range local {
		if !localRune(r) {
			return emailErr("the part before @ can't contain " + strconv.QuoteRune(r))
		}
	}
	return nil
}

func localRune(r rune) bool {
	if r < utf8.RuneSelf {
		return 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' ||
			strings.ContainsRune("!#$%&'*+-/=?^_`{|}~.", r)
	}
	// Letters, marks and digits only: this also refuses unassigned code
	// points, whose normalization a later Unicode version could change.
	return unicode.In(r, unicode.L, unicode.M, unicode.N)
}

// canonDomain returns the ASCII form of an email domain, or an error if it
// is not a host name on the public internet.
func canonDomain(d string) (string, error) {
	if d == "" {
		return "", emailErr("there is nothing after the @")
	}
	a, err := domainProfile.ToASCII(d)
	if err != nil {
		return "", emailErr("the part after @ is not a valid domain")
	}
	if strings.HasSuffix(a, ".") {
		// A trailing dot names the same host in DNS, but RFC 5321 does not
		// allow it in an address, and accepting it would make a second
		// spelling of every address.
		return "", emailErr("the part after @ can't end with a dot")
	}
	dot := strings.LastIndexByte(a, '.')
	if dot < 0 {
		return "", emailErr("the part after @ needs a dot, like example.com")
	}
	// No top-level domain is all digits; this refuses IP addresses, which
	// are not accepted as bare domains anyway ([1.2.3.4] literals fail the
	// STD3 rules above).
	if strings.Trim(a[dot+1:], "0123456789") == "" {
		return "", emailErr("the part after @ is not a valid domain")
	}
	return a, nil
}

// maskEmail keeps the first character of the local part and the domain:
// "j•••@example.com". A one-character local part is hidden entirely, since
// showing it would show everything.
func maskEmail(v string) string {
	local, domain, ok := strings.Cut(v, "@")
	if !ok {
		return maskOther(v)
	}
	first, n := utf8.DecodeRuneInString(local)
	if n == len(local) || unicode.Is(unicode.M, first) {
		return "•••@" + domain
	}
	return string(first) + "•••@" + domain
}

// displayEmail shows the domain in Unicode, as its owner most likely typed
// it, unless the Unicode could pass for another domain (lookalike.go);
// other people see the ASCII form (Masked), which cannot hide a look-alike
// character.
func displayEmail(v string) string {
	local, domain, ok := strings.Cut(v, "@")
	if !ok || lookAlikeDomain(domain) != "" {
		return v
	}
	u, err := displayProfile.ToUnicode(domain)
	if err != nil {
		return v
	}
	return local + "@" + u
}
