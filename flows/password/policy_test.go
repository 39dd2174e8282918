package password

import (
	"errors"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"
)

func TestCheck(t *testing.T) {
	long := "grapefruit umbrella cathedral ostrich velvet accordion glacier 9"
	email := "zanzibar.quokka@example.org"
	for _, c := range []struct {
		name       string
		password   string
		onlyFactor bool
		inputs     []string
		want       Problem // 0: accepted
	}{
		{"7 characters", "Xk4mz9q", false, nil, ProblemTooShort},
		{"8 characters with another factor", "Xk4mz9qw", false, nil, 0},
		{"8 characters alone", "Xk4mz9qw", true, nil, ProblemTooShort},
		{"14 characters alone", "Xk4mz9qwPl7#vB", true, nil, ProblemTooShort},
		{"15 characters alone", "Xk4mz9qwPl7#vBn", true, nil, 0},
		{"empty", "", false, nil, ProblemTooShort},
		{"64 characters", long, true, nil, 0},
		{"256 characters", strings.Repeat(long, 4), true, nil, 0},
		{"257 characters", strings.Repeat(long, 4) + "x", true, nil, ProblemTooLong},
		{"a megabyte", strings.Repeat("Xk4mz9qw", 1<<17), true, nil, ProblemTooLong},
		{"passphrase", "correct horse battery staple", true, nil, 0},
		{"Cyrillic", "Лето в Вологде было жарким", true, nil, 0},
		{"Japanese", "日本語のパスワードです", false, nil, 0},
		{"emoji", "🦊 jumps over 🐢 at dawn", true, nil, 0},
		// NFKC: full-width letters are judged as the ASCII they stand for.
		{"full-width common password", "ｐａｓｓｗｏｒｄ１２３", false, nil, ProblemTooGuessable},
		{"full-width passphrase", "ｃｏｒｒｅｃｔ ｈｏｒｓｅ ｂａｔｔｅｒｙ ｓｔａｐｌｅ", true, nil, 0},
		// Length is counted after NFKC: 8 decomposed é are 16 code points
		// as typed and 8 after composing, so length is not what refuses
		// them (guessability is).
		{"decomposed accents", strings.Repeat("e\u0301", 8), true, nil, ProblemTooShort},
		{"decomposed accents, other factor", strings.Repeat("e\u0301", 8), false, nil, ProblemTooGuessable},
		{"password1", "password1", false, nil, ProblemTooGuessable},
		{"qwertyuiop", "qwertyuiop", false, nil, ProblemTooGuessable},
		{"iloveyou123", "iloveyou123", false, nil, ProblemTooGuessable},
		{"monkey123", "monkey123", false, nil, ProblemTooGuessable},
		{"letmein!", "letmein!", false, nil, ProblemTooGuessable},
		{"keyboard run", "1qaz2wsx3edc", false, nil, ProblemTooGuessable},
		{"sequence", "abcdefghijklmnop", true, nil, ProblemTooGuessable},
		{"one character", strings.Repeat("a", 20), true, nil, ProblemTooGuessable},
		{"short piece repeated", strings.Repeat("ab1!", 8), true, nil, ProblemTooGuessable},
		{"long piece repeated is fine", strings.Repeat("correct horse battery staple ", 2), true, nil, 0},
		{"email local part", "zanzibar.quokka", true, []string{email}, ProblemTooGuessable},
		{"email local part squashed", "zanzibarquokka!", true, []string{email}, ProblemTooGuessable},
		{"email local part, other factor", "zanzibar.quokka", false, []string{email}, ProblemTooGuessable},
		{"nickname", "Quokkalicious!", false, []string{email, "quokkalicious"}, ProblemTooGuessable},
		{"tab", "correct\thorse battery", true, nil, ProblemControl},
		{"newline", "correct horse\nbattery", true, nil, ProblemControl},
		{"NUL", "correct horse\x00battery", true, nil, ProblemControl},
		{"escape sequence", "\x1b[2Jcorrect horse battery", true, nil, ProblemControl},
		{"DEL", "correct horse battery\x7f", true, nil, ProblemControl},
		{"C1 control", "correct horse\u0085battery", true, nil, ProblemControl},
		{"not UTF-8", "correct horse \xff battery", true, nil, ProblemNotText},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := Check(c.password, c.onlyFactor, c.inputs...)
			if c.want == 0 {
				if err != nil {
					t.Fatalf("Check refused: %v", err)
				}
				return
			}
			var pe *PolicyError
			if !errors.As(err, &pe) {
				t.Fatalf("Check = %v, want a *PolicyError with problem %d", err, c.want)
			}
			if pe.Problem != c.want {
				t.Fatalf("Check: problem %d (%q), want %d", pe.Problem, pe.Message, c.want)
			}
			msg := err.Error()
			if msg == "" || !strings.HasSuffix(msg, ".") {
				t.Errorf("message %q is not a sentence", msg)
			}
			if c.password != "" && (strings.Contains(msg, c.password) || strings.Contains(msg, Normalize(c.password))) {
				t.Errorf("message %q contains the password", msg)
			}
		})
	}
}

func TestCheckSaysWhy(t *testing.T) {
	for _, c := range []struct {
		password string
		inputs   []string
		says     string
	}{
		{"password1", nil, "most common passwords"},
		{"zanzibar.quokka", []string{"zanzibar.quokka@example.org"}, "email address or nickname"},
		{"asdfghjkl;'", nil, "keys on the keyboard"},
		{strings.Repeat("ab1!", 8), nil, "repeats"},
		{"abcdefghijklmnop", nil, "abc or 1234"},
	} {
		err := Check(c.password, false, c.inputs...)
		if err == nil || !strings.Contains(err.Error(), c.says) {
			t.Errorf("Check(%q) = %v, want a reason mentioning %q", c.password, err, c.says)
		}
	}
}

func TestCheckUserInputsMatter(t *testing.T) {
	// The same password passes for someone else: it is refused because of
	// whose it is, not because the estimator dislikes it.
	pw := "zanzibarquokka!"
	if err := Check(pw, true, "ada@example.org"); err != nil {
		t.Fatalf("Check for an unrelated account: %v", err)
	}
	if err := Check(pw, true, "zanzibar.quokka@example.org"); err == nil {
		t.Fatal("Check accepted a password made of the account's email address")
	}
}

func TestCheckNFKCEquivalence(t *testing.T) {
	// Equivalent spellings get the same verdict, and Normalize makes them
	// one string for hashing.
	for _, pair := range [][2]string{
		{"ｐａｓｓｗｏｒｄ１２３", "password123"},
		{"ｃｏｒｒｅｃｔ ｈｏｒｓｅ ｂａｔｔｅｒｙ ｓｔａｐｌｅ", "correct horse battery staple"},
		{"Cafe\u0301 au lait on the terrace", "Café au lait on the terrace"},
		{"\ufb03ne \ufb02ights over the harbour", "ffine flights over the harbour"},
	} {
		a, b := Check(pair[0], true), Check(pair[1], true)
		if (a == nil) != (b == nil) {
			t.Errorf("Check(%q) = %v but Check(%q) = %v", pair[0], a, pair[1], b)
		}
		if Normalize(pair[0]) != Normalize(pair[1]) {
			t.Errorf("Normalize(%q) = %q, Normalize(%q) = %q", pair[0], Normalize(pair[0]), pair[1], Normalize(pair[1]))
		}
	}
}

func TestCheckConcurrent(t *testing.T) {
	// The estimator keeps package-level tables; many sign-ups at once must
	// not race on them (run with -race).
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			pw := []string{"password1", "correct horse battery staple", "Лето в Вологде было жарким", "1qaz2wsx3edc"}[i%4]
			_ = Check(pw, false, "ada.lovelace@example.org", "ada")
		})
	}
	wg.Wait()
}

func TestHints(t *testing.T) {
	got := strings.Join(hints([]string{"Grace.Hopper+navy@Example.org", "Amazing Grace", "jo"}), "|")
	want := "grace.hopper+navy@example.org|grace.hopper+navy|example|grace|hopper|navy|amazing grace|amazing|grace"
	if got != want {
		t.Fatalf("hints = %q\nwant    %q", got, want)
	}
}

func FuzzCheck(f *testing.F) {
	for _, s := range []string{"password1", "correct horse battery staple", "ｐａｓｓｗｏｒｄ", "e\u0301e\u0301", "\xff\xfe", "日本語のパスワードです", "ab1!ab1!ab1!"} {
		f.Add(s, "ada.lovelace@example.org")
	}
	f.Fuzz(func(t *testing.T, pw, input string) {
		err := Check(pw, false, input)
		if err == nil {
			if n := utf8.RuneCountInString(Normalize(pw)); n < MinLength || n > MaxLength {
				t.Fatalf("accepted %d code points", n)
			}
			return
		}
		var pe *PolicyError
		if !errors.As(err, &pe) || pe.Message == "" {
			t.Fatalf("Check returned %T %v, want a *PolicyError with a message", err, err)
		}
	})
}

// BenchmarkCheck shows what the estimator costs: a typical passphrase,
// and the longest password Check will look at.
func BenchmarkCheck(b *testing.B) {
	for name, pw := range map[string]string{
		"passphrase": "correct horse battery staple",
		"256":        strings.Repeat("grapefruit umbrella cathedral ostrich velvet accordion glacier 9", 4),
	} {
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				_ = Check(pw, true, "ada.lovelace@example.org", "ada")
			}
		})
	}
}
