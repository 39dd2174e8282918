package address

import (
	"errors"
	"strings"
	"testing"
)

// The properties every address parser must keep (security reference §5 and
// check 20), whatever it is given:
//   - it does not panic;
//   - an error is an *Error (ErrInvalid) whose message has no control
//     characters;
//   - the value is valid UTF-8 without control or invisible characters;
//   - parsing the value gives the same Address (canon(canon(x)) == canon(x)),
//     so one address cannot end up under two governor keys;
//   - the output methods have no control characters either.

func FuzzParseEmail(f *testing.F) {
	for _, s := range []string{
		"bob@example.com",
		"  Bob.Smith+tag@Example.COM ",
		"ｂｏｂ＠ｅｘａｍｐｌｅ．ｃｏｍ",
		"bob\ufe6bexample\u3002com",
		"josé@bücher.de",
		"jose\u0301@XN--BCHER-KVA.DE",
		"a@straße.de",
		"\u212aate@example.com",
		"\u01c6\ufb01\u2474@example.com",
		"İstanbul@example.com",
		"ΣΊΣΥΦΟΣ@example.gr",
		"用户@例子.广告",
		"بريد@مثال.مصر",
		"o'brien@example.ie",
		"!#$%&'*+-/=?^_`{|}~@example.com",
		"Bob <bob@example.com>",
		`"bob smith"@example.com`,
		"bob@[192.0.2.1]",
		"bob@1.2.3.4",
		"bob@localhost",
		"bob@example.com.",
		"bo..b@example.com",
		"a@b@c",
		"bob@xn--a.com",
		"bob\x1b]52;c;aGk=\x07@example.com",
		"bob\u202e@example.com",
		"bob\xff@example.com",
		"bob@ex\u0430mple.com",
		"bob@\u0430\u0440\u0435.com",
		"bob@g\u03bf\u03bfgle.com",
		"bob@abc\ud55c\uad6d\u30ab\u30bf.com",
		"",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		a, err := ParseEmail(s)
		if err != nil {
			checkInputError(t, err, Email)
			return
		}
		checkAddress(t, a, Email)
		b, err := ParseEmail(a.Value)
		if err != nil || b != a {
			t.Fatalf("ParseEmail(%q) = %q, but ParseEmail(%q) = %#v, %v", s, a.Value, a.Value, b, err)
		}
		// The combined parser must agree.
		if c, err := Parse(s, "US"); err != nil || c != a {
			t.Fatalf("Parse(%q) = %#v, %v; ParseEmail gave %#v", s, c, err, a)
		}
	})
}

// phoneRegions are the default regions the phone fuzzer tries: none, and a
// spread of numbering plans (NANP, trunk prefix 0, trunk 8, leading zeros
// kept, mobile tokens, no trunk prefix).
var phoneRegions = []string{"", "US", "GB", "FR", "DE", "IT", "RU", "BR", "AR", "MX", "IN", "CN", "JP", "AU", "NL", "ZA"}

func FuzzParsePhone(f *testing.F) {
	for _, seed := range []struct {
		s      string
		region uint8
	}{
		{"+1 (202) 555-0143", 0},
		{"202.555.0143", 1},
		{"011 1 202 555 0143", 1},
		{"020 7946 0018", 2},
		{"00447400123456", 2},
		{"00447400123456", 1},
		{"+44 (0)7400 123456", 0},
		{"06 12 34 56 78", 3},
		{"030 123456", 4},
		{"+39 06 1234 5678", 0},
		{"8 800 555 35 35", 6},
		{"(11) 96123-4567", 7},
		{"011 15-2345-6789", 8},
		{"044 55 1234 5678", 9},
		{"+91 98765 43210", 0},
		{"010 1234 5678", 11},
		{"090-1234-5678", 12},
		{"0412 345 678", 13},
		{"＋４４ ７４００ １２３４５６", 0},
		{"+١ ٢٠٢ ٥٥٥ ٠١٤٣", 0},
		{"\u200e+1 202 555 0143\u200f", 0},
		{"+800 1234 5678", 0},
		{"+44 12", 0},
		{"+999 1234", 0},
		{"1-800-FLOWERS", 1},
		{"+1 202\x1b[2J555 0143", 0},
		{"", 1},
	} {
		f.Add(seed.s, seed.region)
	}
	f.Fuzz(func(t *testing.T, s string, r uint8) {
		region := phoneRegions[int(r)%len(phoneRegions)]
		a, err := ParsePhone(s, region)
		if err != nil {
			checkInputError(t, err, Phone)
			return
		}
		checkAddress(t, a, Phone)
		if !isE164(a.Value) {
			t.Fatalf("ParsePhone(%q, %q) = %q, not E.164", s, region, a.Value)
		}
		// The value must read back the same with any default region, since
		// it carries its country code.
		for _, rr := range []string{"", region, "US"} {
			b, err := ParsePhone(a.Value, rr)
			if err != nil || b != a {
				t.Fatalf("ParsePhone(%q, %q) = %q, but ParsePhone(%q, %q) = %#v, %v", s, region, a.Value, a.Value, rr, b, err)
			}
		}
	})
}

func checkInputError(t *testing.T, err error, kind Kind) {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) || !errors.Is(err, ErrInvalid) {
		t.Fatalf("error %#v is not an *Error", err)
	}
	if e.Kind != kind {
		t.Fatalf("error %q has kind %q, want %q", err, e.Kind, kind)
	}
	checkMessage(t, err.Error())
}

func checkAddress(t *testing.T, a Address, kind Kind) {
	t.Helper()
	if a.Kind != kind || a.Value == "" {
		t.Fatalf("got %#v", a)
	}
	if bad := badRune(a.Value); bad >= 0 {
		t.Fatalf("value %q contains %U", a.Value, bad)
	}
	for _, s := range []string{a.String(), a.Masked(), a.Display(), a.Shown()} {
		if bad := badRune(s); bad >= 0 {
			t.Fatalf("output %q of %#v contains %U", s, a, bad)
		}
	}
	// What the owner is shown parses back to the address (the screens hand
	// it back to the flows), and the look-alike warning can be told from it
	// alone.
	var back Address
	var err error
	switch kind {
	case Email:
		back, err = ParseEmail(a.Display())
	case Phone:
		back, err = ParsePhone(a.Display(), "")
	}
	if err != nil || back != a {
		t.Fatalf("%#v displays as %q, which parses to %#v, %v", a, a.Display(), back, err)
	}
	if got := WarnLookAlike(a.Display()); got != a.Shown() {
		t.Fatalf("%#v: WarnLookAlike(%q) = %q, Shown() = %q", a, a.Display(), got, a.Shown())
	}
	if a.LookAlike() != "" && a.Display() != a.Value {
		t.Fatalf("%#v is a look-alike (%s) but displays as %q", a, a.LookAlike(), a.Display())
	}
	// Hashing must work on anything a parser returns.
	h, err := NewHasher(make([]byte, MinKeyLen))
	if err != nil {
		t.Fatal(err)
	}
	if got := h.Hash(a); len(got) != 64 {
		t.Fatalf("hash %q", got)
	}
}

// FuzzParse is the single sign-in field: whatever it takes is an email
// address, a phone number or a wallet address that reads back the same.
func FuzzParse(f *testing.F) {
	for _, s := range []string{"bob@example.com", "+1 202 555 0143", "bob.example.com", "020 7946 0018", "ex\u0430mple@\u0430\u0440\u0435.com", "\uff20", ""} {
		f.Add(s, uint8(2))
	}
	f.Fuzz(func(t *testing.T, s string, r uint8) {
		region := phoneRegions[int(r)%len(phoneRegions)]
		a, err := Parse(s, region)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || (e.Kind != Email && e.Kind != Phone && !e.Kind.IsWallet()) {
				t.Fatalf("Parse(%q): %#v", s, err)
			}
			checkMessage(t, err.Error())
			return
		}
		checkAddress(t, a, a.Kind)
		if b, err := Parse(a.Value, region); err != nil || b != a {
			t.Fatalf("Parse(%q) = %#v, but Parse(%q) = %#v, %v", s, a, a.Value, b, err)
		}
	})
}

// FuzzSSHKeyFingerprint: a key's address is built, not parsed, from the
// key that signed the handshake; its outputs stay safe whatever the text.
func FuzzSSHKeyFingerprint(f *testing.F) {
	for _, s := range []string{"SHA256:nThbg6kXUpJWGl7E1IGOCspRomTxdCARLviKw6E5SY8", "SHA256:\u00e9\u00e9\u00e9\u00e9\u00e9", "SHA256:\x1b[2J", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, fp string) {
		a := SSHKeyFingerprint(fp)
		for _, s := range []string{a.String(), a.Masked(), a.Display(), a.Shown()} {
			if bad := badRune(s); bad >= 0 {
				t.Fatalf("output %q of %#v contains %U", s, a, bad)
			}
		}
		if a.LookAlike() != "" {
			t.Fatalf("key %q is a look-alike", fp)
		}
	})
}

func FuzzParseWallet(f *testing.F) {
	for _, s := range append([]string{
		"5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY",
		"HNZata7iMYWmk5RvZRTiAsSDhV8366zq2YGb3tLH5Upf74F",
		"0xabc@example.com",
		"0x" + strings.Repeat("0", 40),
		" 0X5AAEB6053F3E94C9B9A09F33669435E7EF1BEAED ",
		"5Grw\x1b[2J",
		"",
	}, eip55Examples...) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		a, err := ParseWallet(s)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || (e.Kind != Ethereum && e.Kind != SS58) {
				t.Fatalf("ParseWallet(%q): %v is not an address error", s, err)
			}
			if bad := badRune(err.Error()); bad >= 0 {
				t.Fatalf("ParseWallet(%q): error %q contains %U", s, err, bad)
			}
			return
		}
		if !a.Kind.IsWallet() || badRune(a.Value) >= 0 || a.Value != strings.TrimSpace(a.Value) {
			t.Fatalf("ParseWallet(%q) = %#v", s, a)
		}
		b, err := ParseWallet(a.Value)
		if err != nil || b != a {
			t.Fatalf("ParseWallet(%q) = %q, but ParseWallet(%q) = %#v, %v", s, a.Value, a.Value, b, err)
		}
		if c, err := Parse(s, "US"); err != nil || c != a {
			t.Fatalf("Parse(%q) = %#v, %v; ParseWallet gave %#v", s, c, err, a)
		}
	})
}
