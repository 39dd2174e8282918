package address

import (
	"errors"
	"strings"
	"testing"
)

func TestParsePhoneNormalizes(t *testing.T) {
	tests := []struct {
		name, in, region, want string
	}{
		{"US international with punctuation", "+1 (202) 555-0143", "", "+12025550143"},
		{"US E.164", "+12025550143", "", "+12025550143"},
		{"US national", "(202) 555-0143", "US", "+12025550143"},
		{"US national with trunk 1", "1 202 555 0143", "US", "+12025550143"},
		{"US dots", "202.555.0143", "US", "+12025550143"},
		{"US from IDD 011", "011 1 202 555 0143", "US", "+12025550143"},
		{"region in lower case", "202 555 0143", "us", "+12025550143"},
		{"GB landline national", "020 7946 0018", "GB", "+442079460018"},
		{"GB mobile national", "07400 123456", "GB", "+447400123456"},
		{"GB mobile international", "+44 7400 123456", "", "+447400123456"},
		{"GB with (0)", "+44 (0)7400 123456", "", "+447400123456"},
		{"GB from 00, region GB", "00447400123456", "GB", "+447400123456"},
		{"GB from 00, region US (011 country)", "00447400123456", "US", "+447400123456"},
		{"international number, other default region", "+44 7400 123456", "FR", "+447400123456"},
		{"full-width", "＋４４ ７４００ １２３４５６", "", "+447400123456"},
		{"Arabic-Indic digits", "+١ ٢٠٢ ٥٥٥ ٠١٤٣", "", "+12025550143"},
		{"Devanagari digits", "+१ २०२ ५५५ ०१४३", "", "+12025550143"},
		{"bidi marks from copy and paste", "\u200e+1 202 555 0143\u200f", "", "+12025550143"},
		{"surrounding space", "  +1 202 555 0143\t", "", "+12025550143"},
		{"en dashes and slash", "+1 202–555/0143", "", "+12025550143"},
		{"FR mobile", "06 12 34 56 78", "FR", "+33612345678"},
		{"NL mobile", "06 12345678", "NL", "+31612345678"},
		{"IT leading zero kept", "+39 06 1234 5678", "", "+390612345678"},
		{"RU trunk 8", "8 800 555 35 35", "RU", "+78005553535"},
		{"non-geographic +800", "+800 1234 5678", "", "+80012345678"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, err := ParsePhone(tt.in, tt.region)
			if err != nil {
				t.Fatalf("ParsePhone(%q, %q): %v", tt.in, tt.region, err)
			}
			if a != (Address{Kind: Phone, Value: tt.want}) {
				t.Fatalf("ParsePhone(%q, %q) = %#v, want value %q", tt.in, tt.region, a, tt.want)
			}
		})
	}
}

func TestParsePhoneRejects(t *testing.T) {
	tests := []struct {
		name, in, region, msg string
	}{
		{"empty", "", "US", "enter a phone number"},
		{"only space", " \u00a0 ", "US", "enter a phone number"},
		{"only invisible marks", "\u200e\u200f", "US", "enter a phone number"},
		{"too short, with example", "+44 12", "", "+44 12 is too short for a phone number; a valid one looks like +44 7400 123456"},
		{"too short national", "12", "GB", "+44 12 is too short for a phone number; a valid one looks like +44 7400 123456"},
		{"example from the number's country, not the region", "+44 12", "US", "like +44 7400 123456"},
		{"example from region", "123", "US", "a valid one looks like +1 201-555-0123"},
		{"too long", "+44 7400 1234567", "", "too long for a phone number; a valid one looks like +44 7400 123456"},
		{"needs area code", "555 0143", "US", "needs its area code"},
		{"not a valid number", "+44 740 0123", "", "+44 7400123 is not a valid phone number; a valid one looks like +44 7400 123456"},
		{"no region needs +", "7400 123456", "", "start the number with + and its country code, like +44 7400 123456"},
		{"no region and 00", "00447400123456", "", "start the number with +"},
		{"unknown country code", "+999 1234 5678", "", "doesn't start with a known country code"},
		{"plus alone", "+", "", "is not a phone number"},
		{"punctuation alone", "()", "US", "is not a phone number"},
		{"letters", "call +1 202 555 0143", "", "can only have digits"},
		{"vanity number", "1-800-FLOWERS", "US", "can only have digits"},
		{"extension", "+1 202 555 0143 ext. 12", "", "can only have digits"},
		{"hash extension", "+1 202 555 0143#12", "", "can only have digits"},
		{"email-ish", "bob@example.com", "US", "can only have digits"},
		{"escape", "+1 202\x1b[2J 555 0143", "", "control characters"},
		{"newline", "+1 202\n555 0143", "", "control characters"},
		{"NUL", "+1 202\x00555 0143", "", "control characters"},
		{"invalid UTF-8", "+1 202 555 0143\xff", "", "not valid text"},
		{"huge input", strings.Repeat("1", 300), "US", "too long for a phone number"},
		// libphonenumber treats Ofcom's drama range 07700 900000–900999 as
		// invalid: nobody can own these numbers.
		{"GB drama number", "+44 7700 900123", "", "not a valid phone number"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, err := ParsePhone(tt.in, tt.region)
			if err == nil {
				t.Fatalf("ParsePhone(%q, %q) = %#v, want an error", tt.in, tt.region, a)
			}
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("ParsePhone(%q, %q): %v is not ErrInvalid", tt.in, tt.region, err)
			}
			var e *Error
			if !errors.As(err, &e) || e.Kind != Phone {
				t.Errorf("ParsePhone(%q, %q): %#v is not an *Error of kind phone", tt.in, tt.region, err)
			}
			if !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("ParsePhone(%q, %q) error %q, want it to contain %q", tt.in, tt.region, err, tt.msg)
			}
			checkMessage(t, err.Error())
			if a != (Address{}) {
				t.Errorf("ParsePhone(%q, %q) returned %#v with its error", tt.in, tt.region, a)
			}
		})
	}
}

// An unknown default region is the caller's bug, not the user's input: it
// must not look like ErrInvalid, or it would be shown to the user.
func TestParsePhoneUnknownRegion(t *testing.T) {
	for _, region := range []string{"XX", "ZZ", "001", "USA", "\x1b"} {
		_, err := ParsePhone("+1 202 555 0143", region)
		if err == nil || errors.Is(err, ErrInvalid) {
			t.Errorf("ParsePhone with region %q: %v, want a non-ErrInvalid error", region, err)
		}
	}
}
