package address

import (
	"errors"
	"strings"
	"testing"
)

func TestParseEmailNormalizes(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"plain", "bob@example.com", "bob@example.com"},
		{"surrounding space", "  bob@example.com \t\n", "bob@example.com"},
		{"surrounding no-break and ideographic space", "\u00a0bob@example.com\u3000", "bob@example.com"},
		{"upper-case domain", "bob@EXAMPLE.COM", "bob@example.com"},
		{"upper-case local part", "BOB@example.com", "bob@example.com"},
		{"mixed case", "Bob.Smith@Example.Com", "bob.smith@example.com"},
		{"full-width", "ｂｏｂ＠ｅｘａｍｐｌｅ．ｃｏｍ", "bob@example.com"},
		{"small commercial at", "bob\ufe6bexample.com", "bob@example.com"},
		{"ideographic full stop in domain", "bob@example\u3002com", "bob@example.com"},
		{"Kelvin sign", "\u212aate@example.com", "kate@example.com"},
		{"ligature", "\ufb01sh@example.com", "fish@example.com"},
		{"IDN domain to punycode", "bob@bücher.de", "bob@xn--bcher-kva.de"},
		{"IDN domain upper case", "bob@BÜCHER.DE", "bob@xn--bcher-kva.de"},
		{"punycode domain kept", "bob@xn--bcher-kva.de", "bob@xn--bcher-kva.de"},
		{"punycode domain upper case", "bob@XN--BCHER-KVA.DE", "bob@xn--bcher-kva.de"},
		{"non-transitional sharp s", "a@straße.de", "a@xn--strae-oqa.de"},
		{"Unicode local part composed", "josé@example.com", "josé@example.com"},
		{"Unicode local part decomposed", "jose\u0301@example.com", "josé@example.com"},
		{"Unicode local part upper case", "JOSÉ@example.com", "josé@example.com"},
		{"plus tag kept", "bob+news@example.com", "bob+news@example.com"},
		{"dots kept", "b.o.b@gmail.com", "b.o.b@gmail.com"},
		{"apostrophe", "o'brien@example.ie", "o'brien@example.ie"},
		{"all atext", "!#$%&'*+-/=?^_`{|}~@example.com", "!#$%&'*+-/=?^_`{|}~@example.com"},
		{"hyphen and digits in domain", "a@mail-1.example-2.co.uk", "a@mail-1.example-2.co.uk"},
		{"64-byte local part", strings.Repeat("a", 64) + "@example.com", strings.Repeat("a", 64) + "@example.com"},
		{"254 bytes in all", strings.Repeat("a", 64) + "@" + longDomain(189), strings.Repeat("a", 64) + "@" + longDomain(189)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, err := ParseEmail(tt.in)
			if err != nil {
				t.Fatalf("ParseEmail(%q): %v", tt.in, err)
			}
			if a != (Address{Kind: Email, Value: tt.want}) {
				t.Fatalf("ParseEmail(%q) = %#v, want value %q", tt.in, a, tt.want)
			}
		})
	}
}

// longDomain is a valid domain of exactly n bytes (n ≥ 5).
func longDomain(n int) string {
	var labels []string
	for n > 0 {
		l := min(n, 63)
		if n-l > 0 && n-l < 5 { // leave room for a final ".com"-sized label
			l = n - 5
		}
		if n == l {
			// the last label: letters only, so it can be a TLD
			labels = append(labels, strings.Repeat("c", l))
			break
		}
		labels = append(labels, strings.Repeat("b", l))
		n -= l + 1
	}
	return strings.Join(labels, ".")
}

func TestLongDomain(t *testing.T) {
	for _, n := range []int{5, 64, 65, 67, 189, 253} {
		if d := longDomain(n); len(d) != n {
			t.Errorf("longDomain(%d) has %d bytes", n, len(d))
		}
	}
}

func TestParseEmailRejects(t *testing.T) {
	tests := []struct {
		name, in, msg string
	}{
		{"empty", "", "enter an email address"},
		{"only space", "  \t ", "enter an email address"},
		{"no @", "bob.example.com", "that email address has no @"},
		{"two @", "bob@home@example.com", "more than one @"},
		{"display name", "Bob <bob@example.com>", "without a name or <>"},
		{"angle brackets only", "<bob@example.com>", "without a name or <>"},
		{"full-width angle brackets", "Bob ＜bob@example.com＞", "without a name or <>"},
		{"inner space", "bob smith@example.com", "can't contain spaces"},
		{"space after @", "bob@ example.com", "can't contain spaces"},
		{"quoted local part", `"bob"@example.com`, `can't contain '"'`},
		{"quoted local part with space", `"bob smith"@example.com`, "can't contain spaces"},
		{"comment", "bob(home)@example.com", "can't contain '('"},
		{"backslash", `bob\x@example.com`, `can't contain '\\'`},
		{"comma", "bob,alice@example.com", "can't contain ','"},
		{"nothing before @", "@example.com", "nothing before the @"},
		{"nothing after @", "bob@", "nothing after the @"},
		{"leading dot", ".bob@example.com", "can't start or end with a dot"},
		{"trailing dot", "bob.@example.com", "can't start or end with a dot"},
		{"double dot", "bo..b@example.com", "two dots in a row"},
		{"local part 65 bytes", strings.Repeat("a", 65) + "@example.com", "before @ is too long"},
		{"local part 65 bytes after NFKC", strings.Repeat("a", 62) + "\u01c6@example.com", "before @ is too long"}, // ǆ (2 bytes) → dž (3 bytes)
		{"255 bytes in all", strings.Repeat("a", 64) + "@" + longDomain(190), "too long"},
		{"huge input", strings.Repeat("a", 5000) + "@example.com", "too long"},
		{"no dot in domain", "bob@localhost", "needs a dot"},
		{"trailing dot in domain", "bob@example.com.", "can't end with a dot"},
		{"leading dot in domain", "bob@.example.com", "not a valid domain"},
		{"empty label", "bob@example..com", "not a valid domain"},
		{"underscore in domain", "bob@ex_ample.com", "not a valid domain"},
		{"leading hyphen label", "bob@-example.com", "not a valid domain"},
		{"trailing hyphen label", "bob@example-.com", "not a valid domain"},
		{"label over 63", "bob@" + strings.Repeat("a", 64) + ".com", "not a valid domain"},
		{"numeric TLD", "bob@1.2.3.4", "not a valid domain"},
		{"address literal", "bob@[192.0.2.1]", "not a valid domain"},
		{"bad punycode", "bob@xn--a.com", "not a valid domain"},
		{"ASCII punycode", "bob@xn--abc-.com", "not a valid domain"},
		{"bidi rule", "bob@a\u05d0.com", "not a valid domain"},
		{"escape in local part", "bob\x1b[2J@example.com", "invisible or control character"},
		{"OSC 52", "\x1b]52;c;aGk=\x07@example.com", "invisible or control character"},
		{"carriage return", "bob\r@example.com", "invisible or control character"},
		{"NUL", "bob\x00@example.com", "invisible or control character"},
		{"zero-width space", "bo\u200bb@example.com", "invisible or control character"},
		{"right-to-left override", "bob\u202e@example.com", "invisible or control character"},
		{"invalid UTF-8", "bob\xff@example.com", "not valid text"},
		{"private use", "bob\ue000@example.com", `can't contain '\ue000'`},
		{"unassigned code point", "bob\U000e0080@example.com", `can't contain`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, err := ParseEmail(tt.in)
			if err == nil {
				t.Fatalf("ParseEmail(%q) = %#v, want an error", tt.in, a)
			}
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("ParseEmail(%q): %v is not ErrInvalid", tt.in, err)
			}
			var e *Error
			if !errors.As(err, &e) || e.Kind != Email {
				t.Errorf("ParseEmail(%q): %#v is not an *Error of kind email", tt.in, err)
			}
			if !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("ParseEmail(%q) error %q, want it to contain %q", tt.in, err, tt.msg)
			}
			checkMessage(t, err.Error())
			if a != (Address{}) {
				t.Errorf("ParseEmail(%q) returned %#v with its error", tt.in, a)
			}
		})
	}
}
