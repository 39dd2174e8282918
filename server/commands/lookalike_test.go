package commands

import (
	"strings"
	"testing"
)

// An address whose domain mixes scripts (a Cyrillic "а" in exаmple.com)
// is shown in its xn-- form with a warning wherever the commands show it,
// and the warning rides along in the flows' own sentences.
func TestLookAlikeDomainIsShownWithAWarning(t *testing.T) {
	w := newWorld(t)
	dev := device("k1")
	const (
		typed = "ada@ex\u0430mple.com"
		ascii = "ada@xn--exmple-4nf.com"
		shown = ascii + " (look-alike domain: it mixes Cyrillic and Latin letters)"
	)
	r := w.ok(dev, "signin", typed)
	if !strings.Contains(r.stdout, "sent to "+shown) {
		t.Errorf("signin: %q lacks %q", r.stdout, shown)
	}
	letter, digits := w.code(ascii, 1)
	w.ok(dev, "code", letter+"-"+digits)
	for _, args := range [][]string{{"whoami"}, {"addresses"}, {"history"}} {
		r := w.ok(dev, args...)
		if !strings.Contains(r.stdout, shown) || strings.Contains(r.stdout, typed) {
			t.Errorf("%s: %q shows the address without the warning", args[0], r.stdout)
		}
	}
	// A refusal from the flows (the device that made the account is
	// stepped up for its first hour): the address is the only one.
	r = w.run(dev, "address", "unlink", typed)
	if r.status != 1 || !strings.Contains(r.stderr, shown+" is the only confirmed address") {
		t.Errorf("unlink the only address: status %d, stderr %q", r.status, r.stderr)
	}
	// JSON keeps the plain ASCII form, which parses back to the address.
	r = w.ok(dev, "addresses", "--json")
	if !strings.Contains(r.stdout, `"`+ascii+`"`) {
		t.Errorf("addresses --json: %q", r.stdout)
	}
}
