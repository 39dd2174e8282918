package explain_test

import (
	"strings"
	"testing"
	"time"

	"github.com/attest-dev/attest/flows"
	"github.com/attest-dev/attest/flows/explain"
	"github.com/attest-dev/attest/store"
)

var at = time.Date(2026, 11, 21, 12, 3, 31, 0, time.UTC)

func fact(kind, body string) store.Fact {
	return store.Fact{Seq: 7, Time: at, Kind: kind, User: "u_abcdefghijklmnopqrstuvwxyz", Device: "SHA256:q8XkP2mV9sLr4TfYc1NbWz7HdE3uJ6aKo0GiRyQxUvB", Address: "h_1", Body: []byte(body)}
}

func masks(h string) string {
	if h == "h_1" {
		return "g•••@example.com"
	}
	return ""
}

func TestExplain(t *testing.T) {
	for _, tc := range []struct {
		name       string
		f          store.Fact
		what, why  string // why: a part the explanation must hold
		about      string
		notContain []string
	}{
		{
			name: "code B, as new facts record it",
			f: fact(flows.KindCodeEmailed, `{"purpose":"signin","letter":"B","digits":4,"why":"first_two","mac":"deadbeefcafe","sealed":"c2VhbGVk","masked":"g•••@example.com",`+
				`"next_at":"2026-11-21T12:04:31Z","next_rule":"address_gap"}`),
			what: "code B emailed", about: "g•••@example.com",
			why:        "4 digits: this device's second code in 24 h (the first two are 4 digits); governor: let it go, the next can go at 12:04:31 UTC (one message a minute to an address)",
			notContain: []string{"deadbeefcafe", "c2VhbGVk"},
		},
		{
			name: "code C, as facts before the why was recorded",
			f:    fact(flows.KindCodeTexted, `{"purpose":"confirm","letter":"C","digits":6,"mac":"x","masked":"+1 •••-•••-2671"}`),
			what: "code C texted", about: "+1 •••-•••-2671",
			why: "to confirm an address; 6 digits: this device's third code in 24 h",
		},
		{
			name: "a link sent with a code lasts what its fact recorded, not a fixed 5 minutes",
			f:    fact(flows.KindLinkAttached, `{"purpose":"confirm-address","label":"K7QX","expires":"2026-11-21T12:13:31Z","kind":"email","masked":"g•••@example.com"}`),
			what: "link sent with the code", about: "g•••@example.com",
			why:        "either confirms the address: the link works once, for 10 minutes, until 12:13:31 UTC, for this account and address",
			notContain: []string{"5 minutes"},
		},
		{
			name: "a sign-in link, likewise",
			f:    fact(flows.KindLinkEmailed, `{"purpose":"signin","label":"K7QX","expires":"2026-11-21T12:05:01Z","kind":"email","masked":"g•••@example.com"}`),
			what: "link emailed", about: "g•••@example.com",
			why: "one use, for 1m30s, until 12:05:01 UTC, for the terminal labelled K7QX",
		},
		{
			name: "a provider sign-in started before start pages asked for a check still reads",
			f:    fact(flows.KindOIDCStarted, `{"provider":"google","issuer":"https://accounts.google.com","purpose":"signin","flow":"code","label":"K7QX","expires":"2026-11-21T12:13:31Z"}`),
			what: "provider sign-in started", about: "google",
			why: "waits until 12:13:31 UTC",
		},
		{
			name: "a wallet challenge, likewise",
			f:    fact(flows.KindWalletChallenged, `{"purpose":"signin","expires":"2026-11-21T12:04:31Z","kind":"ethereum"}`),
			what: "wallet challenge issued",
			why:  "a message to sign, valid for 1 minute, until 12:04:31 UTC, once, for this device",
		},
		{
			name: "a password rehashed at the current costs",
			f:    fact(flows.KindPasswordSet, `{"phc":"(not shown)","rehash":true}`),
			what: "password rehashed",
			why:  "hashed again at the server's current argon2id costs",
		},
		{
			name: "a split takes what the device brought",
			f:    fact(flows.KindSplitChosen, `{"choice":"new","stars":["vega","rigel"],"nickname":"Bob"}`),
			what: "split chosen: new",
			why:  "the address left its account for an account of its own; 2 stars and the nickname “Bob” this device had before its sign-in went along",
		},
		{
			name: "a star that went with a split",
			f:    fact(flows.KindStarRemoved, `{"item":"vega","split":true}`),
			what: "star removed", about: "vega",
			why: "it came with the sign-in of an address that split off, and went with it",
		},
		{
			name: "a nickname that went with a split",
			f:    fact(flows.KindNicknameSet, `{"nickname":"","split":true}`),
			what: "nickname cleared",
			why:  "it came with the sign-in of an address that split off, and went with it",
		},
		{
			name: "a code in back-off",
			f:    fact(flows.KindCodeEmailed, `{"purpose":"signin","letter":"A","digits":6,"why":"backoff"}`),
			what: "code A emailed", about: "g•••@example.com",
			why: "the address is in back-off after wrong tries (6 until a right one)",
		},
		{
			name: "the governor holds a code back",
			f:    fact(flows.KindMessageHeld, `{"what":"code","purpose":"signin","kind":"email","masked":"g•••@example.com","next":"2026-11-21T12:04:31Z","rule":"address_per_hour"}`),
			what: "governor: code held back", about: "g•••@example.com",
			why: "the next code can go at 12:04:31 UTC: at most 5 an hour to an address; the inbox stays quiet",
		},
		{
			name: "merge",
			f:    fact(flows.KindUserAbsorbed, `{"from":"u_visitor","stars":["vega","sirius"],"visitor_nickname":"gh"}`),
			what: "merge", why: "2 stars brought over, the account's nickname kept (the visitor's “gh” stays in this fact)",
		},
		{
			name: "merge taking the visitor's nickname",
			f:    fact(flows.KindUserAbsorbed, `{"from":"u_visitor","stars":["vega"],"visitor_nickname":"gh","nickname_taken":true}`),
			what: "merge", why: "1 star brought over, the visitor's nickname taken",
		},
		{
			name: "a confirmation names its address by the hash's mask",
			f:    fact(flows.KindAddressConfirmed, `{"method":"code","ticket":"t_x"}`),
			what: "address confirmed", about: "g•••@example.com", why: "proven by a right code",
		},
		{
			name: "a wrong code, before the body said which",
			f:    fact(flows.KindCodeFailed, ``),
			what: "wrong code", about: "g•••@example.com",
		},
		{
			name: "a wrong code with its tries left",
			f:    fact(flows.KindCodeFailed, `{"letter":"B","left":1}`),
			what: "wrong code B", why: "1 try left for this code",
		},
		{
			name: "a password's hash is never shown",
			f:    fact(flows.KindPasswordSet, `{"phc":"$argon2id$v=19$m=65536,t=2,p=1$c2FsdA$aGFzaA"}`),
			what: "password set", why: "stored as an argon2id hash, never shown",
			notContain: []string{"argon2id$", "aGFzaA"},
		},
		{
			name:       "a kind explain does not know still reads",
			f:          fact("future.thing_done", `{"secret":"JBSWY3DPEHPK3PXP"}`),
			what:       "future.thing done",
			notContain: []string{"JBSWY3DPEHPK3PXP"},
		},
		{
			name: "a body that is not JSON",
			f:    fact(flows.KindStepUpGranted, `not json`),
			what: "stepped up", why: "this device only",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := explain.Fact(tc.f, masks)
			if l.What != tc.what {
				t.Errorf("what %q, want %q", l.What, tc.what)
			}
			if tc.about != "" && l.About != tc.about {
				t.Errorf("about %q, want %q", l.About, tc.about)
			}
			if !strings.Contains(l.Why, tc.why) {
				t.Errorf("why %q, want it to hold %q", l.Why, tc.why)
			}
			line := l.String()
			if !strings.HasPrefix(line, "2026-11-21 12:03:31 UTC  "+tc.f.Kind+"  ") {
				t.Errorf("line %q does not start with the time and kind", line)
			}
			for _, s := range tc.notContain {
				if strings.Contains(line, s) {
					t.Errorf("line %q shows %q", line, s)
				}
			}
		})
	}
}
