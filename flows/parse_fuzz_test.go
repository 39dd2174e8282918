package flows

import (
	"context"
	"math/rand/v2"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/attest-dev/attest/flows/clock"
	"github.com/attest-dev/attest/flows/message"
	"github.com/attest-dev/attest/internal/inert"
	"github.com/attest-dev/attest/store/bolt"
)

// The parsers a stranger reaches through the flows: a code as typed on the
// command line (`code B-4821`) or in the code screen's field, a
// device-link code (`approve K7QX-M2PA`), a nickname and a star. Each must
// take anything without panicking, answer bad input with a Problem whose
// message is safe for a terminal, and give back only values of its
// documented form, which parse again to themselves.

// checkInputProblem fails t unless err is a ProblemInput whose message a
// terminal shows as it is.
func checkInputProblem(t *testing.T, err error) {
	t.Helper()
	p, ok := AsProblem(err)
	if !ok || p.Code != ProblemInput {
		t.Fatalf("error %#v is not an input problem", err)
	}
	if p.Msg == "" || inert.String(p.Msg) != p.Msg || !utf8.ValidString(p.Msg) {
		t.Fatalf("message %q is not safe to show", p.Msg)
	}
}

var (
	letterRE = regexp.MustCompile(`^[A-Z]{0,3}$`)
	digitsRE = regexp.MustCompile(`^[0-9]{1,6}$`)
)

func FuzzParseCodeInput(f *testing.F) {
	for _, s := range [][2]string{
		{"", "4821"}, {"", "B-4821"}, {"", "B 4821"}, {"", "b4821"}, {"B", "4821"},
		{"B", "C-4821"}, {"", "482 193"}, {"", "AB-123456"}, {"", "ABCD-1"}, {"", "\u0131-1234"},
		{"", "\u017f1234"}, {"", "B-４８２１"}, {"", "\x1b[31m"}, {"", " - "}, {"Z", "1234567"},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, letter, code string) {
		l, c, err := parseCodeInput(letter, code)
		if err != nil {
			checkInputProblem(t, err)
			return
		}
		if !letterRE.MatchString(l) || !digitsRE.MatchString(c) {
			t.Fatalf("parseCodeInput(%q, %q) = %q, %q", letter, code, l, c)
		}
		// What it read, given back in either form, reads the same.
		for _, again := range [][2]string{{l, c}, {"", l + "-" + c}} {
			l2, c2, err := parseCodeInput(again[0], again[1])
			if err != nil || l2 != l || c2 != c {
				t.Fatalf("parseCodeInput(%q, %q) = %q, %q; again %q: %q, %q, %v", letter, code, l, c, again, l2, c2, err)
			}
		}
	})
}

func FuzzParseLinkCode(f *testing.F) {
	for _, s := range []string{"K7QX-M2PA", "k7qxm2pa", " K7QX M2PA ", "K7QX-M2P", "K7QX-M2PAA", "ＫＸ", "0O1I-LLLL", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		c, ok := ParseLinkCode(in)
		if !ok {
			if c != "" {
				t.Fatalf("ParseLinkCode(%q) = %q, false", in, c)
			}
			return
		}
		if len(c) != 8 || strings.Trim(c, linkAlphabet) != "" {
			t.Fatalf("ParseLinkCode(%q) = %q", in, c)
		}
		// The screens show it as XXXX-XXXX.
		for _, again := range []string{c, c[:4] + "-" + c[4:], strings.ToLower(c)} {
			if c2, ok := ParseLinkCode(again); !ok || c2 != c {
				t.Fatalf("ParseLinkCode(%q) = %q; of %q: %q, %v", in, c, again, c2, ok)
			}
		}
	})
}

func FuzzNormalizeNickname(f *testing.F) {
	for _, s := range []string{
		"Ada", "  Ada Lovelace ", "e\u0301", "\u00e9", "\x1b[2J", "a\u202eb", "a\u200bb", "a\u00a0b",
		strings.Repeat("x", 33), strings.Repeat("\u00e9", 32), "\xff", "", "   ", "\u3000Ada\u3000",
		"Z\u0335\u0336\u0337", "\U000E0041", "a\u2028b",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		name, err := NormalizeNickname(in)
		if err != nil {
			checkInputProblem(t, err)
			// The message never repeats the input.
			if p, _ := AsProblem(err); len(in) >= 4 && strings.Contains(p.Msg, in) {
				t.Fatalf("message %q repeats the input", p.Msg)
			}
			return
		}
		if n := utf8.RuneCountInString(name); n < 1 || n > MaxNicknameLen {
			t.Fatalf("NormalizeNickname(%q) = %q: %d characters", in, name, n)
		}
		if inert.String(name) != name || strings.TrimSpace(name) != name {
			t.Fatalf("NormalizeNickname(%q) = %q", in, name)
		}
		if again, err := NormalizeNickname(name); err != nil || again != name {
			t.Fatalf("NormalizeNickname(%q) = %q, but of that: %q, %v", in, name, again, err)
		}
	})
}

// FuzzStar stars and unstars whatever a visitor types, on a real ledger:
// only catalogue items can be starred, and a refusal is safe to show.
func FuzzStar(f *testing.F) {
	l, err := bolt.Open(filepath.Join(f.TempDir(), "attest.db"), bolt.Options{})
	if err != nil {
		f.Fatal(err)
	}
	defer l.Close()
	svc, err := New(Config{
		Ledger: l, Secret: []byte("0123456789abcdef0123456789abcdef-fuzz"),
		Clock: clock.NewFake(time.Date(2026, 11, 21, 9, 0, 0, 0, time.UTC)), Rand: rand.NewChaCha8([32]byte{9}),
		Sender: message.SenderFunc(func(context.Context, message.Message) error { return nil }),
	})
	if err != nil {
		f.Fatal(err)
	}
	defer svc.Close()
	ids := map[string]bool{}
	for _, it := range svc.Catalogue() {
		ids[it.ID] = true
		f.Add(it.ID, true)
		f.Add(strings.ToUpper(" "+it.Name+" "), false)
	}
	f.Add("\x1b]52;c;aGk=\x07", true)
	f.Add(strings.Repeat("\u202e", 100), true)
	dev := KeyDevice("SHA256:fuzz")
	f.Fuzz(func(t *testing.T, item string, on bool) {
		star := svc.Star
		if !on {
			star = svc.Unstar
		}
		v, err := star(context.Background(), dev, item)
		if err != nil {
			checkInputProblem(t, err)
			if p, _ := AsProblem(err); len(p.Msg) > 400 {
				t.Fatalf("message of %d bytes", len(p.Msg))
			}
			return
		}
		for _, s := range v.Stars {
			if !ids[s] {
				t.Fatalf("%q starred %q, not in the catalogue", item, s)
			}
		}
	})
}

var codeInText = regexp.MustCompile(`Code [A-Z]+: (\d+)`)

// FuzzEnterCode types anything into the code field of a device that has a
// code waiting, as the code screen and `code` do: nothing panics, a
// refusal is a Problem safe to show that never repeats what was typed, and
// nothing is ever accepted but the code itself.
func FuzzEnterCode(f *testing.F) {
	l, err := bolt.Open(filepath.Join(f.TempDir(), "attest.db"), bolt.Options{})
	if err != nil {
		f.Fatal(err)
	}
	defer l.Close()
	fake := clock.NewFake(time.Date(2026, 11, 21, 9, 0, 0, 0, time.UTC))
	sent := make(chan message.Message, 1)
	svc, err := New(Config{
		Ledger: l, Secret: []byte("0123456789abcdef0123456789abcdef-fuzz"),
		Clock: fake, Rand: rand.NewChaCha8([32]byte{9}),
		Sender: message.SenderFunc(func(_ context.Context, m message.Message) error { sent <- m; return nil }),
	})
	if err != nil {
		f.Fatal(err)
	}
	defer svc.Close()
	dev := KeyDevice("SHA256:fuzz")
	for _, s := range [][2]string{{"A", "0000"}, {"", "A-0000"}, {"", "B 123456"}, {"Q", "x"}, {"", "\x1b[2J1234"}, {"", strings.Repeat("9", 5000)}} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, letter, typed string) {
		// A fresh code each time (a day later, past the governor and any
		// back-off), so that every input reaches the comparison.
		fake.Advance(25 * time.Hour)
		if _, err := svc.RequestSignIn(context.Background(), dev, "ada@example.com"); err != nil {
			t.Fatal(err)
		}
		code := codeInText.FindStringSubmatch((<-sent).Text)[1]
		e, err := svc.EnterCode(context.Background(), dev, letter, typed)
		if err == nil {
			// Only the code itself, in any of the forms the parser reads.
			if _, c, perr := parseCodeInput(letter, typed); perr != nil || c != code {
				t.Fatalf("EnterCode(%q, %q) accepted: %+v", letter, typed, e)
			}
			return
		}
		p, ok := AsProblem(err)
		if !ok {
			t.Fatalf("EnterCode(%q, %q): %v", letter, typed, err)
		}
		if p.Msg == "" || inert.String(p.Msg) != p.Msg || !utf8.ValidString(p.Msg) {
			t.Fatalf("message %q is not safe to show", p.Msg)
		}
		if len(typed) >= 3 && strings.Contains(p.Msg, typed) {
			t.Fatalf("message %q repeats the input %q", p.Msg, typed)
		}
	})
}

// Letters typed into a code field read as what they are.
func TestParseCodeInputMessages(t *testing.T) {
	for _, c := range []struct{ letter, typed, want string }{
		{"A", "ab", `a code is 4 or 6 digits, like the 4821 in "Code B: 4821"; type the digits only`},
		{"", "ab", `a code is 4 or 6 digits, like the 4821 in "Code B: 4821"; type the digits only`},
		{"B", "C-4821", "this field is for code B, not code C: type code B's digits"},
	} {
		_, _, err := parseCodeInput(c.letter, c.typed)
		if p, ok := AsProblem(err); !ok || p.Msg != c.want {
			t.Errorf("parseCodeInput(%q, %q): %v, want %q", c.letter, c.typed, err, c.want)
		}
	}
}
