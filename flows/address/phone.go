package address

import (
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/nyaruka/phonenumbers"
)

// maxPhoneInput matches libphonenumber's own limit on what it will parse.
const maxPhoneInput = phonenumbers.MAX_INPUT_STRING_LENGTH

// phonePunct is the separators accepted between digits: libphonenumber's
// VALID_PUNCTUATION (dashes of every width, brackets, dots, slashes, tildes)
// without its "x", since we accept no letters. Full-width forms are not
// listed because NFKC has already mapped them to ASCII.
const phonePunct = "-\u2010\u2011\u2012\u2013\u2014\u2015\u2212\u30FC()[]./~\u2053\u223C"

// exampleRegion gives the example in messages when nothing better is known
// (no default region and no recognisable country code).
const exampleRegion = "GB"

func phoneErr(msg string) error { return &Error{Kind: Phone, msg: msg} }

// ParsePhone reads s as a phone number and returns it in E.164 form
// ("+447700900123"). A number without a country code is read as one of
// defaultRegion (an ISO 3166 code like "US" or "GB"); with an empty
// defaultRegion the number must start with + (or its full-width form). The
// number must be valid (libphonenumber's IsValidNumber: a real number range
// of its country), not just plausible, and have no extension.
//
// Any separators, full-width or other decimal digits and the "00" dialling
// prefix are accepted, so every way of writing one number gives one value.
//
// An input problem is an *Error whose message gives an example of a valid
// number. An unknown defaultRegion is a configuration bug and gives an error
// that is not ErrInvalid.
func ParsePhone(s, defaultRegion string) (Address, error) {
	region := strings.ToUpper(strings.TrimSpace(defaultRegion))
	if region != "" && phonenumbers.GetCountryCodeForRegion(region) == 0 {
		return Address{}, fmt.Errorf("address: unknown default region %q", defaultRegion)
	}
	in, err := cleanPhone(s)
	if err != nil {
		return Address{}, err
	}
	num, err := parseNumber(in, region)
	if err != nil && region != "" && strings.HasPrefix(in, "00") {
		// "00" is the international prefix of most of the world, but not of
		// every region (the US dials 011), so "00447700900123" with region US
		// fails above. No national number starts with 00, so reading it as
		// "+" cannot change the meaning of a number that was valid.
		if n, err2 := parseNumber("+"+in[2:], region); err2 == nil {
			num, err = n, nil
		}
	}
	if err != nil {
		return Address{}, err
	}
	v := phonenumbers.Format(num, phonenumbers.E164)
	// The value must parse back to itself, or one number could end up under
	// two keys. libphonenumber strips national prefixes and carrier codes
	// even after a country code, so check rather than assume.
	again, err := parseNumber(v, "")
	if err != nil || phonenumbers.Format(again, phonenumbers.E164) != v || !isE164(v) {
		return Address{}, phoneErr(fmt.Sprintf("%s is not a valid phone number; a valid one looks like %s",
			phonenumbers.Format(num, phonenumbers.INTERNATIONAL), example(num, region)))
	}
	return Address{Kind: Phone, Value: v}, nil
}

// cleanPhone checks the characters of s and normalizes them for
// libphonenumber: NFKC (full-width digits and signs), other decimal digits to
// ASCII, invisible formatting marks dropped (copying a number from a
// right-to-left page brings U+200E and friends along), white space to
// spaces. Anything else, letters included, is refused: libphonenumber would
// otherwise quietly skip leading junk, read letters as keypad digits
// ("1-800-FLOWERS") and "ext." as an extension.
func cleanPhone(s string) (string, error) {
	if len(s) > maxPhoneInput {
		return "", phoneErr("that is too long for a phone number")
	}
	if !utf8.ValidString(s) {
		return "", phoneErr("that phone number is not valid text")
	}
	var b strings.Builder
	// Surrounding white space, tabs and newlines included, is trimmed like
	// an email's; inside the number only spaces are.
	for _, r := range strings.TrimSpace(nfkc(s)) {
		switch {
		case '0' <= r && r <= '9', r == '+':
			b.WriteRune(r)
		case unicode.Is(unicode.Cf, r):
			// dropped: invisible
		case unicode.IsControl(r):
			return "", phoneErr("a phone number can't contain control characters")
		case unicode.IsDigit(r):
			b.WriteRune(digitValue(r))
		case unicode.IsSpace(r):
			b.WriteByte(' ')
		case strings.ContainsRune(phonePunct, r):
			b.WriteRune(r)
		default:
			return "", phoneErr("a phone number can only have digits, spaces and + - ( ) . /")
		}
	}
	out := strings.TrimSpace(b.String())
	if out == "" {
		return "", phoneErr("enter a phone number")
	}
	return out, nil
}

// digitValue maps a decimal digit of any script to its ASCII digit. Unicode
// guarantees that decimal digits (Nd) come in contiguous runs of ten from
// zero to nine, so the value is the distance from the start of the run,
// modulo ten for blocks that hold several runs back to back.
// libphonenumber itself maps only Arabic-Indic and full-width digits.
func digitValue(r rune) rune {
	start := r
	for r-start < 100 && unicode.IsDigit(start-1) {
		start--
	}
	return '0' + (r-start)%10
}

// parseNumber parses and validates a cleaned input, turning every failure
// into a message for the user.
func parseNumber(in, region string) (*phonenumbers.PhoneNumber, error) {
	num, err := phonenumbers.Parse(in, region)
	if err != nil {
		ex := example(nil, region)
		switch {
		case errors.Is(err, phonenumbers.ErrInvalidCountryCode) && region == "" && !startsWithPlus(in):
			return nil, phoneErr("start the number with + and its country code, like " + ex)
		case errors.Is(err, phonenumbers.ErrInvalidCountryCode):
			return nil, phoneErr("that number doesn't start with a known country code; a valid one looks like " + ex)
		case errors.Is(err, phonenumbers.ErrTooShortNSN), errors.Is(err, phonenumbers.ErrTooShortAfterIDD):
			return nil, phoneErr(quote(in) + " is too short for a phone number; a valid one looks like " + ex)
		case errors.Is(err, phonenumbers.ErrNumTooLong):
			return nil, phoneErr("that is too long for a phone number; a valid one looks like " + ex)
		default:
			return nil, phoneErr(quote(in) + " is not a phone number; a valid one looks like " + ex)
		}
	}
	// From here the number is shown as libphonenumber read it (which tells
	// the user which country code was assumed), built from digits only.
	shown := phonenumbers.Format(num, phonenumbers.INTERNATIONAL)
	ex := example(num, region)
	if num.GetExtension() != "" {
		return nil, phoneErr("enter the number without an extension, like " + ex)
	}
	switch phonenumbers.IsPossibleNumberWithReason(num) {
	case phonenumbers.INVALID_COUNTRY_CODE:
		return nil, phoneErr(shown + " doesn't start with a known country code; a valid one looks like " + ex)
	case phonenumbers.TOO_SHORT:
		return nil, phoneErr(shown + " is too short for a phone number; a valid one looks like " + ex)
	case phonenumbers.TOO_LONG:
		return nil, phoneErr(shown + " is too long for a phone number; a valid one looks like " + ex)
	case phonenumbers.INVALID_LENGTH:
		return nil, phoneErr(shown + " has the wrong number of digits; a valid one looks like " + ex)
	case phonenumbers.IS_POSSIBLE_LOCAL_ONLY:
		return nil, phoneErr(shown + " needs its area code; a valid one looks like " + ex)
	}
	if !phonenumbers.IsValidNumber(num) {
		return nil, phoneErr(shown + " is not a valid phone number; a valid one looks like " + ex)
	}
	return num, nil
}

func startsWithPlus(s string) bool { return strings.HasPrefix(s, "+") }

// isE164 reports whether v is "+" and 2 to 17 ASCII digits: a belt to the
// braces above, since the value becomes a key and an SMS destination.
func isE164(v string) bool {
	if len(v) < 3 || len(v) > 18 || v[0] != '+' {
		return false
	}
	for i := 1; i < len(v); i++ {
		if v[i] < '0' || v[i] > '9' {
			return false
		}
	}
	return true
}

// example is a valid number, in international format, for the country of
// num if its country code is known, else for region, else for
// exampleRegion. Mobile examples are preferred: the number will get a text
// message.
func example(num *phonenumbers.PhoneNumber, region string) string {
	var ex *phonenumbers.PhoneNumber
	if num != nil {
		cc := int(num.GetCountryCode())
		switch r := phonenumbers.GetRegionCodeForCountryCode(cc); r {
		case "001": // non-geographic, like +800
			ex = phonenumbers.GetExampleNumberForNonGeoEntity(cc)
		case "ZZ", "":
		default:
			region = r
		}
	}
	if ex == nil && region != "" {
		ex = regionExample(region)
	}
	if ex == nil {
		ex = regionExample(exampleRegion)
	}
	if ex == nil {
		return "+44 7400 123456" // unreachable while the metadata has GB
	}
	return phonenumbers.Format(ex, phonenumbers.INTERNATIONAL)
}

func regionExample(region string) *phonenumbers.PhoneNumber {
	if ex := phonenumbers.GetExampleNumberForType(region, phonenumbers.MOBILE); ex != nil {
		return ex
	}
	return phonenumbers.GetExampleNumber(region)
}

// maskPhone shows the country code and the last four digits (two for short
// numbers), keeping the international format's grouping:
// "+44 •••• ••0123".
func maskPhone(v string) string {
	intl := displayPhone(v)
	sp := strings.IndexByte(intl, ' ')
	if !strings.HasPrefix(intl, "+") || sp < 0 {
		return maskOther(v)
	}
	rest := intl[sp:]
	n := 0
	for _, r := range rest {
		if '0' <= r && r <= '9' {
			n++
		}
	}
	keep := 4
	if n <= 6 {
		keep = 2
	}
	var b strings.Builder
	b.WriteString(intl[:sp])
	i := 0
	for _, r := range rest {
		if '0' <= r && r <= '9' {
			if i < n-keep {
				r = '•'
			}
			i++
		}
		b.WriteRune(r)
	}
	return b.String()
}

// KnownRegion reports whether region (an ISO 3166 code such as "US") is
// one phone numbers can be read in. The empty region is known: it means
// numbers must carry their country code.
func KnownRegion(region string) bool {
	region = strings.ToUpper(strings.TrimSpace(region))
	return region == "" || phonenumbers.GetCountryCodeForRegion(region) != 0
}
