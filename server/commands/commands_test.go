package commands

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"math/rand/v2"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/attest-dev/attest/flows"
	"github.com/attest-dev/attest/flows/clock"
	"github.com/attest-dev/attest/flows/message"
	"github.com/attest-dev/attest/internal/inert"
	"github.com/attest-dev/attest/store"
	"github.com/attest-dev/attest/store/bolt"
)

// start is when every test begins, so output with times reproduces.
var start = time.Date(2026, 11, 21, 9, 0, 0, 0, time.UTC)

// world is a flows.Service on a real bbolt ledger in a temporary
// directory, with a fake clock and a mailbag that keeps what was sent.
type world struct {
	t     *testing.T
	svc   *flows.Service
	clock *clock.Fake
	bag   *mailbag
}

func newWorld(t *testing.T) *world {
	t.Helper()
	w := &world{t: t, clock: clock.NewFake(start), bag: newMailbag()}
	l, err := bolt.Open(filepath.Join(t.TempDir(), "attest.db"), bolt.Options{})
	if err != nil {
		t.Fatalf("open ledger: %v", err)
	}
	w.svc, err = flows.New(flows.Config{
		Ledger: l,
		Secret: []byte("0123456789abcdef0123456789abcdef-test-secret"),
		Clock:  w.clock,
		Rand:   rand.NewChaCha8([32]byte{7}),
		Sender: w.bag,
		// The cheapest argon2id the hasher allows, so that tests with
		// passwords stay fast.
		Passwords: cheapPasswords(t),
	})
	if err != nil {
		t.Fatalf("new service: %v", err)
	}
	t.Cleanup(func() {
		w.svc.Close()
		l.Close()
	})
	return w
}

// mailbag is a message.Sender that keeps every message. Messages go out
// on their own goroutine after the commit, so tests wait on arrived.
type mailbag struct {
	mu      sync.Mutex
	arrived *sync.Cond
	msgs    []message.Message
	used    map[int]bool // messages codeFor has handed out
}

func newMailbag() *mailbag {
	b := &mailbag{used: map[int]bool{}}
	b.arrived = sync.NewCond(&b.mu)
	return b
}

func (b *mailbag) Send(_ context.Context, m message.Message) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.msgs = append(b.msgs, m)
	b.arrived.Broadcast()
	return nil
}

// count is how many messages went out so far.
func (b *mailbag) count() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.msgs)
}

// sentTo is how many messages went to addr so far.
func (b *mailbag) sentTo(addr string) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := 0
	for _, m := range b.msgs {
		if m.To == addr {
			n++
		}
	}
	return n
}

// nth waits for the n-th message (from 1) to addr and returns it.
func (b *mailbag) nth(addr string, n int) message.Message {
	b.mu.Lock()
	defer b.mu.Unlock()
	for {
		seen := 0
		for _, m := range b.msgs {
			if m.To == addr {
				if seen++; seen == n {
					return m
				}
			}
		}
		b.arrived.Wait()
	}
}

// codeRE finds the code in an email ("Code B: 4821") or an SMS ("attest
// code B: 4821 to ...").
var codeRE = regexp.MustCompile(`[Cc]ode ([A-Z]+): (\d+)`)

// code waits for the n-th message to addr and returns its letter and code.
func (w *world) code(addr string, n int) (letter, digits string) {
	w.t.Helper()
	m := w.bag.nth(addr, n)
	sub := codeRE.FindStringSubmatch(m.Text)
	if sub == nil {
		w.t.Fatalf("message %q has no code", m.Text)
	}
	return sub[1], sub[2]
}

// result is what one command did.
type result struct {
	args           []string
	stdout, stderr string
	status         int
}

func (w *world) run(dev flows.Device, args ...string) result {
	w.t.Helper()
	var out, errOut bytes.Buffer
	status := Run(context.Background(), Env{Service: w.svc, Device: dev, Stdout: &out, Stderr: &errOut}, args)
	return result{args: args, stdout: out.String(), stderr: errOut.String(), status: status}
}

// ok runs a command that must succeed quietly on stderr.
func (w *world) ok(dev flows.Device, args ...string) result {
	w.t.Helper()
	r := w.run(dev, args...)
	if r.status != 0 || r.stderr != "" {
		w.t.Fatalf("%q: status %d, stderr %q, stdout %q", args, r.status, r.stderr, r.stdout)
	}
	return r
}

// signIn signs dev in as addr through the commands, as a script would.
func (w *world) signIn(dev flows.Device, addr string, nth int) result {
	w.t.Helper()
	w.ok(dev, "signin", addr)
	letter, digits := w.code(addr, nth)
	return w.ok(dev, "code", letter+"-"+digits)
}

func device(name string) flows.Device { return flows.KeyDevice("SHA256:" + name) }

// object decodes stdout as exactly one JSON object.
func (r result) object(t *testing.T) map[string]any {
	t.Helper()
	lines := r.lines(t)
	if len(lines) != 1 {
		t.Fatalf("%q: want one JSON object, got %d lines: %q", r.args, len(lines), r.stdout)
	}
	return lines[0]
}

// lines decodes stdout as JSON lines.
func (r result) lines(t *testing.T) []map[string]any {
	t.Helper()
	var out []map[string]any
	sc := bufio.NewScanner(strings.NewReader(r.stdout))
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("%q: line %q is not a JSON object: %v", r.args, sc.Text(), err)
		}
		out = append(out, m)
	}
	return out
}

// hasFields fails unless m has every key.
func hasFields(t *testing.T, what string, m map[string]any, keys ...string) {
	t.Helper()
	for _, k := range keys {
		if _, ok := m[k]; !ok {
			t.Errorf("%s lacks %q: %v", what, k, m)
		}
	}
}

func mustContain(t *testing.T, what, s string, wants ...string) {
	t.Helper()
	for _, want := range wants {
		if !strings.Contains(s, want) {
			t.Errorf("%s %q lacks %q", what, s, want)
		}
	}
}

func TestHelp(t *testing.T) {
	w := newWorld(t)
	dev := device("ada")
	for _, args := range [][]string{nil, {"help"}, {"--help"}, {"-h"}} {
		r := w.ok(dev, args...)
		mustContain(t, "help", r.stdout, "whoami", "signin [ADDRESS]", "sessions (devices)", "signout",
			"Connect with a terminal (ssh -t) for the screens",
			"Support: the operator of this server. A refusal that sends you there names what to quote.")
	}
	for _, args := range [][]string{{"signout", "--help"}, {"signout", "-h"}, {"help", "signout"}, {"devices", "--help"}} {
		r := w.ok(dev, args...)
		mustContain(t, strings.Join(args, " "), r.stdout, "usage: ")
	}
	mustContain(t, "signout --help", w.ok(dev, "signout", "--help").stdout, "signout [--everywhere] [--forget-keys] [--json]", "--everywhere")

	list := w.ok(dev, "help", "--json").object(t)
	cmds, _ := list["commands"].([]any)
	if len(cmds) != len(program.Runnable(false)) {
		t.Fatalf("help --json lists %d commands, want %d", len(cmds), len(program.Runnable(false)))
	}
	hasFields(t, "help --json command", cmds[0].(map[string]any), "name", "aliases", "usage", "summary")
}

func TestUnknownCommand(t *testing.T) {
	w := newWorld(t)
	r := w.run(device("ada"), "frob")
	if r.status != 2 || r.stdout != "" {
		t.Fatalf("frob: status %d, stdout %q", r.status, r.stdout)
	}
	if want := "attest: unknown command \"frob\"; run `help` for the list\n"; r.stderr != want {
		t.Errorf("frob: stderr %q, want %q", r.stderr, want)
	}
	r = w.run(device("ada"), "\x1b[2Jfrob", "--json")
	if r.status != 2 || strings.Contains(r.stderr, "\x1b") || strings.Contains(r.stdout, "\x1b") {
		t.Fatalf("unknown command with ESC: status %d, stderr %q, stdout %q", r.status, r.stderr, r.stdout)
	}
	if code := r.object(t)["error"].(map[string]any)["code"]; code != string(flows.ProblemUnknown) {
		t.Errorf("unknown command --json: code %v", code)
	}
}

func TestUsageErrors(t *testing.T) {
	w := newWorld(t)
	dev := device("ada")
	for _, args := range [][]string{
		{"whoami", "extra"},
		{"signin"},
		{"signin", "a@example.com", "b@example.com"},
		{"code"},
		{"code", "A", "12", "34"},
		{"signout", "--bogus"},
		{"signout", "--everywhere=maybe"},
		{"unstar"},
		{"stars", "vega"},
		{"help", "frob"},
		{"--json", "whoami"},
	} {
		r := w.run(dev, args...)
		wantOut := r.stdout == ""
		if slices.Contains(args, "--json") {
			wantOut = strings.Contains(r.stdout, `"code":"usage"`)
		}
		if r.status != 2 || !wantOut || r.stderr == "" {
			t.Errorf("%q: status %d, stdout %q, stderr %q; want status 2 and a message on stderr", args, r.status, r.stdout, r.stderr)
		}
	}
	r := w.run(dev, "signin", "--json")
	if r.status != 2 {
		t.Fatalf("signin --json: status %d", r.status)
	}
	mustContain(t, "signin --json stderr", r.stderr, "attest signin: needs ADDRESS", "usage: signin [ADDRESS] [--json] [--key]")
	if code := r.object(t)["error"].(map[string]any)["code"]; code != string(flows.ProblemUsage) {
		t.Errorf("signin --json: code %v, want %s", code, flows.ProblemUsage)
	}
	// A usage error changes nothing.
	mustContain(t, "whoami", w.ok(dev, "whoami").stdout, "(none yet)")
}

func TestWhoamiAndNickname(t *testing.T) {
	w := newWorld(t)
	dev := device("ada")
	r := w.ok(dev, "whoami")
	mustContain(t, "whoami before", r.stdout, "SHA256:ada", "(none yet)", "no, an anonymous visitor", "nickname:   (none)", "signed in:  no")

	if got := w.ok(dev, "nickname").stdout; !strings.Contains(got, "no nickname yet") {
		t.Errorf("nickname before: %q", got)
	}
	r = w.ok(dev, "nickname", "Ada", "Lovelace")
	if r.stdout != "Nickname set to Ada Lovelace.\n" {
		t.Errorf("nickname: %q", r.stdout)
	}
	if got := w.ok(dev, "nickname").stdout; got != "Ada Lovelace\n" {
		t.Errorf("nickname after: %q", got)
	}
	r = w.ok(dev, "whoami")
	mustContain(t, "whoami after", r.stdout, "user:       u_", "Ada Lovelace", "as an anonymous visitor since 09:00:00 UTC (now)")

	v := w.ok(dev, "whoami", "--json").object(t)
	hasFields(t, "whoami --json", v, "device", "user", "account", "method", "since", "nickname", "stars", "addresses")
	if v["nickname"] != "Ada Lovelace" || v["account"] != false || v["method"] != "visit" || !strings.HasPrefix(v["user"].(string), "u_") {
		t.Errorf("whoami --json: %v", v)
	}
	if d := v["device"].(map[string]any); d["tag"] != "SHA256:ada" || d["ephemeral"] != false {
		t.Errorf("whoami --json device: %v", d)
	}

	// Flags may follow the arguments, and "--" ends the flags.
	if n := w.ok(dev, "nickname", "Ada", "--json").object(t)["nickname"]; n != "Ada" {
		t.Errorf("nickname Ada --json: %v", n)
	}
	if got := w.ok(dev, "nickname", "--", "--json").stdout; got != "Nickname set to --json.\n" {
		t.Errorf("nickname -- --json: %q", got)
	}
}

func TestEphemeralDevice(t *testing.T) {
	w := newWorld(t)
	dev, err := w.svc.EphemeralDevice()
	if err != nil {
		t.Fatal(err)
	}
	mustContain(t, "whoami", w.ok(dev, "whoami").stdout, "this connection only (no SSH key)")
	// What a later command would finish is refused before anything is
	// sent or recorded: each connection without a key is a new device.
	for _, tc := range []struct {
		args []string
		lost string
	}{
		{[]string{"signin", "kay@example.com"}, "the code it sends could never be entered"},
		{[]string{"signin", "+14155552671", "--json"}, "the code it sends could never be entered"},
		{[]string{"signin", "0x52908400098527886E0F7030069857D2E4169EE7"}, "the signature it asks for could never be given"},
	} {
		r := w.run(dev, tc.args...)
		if r.status != 1 || !strings.HasPrefix(r.stderr, "This connection has no SSH key, so "+tc.lost+": each connection without a key is a new device. Nothing was sent.") ||
			!strings.Contains(r.stderr, "Connect with an SSH key") || !strings.Contains(r.stderr, "open the screens") {
			t.Errorf("%q without a key: status %d, stdout %q, stderr %q", tc.args, r.status, r.stdout, r.stderr)
		}
		if slices.Contains(tc.args, "--json") && !strings.HasPrefix(r.stdout, `{"error":{"code":"bad_input"`) {
			t.Errorf("%q without a key: stdout %q", tc.args, r.stdout)
		}
		if facts := w.ok(dev, "facts").stdout; facts != "" {
			t.Errorf("%q without a key wrote to the ledger:\n%s", tc.args, facts)
		}
	}
	w.svc.Wait()
	if n := w.bag.count(); n != 0 {
		t.Errorf("%d messages went out to connections without a key", n)
	}
	// A registration's link works without the connection; the words say
	// what happens then for a connection that nothing signs in later.
	r := w.runAs(pw(goodPassword), dev, "login", "kay@example.com", "--no-wait")
	if r.status != 0 || !strings.Contains(r.stdout, linkWorksKeyless) || strings.Contains(r.stdout, "when it next connects") {
		t.Errorf("login --no-wait without a key: status %d, stdout %q, stderr %q", r.status, r.stdout, r.stderr)
	}
}

func TestSignUpThenSignIn(t *testing.T) {
	w := newWorld(t)
	laptop := device("laptop")

	r := w.ok(laptop, "signin", "grace@example.com")
	want := "Code A (4 digits) sent to grace@example.com. It expires at 09:10:00 UTC (in 10m). Enter it with: code A-NNNN\n" +
		"Another code can be asked for at 09:01:00 UTC (in 1m).\n"
	if r.stdout != want {
		t.Errorf("signin:\n got %q\nwant %q", r.stdout, want)
	}
	letter, digits := w.code("grace@example.com", 1)
	if letter != "A" {
		t.Fatalf("first code has letter %s", letter)
	}
	r = w.ok(laptop, "code", letter+"-"+digits)
	if r.stdout != "Signed up: this device is now signed in as your account.\n" {
		t.Errorf("code: %q", r.stdout)
	}
	r = w.ok(laptop, "whoami")
	mustContain(t, "whoami", r.stdout, "account:    yes", "grace@example.com (confirmed)", "with a code, since 09:00:00 UTC (now)")

	// Another device, with a nickname and stars, signs in to the account:
	// the code is typed as two words and in JSON, and its visit merges in.
	phone := device("phone")
	w.ok(phone, "nickname", "Grace")
	w.ok(phone, "star", "vega")
	w.clock.Advance(time.Minute)
	iss := w.ok(phone, "signin", "grace@example.com", "--json").object(t)
	hasFields(t, "signin --json", iss, "letter", "digits", "purpose", "channel", "to", "expires_at", "next_at", "tries")
	if iss["letter"] != "A" || iss["digits"] != 4.0 || iss["channel"] != "email" || iss["to"] != "grace@example.com" ||
		iss["expires_at"] != "2026-11-21T09:11:00Z" || iss["next_at"] != "2026-11-21T09:02:00Z" {
		t.Errorf("signin --json: %v", iss)
	}
	letter, digits = w.code("grace@example.com", 2)
	e := w.ok(phone, "code", letter, digits, "--json").object(t)
	hasFields(t, "code --json", e, "purpose", "letter", "signed_up", "merged", "visitor")
	if e["purpose"] != "signin" || e["signed_up"] != false {
		t.Errorf("code --json: %v", e)
	}
	m, _ := e["merged"].(map[string]any)
	if m == nil || m["nickname_taken"] != true || m["visitor_nickname"] != "Grace" {
		t.Fatalf("code --json merged: %v", e["merged"])
	}
	v := e["visitor"].(map[string]any)
	addrs := v["addresses"].([]any)
	if v["account"] != true || v["nickname"] != "Grace" || len(addrs) != 1 {
		t.Fatalf("code --json visitor: %v", v)
	}
	hasFields(t, "address", addrs[0].(map[string]any), "kind", "address", "confirmed", "method", "added", "confirmed_at")

	// The laptop sees what the phone brought.
	mustContain(t, "laptop whoami", w.ok(laptop, "whoami").stdout, "nickname:   Grace", "stars:      Vega")
}

func TestCodeMergeHumanText(t *testing.T) {
	w := newWorld(t)
	w.signIn(device("laptop"), "lin@example.com", 1)
	w.ok(device("laptop"), "nickname", "Lin")
	phone := device("phone")
	w.ok(phone, "nickname", "phone-me")
	w.ok(phone, "star", "Rigel")
	w.clock.Advance(time.Minute)
	r := w.signIn(phone, "lin@example.com", 2)
	want := "Signed in as Lin.\nBrought over from your visit: Rigel.\nThe account kept its nickname; yours from the visit (phone-me) was not used.\n"
	if r.stdout != want {
		t.Errorf("code:\n got %q\nwant %q", r.stdout, want)
	}
}

func TestWrongCode(t *testing.T) {
	w := newWorld(t)
	dev := device("ada")
	w.ok(dev, "signin", "ada@example.com")
	_, digits := w.code("ada@example.com", 1)
	wrong := []byte(digits)
	wrong[0] = '0' + (wrong[0]-'0'+1)%10
	r := w.run(dev, "code", "A-"+string(wrong), "--json")
	if r.status != 1 || !strings.Contains(r.stderr, "That is not code A. 2 tries left.") {
		t.Fatalf("wrong code: status %d, stderr %q", r.status, r.stderr)
	}
	if code := r.object(t)["error"].(map[string]any)["code"]; code != string(flows.ProblemWrongCode) {
		t.Errorf("wrong code --json: %v", code)
	}
	w.ok(dev, "code", "a"+digits) // still good, letter in lower case
}

func TestSigninThrottled(t *testing.T) {
	w := newWorld(t)
	dev := device("ada")
	w.ok(dev, "signin", "ada@example.com")
	r := w.run(dev, "signin", "ada@example.com")
	if r.status != 1 || r.stdout != "" || !strings.HasPrefix(r.stderr, "Next code at 09:01:00 UTC (in 1m).") {
		t.Fatalf("throttled: status %d, stdout %q, stderr %q", r.status, r.stdout, r.stderr)
	}
	r = w.run(dev, "signin", "--json", "ada@example.com")
	if r.status != 1 {
		t.Fatalf("throttled --json: status %d", r.status)
	}
	errObj := r.object(t)["error"].(map[string]any)
	hasFields(t, "error", errObj, "code", "message", "retry_at")
	if errObj["code"] != string(flows.ProblemThrottled) || errObj["retry_at"] != "2026-11-21T09:01:00Z" {
		t.Errorf("throttled --json: %v", errObj)
	}
	// A refusal that is not held back in time still has retry_at, as null.
	r = w.run(dev, "signin", "not-an-address", "--json")
	if errObj := r.object(t)["error"].(map[string]any); r.status != 1 || errObj["code"] != string(flows.ProblemInput) || errObj["retry_at"] != nil {
		t.Errorf("bad address --json: status %d, %v", r.status, errObj)
	}
}

func TestSessionsAndSignOutEverywhere(t *testing.T) {
	w := newWorld(t)
	laptop, phone := device("laptop"), device("phone")
	w.signIn(laptop, "grace@example.com", 1)
	w.clock.Advance(5 * time.Minute)
	w.signIn(phone, "grace@example.com", 2)

	r := w.ok(laptop, "sessions")
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "DEVICE") {
		t.Fatalf("sessions: %q", r.stdout)
	}
	mustContain(t, "sessions laptop row", lines[1], "SHA256:laptop", "with a code", "09:00:00 UTC (5m ago)", "← this device")
	mustContain(t, "sessions phone row", lines[2], "SHA256:phone", "09:05:00 UTC (now)")
	if strings.Contains(lines[2], "this device") {
		t.Errorf("phone row is marked as this device: %q", lines[2])
	}

	rows := w.ok(phone, "devices", "--json").lines(t)
	if len(rows) != 2 {
		t.Fatalf("devices --json: %q", r.stdout)
	}
	for _, row := range rows {
		hasFields(t, "devices --json", row, "tag", "current", "method", "signed_in_at", "first_seen", "last_seen")
		if (row["tag"] == "SHA256:phone") != (row["current"] == true) {
			t.Errorf("devices --json from the phone: %v", row)
		}
	}

	// Signing out everywhere is protected: the phone signed in to an
	// existing account, so it is not stepped up (the laptop, which
	// created the account, is for its first hour).
	r = w.run(phone, "signout", "--everywhere")
	if r.status != 1 || r.stdout != "" || !strings.Contains(r.stderr, stepUpHint) {
		t.Fatalf("signout --everywhere without a step-up: status %d, stdout %q, stderr %q", r.status, r.stdout, r.stderr)
	}
	w.stepUp(phone, "grace@example.com")
	r = w.ok(phone, "signout", "--everywhere")
	if r.stdout != "Signed out everywhere: 2 devices, this one included. Each must sign in again.\n" {
		t.Errorf("signout --everywhere: %q", r.stdout)
	}
	for _, dev := range []flows.Device{laptop, phone} {
		r := w.run(dev, "sessions", "--json")
		if r.status != 1 || r.stderr != "This device is not signed in.\n" {
			t.Errorf("sessions after signing out everywhere: status %d, stderr %q", r.status, r.stderr)
		}
		if code := r.object(t)["error"].(map[string]any)["code"]; code != string(flows.ProblemSignedOut) {
			t.Errorf("sessions --json after signing out everywhere: %v", code)
		}
		mustContain(t, "whoami", w.ok(dev, "whoami").stdout, "account:    no")
	}
}

func TestSignOut(t *testing.T) {
	w := newWorld(t)
	dev := device("ada")
	w.signIn(dev, "ada@example.com", 1)
	w.ok(dev, "nickname", "Ada")
	r := w.ok(dev, "signout", "--json")
	if o := r.object(t); o["signed_out"] != "device" || o["devices"] != 1.0 {
		t.Errorf("signout --json: %v", o)
	}
	mustContain(t, "whoami", w.ok(dev, "whoami").stdout, "(none yet)")
	r = w.run(dev, "signout")
	if r.status != 1 || r.stderr != "This device is not signed in.\n" {
		t.Errorf("signout twice: status %d, stderr %q", r.status, r.stderr)
	}
}

func TestFacts(t *testing.T) {
	w := newWorld(t)
	dev := device("ada")
	if r := w.ok(dev, "facts"); r.stdout != "" {
		t.Errorf("facts before anything: %q", r.stdout)
	}
	w.ok(dev, "nickname", "Ada")
	w.ok(dev, "star", "vega")
	r := w.ok(dev, "facts")
	var kinds []string
	sawNickname := false
	for _, line := range strings.Split(strings.TrimSuffix(r.stdout, "\n"), "\n") {
		var f store.Fact
		if err := json.Unmarshal([]byte(line), &f); err != nil {
			t.Fatalf("facts line %q: %v", line, err)
		}
		kinds = append(kinds, f.Kind)
		if f.Kind == flows.KindNicknameSet {
			var body struct{ Nickname string }
			if err := f.Decode(&body); err != nil || body.Nickname != "Ada" {
				t.Errorf("nickname fact body %s: %v", f.Body, err)
			}
			sawNickname = true
		}
	}
	if !sawNickname || len(kinds) != 4 {
		t.Errorf("facts kinds %v: want user.created, device.signed_in, nickname.set, star.added", kinds)
	}
	if r2 := w.ok(dev, "facts", "--json"); r2.stdout != r.stdout {
		t.Errorf("facts --json differs from facts")
	}

	// --explain: one plain line per fact, oldest first, saying why.
	ex := w.ok(dev, "facts", "--explain")
	lines := strings.Split(strings.TrimSuffix(ex.stdout, "\n"), "\n")
	if len(lines) != len(kinds) {
		t.Fatalf("facts --explain printed %d lines for %d facts:\n%s", len(lines), len(kinds), ex.stdout)
	}
	for i, want := range []string{
		"user.created  user tag created · u_",
		"device.signed_in  device signed in · ",
		"nickname.set  nickname set · “Ada”",
		"star.added  star added · vega",
	} {
		if !strings.Contains(lines[i], want) || !strings.Contains(lines[i], "  "+kinds[i]+"  ") {
			t.Errorf("facts --explain line %d: %q, want it to hold %q", i, lines[i], want)
		}
	}
	if !strings.Contains(lines[0], "an anonymous visitor's first write") {
		t.Errorf("the user tag's line does not say why: %q", lines[0])
	}
}

func TestNicknameRefusedForEscapes(t *testing.T) {
	w := newWorld(t)
	dev := device("ada")
	for _, name := range []string{"\x1b[31mred", "\x1b]0;title\x07", "evil\u202Eexe", "\u009b31m"} {
		r := w.run(dev, "nickname", name)
		if r.status != 1 || r.stdout != "" || r.stderr == "" || !safeForTerminal(r.stderr) {
			t.Errorf("nickname %q: status %d, stdout %q, stderr %q", name, r.status, r.stdout, r.stderr)
		}
		r = w.run(dev, "nickname", name, "--json")
		if r.status != 1 || !safeForTerminal(r.stdout) || !safeForTerminal(r.stderr) {
			t.Errorf("nickname %q --json: status %d, stdout %q, stderr %q", name, r.status, r.stdout, r.stderr)
		}
		if code := r.object(t)["error"].(map[string]any)["code"]; code != string(flows.ProblemInput) {
			t.Errorf("nickname %q --json: code %v", name, code)
		}
	}
	mustContain(t, "whoami", w.ok(dev, "whoami").stdout, "(none yet)")
}

func TestStars(t *testing.T) {
	w := newWorld(t)
	dev := device("ada")
	if r := w.ok(dev, "star", "Vega"); r.stdout != "Starred Vega. Your stars: Vega.\n" {
		t.Errorf("star Vega: %q", r.stdout)
	}
	o := w.ok(dev, "star", "rigel", "--json").object(t)
	if o["item"] != "rigel" || o["starred"] != true || len(o["stars"].([]any)) != 2 {
		t.Errorf("star rigel --json: %v", o)
	}
	for _, args := range [][]string{{"stars"}, {"star"}} {
		r := w.ok(dev, args...)
		mustContain(t, "stars", r.stdout, "★ Vega", "★ Rigel", "  Sirius")
		if n := strings.Count(r.stdout, "★"); n != 2 {
			t.Errorf("%q shows %d stars", args, n)
		}
	}
	rows := w.ok(dev, "stars", "--json").lines(t)
	if len(rows) != len(flows.DefaultCatalogue) {
		t.Fatalf("stars --json: %d lines", len(rows))
	}
	hasFields(t, "stars --json", rows[0], "id", "name", "note", "starred")
	if r := w.ok(dev, "unstar", "vega"); r.stdout != "Unstarred Vega. Your stars: Rigel.\n" {
		t.Errorf("unstar vega: %q", r.stdout)
	}
	r := w.run(dev, "star", "pluto\x1b[2J")
	if r.status != 1 || !strings.Contains(r.stderr, "there is no") || !safeForTerminal(r.stderr) {
		t.Errorf("star pluto: status %d, stderr %q", r.status, r.stderr)
	}
}

func TestPanicIsReported(t *testing.T) {
	// A nil Service makes the flows panic; the command must report it.
	var out, errOut bytes.Buffer
	status := Run(context.Background(), Env{Device: device("ada"), Stdout: &out, Stderr: &errOut}, []string{"whoami", "--json"})
	if status != 1 || !strings.HasPrefix(errOut.String(), "attest whoami: failed unexpectedly") {
		t.Fatalf("panic: status %d, stderr %q", status, errOut.String())
	}
	if code := (result{stdout: out.String()}).object(t)["error"].(map[string]any)["code"]; code != string(flows.ProblemInternal) {
		t.Errorf("panic --json: code %v", code)
	}
}

// safeForTerminal reports whether s has nothing a terminal could act on,
// other than the newlines that end lines of output.
func safeForTerminal(s string) bool {
	lines := strings.ReplaceAll(s, "\n", "")
	return inert.String(lines) == lines
}

// help names the configured support contact, made inert.
func TestHelpNamesSupport(t *testing.T) {
	if got := supportLine("mailto:help@example.com"); got != "Support: mailto:help@example.com" {
		t.Errorf("supportLine: %q", got)
	}
	if got := supportLine("https://x.example/\x1b[31m"); strings.Contains(got, "\x1b") {
		t.Errorf("supportLine let an escape through: %q", got)
	}
}

// A phone number typed with spaces arrives over ssh as several words:
// they are joined when they are one number, and otherwise the usage
// error says how to write one.
func TestPhoneNumberWithSpaces(t *testing.T) {
	w := newWorld(t)
	r := w.ok(device("phone"), "signin", "+1", "415", "555", "2671")
	mustContain(t, "signin +1 415 555 2671", r.stdout, "Code A (", "sent to +1 415-555-2671")
	if w.code("+14155552671", 1); w.bag.sentTo("+14155552671") != 1 {
		t.Errorf("the code went to %d messages for +14155552671", w.bag.sentTo("+14155552671"))
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"signin", "+1", "415", "555", "26"}, "attest signin: takes only [ADDRESS], not also \"415\". A phone number with spaces reaches the server as several words, and these are not one number: " +
			"write it without spaces (+14155552671), or quote it twice, as ssh joins its arguments with spaces: ssh HOST signin \"'+1 415 555 2671'\"\n"},
		{[]string{"address", "add", "ada@example.com", "+1"}, "attest address add: takes only ADDRESS, not also \"+1\"\n"},
		{[]string{"signin", "ada@example.com", "grace@example.com"}, "attest signin: takes only [ADDRESS], not also \"grace@example.com\"\n"},
	} {
		r := w.run(device("x"), tc.args...)
		if r.status != 2 || !strings.HasPrefix(r.stderr, tc.want) {
			t.Errorf("%q: status %d, stderr %q; want %q", tc.args, r.status, r.stderr, tc.want)
		}
	}
}
