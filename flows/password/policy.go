package password

import (
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	zxcvbn "github.com/ccojocar/zxcvbn-go"
	"github.com/ccojocar/zxcvbn-go/adjacency"
	"github.com/ccojocar/zxcvbn-go/match"
	"github.com/ccojocar/zxcvbn-go/matching"
	"github.com/ccojocar/zxcvbn-go/scoring"
	"golang.org/x/text/unicode/norm"
)

// Lengths are counted in Unicode code points after NFKC normalization
// (NIST SP 800-63B-4 §3.1.1.2).
const (
	// MinLength applies to a password used with another factor.
	MinLength = 8
	// MinLengthOnlyFactor applies when the password alone signs the
	// account in (NIST SP 800-63B-4: 15 for single-factor use).
	MinLengthOnlyFactor = 15
	// MaxLength is well above NIST's "at least 64 allowed" and low enough
	// that nobody can hand argon2 a megabyte.
	MaxLength = 256
	// EstimateLength is how many code points of a password the estimator
	// reads (see estimate): a password whose first 64 are hard to guess is
	// hard to guess.
	EstimateLength = 64
	// MinScore is the least zxcvbn score (0–4) accepted: 3 means about
	// 10^8 guesses or more by the estimator's model.
	MinScore = 3
)

// maxPasswordBytes bounds the bytes of a normalized password: MaxLength
// code points of at most 4 bytes each. Hash refuses anything longer.
const maxPasswordBytes = 4 * MaxLength

// maxInputBytes bounds what Check will even normalize. NFKC can shrink a
// string (composed sequences, full-width forms), so the raw bound is
// looser than maxPasswordBytes; anything above it is refused as too long
// without further work.
const maxInputBytes = 4 * maxPasswordBytes

// Problem says which rule a refused password broke.
type Problem int

// Problems, in the order Check tests them.
const (
	ProblemNotText      Problem = iota + 1 // not valid UTF-8
	ProblemControl                         // contains a control character
	ProblemTooShort                        // fewer code points than the minimum
	ProblemTooLong                         // more than MaxLength code points
	ProblemTooGuessable                    // the estimator scored it below MinScore
)

// PolicyError is Check's refusal. Its message is fixed text, fit to show
// the user as it is; it never contains the password or any part of it,
// so it may also be logged.
type PolicyError struct {
	Problem Problem
	Message string
}

func (e *PolicyError) Error() string { return e.Message }

func refuse(p Problem, msg string) *PolicyError { return &PolicyError{Problem: p, Message: msg} }

// Normalize returns the NFKC form of password: the form Check judges and
// Hash and Verify should be given, so that equivalent spellings (full-width
// letters, composed and decomposed accents, ligatures) are one password.
func Normalize(password string) string { return norm.NFKC.String(password) }

// Check reports whether password may be set; the error, when not nil, is a
// *PolicyError. onlyFactor says the password alone signs the account in
// (then it needs MinLengthOnlyFactor code points, else MinLength).
// userInputs are what the account already shows about its owner (its
// email addresses, nickname): passwords built from them are refused.
//
// There are no composition rules (NIST): length and the estimator decide.
// The estimator's work is bounded (see estimate): a few milliseconds for a
// typical password, and for the worst input found a fraction of one
// argon2id hash at DefaultParams. A server runs it through Hasher.Check,
// in the hashing slots, so that a flood of sign-ups queues behind the
// same bound as a flood of sign-ins.
func Check(password string, onlyFactor bool, userInputs ...string) error {
	if len(password) > maxInputBytes {
		return tooLong()
	}
	if !utf8.ValidString(password) {
		return refuse(ProblemNotText, "That password is not valid text. Type it again, or paste it from your password manager.")
	}
	pw := Normalize(password)
	for _, r := range pw {
		if unicode.IsControl(r) {
			return refuse(ProblemControl, "Passwords cannot contain control characters such as tabs or line breaks.")
		}
	}
	n := utf8.RuneCountInString(pw)
	if n < minLength(onlyFactor) {
		if onlyFactor {
			return refuse(ProblemTooShort, "Use at least 15 characters: this password alone will sign you in, so it has to be long.")
		}
		return refuse(ProblemTooShort, "Use at least 8 characters.")
	}
	if n > MaxLength || len(pw) > maxPasswordBytes {
		return tooLong()
	}
	if why, ok := guessable(pw, hints(userInputs)); ok {
		return refuse(ProblemTooGuessable, "This password is too easy to guess: "+why)
	}
	return nil
}

func minLength(onlyFactor bool) int {
	if onlyFactor {
		return MinLengthOnlyFactor
	}
	return MinLength
}

func tooLong() *PolicyError {
	return refuse(ProblemTooLong, "Use at most 256 characters.")
}

// guessable runs the estimator and, when the score is too low, explains
// why in words. The explanation comes from the kinds of patterns found,
// never from their text: the matched tokens are pieces of the password.
func guessable(pw string, inputs []string) (string, bool) {
	res := estimate(pw, inputs)
	score, seq := res.Score, res.MatchSequence
	// The estimator (zxcvbn before 4.0) only sees runs of one repeated
	// character, so "ab1!ab1!ab1!ab1!" would pass as random. A password
	// that is its own shortest piece repeated is no harder to guess than
	// that piece; judge the piece instead.
	if unit, ok := repeatedUnit(pw); ok {
		u := estimate(unit, inputs)
		if u.Score < score {
			score = u.Score
			seq = append(u.MatchSequence, match.Match{Pattern: patternWholeRepeat})
		}
	}
	if score >= MinScore {
		return "", false
	}
	return explain(seq), true
}

// estimate is zxcvbn with bounded work. The library's cost grows with the
// cube of the length (every substring of the password is looked up in
// every dictionary, each lookup copying it) and, in its l33t matcher,
// exponentially with the number of distinct look-alike characters (each
// choice of letter for each of them is a new string run through every
// dictionary): 256 characters of "4@8({[<3|!1" took 6.5 s, and 128 of the
// 20 look-alikes 6.7 s. So:
//
//   - it reads the first EstimateLength code points only. Refusing on a
//     prefix is safe (a guessable start stays guessable), and a password
//     whose first 64 code points score well needs no more;
//   - it skips the l33t matcher and reads the prefix again with every
//     look-alike replaced by its letter, once with each reading of the
//     ambiguous ones (1, | and 7 are i, l or t), keeping the lowest score.
//     That finds "p@ssw0rd" as "password" in three estimator runs, however
//     many look-alikes there are; it scores such passwords a little lower
//     than zxcvbn's own l33t matcher would (no bonus for the substitution),
//     which only errs towards refusing them.
//
// BenchmarkEstimate and TestEstimateCostBounded measure the result
// against one argon2id hash; FuzzEstimate looks for slow inputs.
func estimate(pw string, inputs []string) scoring.MinEntropyMatch {
	if rs := []rune(pw); len(rs) > EstimateLength {
		pw = string(rs[:EstimateLength])
	}
	best := zxcvbn.PasswordStrength(pw, inputs, matching.FilterL33tMatcher)
	for _, plain := range unleet(pw) {
		if r := zxcvbn.PasswordStrength(plain, inputs, matching.FilterL33tMatcher); r.Score < best.Score {
			best = r
		}
	}
	return best
}

// leetReadings maps each look-alike character to the letters it stands
// for, from the estimator's own l33t table, sorted.
var leetReadings = func() map[rune][]rune {
	out := map[rune][]rune{}
	for letter, subs := range adjacency.GraphMap["l33t"].Graph {
		l := []rune(letter)[0]
		for _, sub := range subs {
			r := []rune(sub)[0]
			out[r] = append(out[r], l)
		}
	}
	for _, ls := range out {
		slices.Sort(ls)
	}
	return out
}()

// unleet returns pw with every look-alike replaced by a letter: once with
// the first reading of each (1 as i), once with the last (1 as l), leaving
// out a reading equal to pw or to the other one.
func unleet(pw string) []string {
	var first, last strings.Builder
	for _, r := range pw {
		ls, ok := leetReadings[r]
		if !ok {
			first.WriteRune(r)
			last.WriteRune(r)
			continue
		}
		first.WriteRune(ls[0])
		last.WriteRune(ls[len(ls)-1])
	}
	var out []string
	if a := first.String(); a != pw {
		out = append(out, a)
	}
	if b := last.String(); b != pw && b != first.String() {
		out = append(out, b)
	}
	return out
}

const patternWholeRepeat = "whole-repeat"

// repeatedUnit returns u when pw is u repeated two or more times.
func repeatedUnit(pw string) (string, bool) {
	rs := []rune(pw)
	n := len(rs)
	for size := 1; size <= n/2; size++ {
		if n%size != 0 {
			continue
		}
		ok := true
		for i := size; i < n && ok; i++ {
			ok = rs[i] == rs[i-size]
		}
		if ok {
			return string(rs[:size]), true
		}
	}
	return "", false
}

// reasons, strongest first: the first kind of pattern present explains
// the refusal.
var reasons = []struct {
	found func(match.Match) bool
	text  string
}{
	{func(m match.Match) bool { return m.Pattern == "dictionary" && m.DictionaryName == "user_inputs" },
		"it is built from your email address or nickname. Leave those out."},
	{func(m match.Match) bool { return m.Pattern == "dictionary" && m.DictionaryName == "Passwords" },
		"it is built on one of the most common passwords, which attackers try first. Use something less common, such as several unrelated words."},
	{func(m match.Match) bool { return m.Pattern == patternWholeRepeat || m.Pattern == "repeat" },
		"it repeats the same characters. Repeating does not make a password much harder to guess."},
	{func(m match.Match) bool { return m.Pattern == "spatial" },
		"it follows a row or pattern of keys on the keyboard. Use unrelated words instead."},
	{func(m match.Match) bool { return m.Pattern == "sequence" },
		"it contains a run such as abc or 1234. Add unrelated words instead."},
	{func(m match.Match) bool { return strings.HasPrefix(m.Pattern, "date") },
		"it leans on a date, and dates are easy to guess. Add unrelated words instead."},
	{func(m match.Match) bool { return m.Pattern == "dictionary" },
		"it is made of common words or names. Add more words, and make them less common."},
}

func explain(seq []match.Match) string {
	for _, r := range reasons {
		for _, m := range seq {
			if r.found(m) {
				return r.text
			}
		}
	}
	return "it is too short for the kinds of characters it uses. Make it longer, for example with a few unrelated words."
}

// hints turns the account's own strings into estimator dictionary words:
// each whole input, and for an email address its local part, the pieces
// of the local part and the domain's first label. Pieces under 3 code
// points are dropped: "jo" would match inside half the passwords people
// choose and say nothing about the person.
func hints(userInputs []string) []string {
	var out []string
	add := func(s string) {
		s = strings.ToLower(strings.TrimSpace(Normalize(s)))
		if n := utf8.RuneCountInString(s); n >= 3 && n <= MaxLength {
			out = append(out, s)
		}
	}
	for _, in := range userInputs {
		if len(in) > maxInputBytes || !utf8.ValidString(in) {
			continue
		}
		add(in)
		local, domain, isEmail := strings.Cut(in, "@")
		if isEmail {
			add(local)
			if label, _, _ := strings.Cut(domain, "."); label != "" {
				add(label)
			}
		}
		for _, piece := range strings.FieldsFunc(local, func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsNumber(r) }) {
			add(piece)
		}
	}
	return out
}
