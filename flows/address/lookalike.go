package address

import (
	"slices"
	"strings"
	"unicode"
)

// Look-alike domains. An address is stored with its domain in ASCII
// (punycode) form, so nothing here changes a normalized value or a hash
// key; it decides only how a domain is shown. A domain is shown in Unicode
// when that is what its owner most likely typed (bücher.de, 例子.广告), and
// in its ASCII form with a warning when the Unicode could pass for another
// domain: exаmple.com with a Cyrillic "а" is shown as xn--exmple-4nf.com.
//
// The rule is UTS #39's "highly restrictive" level (§5.2), applied to
// each label as browsers do (Chromium runs ICU's spoof checker at this
// level): a label's letters come from one script, or from one of the
// combinations that real Japanese, Chinese and Korean names use: Latin +
// Han + Hiragana + Katakana, Latin + Han + Bopomofo, Latin + Han + Hangul.
// Characters of the Common and Inherited scripts (digits, the hyphen,
// combining marks) count for no script. The "moderately restrictive" level
// would also allow Latin with any one other script but Cyrillic and Greek;
// it is not used because the warning is cheap (the address still works,
// it is only shown in ASCII) and a label that really mixes Latin with,
// say, Armenian is rare, while Armenian "օ" passes for "o".
//
// One whole-label confusable is caught too, as Chromium does: a label
// written only with Cyrillic letters that look like Latin ones (аре.com,
// сосо.com) under a top-level domain where Cyrillic is not at home. The
// full confusables table (UTS #39 skeletons) is not used: it is not in Go's
// standard library or golang.org/x/text, and mixed scripts are the common
// attack.

// highlyRestrictive are the script combinations a label may have besides
// a single script.
var highlyRestrictive = [][]*unicode.RangeTable{
	{unicode.Latin, unicode.Han, unicode.Hiragana, unicode.Katakana},
	{unicode.Latin, unicode.Han, unicode.Bopomofo},
	{unicode.Latin, unicode.Han, unicode.Hangul},
}

// cyrillicLatinAlike are the Cyrillic letters that look like Latin ones,
// from Chromium's IDN spoof checker (lower case, as labels are).
const cyrillicLatinAlike = "асԁеһіјӏорԗԛѕԝхуъьҽпгѵѡ"

// cyrillicTLDs are the top-level domains where an all-Cyrillic label is
// expected (Chromium's list), besides those written in Cyrillic.
var cyrillicTLDs = []string{"bg", "by", "kz", "mk", "mn", "pyc", "ru", "rs", "su", "ua", "uz"}

// scriptNames lists the scripts Go knows, sorted, so that finding a
// rune's script is deterministic.
var scriptNames = func() []string {
	names := make([]string, 0, len(unicode.Scripts))
	for name := range unicode.Scripts {
		if name != "Common" && name != "Inherited" {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	return names
}()

// scriptOf returns the name of r's script, or "" for Common and Inherited
// characters and unassigned code points.
func scriptOf(r rune) string {
	if r < 0x80 {
		if 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' {
			return "Latin"
		}
		return ""
	}
	for _, name := range scriptNames {
		if unicode.Is(unicode.Scripts[name], r) {
			return name
		}
	}
	return ""
}

// lookAlikeLabel says why label (in Unicode, lower case) could pass for
// another, or returns "". tld is the domain's last label, in Unicode.
func lookAlikeLabel(label, tld string) string {
	var scripts []string
	for _, r := range label {
		if s := scriptOf(r); s != "" && !slices.Contains(scripts, s) {
			scripts = append(scripts, s)
		}
	}
	if len(scripts) > 1 && !allowedMix(scripts) {
		slices.Sort(scripts)
		return "it mixes " + joinAnd(scripts) + " letters"
	}
	if len(scripts) == 1 && scripts[0] == "Cyrillic" && !cyrillicTLD(tld) &&
		strings.IndexFunc(label, func(r rune) bool {
			return scriptOf(r) == "Cyrillic" && !strings.ContainsRune(cyrillicLatinAlike, r)
		}) < 0 {
		return "its Cyrillic letters all look like Latin ones"
	}
	return ""
}

func allowedMix(scripts []string) bool {
	for _, combo := range highlyRestrictive {
		if !slices.ContainsFunc(scripts, func(s string) bool {
			return !slices.Contains(combo, unicode.Scripts[s])
		}) {
			return true
		}
	}
	return false
}

func cyrillicTLD(tld string) bool {
	return slices.Contains(cyrillicTLDs, tld) ||
		strings.IndexFunc(tld, func(r rune) bool { return scriptOf(r) == "Cyrillic" }) >= 0
}

func joinAnd(s []string) string {
	if len(s) < 2 {
		return strings.Join(s, "")
	}
	return strings.Join(s[:len(s)-1], ", ") + " and " + s[len(s)-1]
}

// lookAlikeDomain says why the domain (in ASCII form, as stored) could
// pass for another when shown in Unicode, or returns "". A domain that
// does not decode is not shown in Unicode anyway, so it gets "".
func lookAlikeDomain(ascii string) string {
	if !strings.Contains(ascii, "xn--") {
		return "" // all ASCII: shown as it is
	}
	u, err := displayProfile.ToUnicode(ascii)
	if err != nil {
		return ""
	}
	labels := strings.Split(u, ".")
	tld := labels[len(labels)-1]
	for _, l := range labels {
		if why := lookAlikeLabel(l, tld); why != "" {
			return why
		}
	}
	return ""
}

// LookAlike says why the address could be mistaken for another when shown
// in full, or returns "" when it cannot. Only an email address's domain is
// judged: Display shows such a domain in its ASCII (xn--) form, and
// Shown adds this reason to it.
func (a Address) LookAlike() string {
	if a.Kind != Email {
		return ""
	}
	_, domain, ok := strings.Cut(a.Value, "@")
	if !ok {
		return ""
	}
	return lookAlikeDomain(domain)
}

// Shown is Display followed by a warning when the address is a look-alike
// (see LookAlike): what a sentence or a screen shows a person.
func (a Address) Shown() string {
	return warn(a.Display(), a.LookAlike())
}

// WarnLookAlike takes an email address as Display (or the normalized
// value) spells it and adds the look-alike warning Shown would: for
// screens and commands that have only the displayed text. Any other text
// comes back unchanged.
func WarnLookAlike(shown string) string {
	return warn(shown, LookAlikeOf(shown))
}

// LookAlikeOf is LookAlike for an email address as Display (or the
// normalized value) spells it: why it could be mistaken for another, or
// "". Any other text gives "".
func LookAlikeOf(shown string) string {
	// Longer than any address: not one, and not worth decoding.
	if len(shown) > maxEmail {
		return ""
	}
	at := strings.LastIndexByte(shown, '@')
	if at < 0 {
		return ""
	}
	return lookAlikeDomain(strings.ToLower(shown[at+1:]))
}

func warn(shown, why string) string {
	if why == "" {
		return shown
	}
	return shown + " (look-alike domain: " + why + ")"
}
