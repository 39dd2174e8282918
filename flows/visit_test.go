package flows_test

import (
	"strings"
	"testing"

	"github.com/attest-dev/attest/flows"
)

// "an anonymous user sets their nickname, and stars something"
func TestAnonymousVisitorSetsNicknameAndStars(t *testing.T) {
	h := newHarness(t, flows.Policy{})
	dev := device("laptop")

	// A visitor who only looks leaves no trace: the user tag is lazy.
	if v := h.visit(dev); v.User != "" || v.Account {
		t.Fatalf("a first look made a user: %+v", v)
	}
	if h.head() != 0 {
		t.Fatalf("a first look wrote %d facts", h.head())
	}

	v, err := h.svc.SetNickname(ctx, dev, "  Ada  ")
	if err != nil {
		t.Fatal(err)
	}
	if v.User == "" || v.Account || v.Nickname != "Ada" {
		t.Fatalf("after the nickname: %+v", v)
	}
	user := v.User
	for _, item := range []string{"vega", "Sirius"} {
		if v, err = h.svc.Star(ctx, dev, item); err != nil {
			t.Fatal(err)
		}
	}
	if v.User != user || !hasAll(v.Stars, "vega", "sirius") {
		t.Fatalf("after starring: %+v", v)
	}
	// Starring again changes nothing and writes nothing.
	before := h.head()
	if _, err := h.svc.Star(ctx, dev, "vega"); err != nil {
		t.Fatal(err)
	}
	if h.head() != before {
		t.Fatal("starring twice wrote a fact")
	}
	// Unstarring is a fact of its own; the star fact stays in the ledger.
	if v, err = h.svc.Unstar(ctx, dev, "vega"); err != nil {
		t.Fatal(err)
	}
	if !hasAll(v.Stars, "sirius") {
		t.Fatalf("after unstarring: %v", v.Stars)
	}
	if n := len(h.facts(flows.KindStarAdded)); n != 2 {
		t.Fatalf("%d star facts, want 2", n)
	}
	if n := len(h.facts(flows.KindStarRemoved)); n != 1 {
		t.Fatalf("%d unstar facts, want 1", n)
	}

	// Coming back with the same key, after a restart, shows the same.
	h.restart(flows.Policy{})
	v = h.visit(dev)
	if v.User != user || v.Nickname != "Ada" || !hasAll(v.Stars, "sirius") {
		t.Fatalf("after coming back: %+v", v)
	}
	// Another key is another visitor.
	if other := h.visit(device("phone")); other.User != "" {
		t.Fatalf("another device sees %+v", other)
	}
}

func TestNicknameRules(t *testing.T) {
	cases := []struct {
		in, want string
		bad      string // a fragment of the refusal
	}{
		{in: "Ada", want: "Ada"},
		{in: "  spaced out ", want: "spaced out"},
		{in: "e\u0301cole", want: "\u00e9cole"}, // NFC joins e + combining acute
		{in: strings.Repeat("x", 32), want: strings.Repeat("x", 32)},
		{in: strings.Repeat("é", 32), want: strings.Repeat("é", 32)}, // characters, not bytes
		{in: "", bad: "at least one"},
		{in: "   ", bad: "at least one"},
		{in: strings.Repeat("x", 33), bad: "at most 32"},
		{in: "evil\x1b[2J", bad: "control"},
		{in: "\x1b]52;c;aGVsbG8=\x07", bad: "control"},
		{in: "line\rbreak", bad: "control"},
		{in: "tab\there", bad: "control"},
		{in: "rtl\u202eoverride", bad: "visible"},
		{in: "zero\u200bwidth", bad: "visible"},
		{in: "bad\xffutf8", bad: "UTF-8"},
	}
	for _, c := range cases {
		got, err := flows.NormalizeNickname(c.in)
		if c.bad != "" {
			p := wantProblem(t, err, flows.ProblemInput)
			if !strings.Contains(p.Msg, c.bad) {
				t.Errorf("%q: message %q lacks %q", c.in, p.Msg, c.bad)
			}
			if strings.ContainsAny(p.Msg, "\x1b\r\x07") {
				t.Errorf("%q: message echoes control characters: %q", c.in, p.Msg)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("%q: got %q, %v; want %q", c.in, got, err, c.want)
		}
	}
}

func TestBadInputWritesNothing(t *testing.T) {
	h := newHarness(t, flows.Policy{})
	dev := device("laptop")
	if _, err := h.svc.SetNickname(ctx, dev, "\x1b[31mred"); err == nil {
		t.Fatal("an escape sequence was accepted")
	}
	_, err := h.svc.Star(ctx, dev, "\x1b[2Jnot-a-star")
	p := wantProblem(t, err, flows.ProblemInput)
	if strings.Contains(p.Msg, "\x1b") {
		t.Fatalf("the refusal echoes the escape: %q", p.Msg)
	}
	if _, err := h.svc.RequestSignIn(ctx, dev, "not an address"); err == nil {
		t.Fatal("a non-address was accepted")
	}
	if _, err := h.svc.EnterCode(ctx, dev, "", "12ab"); err == nil {
		t.Fatal("a non-code was accepted")
	}
	if h.head() != 0 {
		t.Fatalf("bad input wrote %d facts", h.head())
	}
}
