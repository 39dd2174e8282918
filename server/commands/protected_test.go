package commands

import (
	"bytes"
	"context"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/attest-dev/attest/flows"
)

// The commands of issue 4: step-up, addresses, history, keys, device
// links, the account split, and what makes an action protected.

const (
	grace  = "grace@example.com"
	phone1 = "+14155552671"
	phone2 = "+14155552672"
)

// codeFor waits for a message to addr carrying code letter and returns
// its digits. Each message is handed out once, so a later code with the
// same letter (from another device) is not mistaken for an earlier one.
func (w *world) codeFor(addr, letter string) string {
	w.t.Helper()
	b := w.bag
	b.mu.Lock()
	defer b.mu.Unlock()
	for {
		for i, m := range b.msgs {
			if m.To != addr || b.used[i] {
				continue
			}
			if sub := codeRE.FindStringSubmatch(m.Text); sub != nil && sub[1] == letter {
				b.used[i] = true
				return sub[2]
			}
		}
		b.arrived.Wait()
	}
}

// enter asks for nothing: it enters the code with the letter a command
// reported, as a person reading the message would.
func (w *world) enter(dev flows.Device, addr, letter string) result {
	w.t.Helper()
	return w.ok(dev, "code", letter+"-"+w.codeFor(addr, letter))
}

// stepUp steps dev up through the commands: `stepup`, then `code`. The
// code goes to addr. The clock first moves a minute, the governor's gap
// between two codes to one address.
func (w *world) stepUp(dev flows.Device, addr string) {
	w.t.Helper()
	w.clock.Advance(time.Minute)
	letter := w.ok(dev, "stepup", "--json").object(w.t)["letter"].(string)
	w.enter(dev, addr, letter)
}

// signUp makes an account for addr on dev, through the commands, and
// gives it a nickname. The device is stepped up for its first hour.
func (w *world) signUp(dev flows.Device, addr, nickname string) {
	w.t.Helper()
	letter := w.ok(dev, "signin", addr, "--json").object(w.t)["letter"].(string)
	w.enter(dev, addr, letter)
	if nickname != "" {
		w.ok(dev, "nickname", nickname)
	}
}

// joinAccount signs dev in to the existing account of addr: it is not
// stepped up.
func (w *world) joinAccount(dev flows.Device, addr string) {
	w.t.Helper()
	w.clock.Advance(time.Minute)
	letter := w.ok(dev, "signin", addr, "--json").object(w.t)["letter"].(string)
	w.enter(dev, addr, letter)
}

// refusedForStepUp checks a protected command refused for lack of a
// step-up, in words and in JSON.
func (w *world) refusedForStepUp(dev flows.Device, args ...string) {
	w.t.Helper()
	r := w.run(dev, args...)
	if r.status != 1 || r.stdout != "" || !strings.Contains(r.stderr, "first prove it is you") ||
		!strings.HasSuffix(r.stderr, " "+stepUpHint+"\n") {
		w.t.Errorf("%q without a step-up: status %d, stdout %q, stderr %q", args, r.status, r.stdout, r.stderr)
	}
	r = w.run(dev, append(args, "--json")...)
	if r.status != 1 {
		w.t.Errorf("%q --json without a step-up: status %d", args, r.status)
		return
	}
	e := r.object(w.t)["error"].(map[string]any)
	if e["code"] != string(flows.ProblemStepUp) || e["how"] != "run stepup, then code CODE" || strings.Contains(e["message"].(string), "Step up first") {
		w.t.Errorf("%q --json without a step-up: %v", args, e)
	}
}

// refused checks a refusal with the given JSON code.
func (w *world) refused(dev flows.Device, code flows.ProblemCode, args ...string) result {
	w.t.Helper()
	r := w.run(dev, append(args, "--json")...)
	if r.status != 1 || r.stderr == "" {
		w.t.Fatalf("%q: status %d, stderr %q, stdout %q", args, r.status, r.stderr, r.stdout)
	}
	e := r.object(w.t)["error"].(map[string]any)
	if e["code"] != string(code) {
		w.t.Errorf("%q: error %v, want code %s", args, e, code)
	}
	if _, ok := e["how"]; ok && code != flows.ProblemStepUp {
		w.t.Errorf("%q: error %v has a how", args, e)
	}
	return r
}

func TestStepUp(t *testing.T) {
	w := newWorld(t)
	laptop, phone := device("laptop"), device("phone")
	w.signUp(laptop, grace, "Grace")

	// The device that created the account is stepped up for an hour.
	mustContain(t, "laptop whoami", w.ok(laptop, "whoami").stdout, "step-up:    stepped up until 10:00:00 UTC (in 1h), on this device only")

	w.joinAccount(phone, grace)
	mustContain(t, "phone whoami", w.ok(phone, "whoami").stdout, "step-up:    not stepped up (`stepup` allows protected changes)")
	if v := w.ok(phone, "whoami", "--json").object(t); v["step_up_until"] != nil {
		t.Errorf("whoami --json before stepping up: step_up_until %v", v["step_up_until"])
	}

	w.clock.Advance(time.Minute) // 09:02
	r := w.ok(phone, "stepup")
	want := "Step-up code B (6 digits) sent to g•••@example.com. Enter it with: code B-NNNNNN. The step-up lasts 1h on this device only.\n" +
		"The code expires at 09:12:00 UTC (in 10m).\n"
	if r.stdout != want {
		t.Errorf("stepup:\n got %q\nwant %q", r.stdout, want)
	}
	r = w.enter(phone, grace, "B")
	if r.stdout != "Stepped up: protected changes work on this device until 10:02:00 UTC (in 1h).\n" {
		t.Errorf("code for the step-up: %q", r.stdout)
	}
	mustContain(t, "phone whoami", w.ok(phone, "whoami").stdout, "step-up:    stepped up until 10:02:00 UTC (in 1h)")
	v := w.ok(phone, "whoami", "--json").object(t)
	hasFields(t, "whoami --json", v, "step_up_until", "keys", "key_account")
	if v["step_up_until"] != "2026-11-21T10:02:00Z" || v["key_account"] != nil {
		t.Errorf("whoami --json: %v", v)
	}

	// In JSON, like signin's, with the purpose and the address masked.
	w.clock.Advance(time.Minute)
	iss := w.ok(phone, "stepup", "--json").object(t)
	hasFields(t, "stepup --json", iss, "letter", "digits", "purpose", "channel", "to", "expires_at", "next_at", "tries")
	if iss["letter"] != "C" || iss["digits"] != 6.0 || iss["purpose"] != "stepup" || iss["to"] != "g•••@example.com" || iss["tries"] != 5.0 {
		t.Errorf("stepup --json: %v", iss)
	}
	e := w.ok(phone, "code", "C", w.codeFor(grace, "C"), "--json").object(t)
	hasFields(t, "code --json", e, "purpose", "letter", "step_up_until", "split", "confirmed_address", "visitor")
	if e["purpose"] != "stepup" || e["step_up_until"] != "2026-11-21T10:03:00Z" || e["split"] != nil || e["confirmed_address"] != nil {
		t.Errorf("code --json for a step-up: %v", e)
	}

	// The step-up ends after an hour.
	w.clock.Advance(time.Hour)
	mustContain(t, "phone whoami later", w.ok(phone, "whoami").stdout, "not stepped up")

	// A signed-out device has nothing to step up.
	r = w.refused(device("stranger"), flows.ProblemSignedOut, "stepup")
	if !safeForTerminal(r.stderr) {
		t.Errorf("stepup signed out: %q", r.stderr)
	}
}

// TestSeedScenario is the seed's enrolment through the commands: sign up
// with an email address (code A, 4 digits), add a phone (code B, 4
// digits: the device's second code of the day),
// confirm it, and the third code is 6 digits.
func TestSeedScenario(t *testing.T) {
	w := newWorld(t)
	laptop := device("laptop")
	r := w.ok(laptop, "signin", grace)
	mustContain(t, "signin", r.stdout, "Code A (4 digits) sent to grace@example.com.")
	w.enter(laptop, grace, "A")

	w.clock.Advance(time.Minute)
	r = w.ok(laptop, "address", "add", phone1)
	want := "Code B (4 digits) sent to +1 415-555-2671 to confirm it. It expires at 09:11:00 UTC (in 10m). Enter it with: code B-NNNN\n" +
		"Another code can be asked for at 09:02:00 UTC (in 1m).\n" +
		"Until then it is on your account, not confirmed.\n"
	if r.stdout != want {
		t.Errorf("address add:\n got %q\nwant %q", r.stdout, want)
	}
	mustContain(t, "addresses", w.ok(laptop, "addresses").stdout, "phone  +1 415-555-2671    not confirmed  09:01:00 UTC (now)",
		"address confirm ADDRESS")

	r = w.enter(laptop, phone1, "B")
	if r.stdout != "Code B accepted: +1 415-555-2671 is confirmed on your account.\n" {
		t.Errorf("code B: %q", r.stdout)
	}
	// The email address is told that the phone was confirmed.
	if m := w.bag.nth(grace, 2); !strings.Contains(m.Text, "phone number +1 •••-•••-2671 was confirmed") {
		t.Errorf("notice: %q", m.Text)
	}

	w.clock.Advance(time.Minute)
	iss := w.ok(laptop, "address", "add", "ada@example.com", "--json").object(t)
	if iss["letter"] != "C" || iss["digits"] != 6.0 || iss["purpose"] != "confirm" || iss["to"] != "ada@example.com" {
		t.Errorf("third code: %v", iss)
	}
	// The email's message has a link too: its page asks for a check that
	// only this account's terminals show, here and in its address list.
	check, _ := iss["link_check"].(string)
	if len(check) != flows.LinkCheckLen {
		t.Errorf("address add --json has no link check: %v", iss)
	}
	if m := w.bag.nth("ada@example.com", 1); strings.Contains(m.Text, check) || !strings.Contains(m.Text, "/link/") {
		t.Errorf("the message: %q", m.Text)
	}
	mustContain(t, "addresses", w.ok(laptop, "addresses").stdout, "not confirmed; its link asks for "+check)
	if row := w.ok(laptop, "addresses", "--json").lines(t)[2]; row["link_check"] != check {
		t.Errorf("addresses --json: %v", row)
	}
	e := w.ok(laptop, "code", "C-"+w.codeFor("ada@example.com", "C"), "--json").object(t)
	ca, _ := e["confirmed_address"].(map[string]any)
	if e["purpose"] != "confirm" || ca == nil || ca["address"] != "ada@example.com" || ca["confirmed"] != true {
		t.Errorf("code C --json: %v", e)
	}

	rows := w.ok(laptop, "addresses", "--json").lines(t)
	if len(rows) != 3 {
		t.Fatalf("addresses --json: %v", rows)
	}
	for _, row := range rows {
		hasFields(t, "addresses --json", row, "kind", "address", "confirmed", "method", "added", "confirmed_at")
		if row["confirmed"] != true {
			t.Errorf("addresses --json: %v", row)
		}
	}
	if rows[1]["kind"] != "phone" || rows[1]["address"] != "+1 415-555-2671" {
		t.Errorf("addresses --json phone: %v", rows[1])
	}
	mustContain(t, "whoami", w.ok(laptop, "whoami").stdout, "addresses:  grace@example.com (confirmed)",
		"+1 415-555-2671 (confirmed)", "keys:       none remembered")
}

func TestAddressCommands(t *testing.T) {
	w := newWorld(t)
	laptop := device("laptop")
	w.signUp(laptop, grace, "Grace")

	// The only confirmed address cannot go.
	r := w.refused(laptop, flows.ProblemLastAddress, "address", "unlink", grace)
	mustContain(t, "unlink last", r.stderr, "the only confirmed address")

	// An address that is not on the account: nothing to do, and that is
	// a success.
	r = w.ok(laptop, "address", "unlink", "nobody@example.com")
	if r.stdout != "nobody@example.com is not on your account; there is nothing to unlink.\n" {
		t.Errorf("unlink absent: %q", r.stdout)
	}
	if o := w.ok(laptop, "address", "unlink", "nobody@example.com", "--json").object(t); o["address"] != "nobody@example.com" || o["changed"] != false {
		t.Errorf("unlink absent --json: %v", o)
	}

	// Add, ask again for a code (a minute later), confirm with the newest.
	w.clock.Advance(time.Minute)
	w.ok(laptop, "address", "add", phone1)
	w.clock.Advance(time.Minute)
	r = w.ok(laptop, "address", "confirm", phone1)
	mustContain(t, "address confirm", r.stdout, "Code C (6 digits) sent to +1 415-555-2671 to confirm it.")
	iss := w.refused(laptop, flows.ProblemThrottled, "address", "confirm", phone1).object(t)["error"].(map[string]any)
	if iss["retry_at"] != "2026-11-21T09:03:00Z" {
		t.Errorf("address confirm too soon: %v", iss)
	}
	w.enter(laptop, phone1, "C")
	w.refused(laptop, flows.ProblemNothingToDo, "address", "confirm", phone1)
	w.refused(laptop, flows.ProblemNothingToDo, "address", "add", phone1)
	w.refused(laptop, flows.ProblemInput, "address", "add", "not an address")

	// Edit an unconfirmed address: replaced at once.
	w.ok(laptop, "address", "add", "old@example.com")
	w.clock.Advance(time.Minute)
	r = w.ok(laptop, "address", "edit", "old@example.com", "new@example.com")
	mustContain(t, "address edit", r.stdout, "sent to new@example.com to confirm it", "It replaces old@example.com, which was not confirmed.")
	addrs := w.ok(laptop, "addresses").stdout
	if strings.Contains(addrs, "old@example.com") || !strings.Contains(addrs, "new@example.com") {
		t.Errorf("addresses after edit: %q", addrs)
	}
	// Edit a confirmed one: it stays beside the new one.
	w.clock.Advance(time.Minute)
	o := w.ok(laptop, "address", "edit", phone1, phone2, "--json").object(t)
	hasFields(t, "address edit --json", o, "letter", "digits", "purpose", "to", "old", "old_kept")
	if o["old"] != "+1 415-555-2671" || o["old_kept"] != true || o["to"] != "+1 415-555-2672" || o["purpose"] != "confirm" {
		t.Errorf("address edit --json: %v", o)
	}
	w.refused(laptop, flows.ProblemInput, "address", "edit", "ghost@example.com", "x@example.com")

	// Unlink: an unconfirmed address quietly, a confirmed one with notices.
	r = w.ok(laptop, "address", "unlink", "new@example.com")
	if r.stdout != "Unlinked new@example.com from your account.\n" {
		t.Errorf("unlink unconfirmed: %q", r.stdout)
	}
	r = w.ok(laptop, "address", "unlink", phone1)
	if r.stdout != "Unlinked +1 415-555-2671 from your account. Your other addresses, and this one, are told.\n" {
		t.Errorf("unlink confirmed: %q", r.stdout)
	}

	// History: every change, oldest first.
	lines := w.ok(laptop, "history", "--json").lines(t)
	var got []string
	for _, l := range lines {
		hasFields(t, "history --json", l, "time", "kind", "address", "event", "detail")
		got = append(got, l["address"].(string)+" "+l["event"].(string)+" "+l["detail"].(string))
	}
	wantEvents := []string{
		"grace@example.com added ", "grace@example.com confirmed code",
		"+1 415-555-2671 added ", "+1 415-555-2671 confirmed code",
		"old@example.com added ", "old@example.com ended edited", "new@example.com added ",
		"+1 415-555-2672 added ",
		"new@example.com ended unlinked", "+1 415-555-2671 ended unlinked",
	}
	if strings.Join(got, "\n") != strings.Join(wantEvents, "\n") {
		t.Errorf("history --json:\n got %q\nwant %q", got, wantEvents)
	}
	if lines[0]["time"] != "2026-11-21T09:00:00Z" || lines[0]["kind"] != "email" {
		t.Errorf("history --json first line: %v", lines[0])
	}
	h := strings.Split(strings.TrimSpace(w.ok(laptop, "history").stdout), "\n")
	if len(h) != len(wantEvents)+1 || !strings.HasPrefix(h[0], "WHEN") {
		t.Fatalf("history: %q", h)
	}
	mustContain(t, "history line", h[len(h)-1], "phone", "+1 415-555-2671", "ended (unlinked)")

	// Signed out, there is no account to list.
	w.refused(device("stranger"), flows.ProblemSignedOut, "addresses")
	w.refused(device("stranger"), flows.ProblemSignedOut, "history")
}

// TestProtectedCommands runs every protected command on a device that is
// not stepped up, then steps it up and runs them again.
func TestProtectedCommands(t *testing.T) {
	w := newWorld(t)
	laptop, phone, tablet := device("laptop"), device("phone"), device("tablet")
	w.signUp(laptop, grace, "Grace")
	w.ok(laptop, "address", "add", phone1)
	w.enter(laptop, phone1, "B")
	w.ok(laptop, "keys", "remember")
	w.joinAccount(phone, grace)
	w.clock.Advance(time.Minute)
	w.ok(phone, "address", "add", "x@example.com", "--help") // help is never refused
	code := w.ok(tablet, "link", "--json").object(t)["code"].(string)

	for _, args := range [][]string{
		{"address", "add", "new@example.com"},
		{"address", "confirm", phone1},
		{"address", "edit", phone1, phone2},
		{"address", "unlink", phone1},
		{"keys", "remember"},
		{"keys", "remove", "SHA256:laptop"},
		{"keys", "forget", "SHA256:laptop"},
		{"approve", code},
		{"signout", "--everywhere"},
	} {
		w.refusedForStepUp(phone, args...)
	}
	// The refusals changed nothing.
	if n := len(w.ok(phone, "addresses", "--json").lines(t)); n != 2 {
		t.Errorf("addresses after refusals: %d", n)
	}

	// Step up (the code goes to the other address: a second factor).
	w.clock.Advance(time.Minute)
	iss := w.ok(phone, "stepup", "--json").object(t)
	if iss["channel"] != "sms" || iss["to"] != "+1 •••-•••-2671" {
		t.Errorf("stepup --json with a phone on the account: %v", iss)
	}
	w.enter(phone, phone1, iss["letter"].(string))

	w.ok(phone, "address", "add", "new@example.com")
	w.ok(phone, "address", "edit", "new@example.com", "newer@example.com")
	w.ok(phone, "address", "unlink", "newer@example.com")
	k := w.ok(phone, "keys", "remember", "--json").object(t)
	if k["fingerprint"] != "SHA256:phone" || k["method"] != "ssh" || k["current"] != true || k["remembered"] != true || k["added_at"] == nil {
		t.Errorf("keys remember --json: %v", k)
	}
	w.ok(phone, "keys", "remove", "SHA256:laptop")
	code = w.ok(tablet, "link", "--json").object(t)["code"].(string) // link codes live a minute
	w.ok(phone, "approve", code)
	w.ok(phone, "signout", "--everywhere")
}

func TestKeys(t *testing.T) {
	w := newWorld(t)
	laptop := device("laptop")
	w.signUp(laptop, grace, "Grace")
	r := w.ok(laptop, "keys")
	mustContain(t, "keys none", r.stdout, "No key is remembered for your account.")
	if r := w.ok(laptop, "keys", "--json"); r.stdout != "" {
		t.Errorf("keys --json with none: %q", r.stdout)
	}

	r = w.ok(laptop, "keys", "remember")
	mustContain(t, "keys remember", r.stdout, "Remembered this connection's key (SHA256:laptop)", "`signin --key`")
	w.refused(laptop, flows.ProblemNothingToDo, "keys", "remember")
	r = w.ok(laptop, "keys")
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if !strings.HasPrefix(lines[0], "KEY") {
		t.Fatalf("keys: %q", r.stdout)
	}
	mustContain(t, "keys row", lines[1], "SHA256:laptop", "09:00:00 UTC (now)", "on its own device", "← this key")
	k := w.ok(laptop, "keys", "--json").object(t)
	hasFields(t, "keys --json", k, "fingerprint", "added_at", "method", "current", "remembered")
	if k["fingerprint"] != "SHA256:laptop" || k["method"] != "ssh" || k["current"] != true || k["added_at"] != "2026-11-21T09:00:00Z" {
		t.Errorf("keys --json: %v", k)
	}
	mustContain(t, "whoami", w.ok(laptop, "whoami").stdout, "keys:       1 remembered, this one included")

	// Signed out, the key is offered; `signin --key` signs in with it.
	w.ok(laptop, "signout")
	r = w.ok(laptop, "whoami")
	mustContain(t, "whoami signed out", r.stdout, "\nThis key is remembered for Grace: `signin --key` signs you in.\n")
	if ka, _ := w.ok(laptop, "whoami", "--json").object(t)["key_account"].(map[string]any); ka == nil || ka["nickname"] != "Grace" || !strings.HasPrefix(ka["user"].(string), "u_") {
		t.Errorf("whoami --json key_account: %v", ka)
	}
	r = w.ok(laptop, "signin", "--key")
	if r.stdout != "Signed in as Grace with this device's key.\n" {
		t.Errorf("signin --key: %q", r.stdout)
	}
	mustContain(t, "whoami after signin --key", w.ok(laptop, "whoami").stdout, "with a remembered key, since", "not stepped up")
	w.ok(laptop, "signout")
	e := w.ok(laptop, "signin", "--key", "--json").object(t)
	hasFields(t, "signin --key --json", e, "purpose", "signed_up", "merged", "visitor", "step_up_until", "split")
	if v := e["visitor"].(map[string]any); e["purpose"] != "signin" || v["method"] != "ssh" || v["keys"] != 1.0 || v["nickname"] != "Grace" {
		t.Errorf("signin --key --json: %v", e)
	}
	if strings.Contains(w.ok(laptop, "whoami").stdout, "This key is remembered") {
		t.Errorf("whoami offers the key to the account it is signed in to")
	}

	// Signing in with a key is no step-up: forgetting it needs one.
	w.refusedForStepUp(laptop, "keys", "remove", "SHA256:laptop")
	w.stepUp(laptop, grace)
	w.refused(laptop, flows.ProblemInput, "keys", "remove", "SHA256:nope")
	o := w.ok(laptop, "keys", "forget", "laptop", "--json").object(t) // the prefix is optional
	if o["fingerprint"] != "SHA256:laptop" || o["remembered"] != false || o["current"] != true {
		t.Errorf("keys forget --json: %v", o)
	}
	if r := w.ok(laptop, "keys", "--json"); r.stdout != "" {
		t.Errorf("keys --json after forgetting: %q", r.stdout)
	}

	// signin --key: a key nobody remembers, and the usage errors.
	w.refused(device("stranger"), flows.ProblemInput, "signin", "--key")
	for _, args := range [][]string{{"signin", "--key", grace}, {"signin"}, {"keys", "frob"}, {"keys", "remove"}} {
		if r := w.run(device("stranger"), args...); r.status != 2 {
			t.Errorf("%q: status %d, stderr %q", args, r.status, r.stderr)
		}
	}
}

func TestSignOutEverywhereForgetKeys(t *testing.T) {
	w := newWorld(t)
	laptop := device("laptop")
	w.signUp(laptop, grace, "Grace")
	w.ok(laptop, "keys", "remember")
	if r := w.run(laptop, "signout", "--forget-keys"); r.status != 2 || !strings.Contains(r.stderr, "--forget-keys goes with --everywhere") {
		t.Errorf("signout --forget-keys alone: status %d, stderr %q", r.status, r.stderr)
	}
	o := w.ok(laptop, "signout", "--everywhere", "--forget-keys", "--json").object(t)
	if o["signed_out"] != "everywhere" || o["devices"] != 1.0 || o["keys_forgotten"] != 1.0 {
		t.Errorf("signout --everywhere --forget-keys --json: %v", o)
	}
	if r := w.ok(laptop, "whoami"); strings.Contains(r.stdout, "This key is remembered") {
		t.Errorf("whoami after forgetting every key: %q", r.stdout)
	}
	w.refused(laptop, flows.ProblemInput, "signin", "--key")
}

// liveBuffer is stdout or stderr of a command running on its own
// goroutine: safe to write and read at once, and waitable.
type liveBuffer struct {
	mu      sync.Mutex
	changed *sync.Cond
	buf     bytes.Buffer
	closed  bool
}

func newLiveBuffer() *liveBuffer {
	b := &liveBuffer{}
	b.changed = sync.NewCond(&b.mu)
	return b
}

func (b *liveBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.changed.Broadcast()
	return b.buf.Write(p)
}

func (b *liveBuffer) close() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.closed = true
	b.changed.Broadcast()
}

func (b *liveBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// waitFor waits until the output matches re and returns the match, or
// nil once the command ended without it.
func (b *liveBuffer) waitFor(re *regexp.Regexp) []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	for {
		if m := re.FindStringSubmatch(b.buf.String()); m != nil {
			return m
		}
		if b.closed {
			return nil
		}
		b.changed.Wait()
	}
}

// running is a command running on its own goroutine.
type running struct {
	stdout, stderr *liveBuffer
	status         chan int
}

func (w *world) start(ctx context.Context, dev flows.Device, args ...string) *running {
	r := &running{stdout: newLiveBuffer(), stderr: newLiveBuffer(), status: make(chan int, 1)}
	go func() {
		status := Run(ctx, Env{Service: w.svc, Device: dev, Stdout: r.stdout, Stderr: r.stderr}, args)
		r.stdout.close()
		r.stderr.close()
		r.status <- status
	}()
	return r
}

// linkCodeRE waits for the whole of what `link --wait` prints before it
// waits, so that the test reads no half-written output.
var linkCodeRE = regexp.MustCompile(`approve ([A-Z2-9]{4}-[A-Z2-9]{4})\nWaiting for it to be approved…\n`)

func TestLinkAndApprove(t *testing.T) {
	w := newWorld(t)
	laptop, tablet := device("laptop"), device("tablet")
	w.signUp(laptop, grace, "Grace")

	run := w.start(context.Background(), tablet, "link", "--wait")
	m := run.stdout.waitFor(linkCodeRE)
	if m == nil {
		t.Fatalf("link --wait: no code; stdout %q, stderr %q", run.stdout.String(), run.stderr.String())
	}
	mustContain(t, "link --wait", run.stdout.String(), "Link code: "+m[1]+" (it expires at 09:01:00 UTC (in 1m)).", "Waiting for it to be approved")

	r := w.ok(laptop, "approve", strings.ToLower(m[1]))
	if r.stdout != "Approved: the device SHA256:tablet is now signed in to your account, and its key is remembered.\n" {
		t.Errorf("approve: %q", r.stdout)
	}
	if status := <-run.status; status != 0 || run.stderr.String() != "" {
		t.Fatalf("link --wait: status %d, stderr %q", status, run.stderr.String())
	}
	if !strings.HasSuffix(run.stdout.String(), "Linked: signed in as Grace. This device's key is remembered: `signin --key` signs it back in.\n") {
		t.Errorf("link --wait: %q", run.stdout.String())
	}
	mustContain(t, "tablet whoami", w.ok(tablet, "whoami").stdout, "account:    yes", "by a device link, since")
	mustContain(t, "laptop keys", w.ok(laptop, "keys").stdout, "SHA256:tablet", "by a device link")
	w.refused(laptop, flows.ProblemCodeUsed, "approve", m[1])
	w.refused(tablet, flows.ProblemSignedIn, "link")

	// In JSON: the code, then (with --wait) what it led to.
	phone := device("phone")
	o := w.ok(phone, "link", "--json").object(t)
	hasFields(t, "link --json", o, "code", "expires_at")
	if o["expires_at"] != "2026-11-21T09:01:00Z" {
		t.Errorf("link --json: %v", o)
	}
	run = w.start(context.Background(), phone, "link", "--wait", "--json")
	first := run.stdout.waitFor(regexp.MustCompile(`"code":"([A-Z2-9-]{9})"`))
	if first == nil {
		t.Fatalf("link --wait --json: %q", run.stdout.String())
	}
	o = w.ok(laptop, "approve", first[1][:4], first[1][5:], "--json").object(t) // two words
	if o["approved"] != true || o["device"] != "SHA256:phone" {
		t.Errorf("approve --json: %v", o)
	}
	if status := <-run.status; status != 0 {
		t.Fatalf("link --wait --json: status %d, stderr %q", status, run.stderr.String())
	}
	lines := (result{args: []string{"link"}, stdout: run.stdout.String()}).lines(t)
	if len(lines) != 2 || lines[1]["linked"] != true || lines[1]["visitor"].(map[string]any)["method"] != "device-link" {
		t.Errorf("link --wait --json: %v", lines)
	}

	// Refusals: a malformed code, an unknown one, the device's own.
	w.refused(laptop, flows.ProblemInput, "approve", "nope")
	w.refused(laptop, flows.ProblemNoCode, "approve", "AAAA-AAAA")
	kiosk := device("kiosk")
	own := w.ok(kiosk, "link", "--json").object(t)["code"].(string)
	w.ok(kiosk, "nickname", "kiosk")                     // an anonymous visitor can link; it cannot approve
	w.refused(kiosk, flows.ProblemInput, "approve", own) // its own code: said plainly
	other := w.ok(device("other"), "link", "--json").object(t)["code"].(string)
	w.refused(kiosk, flows.ProblemSignedOut, "approve", other)
}

func TestLinkExpires(t *testing.T) {
	w := newWorld(t)
	laptop, tablet := device("laptop"), device("tablet")
	w.signUp(laptop, grace, "Grace")
	run := w.start(context.Background(), tablet, "link", "--wait")
	m := run.stdout.waitFor(linkCodeRE)
	if m == nil {
		t.Fatalf("link --wait: %q", run.stdout.String())
	}
	// The wait follows the service's clock: moving it past the expiry
	// ends the wait.
	w.clock.Advance(61 * time.Second)
	if status := <-run.status; status != 1 {
		t.Fatalf("link --wait past the expiry: status %d, stdout %q", status, run.stdout.String())
	}
	if got := run.stderr.String(); got != "Not linked: the code expired at 09:01:00 UTC (1s ago). Run `link --wait` for a new one.\n" {
		t.Errorf("link --wait past the expiry: stderr %q", got)
	}
	r := w.refused(laptop, flows.ProblemCodeUsed, "approve", m[1])
	mustContain(t, "approve expired", r.stderr, "expired")
	mustContain(t, "tablet whoami", w.ok(tablet, "whoami").stdout, "account:    no")
}

func TestLinkWaitEndsWithTheConnection(t *testing.T) {
	w := newWorld(t)
	ctx, cancel := context.WithCancel(context.Background())
	run := w.start(ctx, device("tablet"), "link", "--wait", "--json")
	if run.stdout.waitFor(regexp.MustCompile(`"code"`)) == nil {
		t.Fatalf("link --wait --json: %q", run.stdout.String())
	}
	cancel()
	if status := <-run.status; status != 1 || !strings.Contains(run.stderr.String(), "stopped waiting") {
		t.Fatalf("link --wait cancelled: status %d, stderr %q", status, run.stderr.String())
	}
	lines := (result{args: []string{"link"}, stdout: run.stdout.String()}).lines(t)
	if len(lines) != 2 || lines[1]["error"].(map[string]any)["code"] != string(flows.ProblemInternal) {
		t.Errorf("link --wait --json cancelled: %v", lines)
	}
}

// splitWorld makes Alice's account with two confirmed phones, through the
// flows, and has Bob's device enter a right sign-in code for the second:
// the code offers the split.
func splitWorld(t *testing.T, asJSON bool) (w *world, alice, bob flows.Device, r result) {
	w = newWorld(t)
	ctx := context.Background()
	alice, bob = device("alice"), device("bob")
	iss, err := w.svc.RequestSignIn(ctx, alice, phone1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.svc.EnterCode(ctx, alice, iss.Letter, w.codeFor(phone1, iss.Letter)); err != nil {
		t.Fatal(err)
	}
	if _, err := w.svc.SetNickname(ctx, alice, "Alice"); err != nil {
		t.Fatal(err)
	}
	if iss, err = w.svc.AddAddress(ctx, alice, phone2); err != nil {
		t.Fatal(err)
	}
	if _, err := w.svc.EnterCode(ctx, alice, iss.Letter, w.codeFor(phone2, iss.Letter)); err != nil {
		t.Fatal(err)
	}
	w.clock.Advance(time.Minute)
	letter := w.ok(bob, "signin", phone2, "--json").object(t)["letter"].(string)
	args := []string{"code", letter + "-" + w.codeFor(phone2, letter)}
	if asJSON {
		args = append(args, "--json")
	}
	return w, alice, bob, w.ok(bob, args...)
}

// A right code signs in, with no question; the split is offered after.
func TestSplitSignIn(t *testing.T) {
	w, _, bob, r := splitWorld(t, false)
	want := "Signed in as Alice.\n" +
		"This account also has the phone number +1 •••-•••-2671. If +1 415-555-2672 is yours and not the account's, `split new`\n" +
		"makes it an account of its own: it leaves this account, which keeps +1 •••-•••-2671 and is told.\n"
	if r.stdout != want {
		t.Errorf("code offering the split:\n got %q\nwant %q", r.stdout, want)
	}
	mustContain(t, "bob whoami", w.ok(bob, "whoami").stdout, "nickname:   Alice", "+1 415-555-2671 (confirmed)", "+1 415-555-2672 (confirmed)")

	if r := w.ok(bob, "split", "signin"); r.stdout != "Signed in as Alice.\n" {
		t.Errorf("split signin: %q", r.stdout)
	}
	w.refused(bob, flows.ProblemNoCode, "split", "signin")
}

func TestSplitNew(t *testing.T) {
	w, alice, bob, r := splitWorld(t, true)
	e := r.object(t)
	s, _ := e["split"].(map[string]any)
	if s == nil || s["kind"] != "phone" || s["address"] != "+1 •••-•••-2672" || e["purpose"] != "signin" || e["signed_up"] != false {
		t.Fatalf("code --json offering the split: %v", e)
	}
	if keeps, _ := s["keeps"].([]any); len(keeps) != 1 || keeps[0] != "+1 •••-•••-2671" {
		t.Errorf("code --json: what the account keeps: %v", s)
	}
	if v := e["visitor"].(map[string]any); v["account"] != true {
		t.Errorf("code --json offering the split did not sign in: %v", v)
	}

	o := w.ok(bob, "split", "new", "--json").object(t)
	v := o["visitor"].(map[string]any)
	if o["signed_up"] != true || v["account"] != true || len(v["addresses"].([]any)) != 1 {
		t.Errorf("split new --json: %v", o)
	}
	addrs := w.ok(bob, "addresses", "--json").lines(t)
	if len(addrs) != 1 || addrs[0]["address"] != "+1 415-555-2672" {
		t.Errorf("bob's addresses: %v", addrs)
	}
	addrs = w.ok(alice, "addresses", "--json").lines(t)
	if len(addrs) != 1 || addrs[0]["address"] != "+1 415-555-2671" {
		t.Errorf("alice's addresses: %v", addrs)
	}
	w.refused(bob, flows.ProblemNoCode, "split", "new")
}

func TestSplitNewHumanText(t *testing.T) {
	w, _, bob, _ := splitWorld(t, false)
	r := w.ok(bob, "split", "new")
	want := "Signed up: a new account with +1 415-555-2672, and this device is signed in to it. The account it left keeps\n" +
		"+1 •••-•••-2671 and was told.\n"
	if r.stdout != want {
		t.Errorf("split new:\n got %q\nwant %q", r.stdout, want)
	}
}

func TestSubCommands(t *testing.T) {
	w := newWorld(t)
	dev := device("ada")
	for _, args := range [][]string{{"address"}, {"address", "frob"}, {"split"}, {"split", "maybe"}, {"address", "--json"}, {"keys", "frob", "--json"}} {
		r := w.run(dev, args...)
		wantOut := r.stdout == ""
		if slices.Contains(args, "--json") {
			wantOut = strings.Contains(r.stdout, `"code":"usage"`)
		}
		if r.status != 2 || !wantOut || !strings.Contains(r.stderr, "usage: ") {
			t.Errorf("%q: status %d, stdout %q, stderr %q", args, r.status, r.stdout, r.stderr)
		}
	}
	r := w.run(dev, "address")
	want := "attest address: needs a sub-command: add, confirm, edit, unlink\n" +
		"usage: address add ADDRESS [--json] [--with NAME]\n" +
		"       address confirm ADDRESS [--json]\n" +
		"       address edit OLD NEW [--json]\n" +
		"       address unlink ADDRESS [--json] [--with NAME]\n" +
		"run `address --help` for more\n"
	if r.stderr != want {
		t.Errorf("address:\n got %q\nwant %q", r.stderr, want)
	}
	mustContain(t, "address frob", w.run(dev, "address", "frob").stderr, `there is no sub-command "frob"`)
	// Flags may come before the sub-command.
	if r := w.run(dev, "address", "--json", "add"); r.status != 2 || !strings.Contains(r.stderr, "attest address add: needs ADDRESS") {
		t.Errorf("address --json add: status %d, stderr %q", r.status, r.stderr)
	}

	mustContain(t, "address --help", w.ok(dev, "address", "--help").stdout, "Sub-commands:", "address add ADDRESS", "address unlink ADDRESS")
	mustContain(t, "keys --help", w.ok(dev, "keys", "--help").stdout, "usage: keys [--json]\n       keys remember [--json]",
		"keys remove FINGERPRINT (keys forget)")
	mustContain(t, "help address add", w.ok(dev, "help", "address", "add").stdout, "usage: address add ADDRESS [--json] [--with NAME]")
	mustContain(t, "keys forget --help", w.ok(dev, "keys", "forget", "--help").stdout, "usage: keys remove FINGERPRINT [--json]")
	if h := w.ok(dev, "help", "keys", "forget", "--json").object(t); h["name"] != "keys remove" {
		t.Errorf("help keys forget --json: %v", h)
	}
	if r := w.run(dev, "help", "address", "frob"); r.status != 2 {
		t.Errorf("help address frob: status %d", r.status)
	}

	// Every command's --help works, and help lists every command.
	list := w.ok(dev, "help").stdout
	for _, cmd := range append(program.Runnable(false), lookup("address"), lookup("split"), lookup("password")) {
		args := append(strings.Fields(cmd.Path()), "--help")
		r := w.ok(dev, args...)
		mustContain(t, strings.Join(args, " "), r.stdout, "usage: "+cmd.Path(), "--json")
		if cmd.Bind != nil && !strings.Contains(list, "  "+cmd.Path()) {
			t.Errorf("help lacks %s", cmd.Path())
		}
	}
	mustContain(t, "help", list, "stepup", "address add ADDRESS", "address edit OLD NEW", "history", "keys remove FINGERPRINT (keys forget)",
		"link", "approve CODE", "split signin", "split new", "Protected changes")
	mustContain(t, "link --help", w.ok(dev, "link", "--help").stdout, "usage: link [--json] [--wait]")
}
