package address

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

// checkMessage fails t if msg could do harm or look wrong when shown to a
// user on a terminal: it must be valid UTF-8 without control or invisible
// formatting characters.
func checkMessage(t testing.TB, msg string) {
	t.Helper()
	if msg == "" {
		t.Errorf("empty error message")
	}
	if bad := badRune(msg); bad >= 0 {
		t.Errorf("message %q contains %U", msg, bad)
	}
}

// badRune returns the first rune of s that must never reach a terminal or a
// log (invalid UTF-8, control, invisible formatting), or -1.
func badRune(s string) rune {
	if !utf8.ValidString(s) {
		return utf8.RuneError
	}
	for _, r := range s {
		if unicode.IsControl(r) || unicode.Is(unicode.Cf, r) {
			return r
		}
	}
	return -1
}

func TestParseDispatches(t *testing.T) {
	tests := []struct {
		in, region string
		want       Address
	}{
		{"Bob@Example.com", "US", Address{Email, "bob@example.com"}},
		{"bob＠example.com", "", Address{Email, "bob@example.com"}},
		{"bob\ufe6bexample.com", "", Address{Email, "bob@example.com"}},
		{"+1 (202) 555-0143", "", Address{Phone, "+12025550143"}},
		{"020 7946 0018", "GB", Address{Phone, "+442079460018"}},
	}
	for _, tt := range tests {
		a, err := Parse(tt.in, tt.region)
		if err != nil || a != tt.want {
			t.Errorf("Parse(%q, %q) = %#v, %v; want %#v", tt.in, tt.region, a, err, tt.want)
		}
	}

	// Without an @ and with letters it is a mistyped email address, and the
	// message should say so rather than talk about phone numbers.
	_, err := Parse("bob.example.com", "US")
	var e *Error
	if !errors.As(err, &e) || e.Kind != Email || err.Error() != "that email address has no @" {
		t.Errorf("Parse without @: %#v", err)
	}
	_, err = Parse("+1 202 555 0143 ext 12", "US")
	if !errors.As(err, &e) || e.Kind != Phone {
		t.Errorf("Parse of a number with an extension: %#v", err)
	}
	_, err = Parse("123", "US")
	if !errors.As(err, &e) || e.Kind != Phone {
		t.Errorf("Parse of a short number: %#v", err)
	}
	_, err = Parse("bob@", "US")
	if !errors.As(err, &e) || e.Kind != Email {
		t.Errorf("Parse of bob@: %#v", err)
	}
}

func TestOutputs(t *testing.T) {
	tests := []struct {
		a                    Address
		str, masked, display string
	}{
		{Address{Email, "jane@example.com"}, "email:jane@example.com", "j•••@example.com", "jane@example.com"},
		{Address{Email, "j@example.com"}, "email:j@example.com", "•••@example.com", "j@example.com"},
		{Address{Email, "josé@xn--bcher-kva.de"}, "email:josé@xn--bcher-kva.de", "j•••@xn--bcher-kva.de", "josé@bücher.de"},
		{Address{Phone, "+447400900123"}, "phone:+447400900123", "+44 •••• ••0123", "+44 7400 900123"},
		{Address{Phone, "+12025550143"}, "phone:+12025550143", "+1 •••-•••-0143", "+1 202-555-0143"},
		{Address{Phone, "+33612345678"}, "phone:+33612345678", "+33 • •• •• 56 78", "+33 6 12 34 56 78"},
		{SSHKeyFingerprint("SHA256:nThbg6kXUpJWGl7E1IGOCspRomTxdCARLviKw6E5SY8"),
			"sshkey:SHA256:nThbg6kXUpJWGl7E1IGOCspRomTxdCARLviKw6E5SY8", "SHA256:nThbg6kX…",
			"SHA256:nThbg6kXUpJWGl7E1IGOCspRomTxdCARLviKw6E5SY8"},
		{Address{Ethereum, "0x52908400098527886E0F7030069857D2E4169EE7"},
			"ethereum:0x52908400098527886E0F7030069857D2E4169EE7", "0x52…9EE7",
			"0x52908400098527886E0F7030069857D2E4169EE7"},
		{Address{SS58, "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY"},
			"ss58:5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY", "5Grw…utQY",
			"5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY"},
		{Address{}, "", "•••", ""},
	}
	for _, tt := range tests {
		if got := tt.a.String(); got != tt.str {
			t.Errorf("%#v.String() = %q, want %q", tt.a, got, tt.str)
		}
		if got := tt.a.Masked(); got != tt.masked {
			t.Errorf("%#v.Masked() = %q, want %q", tt.a, got, tt.masked)
		}
		if got := tt.a.Display(); got != tt.display {
			t.Errorf("%#v.Display() = %q, want %q", tt.a, got, tt.display)
		}
	}
}

// The parsers never produce control characters, but an Address is a plain
// struct and anyone can build one; the output methods must still not let an
// escape sequence through to a terminal (security reference, check 20).
func TestOutputsEscapeHandBuiltValues(t *testing.T) {
	for _, a := range []Address{
		{Email, "\x1b]52;c;aGk=\x07@example.com"},
		{Phone, "+1\x1b[2J"},
		{SSHKey, "SHA256:\rabcdefghijklmnop"},
		{OIDC, "https://issuer\x1b[31m/sub"},
		{Ethereum, "\u202eevil"},
		{SS58, "5Grw\x1b[2Jva"},
		{Email, "bad\xffutf8@example.com"},
	} {
		for name, s := range map[string]string{"String": a.String(), "Masked": a.Masked(), "Display": a.Display()} {
			if bad := badRune(s); bad >= 0 {
				t.Errorf("%#v.%s() = %q contains %U", a, name, s, bad)
			}
		}
	}
}

func TestErrorIsErrInvalid(t *testing.T) {
	var err error = &Error{Kind: Email, msg: "x"}
	if !errors.Is(err, ErrInvalid) {
		t.Error("*Error is not ErrInvalid")
	}
	if !errors.Is(fmt.Errorf("wrapped: %w", err), ErrInvalid) {
		t.Error("wrapped *Error is not ErrInvalid")
	}
	if errors.Is(errors.New("x"), ErrInvalid) {
		t.Error("any error is ErrInvalid")
	}
}

func TestKinds(t *testing.T) {
	// The kinds are stored (inside hashes) for the life of the ledger: their
	// spelling must never change.
	for k, want := range map[Kind]string{Email: "email", Phone: "phone", SSHKey: "sshkey", Ethereum: "ethereum", SS58: "ss58", OIDC: "oidc"} {
		if string(k) != want {
			t.Errorf("kind %q, want %q", k, want)
		}
		if strings.ContainsRune(string(k), 0) {
			t.Errorf("kind %q contains NUL", k)
		}
	}
}

// Every kind has its words, and a kind the code does not know is
// "address", never its own text (which could come from anywhere).
func TestKindNoun(t *testing.T) {
	for k, want := range map[Kind]string{
		Email: "email address", Phone: "phone number", SSHKey: "SSH key",
		Ethereum: "Ethereum wallet", SS58: "SS58 wallet", OIDC: "sign-in provider",
		Kind("\x1b]0;owned\x07"): "address",
	} {
		if got := k.Noun(); got != want {
			t.Errorf("%q.Noun() = %q, want %q", k, got, want)
		}
	}
}
