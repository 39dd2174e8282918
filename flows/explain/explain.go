// Package explain says in plain words what a fact of the ledger records
// and why it was written the way it was: "code B, 4 digits: this device's
// second code in 24 h". The screens' ledger panel and the `facts --explain`
// commands both call it, so a fact reads the same wherever it is shown.
//
// It reads only what the fact's body recorded. Facts written before a
// body field existed still explain, with less why. It never shows a
// secret: codes, tokens and seeds are not in the ledger to begin with,
// and MACs, sealed copies and password hashes are left out.
//
// The text it returns comes partly from the ledger (masked addresses,
// nicknames, item ids), so callers make it inert before it reaches a
// terminal.
package explain

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/attest-dev/attest/flows"
	"github.com/attest-dev/attest/store"
)

// Line is one fact in plain words.
type Line struct {
	Seq   uint64
	Time  time.Time
	Kind  string // the fact's kind, as the ledger names it
	What  string // what happened: "code B emailed"
	About string // what it is about: a masked address, an item, a device
	Why   string // why it was written this way; may be empty
}

// String is the line as a command prints it: time, kind, what, about, why.
func (l Line) String() string {
	s := l.Time.UTC().Format("2006-01-02 15:04:05 UTC") + "  " + l.Kind + "  " + l.What
	if l.About != "" {
		s += " · " + l.About
	}
	if l.Why != "" {
		s += " — " + l.Why
	}
	return s
}

// Masks gives the masked form of an address by its hash ("" when
// unknown).
type Masks func(hash string) string

// Fact explains one fact. masked may be nil.
func Fact(f store.Fact, masked Masks) Line {
	l := Line{Seq: f.Seq, Time: f.Time, Kind: f.Kind}
	about := func(body string) string {
		if body != "" {
			return body
		}
		if f.Address != "" && masked != nil {
			if m := masked(f.Address); m != "" {
				return m
			}
		}
		if f.Address != "" {
			return "an address"
		}
		return ""
	}
	var b body
	// A body that does not decode explains as no body: the kind and time
	// still say what happened.
	_ = json.Unmarshal(f.Body, &b)
	l.About = about(b.Masked)

	switch f.Kind {
	case flows.KindUserCreated:
		l.What, l.About = "user tag created", short(f.User)
		l.Why = map[string]string{
			"visit":    "an anonymous visitor's first write (a nickname or a star) needs a tag to keep it under",
			"signup":   "a right code for an address no account has confirmed: sign-in is sign-up",
			"register": "a password login for a new address: the account waits for its link",
			"admin":    "an administrator registered the user",
		}[b.Via]
	case flows.KindUserMerged:
		l.What, l.About = "visitor merged into an account", short(f.User)+" → "+short(b.Into)
		l.Why = "an anonymous visitor signed in to an existing account: its tag now resolves to the account"
	case flows.KindUserAbsorbed:
		l.What, l.About = "merge", "from "+short(b.From)
		l.Why = mergeWhy(b)
	case flows.KindDeviceSignedIn:
		l.What, l.About = "device signed in", short(f.Device)
		l.Why = signedInWhy(b.Method)
	case flows.KindDeviceSignedOut:
		l.What, l.About = "device signed out", short(f.Device)
		l.Why = map[string]string{
			"signout": "the device asked to sign out",
			"switch":  "the device signed in as someone else",
		}[b.Reason]
	case flows.KindDeviceSeen:
		l.What, l.About = "device seen", short(f.Device)
		l.Why = "a signed-in device connected (recorded at most once a day): its sign-in lapses 30 days after the last one"
	case flows.KindSignedOutAll:
		l.What, l.About = "signed out everywhere", "asked by "+short(f.Device)
		l.Why = "every device signed in to the account before now is signed out; its other addresses are told"
	case flows.KindNicknameSet:
		l.What, l.About = "nickname set", quote(b.Nickname)
		if b.Nickname == "" {
			l.What = "nickname cleared"
		}
		if b.From != "" {
			l.Why = "brought over from the merged visitor " + short(b.From)
		}
		if b.Split {
			l.Why = "it came with the sign-in of an address that split off, and went with it"
		}
	case flows.KindStarAdded, flows.KindStarRemoved:
		l.What, l.About = "star added", b.Item
		if f.Kind == flows.KindStarRemoved {
			l.What = "star removed"
		}
		if b.From != "" {
			l.Why = "brought over from the merged visitor " + short(b.From)
		}
		if b.Split {
			l.Why = "it came with the sign-in of an address that split off, and went with it"
		}
	case flows.KindAddressAdded:
		l.What = "address claimed"
		if b.Kind != "" {
			l.What += " (" + b.Kind + ")"
		}
		l.Why = "a claim, not yet proven: several users may claim an address, one at a time can confirm it"
	case flows.KindAddressConfirmed:
		l.What = "address confirmed"
		l.Why = confirmedWhy(b.Method)
	case flows.KindAddressEnded:
		l.What = "address ended"
		l.Why = map[string]string{
			"unlinked":   "unlinked by the account (never its last confirmed one)",
			"replaced":   "claimed again by the same user: the new claim replaces it",
			"superseded": "another user confirmed it: only one owner at a time",
			"edited":     "edited into another address",
			"split":      "taken out of the account by a split",
			"removed":    "a remembered key removed",
			"forgotten":  "keys forgotten at sign-out everywhere",
		}[b.Reason]
	case flows.KindCodeEmailed, flows.KindCodeTexted:
		l.What = fmt.Sprintf("code %s %s", b.Letter, sentVerb(f.Kind))
		l.Why = codeWhy(b)
	case flows.KindCodeFailed:
		l.What = "wrong code"
		if b.Letter != "" {
			l.What = "wrong code " + b.Letter
		}
		if b.Left != nil {
			left := fmt.Sprintf("%d tries", *b.Left)
			if *b.Left == 1 {
				left = "1 try"
			}
			l.Why = left + " left for this code; 10 wrong in a row for an address start a back-off"
		}
	case flows.KindCodeAccepted:
		l.What = "right code"
		if b.Letter != "" {
			l.What = "right code " + b.Letter
		}
		l.Why = "the code works once: the address is proven"
	case flows.KindMessageHeld:
		l.What = "governor: " + b.What + " held back"
		l.Why = heldWhy(b)
	case flows.KindLinkEmailed, flows.KindLinkTexted:
		l.What = "link " + sentVerb(f.Kind)
		l.Why = "one use, " + lasting(f.Time, b.Expires) + ", for the terminal that asked and shows its check"
		if b.Label != "" { // a link from before checks named its terminal so
			l.Why = "one use, " + lasting(f.Time, b.Expires) + ", for the terminal labelled " + b.Label
		}
		if g := nextWhy(b); g != "" {
			l.Why += "; " + g
		}
	case flows.KindLinkUsed:
		l.What = "link used"
		l.Why = "its button was pressed: it works once"
	case flows.KindLinkRefused:
		l.What = "link ended by a wrong check"
		l.Why = "its page was given other characters than the terminal that asked for it shows; the link had its one attempt"
	case flows.KindStepUpGranted:
		l.What, l.About = "stepped up", short(f.Device)
		l.Why = "this device only, until " + clock(b.Expires)
		if f := factorWords(b.Factor); f != "" {
			l.Why = f + "; " + l.Why
		}
	case flows.KindNoticeQueued:
		l.What = "notice to the account's address"
		l.Why = "a change to how the account signs in (" + strings.NewReplacer(".", " ", "_", " ").Replace(b.About) + ") is told to its other addresses, with no secret in it"
	case flows.KindLinkRequested:
		l.What, l.About = "device link code shown", short(f.Device)
		l.Why = "a signed-in, stepped-up device can approve it until " + clock(b.Expires)
	case flows.KindLinkApproved:
		l.What, l.About = "device linked", short(f.Device)
		l.Why = "approved by " + short(b.By)
	case flows.KindSplitOffered:
		l.What = "split offered"
		l.Why = "signed in all the same; the account has another confirmed address of this kind, so this device may make the address an account of its own (m, or split new)"
	case flows.KindLinkAttached:
		l.What = "link sent with the code"
		l.Why = "either confirms the address: the link works once, " + lasting(f.Time, b.Expires) + ", for this account and address"
	case flows.KindSupportRefused:
		l.What, l.About = "refused: contact support", ""
		l.Why = "the person was told to quote this fact's number and time"
	case flows.KindRegistrationAbandoned:
		l.What = "registration abandoned"
		l.Why = "every challenge expired with nothing confirmed; its unconfirmed address ended, nothing was deleted"
	case flows.KindSplitChosen:
		l.What = "split chosen: " + b.Choice
		if b.Choice == "new" {
			l.Why = "the address left its account for an account of its own"
			var took []string
			switch n := len(b.Stars); {
			case n == 1:
				took = append(took, "1 star")
			case n > 1:
				took = append(took, fmt.Sprintf("%d stars", n))
			}
			if b.Nickname != "" {
				took = append(took, "the nickname "+quote(b.Nickname))
			}
			if len(took) > 0 {
				l.Why += "; " + strings.Join(took, " and ") + " this device had before its sign-in went along"
			}
		}
	case flows.KindPasswordSet:
		l.What, l.About = "password set", ""
		l.Why = "stored as an argon2id hash, never shown"
		if b.Rehash {
			l.What = "password rehashed"
			l.Why = "the same password, typed right, hashed again at the server's current argon2id costs (its old hash's were lower); not a change, so nobody is told"
		}
	case flows.KindPasswordFailed:
		l.What = "wrong password or new login"
		l.Why = "counts toward the address's back-off"
	case flows.KindPasswordAccepted:
		l.What = "right password"
	case flows.KindTOTPAdded:
		l.What, l.About = "authenticator app enrolment started", ""
		l.Why = "nothing changes until the app's first code confirms it; its secret is sealed and never shown again"
	case flows.KindTOTPConfirmed:
		l.What, l.About = "authenticator app on", ""
		l.Why = "every new sign-in of a device now waits for its code"
	case flows.KindTOTPUsed:
		l.What, l.About = "authenticator code accepted", ""
		l.Why = "each 30-second code works once per account"
		if b.Purpose != "" {
			l.Why = "to " + purposeWords(b.Purpose) + "; " + l.Why
		}
	case flows.KindTOTPFailed:
		l.What, l.About = "wrong authenticator code", ""
		l.Why = "counts toward the account's back-off"
	case flows.KindTOTPRemoved:
		l.What, l.About = "authenticator app removed", ""
	case flows.KindRecoveryIssued:
		l.What, l.About = "recovery codes issued", ""
		l.Why = "stored only as MACs; any older set stops working"
	case flows.KindRecoveryUsed:
		l.What, l.About = "recovery code used", ""
		l.Why = "each works once, where the app's code would"
	case flows.KindRecoveryFailed:
		l.What, l.About = "wrong recovery code", ""
	case flows.KindSignInHeld:
		l.What, l.About = "sign-in held for the second factor", short(f.Device)
		l.Why = "the account has an authenticator app: the device acts as nothing of it until the app's code, until " + clock(b.Expires)
	case flows.KindWalletChallenged:
		l.What = "wallet challenge issued"
		l.Why = "a message to sign, valid " + lasting(f.Time, b.Expires) + ", once, for this device"
	case flows.KindWalletSigned:
		l.What = "wallet signature accepted"
		l.Why = "the challenge is used"
	case flows.KindWalletFailed:
		l.What, l.Why = "wallet signature refused", b.Reason
	case flows.KindOIDCStarted:
		l.What, l.About = "provider sign-in started", b.Provider
		l.Why = "waits until " + clock(b.Expires)
	case flows.KindOIDCVerified:
		l.What = "provider sign-in verified"
		if b.Provider != "" {
			l.What += " (" + b.Provider + ")"
		}
		l.Why = strings.ReplaceAll(b.Outcome, "_", " ")
	case flows.KindOIDCFailed:
		l.What, l.Why = "provider sign-in failed", b.Reason
	case flows.KindMessageSent:
		l.What = "message delivered"
	case flows.KindMessageSource:
		l.What, l.Why = "governor: a message asked from a network", "counted toward that network's hourly limit; only a keyed hash of the network is kept"
	case flows.KindMessageFailed:
		l.What, l.Why = "message failed", b.Reason
	default:
		l.What = strings.ReplaceAll(f.Kind, "_", " ")
		if b.Purpose != "" {
			l.Why = "for " + b.Purpose
		}
		if b.Reason != "" {
			l.Why = b.Reason
		}
	}
	return l
}

// body is every body field explain reads, under its JSON name; a fact's
// body fills the ones it has.
type body struct {
	Split           bool      `json:"split"`
	Rehash          bool      `json:"rehash"`
	Via             string    `json:"via"`
	Into            string    `json:"into"`
	From            string    `json:"from"`
	Stars           []string  `json:"stars"`
	VisitorNickname string    `json:"visitor_nickname"`
	NicknameTaken   bool      `json:"nickname_taken"`
	Method          string    `json:"method"`
	Reason          string    `json:"reason"`
	Nickname        string    `json:"nickname"`
	Item            string    `json:"item"`
	Kind            string    `json:"kind"`
	Masked          string    `json:"masked"`
	Purpose         string    `json:"purpose"`
	Letter          string    `json:"letter"`
	Digits          int       `json:"digits"`
	Why             string    `json:"why"`
	NextAt          time.Time `json:"next_at"`
	NextRule        string    `json:"next_rule"`
	Left            *int      `json:"left"`
	What            string    `json:"what"`
	Next            time.Time `json:"next"`
	Rule            string    `json:"rule"`
	Label           string    `json:"label"`
	Factor          string    `json:"factor"`
	Expires         time.Time `json:"expires"`
	About           string    `json:"about"`
	By              string    `json:"by"`
	Choice          string    `json:"choice"`
	Provider        string    `json:"provider"`
	Outcome         string    `json:"outcome"`
}

func mergeWhy(b body) string {
	s := count(len(b.Stars), "star") + " brought over"
	switch {
	case b.NicknameTaken:
		s += ", the visitor's nickname taken (the account had none)"
	case b.VisitorNickname != "":
		s += ", the account's nickname kept (the visitor's " + quote(b.VisitorNickname) + " stays in this fact)"
	default:
		s += ", the account's nickname kept"
	}
	return s
}

func signedInWhy(method string) string {
	switch method {
	case "visit":
		return "an anonymous visitor's own device: it acts as the visitor's tag"
	case "code":
		return "a right one-time code"
	case "ssh":
		return "a remembered SSH key: the handshake is the proof"
	case "device-link":
		return "another signed-in device approved its link code"
	case "link":
		return "a sign-in link's button was pressed"
	case "password":
		return "the account's password"
	case "":
		return ""
	}
	return "by " + method
}

func factorWords(factor string) string {
	switch factor {
	case flows.FactorSignUp:
		return "the device that made the account, for its first hour (so it can add a phone at once)"
	case flows.FactorCode:
		return "a fresh 6-digit code to a confirmed address"
	case flows.FactorPassword:
		return "the account's password"
	case flows.FactorTOTP:
		return "the authenticator app's code"
	case flows.FactorRecovery:
		return "a recovery code"
	case flows.FactorWallet:
		return "a wallet's signature"
	case flows.FactorOIDC:
		return "a fresh sign-in at a linked provider"
	case "":
		return ""
	}
	return "by " + factor
}

func confirmedWhy(method string) string {
	switch method {
	case "code":
		return "proven by a right code"
	case "link":
		return "proven by a link's button"
	case "ssh":
		return "proven by the SSH handshake"
	case "admin":
		return "confirmed by an administrator"
	case "":
		return ""
	}
	return "proven by " + method
}

// codeWhy says why a code has its letter and its digits, and what the
// governor said. Facts written before the body said why still explain
// the letter: it is the device's n-th code in 24 hours.
func codeWhy(b body) string {
	n := letterIndex(b.Letter)
	nth := "this device's " + ordinal(n+1) + " code in 24 h"
	var s string
	switch b.Why {
	case flows.DigitsFirstTwo:
		s = fmt.Sprintf("%d digits: %s (the first two are 4 digits)", b.Digits, nth)
	case flows.DigitsThirdOn:
		s = fmt.Sprintf("%d digits: %s (from the third on, 6)", b.Digits, nth)
	case flows.DigitsBackoff:
		s = fmt.Sprintf("%d digits: %s, but the address is in back-off after wrong tries (6 until a right one)", b.Digits, nth)
	case flows.DigitsStrict:
		s = fmt.Sprintf("%d digits: %s; the strict profile makes every code 6", b.Digits, nth)
	case flows.DigitsStepUp:
		s = fmt.Sprintf("%d digits: %s; a step-up code is always 6", b.Digits, nth)
	default:
		s = fmt.Sprintf("%d digits: %s", b.Digits, nth)
	}
	if b.Purpose != "" {
		s = "to " + purposeWords(b.Purpose) + "; " + s
	}
	if g := nextWhy(b); g != "" {
		s += "; " + g
	}
	return s
}

// nextWhy is what the governor said when it let a message go.
func nextWhy(b body) string {
	if b.NextAt.IsZero() {
		return ""
	}
	s := "governor: let it go, the next can go at " + clock(b.NextAt)
	if r := ruleWords(b.NextRule); r != "" {
		s += " (" + r + ")"
	}
	return s
}

func heldWhy(b body) string {
	s := "the next " + b.What + " can go at " + clock(b.Next)
	if r := ruleWords(b.Rule); r != "" {
		s += ": " + r
	}
	return s + "; the inbox stays quiet"
}

// Rule says a governor rule (flows.Rule*) in words: "one message a
// minute to an address".
func Rule(rule string) string { return ruleWords(rule) }

func ruleWords(rule string) string {
	return map[string]string{
		flows.RuleAddressGap:  "one message a minute to an address",
		flows.RuleAddressHour: "at most 5 an hour to an address",
		flows.RuleAddressDay:  "at most 10 a day to an address",
		flows.RuleDeviceHour:  "at most 10 an hour asked by one device",
		flows.RuleSourceHour:  "at most 30 an hour asked from one network",
		flows.RuleChannelHour: "the server's hourly cap for everyone is reached",
	}[rule]
}

func purposeWords(p string) string {
	switch p {
	case flows.PurposeSignIn:
		return "sign in"
	case flows.PurposeConfirm:
		return "confirm an address"
	case flows.PurposeStepUp:
		return "step up"
	}
	return p
}

func sentVerb(kind string) string {
	if strings.HasSuffix(kind, ".texted") {
		return "texted"
	}
	return "emailed"
}

// letterIndex is Letter's inverse: A is 0, Z 25, AA 26.
func letterIndex(l string) int {
	n := 0
	for _, c := range l {
		if c < 'A' || c > 'Z' {
			return 0
		}
		n = n*26 + int(c-'A') + 1
	}
	return max(n-1, 0)
}

func ordinal(n int) string {
	words := []string{"", "first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth", "ninth", "tenth"}
	if n > 0 && n < len(words) {
		return words[n]
	}
	suffix := "th"
	switch {
	case n%100 >= 11 && n%100 <= 13:
	case n%10 == 1:
		suffix = "st"
	case n%10 == 2:
		suffix = "nd"
	case n%10 == 3:
		suffix = "rd"
	}
	return fmt.Sprintf("%d%s", n, suffix)
}

// count is "1 star", "2 stars": the nouns here take an s.
func count(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// lasting says how long a challenge worked, from the expiry its fact
// recorded: the policy of the day it was written, whatever it is now.
func lasting(from, until time.Time) string {
	if until.IsZero() {
		return "for a limited time"
	}
	d := until.Sub(from).Round(time.Second)
	words := d.String()
	switch {
	case d == time.Minute:
		words = "1 minute"
	case d%time.Minute == 0:
		words = fmt.Sprintf("%d minutes", d/time.Minute)
	}
	return "for " + words + ", until " + clock(until)
}

func clock(t time.Time) string {
	if t.IsZero() {
		return "?"
	}
	return t.UTC().Format("15:04:05 UTC")
}

func quote(s string) string {
	if s == "" {
		return ""
	}
	return "“" + s + "”"
}

// short is a tag cut to what tells tags apart, as the screens cut them:
// "SHA256:q8XkP2mV…UvB".
func short(tag string) string {
	const head, tail = 15, 4
	r := []rune(tag)
	if len(r) <= head+tail+1 {
		return tag
	}
	return string(r[:head]) + "…" + string(r[len(r)-tail:])
}
