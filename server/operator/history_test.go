package operator_test

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/attest-dev/attest/flows"
	"github.com/attest-dev/attest/flows/message"
	"github.com/attest-dev/attest/server/operator"
)

// The operator's questions about the past: `owner ADDRESS --at T`,
// `addresses USER --at T`, and `user add`, which registers an account.

// history is a phone number that changes hands, written through the
// flows on the fixture's ledger:
//
//	t1 (Nov 21 09:00)  Alice signs up with the phone (confirmed by code)
//	t1+10m             Alice adds and confirms an email address
//	t2 (Nov 21 11:00)  Alice, stepped up with a code, unlinks the phone
//	t3 (Nov 22 10:00)  Bob signs up with the phone
//	t4 (Nov 22 11:00)  Carol adds the phone to her account, unconfirmed
type history struct {
	phone, email            string // as typed
	phoneShown, emailShown  string // as the operator sees them
	alice, bob, carol       string // user tags
	t1, emailAt, t2, t3, t4 time.Time
}

// anyCodeRE reads a code out of an email ("Code A: 4821") or an SMS
// ("attest code A: 4821 to sign in").
var anyCodeRE = regexp.MustCompile(`[Cc]ode ([A-Z]+): (\d+)`)

// codeTo returns the newest code sent to the normalized address to, as
// letter and digits.
func (f *fixture) codeTo(to string) (letter, code string) {
	f.t.Helper()
	f.svc.Wait()
	f.sent.mu.Lock()
	defer f.sent.mu.Unlock()
	for i := len(f.sent.msgs) - 1; i >= 0; i-- {
		if m := f.sent.msgs[i]; m.To == to {
			if c := anyCodeRE.FindStringSubmatch(m.Text); c != nil {
				return c[1], c[2]
			}
		}
	}
	f.t.Fatalf("no code was sent to %s", to)
	return "", ""
}

// signUp signs a new device up with addr (sent to `to`) and returns the
// new account's user tag. The device is stepped up for its first hour.
func (f *fixture) signUp(dev flows.Device, addr, to string) string {
	f.t.Helper()
	ctx := context.Background()
	if _, err := f.svc.RequestSignIn(ctx, dev, addr); err != nil {
		f.t.Fatalf("sign-in request for %s: %v", addr, err)
	}
	letter, code := f.codeTo(to)
	out, err := f.svc.EnterCode(ctx, dev, letter, code)
	if err != nil {
		f.t.Fatalf("code for %s: %v", addr, err)
	}
	if !out.SignedUp || out.Visitor.User == "" {
		f.t.Fatalf("%s did not sign up: %+v", addr, out)
	}
	return out.Visitor.User
}

func (f *fixture) history() history {
	t := f.t
	t.Helper()
	ctx := context.Background()
	h := history{
		phone: "+1 415 555 2671", email: "Alice@Example.com",
		phoneShown: "+1 415-555-2671", emailShown: "alice@example.com",
	}
	const phoneTo, emailTo = "+14155552671", "alice@example.com"
	alice, bob, carol := flows.KeyDevice("SHA256:alice"), flows.KeyDevice("SHA256:bob"), flows.KeyDevice("SHA256:carol")

	h.t1 = f.clock.Now()
	h.alice = f.signUp(alice, h.phone, phoneTo)

	f.clock.Advance(10 * time.Minute)
	h.emailAt = f.clock.Now()
	if _, err := f.svc.AddAddress(ctx, alice, h.email); err != nil {
		t.Fatal(err)
	}
	letter, code := f.codeTo(emailTo)
	if _, err := f.svc.EnterCode(ctx, alice, letter, code); err != nil {
		t.Fatal(err)
	}

	// Two hours after the sign-up the device is no longer stepped up.
	f.clock.Advance(110 * time.Minute)
	h.t2 = f.clock.Now()
	if _, err := f.svc.UnlinkAddress(ctx, alice, h.phone); err == nil {
		t.Fatal("the phone was unlinked without a step-up")
	} else if p, ok := flows.AsProblem(err); !ok || p.Code != flows.ProblemStepUp {
		t.Fatalf("unlink without a step-up: %v", err)
	}
	if _, err := f.svc.RequestStepUp(ctx, alice); err != nil {
		t.Fatal(err)
	}
	// The step-up code goes to the address Alice did not sign in with.
	letter, code = f.codeTo(emailTo)
	if _, err := f.svc.EnterCode(ctx, alice, letter, code); err != nil {
		t.Fatal(err)
	}
	if u, err := f.svc.UnlinkAddress(ctx, alice, h.phone); err != nil || !u.Changed {
		t.Fatalf("unlink after the step-up: %+v, %v", u, err)
	}

	f.clock.Advance(23 * time.Hour)
	h.t3 = f.clock.Now()
	h.bob = f.signUp(bob, h.phone, phoneTo)

	f.clock.Advance(time.Hour)
	h.t4 = f.clock.Now()
	h.carol = f.signUp(carol, "carol@example.com", "carol@example.com")
	if _, err := f.svc.AddAddress(ctx, carol, h.phone); err != nil {
		t.Fatal(err)
	}
	f.svc.Wait()

	if h.alice == h.bob || h.bob == h.carol {
		t.Fatalf("the history has one user twice: %+v", h)
	}
	return h
}

func rfc(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// ownerJSON is what `owner --json` prints.
type ownerJSON struct {
	User    string     `json:"user"`
	Since   *time.Time `json:"since"`
	Method  string     `json:"method"`
	Pending []string   `json:"pending"`
}

func TestOwnerAt(t *testing.T) {
	f := newFixture(t)
	h := f.history()
	if h.t1 != t0 || h.t2 != t0.Add(2*time.Hour) || h.t3 != time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC) {
		t.Fatalf("the history is not where the cases expect it: %+v", h)
	}
	aliceHad := fmt.Sprintf("%s had it confirmed %%s (since %s, by code)\n", h.alice, rfc(h.t1))
	bobHad := fmt.Sprintf("%s had it confirmed %%s (since %s, by code)\n", h.bob, rfc(h.t3))
	nobody := "nobody had it confirmed %s\n"
	carolPending := h.carol + " had an unconfirmed claim on it\n"
	for _, tc := range []struct {
		name, at string
		want     string // with %s for how the time is named
		asked    string // what %s becomes
	}{
		{"before the sign-up", "2026-11-21T08:59:59Z", nobody, "at 2026-11-21T08:59:59Z"},
		{"at the sign-up", "2026-11-21T09:00:00Z", aliceHad, "at 2026-11-21T09:00:00Z"},
		{"between, to the minute", "2026-11-21T10:30", aliceHad, "at 2026-11-21T10:30:00Z"},
		{"between, with an offset", "2026-11-21T10:30:00+01:00", aliceHad, "at 2026-11-21T09:30:00Z"},
		{"a nanosecond before the unlink", "2026-11-21T10:59:59.999999999Z", aliceHad, "at 2026-11-21T10:59:59Z"},
		{"at the unlink", "2026-11-21T11:00:00Z", nobody, "at 2026-11-21T11:00:00Z"},
		{"the day between", "2026-11-22T09:59:59Z", nobody, "at 2026-11-22T09:59:59Z"},
		{"at Bob's sign-up", "2026-11-22T10:00:00Z", bobHad, "at 2026-11-22T10:00:00Z"},
		{"before Carol's claim", "2026-11-22T10:59:59Z", bobHad, "at 2026-11-22T10:59:59Z"},
		{"after Carol's claim", "2026-11-22T11:00:00Z", bobHad + carolPending, "at 2026-11-22T11:00:00Z"},
		{"now", "", bobHad + carolPending, "now"},
		// A date means midnight at its start (unlike facts --until, where
		// a date runs to the end of the day): Bob signed up at 10:00 on the
		// 22nd, so at the 22nd nobody had the phone yet.
		{"a date: the day Alice signed up", "2026-11-21", nobody, "at 2026-11-21T00:00:00Z"},
		{"a date: the day Bob signed up", "2026-11-22", nobody, "at 2026-11-22T00:00:00Z"},
		{"a date: the day after", "2026-11-23", bobHad + carolPending, "at 2026-11-23T00:00:00Z"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := []string{"owner", h.phone}
			if tc.at != "" {
				args = append(args, "--at", tc.at)
			}
			code, out, errOut := f.run(args...)
			if code != 0 || errOut != "" {
				t.Fatalf("%q: exit %d, stderr %q", args, code, errOut)
			}
			want := strings.ReplaceAll(tc.want, "%s", tc.asked)
			if out != want {
				t.Fatalf("%q printed\n%q\nwant\n%q", args, out, want)
			}
		})
	}

	// The same answers as JSON: a null since for nobody, never a missing
	// or null pending.
	for _, tc := range []struct {
		at   string
		want ownerJSON
		raw  string // a piece of the output, as printed
	}{
		{"2026-11-21T08:59:59Z", ownerJSON{Pending: []string{}}, `{"user":"","since":null,"pending":[]}`},
		{"2026-11-21T10:30", ownerJSON{User: h.alice, Since: &h.t1, Method: "code", Pending: []string{}}, `"since":"2026-11-21T09:00:00Z","method":"code","pending":[]`},
		{"2026-11-22", ownerJSON{Pending: []string{}}, `"since":null`},
		{"2026-11-22T10:00:00Z", ownerJSON{User: h.bob, Since: &h.t3, Method: "code", Pending: []string{}}, `"since":"2026-11-22T10:00:00Z"`},
		{"", ownerJSON{User: h.bob, Since: &h.t3, Method: "code", Pending: []string{h.carol}}, `"pending":["` + h.carol + `"]`},
	} {
		// Flags go before or after the address, and --at=T works too.
		args := []string{"owner", "--json", h.phone}
		if tc.at != "" {
			args = []string{"owner", "+14155552671", "--at=" + tc.at, "--json"}
		}
		code, out, errOut := f.run(args...)
		if code != 0 || errOut != "" {
			t.Fatalf("%q: exit %d, stderr %q", args, code, errOut)
		}
		var got ownerJSON
		if err := json.Unmarshal([]byte(out), &got); err != nil || strings.Count(out, "\n") != 1 {
			t.Fatalf("%q printed %q, not one JSON object (%v)", args, out, err)
		}
		if got.User != tc.want.User || got.Method != tc.want.Method || fmt.Sprint(got.Pending) != fmt.Sprint(tc.want.Pending) ||
			(got.Since == nil) != (tc.want.Since == nil) || (got.Since != nil && !got.Since.Equal(*tc.want.Since)) {
			t.Errorf("%q gave %+v, want %+v", args, got, tc.want)
		}
		if !strings.Contains(out, tc.raw) {
			t.Errorf("%q printed %q, which lacks %s", args, out, tc.raw)
		}
	}

	// The email address was Alice's all along.
	if code, out, _ := f.run("owner", h.email, "--at", "2026-11-21T09:05:00Z"); code != 0 || out != "nobody had it confirmed at 2026-11-21T09:05:00Z\n" {
		t.Errorf("the email before Alice added it: exit %d, %q", code, out)
	}
	if code, out, _ := f.run("owner", "alice@example.com"); code != 0 ||
		out != fmt.Sprintf("%s had it confirmed now (since %s, by code)\n", h.alice, rfc(h.emailAt)) {
		t.Errorf("the email now: exit %d, %q", code, out)
	}
}

// addressLine is one line of `addresses --json`.
type addressLine struct {
	Kind        string     `json:"kind"`
	Address     string     `json:"address"`
	Confirmed   bool       `json:"confirmed"`
	Method      string     `json:"method"`
	Added       time.Time  `json:"added"`
	ConfirmedAt *time.Time `json:"confirmed_at"`
}

func addressLines(t *testing.T, out string) []addressLine {
	t.Helper()
	var lines []addressLine
	dec := json.NewDecoder(strings.NewReader(out))
	for dec.More() {
		var l addressLine
		if err := dec.Decode(&l); err != nil {
			t.Fatalf("addresses --json printed %q: %v", out, err)
		}
		lines = append(lines, l)
	}
	return lines
}

func TestAddressesAt(t *testing.T) {
	f := newFixture(t)
	h := f.history()
	phoneLine := func(added time.Time) string {
		return fmt.Sprintf("phone   %s  confirmed by code, added %s\n", h.phoneShown, rfc(added))
	}
	emailLine := fmt.Sprintf("email   %s  confirmed by code, added %s\n", h.emailShown, rfc(h.emailAt))
	for _, tc := range []struct {
		name, user, at, want string
	}{
		{"Alice before her sign-up", h.alice, "2026-11-21T08:59:59Z", "no addresses\n"},
		{"Alice at her sign-up", h.alice, "2026-11-21T09:00:00Z", phoneLine(h.t1)},
		{"Alice with both", h.alice, "2026-11-21T10:59:59Z", phoneLine(h.t1) + emailLine},
		{"Alice after the unlink", h.alice, "2026-11-21T11:00:00Z", emailLine},
		{"Alice now", h.alice, "", emailLine},
		{"Alice on a date: midnight at its start", h.alice, "2026-11-21", "no addresses\n"},
		{"Bob the day he signed up, at its start", h.bob, "2026-11-22", "no addresses\n"},
		{"Bob after", h.bob, "2026-11-22T10:00:00Z", phoneLine(h.t3)},
		{"Carol's claim is unconfirmed", h.carol, "", fmt.Sprintf("email   carol@example.com  confirmed by code, added %s\nphone   %s  unconfirmed, added %s\n",
			rfc(h.t4), h.phoneShown, rfc(h.t4))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := []string{"addresses", tc.user}
			if tc.at != "" {
				args = append(args, "--at", tc.at)
			}
			code, out, errOut := f.run(args...)
			if code != 0 || errOut != "" || out != tc.want {
				t.Fatalf("%q: exit %d, stderr %q, printed\n%q\nwant\n%q", args, code, errOut, out, tc.want)
			}
		})
	}

	// A user nobody knows is an error, not a user without addresses.
	for _, args := range [][]string{{"addresses", "u_nobody"}, {"addresses", "u_nobody", "--json"}} {
		code, out, errOut := f.run(args...)
		if code != 1 || errOut != "attest addresses: there is no user \"u_nobody\" in the ledger (user ids look like u_...: see `attest owner ADDRESS`)\n" ||
			(len(args) == 3) != strings.HasPrefix(out, `{"error":{"code":"internal"`) {
			t.Errorf("%q: exit %d, stdout %q, stderr %q", args, code, out, errOut)
		}
	}

	// JSON lines, one per address, oldest first.
	_, out, _ := f.run("addresses", "--json", h.alice, "--at", "2026-11-21T10:59:59Z")
	lines := addressLines(t, out)
	if len(lines) != 2 {
		t.Fatalf("Alice with both, as JSON: %q", out)
	}
	want := []addressLine{
		{Kind: "phone", Address: h.phoneShown, Confirmed: true, Method: "code", Added: h.t1, ConfirmedAt: &h.t1},
		{Kind: "email", Address: h.emailShown, Confirmed: true, Method: "code", Added: h.emailAt, ConfirmedAt: &h.emailAt},
	}
	for i, l := range lines {
		w := want[i]
		if l.Kind != w.Kind || l.Address != w.Address || l.Confirmed != w.Confirmed || l.Method != w.Method ||
			!l.Added.Equal(w.Added) || l.ConfirmedAt == nil || !l.ConfirmedAt.Equal(*w.ConfirmedAt) {
			t.Errorf("line %d: %+v, want %+v", i+1, l, w)
		}
	}
	// After the unlink, only the email.
	_, out, _ = f.run("addresses", h.alice, "--json", "--at", "2026-11-21T11:00:00Z")
	if lines := addressLines(t, out); len(lines) != 1 || lines[0].Kind != "email" {
		t.Errorf("Alice after the unlink, as JSON: %q", out)
	}
	// An unconfirmed address has no method and a null confirmed_at.
	_, out, _ = f.run("addresses", h.carol, "--json")
	if lines := addressLines(t, out); len(lines) != 2 || lines[1].Confirmed || lines[1].ConfirmedAt != nil ||
		!strings.Contains(out, `"confirmed":false,"added":"2026-11-22T11:00:00Z","confirmed_at":null}`) {
		t.Errorf("Carol, as JSON: %q", out)
	}
	// No addresses, as JSON: nothing at all.
	if code, out, errOut := f.run("addresses", h.alice, "--json", "--at", "2026-11-21"); code != 0 || out != "" || errOut != "" {
		t.Errorf("no addresses as JSON: exit %d, %q, %q", code, out, errOut)
	}
}

func TestOwnerAndAddressesUsage(t *testing.T) {
	f := newFixture(t)
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"owner"}, 2, "attest owner: needs ADDRESS"},
		{[]string{"owner", "a@example.com", "b@example.com"}, 2, `takes only ADDRESS, not also "b@example.com"`},
		{[]string{"owner", "a@example.com", "--at", "yesterday"}, 2, `--at: "yesterday" is not a time`},
		{[]string{"owner", "a@example.com", "--at", "2026-02-30"}, 2, `--at: "2026-02-30" is not a time`},
		{[]string{"owner", "not an address"}, 1, "attest owner: "},
		{[]string{"addresses"}, 2, "attest addresses: needs USER"},
		{[]string{"addresses", "u_x", "--at", "21/11/2026"}, 2, `--at: "21/11/2026" is not a time`},
		{[]string{"addresses", "u_x", "--color"}, 2, "flag provided but not defined: -color"},
	} {
		code, out, errOut := f.run(tc.args...)
		if code != tc.code || out != "" || !strings.Contains(errOut, tc.want) {
			t.Errorf("%q: exit %d, stdout %q, stderr %q; want exit %d and %q", tc.args, code, out, errOut, tc.code, tc.want)
		}
		if tc.code == 2 && !strings.Contains(errOut, "usage: attest "+tc.args[0]) {
			t.Errorf("%q: a usage error without the usage: %q", tc.args, errOut)
		}
	}
	// Both need the server secret: to hash the address, to open the
	// sealed addresses.
	for _, args := range [][]string{{"owner", "a@example.com"}, {"addresses", "u_x"}, {"user", "add", "--email", "a@example.com"}} {
		code, out, errOut := runWith(operator.Env{Ledger: f.led}, args...)
		if code != 1 || out != "" || !strings.Contains(errOut, "needs the server secret") {
			t.Errorf("%q without a service: exit %d, %q %q", args, code, out, errOut)
		}
	}
}

// sentTo returns the messages sent to the normalized address to.
func (f *fixture) sentTo(to string) []message.Message {
	f.svc.Wait()
	f.sent.mu.Lock()
	defer f.sent.mu.Unlock()
	var out []message.Message
	for _, m := range f.sent.msgs {
		if m.To == to {
			out = append(out, m)
		}
	}
	return out
}

func TestUserAdd(t *testing.T) {
	f := newFixture(t)
	code, out, errOut := f.run("user", "add", "--email", "Grace.Hopper@Example.COM", "--nickname", "Grace")
	if code != 0 || errOut != "" {
		t.Fatalf("user add: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	var user string
	if _, err := fmt.Sscanf(out, "registered %s for grace.hopper@example.com; a welcome message went to it\n", &user); err != nil ||
		!strings.HasPrefix(user, "u_") || out != "registered "+user+" for grace.hopper@example.com; a welcome message went to it\n" {
		t.Fatalf("user add printed %q (%v)", out, err)
	}

	// A welcome message went to the address, and only that.
	msgs := f.sentTo("grace.hopper@example.com")
	if len(msgs) != 1 || msgs[0].Channel != message.Email || msgs[0].Subject != "Welcome to attest" ||
		!strings.Contains(msgs[0].Text, "An administrator made you an attest account") || anyCodeRE.MatchString(msgs[0].Text) {
		t.Fatalf("the welcome: %+v", msgs)
	}
	// The address is confirmed, by the method admin, on the new account.
	want := fmt.Sprintf("%s had it confirmed now (since %s, by admin)\n", user, rfc(t0))
	if code, out, _ := f.run("owner", "grace.hopper@example.com"); code != 0 || out != want {
		t.Errorf("owner of the registered address: exit %d, %q, want %q", code, out, want)
	}
	if code, out, _ := f.run("addresses", user); code != 0 ||
		out != fmt.Sprintf("email   grace.hopper@example.com  confirmed by admin, added %s\n", rfc(t0)) {
		t.Errorf("addresses of the registered user: exit %d, %q", code, out)
	}
	// The nickname is the account's.
	code, out, _ = f.run("facts", "--user", user, "--kind", flows.KindNicknameSet)
	if code != 0 || !strings.Contains(out, `"nickname":"Grace"`) {
		t.Errorf("the nickname fact: exit %d, %q", code, out)
	}

	// The same address again, in any spelling: refused, exit 1.
	f.clock.Advance(time.Minute)
	code, out, errOut = f.run("user", "add", "--email", "grace.hopper@example.com")
	if code != 1 || out != "" || errOut != "attest user add: grace.hopper@example.com already belongs to an account.\n" {
		t.Errorf("user add again: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	if len(f.sentTo("grace.hopper@example.com")) != 1 {
		t.Error("a refused user add sent a message")
	}

	// --json; a phone number works too; no nickname, no nickname field.
	code, out, errOut = f.run("user", "add", "--json", "--email", "+1 415 555 2671")
	var reg map[string]any
	if err := json.Unmarshal([]byte(out), &reg); code != 0 || errOut != "" || err != nil {
		t.Fatalf("user add --json: exit %d, %q, %q (%v)", code, out, errOut, err)
	}
	if u, _ := reg["user"].(string); !strings.HasPrefix(u, "u_") || u == user || reg["address"] != "+1 415-555-2671" || len(reg) != 2 {
		t.Errorf("user add --json printed %q", out)
	}
	if msgs := f.sentTo("+14155552671"); len(msgs) != 1 || msgs[0].Channel != message.SMS || !strings.Contains(msgs[0].Text, "an administrator made you an account") {
		t.Errorf("the SMS welcome: %+v", msgs)
	}
	code, out, _ = f.run("user", "add", "--email", "a@example.com", "--nickname", "Ada", "--json")
	if code != 0 || !strings.Contains(out, `"address":"a@example.com","nickname":"Ada"}`) {
		t.Errorf("user add --json with a nickname: exit %d, %q", code, out)
	}

	// Usage mistakes exit 2 with the usage.
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"user", "add"}, "attest user add: needs --email ADDRESS\n"},
		{[]string{"user", "add", "--nickname", "Neo"}, "attest user add: needs --email ADDRESS\n"},
		{[]string{"user"}, "attest user: needs a sub-command: add\n"},
		{[]string{"user", "remove", "--email", "a@example.com"}, "attest user: there is no sub-command \"remove\"; the sub-commands are add\n"},
		{[]string{"user", "--email", "a@example.com"}, "attest user: needs a sub-command: add\n"},
		{[]string{"user", "add", "--email", "b@example.com", "extra"}, "attest user add: takes no arguments, not \"extra\"\n"},
	} {
		code, out, errOut := f.run(tc.args...)
		if code != 2 || out != "" || !strings.HasPrefix(errOut, tc.want) ||
			!strings.Contains(errOut, "usage: attest user add --email ADDRESS [--json] [--nickname NAME]") {
			t.Errorf("%q: exit %d, stdout %q, stderr %q; want exit 2, %q and the usage", tc.args, code, out, errOut, tc.want)
		}
	}
	// Not an address, or not a nickname: exit 1, nothing registered.
	f.svc.Wait() // the welcomes' outcomes are facts too
	before := len(f.all())
	for _, args := range [][]string{{"user", "add", "--email", "not an address"}, {"user", "add", "--email", "n@example.com", "--nickname", "\x1b[31mred"}} {
		if code, out, errOut := f.run(args...); code != 1 || out != "" || !strings.HasPrefix(errOut, "attest user add: ") {
			t.Errorf("%q: exit %d, %q, %q", args, code, out, errOut)
		}
	}
	if len(f.all()) != before {
		t.Error("a refused user add wrote facts")
	}
}
