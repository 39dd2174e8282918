package address

import (
	"testing"
)

func TestLookAlikeDomains(t *testing.T) {
	tests := []struct {
		in, value, display, why string
	}{
		// The case: a Cyrillic "а" (U+0430) in example.com.
		{"bob@ex\u0430mple.com", "bob@xn--exmple-4nf.com", "bob@xn--exmple-4nf.com", "it mixes Cyrillic and Latin letters"},
		// The same typed in punycode: same value, same display.
		{"bob@XN--EXMPLE-4NF.com", "bob@xn--exmple-4nf.com", "bob@xn--exmple-4nf.com", "it mixes Cyrillic and Latin letters"},
		// Greek omicron in a Latin label.
		{"bob@g\u03bf\u03bfgle.com", "bob@xn--ggle-0nda.com", "bob@xn--ggle-0nda.com", "it mixes Greek and Latin letters"},
		// Three scripts.
		{"bob@a\u0430\u03b1.com", "", "", "it mixes Cyrillic, Greek and Latin letters"},
		// A whole label of Cyrillic letters that look Latin, under .com.
		{"bob@\u0430\u0440\u0435.com", "", "", "its Cyrillic letters all look like Latin ones"},
		{"bob@\u0441\u043e\u0441\u043e-1.com", "", "", "its Cyrillic letters all look like Latin ones"},
		// Mixed scripts in any label count, not only the first.
		{"bob@mail.ex\u0430mple.com", "", "", "it mixes Cyrillic and Latin letters"},

		// Real internationalized domains are shown in Unicode.
		{"josé@bücher.de", "josé@xn--bcher-kva.de", "josé@bücher.de", ""},
		{"bob@\u043f\u0440\u0438\u043c\u0435\u0440.\u0440\u0444", "bob@xn--e1afmkfd.xn--p1ai", "bob@пример.рф", ""},
		// The look-alike Cyrillic letters are at home under Cyrillic TLDs.
		{"bob@\u0430\u0440\u0435.ru", "bob@xn--80ak6a.ru", "bob@аре.ru", ""},
		{"bob@\u0441\u043e\u0441\u043e.\u0440\u0444", "", "bob@сосо.рф", ""},
		// A Cyrillic label with a letter that looks like no Latin one.
		{"bob@\u043f\u0440\u0438\u043c\u0435\u0440.com", "", "bob@пример.com", ""},
		// The CJK combinations UTS #39 allows.
		{"bob@ドメイン名例.jp", "", "bob@ドメイン名例.jp", ""},
		{"bob@abc日本語ひらがなカタカナ.jp", "", "bob@abc日本語ひらがなカタカナ.jp", ""},
		{"bob@abc한국어漢字.kr", "", "bob@abc한국어漢字.kr", ""},
		{"bob@abc中文ㄅㄆ.tw", "", "bob@abc中文ㄅㄆ.tw", ""},
		{"用户@例子.广告", "", "用户@例子.广告", ""},
		// But not Hangul with kana.
		{"bob@한국カタ.com", "", "", "it mixes Hangul and Katakana letters"},
		// Digits and the hyphen belong to no script.
		{"bob@b\u00fccher-24.de", "", "bob@bücher-24.de", ""},
		{"bob@example.com", "bob@example.com", "bob@example.com", ""},
	}
	for _, tt := range tests {
		a, err := ParseEmail(tt.in)
		if err != nil {
			t.Errorf("ParseEmail(%q): %v", tt.in, err)
			continue
		}
		if tt.value != "" && a.Value != tt.value {
			// The stored value (and so the hash key) never depends on
			// the look-alike rule.
			t.Errorf("ParseEmail(%q).Value = %q, want %q", tt.in, a.Value, tt.value)
		}
		if got := a.LookAlike(); got != tt.why {
			t.Errorf("%q.LookAlike() = %q, want %q", tt.in, got, tt.why)
		}
		display := a.Display()
		if tt.display != "" && display != tt.display {
			t.Errorf("%q.Display() = %q, want %q", tt.in, display, tt.display)
		}
		if tt.why != "" && display != a.Value {
			t.Errorf("%q.Display() = %q, want the ASCII form %q", tt.in, display, a.Value)
		}
		// What is displayed parses back to the same address, so screens
		// can hand it back to the flows.
		if b, err := ParseEmail(display); err != nil || b != a {
			t.Errorf("ParseEmail(%q.Display()) = %#v, %v; want %#v", tt.in, b, err, a)
		}
		want := display
		if tt.why != "" {
			want += " (look-alike domain: " + tt.why + ")"
		}
		if got := a.Shown(); got != want {
			t.Errorf("%q.Shown() = %q, want %q", tt.in, got, want)
		}
		// From the displayed text alone, and from the stored value, the
		// warning is the same.
		if got := WarnLookAlike(display); got != want {
			t.Errorf("WarnLookAlike(%q) = %q, want %q", display, got, want)
		}
		if got := WarnLookAlike(a.Value); got != warn(a.Value, tt.why) {
			t.Errorf("WarnLookAlike(%q) = %q", a.Value, got)
		}
	}
}

func TestWarnLookAlikeLeavesOtherTextAlone(t *testing.T) {
	for _, s := range []string{
		"", "+44 7400 900123", "SHA256:nThbg6kXUpJWGl7E1IGOCspRomTxdCARLviKw6E5SY8",
		"j•••@xn--exmple-4nf.com x", "bob@", "@", "bob@xn--", "bob@xn--zzzzzz.com",
		"a•••@example.com", "0x52908400098527886E0F7030069857D2E4169EE7",
	} {
		if got := WarnLookAlike(s); got != s {
			t.Errorf("WarnLookAlike(%q) = %q", s, got)
		}
	}
	// Other kinds are never look-alikes.
	for _, a := range []Address{{Phone, "+447400900123"}, SSHKeyFingerprint("SHA256:xn--exmple-4nf"), {Ethereum, "a@xn--exmple-4nf.com"}, {SS58, "a@xn--exmple-4nf.com"}} {
		if a.LookAlike() != "" || a.Shown() != a.Display() {
			t.Errorf("%#v: LookAlike %q, Shown %q", a, a.LookAlike(), a.Shown())
		}
	}
}
