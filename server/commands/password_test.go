package commands

import (
	"bytes"
	"context"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/attest-dev/attest/flows"
	"github.com/attest-dev/attest/flows/password"
)

// The commands of passwords and magic links: login, resend, signin
// --link, password set, stepup --password, user add.

const (
	goodPassword  = "correct horse battery staple"
	otherPassword = "violet tractor umbrella ninety"
)

// cheapPasswords is the cheapest argon2id the hasher allows.
func cheapPasswords(t *testing.T) *password.Hasher {
	t.Helper()
	h, err := password.NewHasher(password.Params{Memory: password.MinMemory, Time: 2, Threads: 1, SaltLen: 16, KeyLen: 32}, 2)
	if err != nil {
		t.Fatalf("password hasher: %v", err)
	}
	return h
}

// as is how a command is run: what its standard input holds, and whether
// its key is an administrator's.
type as struct {
	stdin string
	admin bool
}

func (w *world) runAs(o as, dev flows.Device, args ...string) result {
	w.t.Helper()
	var out, errOut bytes.Buffer
	env := Env{Service: w.svc, Device: dev, Stdin: strings.NewReader(o.stdin), Stdout: &out, Stderr: &errOut, Admin: o.admin}
	status := Run(context.Background(), env, args)
	return result{args: args, stdout: out.String(), stderr: errOut.String(), status: status}
}

// okAs runs a command that must succeed quietly on stderr.
func (w *world) okAs(o as, dev flows.Device, args ...string) result {
	w.t.Helper()
	r := w.runAs(o, dev, args...)
	if r.status != 0 || r.stderr != "" {
		w.t.Fatalf("%q: status %d, stderr %q, stdout %q", args, r.status, r.stderr, r.stdout)
	}
	return r
}

// startAs runs a command on its own goroutine, as start does.
func (w *world) startAs(ctx context.Context, o as, dev flows.Device, args ...string) *running {
	r := &running{stdout: newLiveBuffer(), stderr: newLiveBuffer(), status: make(chan int, 1)}
	go func() {
		env := Env{Service: w.svc, Device: dev, Stdin: strings.NewReader(o.stdin), Stdout: r.stdout, Stderr: r.stderr, Admin: o.admin}
		status := Run(ctx, env, args)
		r.stdout.close()
		r.stderr.close()
		r.status <- status
	}()
	return r
}

// pw is a password on standard input, as printf '%s\n' writes it.
func pw(p string) as { return as{stdin: p + "\n"} }

var linkTokenRE = regexp.MustCompile(`/link/([a-z2-7]{26})`)

// linkFor waits for a message to addr with a magic link that no earlier
// call handed out, and returns the message's text and the link's token.
func (w *world) linkFor(addr string) (text, token string) {
	w.t.Helper()
	b := w.bag
	b.mu.Lock()
	defer b.mu.Unlock()
	for {
		for i, m := range b.msgs {
			if m.To != addr || b.used[i] {
				continue
			}
			if sub := linkTokenRE.FindStringSubmatch(m.Text); sub != nil {
				b.used[i] = true
				return m.Text, sub[1]
			}
		}
		b.arrived.Wait()
	}
}

// checkRE finds what a link's page asks for in what a command printed.
var checkRE = regexp.MustCompile(`(?:Its page asks for|type) ([A-Z2-9]{4})\b`)

// checkIn is the last check a command printed.
func checkIn(t *testing.T, out string) string {
	t.Helper()
	m := checkRE.FindAllStringSubmatch(out, -1)
	if m == nil {
		t.Fatalf("no check in %q", out)
	}
	return m[len(m)-1][1]
}

// press is the browser: it types on the link's page the check that the
// terminal (what the command printed, out) shows and presses the button.
func (w *world) press(token, out string) {
	w.t.Helper()
	info, err := w.svc.ConfirmLinkChecked(context.Background(), token, checkIn(w.t, out))
	if err != nil || info.State != flows.LinkLive {
		w.t.Fatalf("press the link: %+v, %v", info, err)
	}
}

// finish waits for a running command and checks its status.
func (r *running) finish(t *testing.T, what string, want int) {
	t.Helper()
	if status := <-r.status; status != want {
		t.Fatalf("%s: status %d, want %d; stdout %q, stderr %q", what, status, want, r.stdout.String(), r.stderr.String())
	}
}

// noPassword fails if any output holds one of the passwords.
func noPassword(t *testing.T, what string, outs []string, passwords ...string) {
	t.Helper()
	for _, out := range outs {
		for _, p := range passwords {
			if strings.Contains(out, p) {
				t.Errorf("%s: output %q holds a password", what, out)
			}
		}
	}
}

// anonCheck takes the check, random per link, out of what login printed.
func anonCheck(out string) string {
	return regexp.MustCompile(`Its page asks for [A-Z2-9]{4},`).ReplaceAllString(out, "Its page asks for CHECK,")
}

// followText is what login prints for every case but [A] while it waits,
// with the check as anonCheck leaves it.
func followText(addr string) string {
	return "Not signed in with that password. We sent a link to " + addr + ": it signs you in if the address has an account, " +
		"or confirms the address and makes your account if it is new. Its page asks for CHECK, which only this terminal shows: " +
		"never give it to anyone, and never type there characters someone gives you. Nothing happens until you open it, type those characters and press its button, " +
		"within 5 minutes. A link that signs in works only while a command of this device waits for it; one that makes your " +
		"account works even after you close this (keep its characters, or send it again), and this device is signed in when it next connects. Send it again with: resend " + addr + ".\n" +
		"Waiting for the link…\n"
}

// noWaitText is what login --no-wait prints for every case but [A].
func noWaitText(addr string) string {
	return "Not signed in with that password. We sent a link to " + addr + ": it signs you in if the address has an account, " +
		"or confirms the address and makes your account if it is new. Its page asks for CHECK, which only this terminal shows: " +
		"never give it to anyone, and never type there characters someone gives you. Nothing happens until you open it, type those characters and press its button, " +
		"within 5 minutes. A link that signs in works only while a command of this device waits for it; one that makes your " +
		"account works even after you close this (keep its characters, or send it again), and this device is signed in when it next connects.\n" +
		"This command did not wait (--no-wait): a sign-in link will find no waiting session. " +
		"To sign in that way, run resend " + addr + " (it sends a new link and waits).\n"
}

var waitingRE = regexp.MustCompile(`Waiting for the link…\n`)

// register makes an account for addr through `login` on dev: case [D],
// then the link pressed. It returns what login printed.
func (w *world) register(dev flows.Device, addr, password string) string {
	w.t.Helper()
	run := w.startAs(context.Background(), pw(password), dev, "login", addr)
	if run.stdout.waitFor(waitingRE) == nil {
		w.t.Fatalf("login %s: stdout %q, stderr %q", addr, run.stdout.String(), run.stderr.String())
	}
	_, token := w.linkFor(addr)
	w.press(token, run.stdout.String())
	run.finish(w.t, "login "+addr, 0)
	return run.stdout.String()
}

// TestLoginCases runs the notes' four cases through `login`.
func TestLoginCases(t *testing.T) {
	w := newWorld(t)
	laptop := device("laptop")
	var outs []string

	// [D] an unknown address: the account is made and a link sent; login
	// waits for it, and signs in when its button is pressed.
	out := w.register(laptop, grace, goodPassword)
	if want := followText(grace) + "Signed in as your account.\n"; anonCheck(out) != want {
		t.Errorf("login [D]:\n got %q\nwant %q", out, want)
	}
	outs = append(outs, out)
	r := w.ok(laptop, "whoami")
	mustContain(t, "whoami after [D]", r.stdout, "account:    yes", "grace@example.com (confirmed)", "password:   set",
		"by a sign-in link, since 09:00:00 UTC (now)")
	if v := w.ok(laptop, "whoami", "--json").object(t); v["has_password"] != true {
		t.Errorf("whoami --json: has_password %v", v["has_password"])
	}
	w.ok(laptop, "nickname", "Grace")

	// [A] the right password: signed in, and the visit merges in.
	phone := device("phone")
	w.ok(phone, "nickname", "phone-me")
	w.ok(phone, "star", "vega")
	r = w.okAs(pw(goodPassword), phone, "login", "Grace@Example.com")
	if want := "Signed in as Grace.\nBrought over from your visit: Vega.\n" +
		"The account kept its nickname; yours from the visit (phone-me) was not used.\n"; r.stdout != want {
		t.Errorf("login [A]:\n got %q\nwant %q", r.stdout, want)
	}
	outs = append(outs, r.stdout)
	mustContain(t, "phone whoami", w.ok(phone, "whoami").stdout, "with a password, since", "not stepped up")

	// [A] in JSON.
	o := w.okAs(pw(goodPassword), device("tablet"), "login", grace, "--json").object(t)
	hasFields(t, "login --json", o, "signed_in", "pending", "to", "link", "merged", "visitor")
	v, _ := o["visitor"].(map[string]any)
	if o["signed_in"] != true || o["pending"] != false || o["to"] != grace || o["link"] != nil || v == nil ||
		v["account"] != true || v["method"] != "password" || v["has_password"] != true {
		t.Errorf("login [A] --json: %v", o)
	}

	// [B] a wrong password: answered as [D] (see TestLoginDoesNotEnumerate),
	// with a sign-in link to the address.
	w.clock.Advance(time.Minute)
	r = w.okAs(pw(otherPassword), device("stranger"), "login", grace, "--no-wait")
	if anonCheck(r.stdout) != noWaitText(grace) {
		t.Errorf("login [B]:\n got %q\nwant %q", r.stdout, noWaitText(grace))
	}
	outs = append(outs, r.stdout, r.stderr)
	text, _ := w.linkFor(grace)
	mustContain(t, "[B]'s message", text, "To sign in to attest")
	w.clock.Advance(time.Minute)
	o = w.okAs(pw(otherPassword), device("stranger"), "login", grace, "--json", "--no-wait").object(t)
	if o["signed_in"] != false || o["pending"] != true || o["to"] != grace || o["link"] == nil || o["visitor"] != nil {
		t.Errorf("login [B] --json: %v", o)
	}
	outs = append(outs, r.stdout, r.stderr)
	mustContain(t, "stranger whoami", w.ok(device("stranger"), "whoami").stdout, "account:    no")

	noPassword(t, "login", outs, goodPassword, otherPassword)
	// Nor is its hash shown: the ledger keeps it, `facts` leaves it out.
	facts := w.ok(laptop, "facts").stdout
	if !strings.Contains(facts, `"kind":"password.set"`) || strings.Contains(facts, "argon2") {
		t.Errorf("facts shows a password hash, or no password fact: %q", facts)
	}
}

// TestLoginPendingSameWords: case [C] (the address waits to be confirmed)
// answers in [D]'s words, and its wait ends when the earlier link is
// pressed.
func TestLoginPendingSameWords(t *testing.T) {
	w := newWorld(t)
	laptop := device("laptop")

	// [D] without waiting: a registration's link works all the same.
	r := w.okAs(pw(goodPassword), laptop, "login", grace, "--no-wait")
	want := noWaitText(grace)
	first := r.stdout
	if anonCheck(r.stdout) != want {
		t.Errorf("login --no-wait [D]:\n got %q\nwant %q", r.stdout, want)
	}
	_, token := w.linkFor(grace)
	if info, _ := w.svc.PeekLink(context.Background(), token); info.State != flows.LinkLive {
		t.Errorf("the registration's link with nobody waiting: %+v", info)
	}

	// [C], from another device with another password, in the same words
	// as [D], and in JSON with a link of its own (a sign-in link).
	w.clock.Advance(time.Minute)
	o := w.okAs(pw(otherPassword), device("other"), "login", grace, "--no-wait", "--json").object(t)
	if o["signed_in"] != false || o["pending"] != true || o["to"] != grace || o["link"] == nil || o["visitor"] != nil {
		t.Errorf("login [C] --json: %v", o)
	}
	w.clock.Advance(time.Minute)
	if r := w.okAs(pw(otherPassword), device("other"), "login", grace, "--no-wait"); anonCheck(r.stdout) != want {
		t.Errorf("login --no-wait [C]:\n got %q\nwant %q", r.stdout, want)
	}
	// Within a minute of the last, no new link goes; the answer says so.
	r = w.okAs(pw(otherPassword), device("other"), "login", grace, "--no-wait")
	if !strings.HasPrefix(r.stdout, "Not signed in with that password. No new link could go to grace@example.com just now") {
		t.Errorf("login --no-wait [C], held back: %q", r.stdout)
	}

	// [C] on the registering device, waiting: the first link signs it in.
	w.clock.Advance(time.Minute)
	run := w.startAs(context.Background(), pw(goodPassword), laptop, "login", grace)
	if run.stdout.waitFor(waitingRE) == nil {
		t.Fatalf("login [C]: %q", run.stdout.String())
	}
	if got := anonCheck(run.stdout.String()); got != followText(grace) {
		t.Errorf("login [C] waiting:\n got %q\nwant %q", got, followText(grace))
	}
	w.press(token, first) // the check the terminal that registered showed
	run.finish(t, "login [C]", 0)
	if !strings.HasSuffix(run.stdout.String(), "Waiting for the link…\nSigned in as your account.\n") {
		t.Errorf("login [C] after the link: %q", run.stdout.String())
	}
	mustContain(t, "whoami", w.ok(laptop, "whoami").stdout, "account:    yes", "password:   set")
}

// TestLoginJSONWaits: with --json, a waiting login prints where things
// stand, then the sign-in.
func TestLoginJSONWaits(t *testing.T) {
	w := newWorld(t)
	run := w.startAs(context.Background(), pw(goodPassword), device("laptop"), "login", grace, "--json")
	if run.stdout.waitFor(regexp.MustCompile(`"pending":true.*\n`)) == nil {
		t.Fatalf("login --json: %q, stderr %q", run.stdout.String(), run.stderr.String())
	}
	text, token := w.linkFor(grace)
	first := (result{args: []string{"login"}, stdout: run.stdout.String()}).lines(t)
	link, _ := first[0]["link"].(map[string]any)
	check, _ := link["check"].(string)
	if len(check) != flows.LinkCheckLen || strings.Contains(text, check) {
		t.Fatalf("login --json: the check %q, the message %q", check, text)
	}
	if info, err := w.svc.ConfirmLinkChecked(context.Background(), token, check); err != nil || info.State != flows.LinkLive {
		t.Fatalf("press with the JSON's check: %+v, %v", info, err)
	}
	run.finish(t, "login --json", 0)
	lines := (result{args: []string{"login"}, stdout: run.stdout.String()}).lines(t)
	if len(lines) != 2 {
		t.Fatalf("login --json: %q", run.stdout.String())
	}
	if lines[0]["signed_in"] != false || lines[0]["pending"] != true || lines[0]["to"] != grace || link == nil ||
		link["expires_at"] != "2026-11-21T09:05:00Z" || link["channel"] != "email" {
		t.Errorf("login --json first line: %v (message %q)", lines[0], text)
	}
	hasFields(t, "login --json link", link, "check", "expires_at", "next_at")
	v, _ := lines[1]["visitor"].(map[string]any)
	if lines[1]["signed_in"] != true || lines[1]["pending"] != false || v == nil || v["account"] != true || v["method"] != "link" {
		t.Errorf("login --json second line: %v", lines[1])
	}
}

// TestLoginLinkExpires: the wait ends when the link does.
func TestLoginLinkExpires(t *testing.T) {
	w := newWorld(t)
	laptop := device("laptop")
	run := w.startAs(context.Background(), pw(goodPassword), laptop, "login", grace)
	if run.stdout.waitFor(waitingRE) == nil {
		t.Fatalf("login: %q", run.stdout.String())
	}
	_, token := w.linkFor(grace)
	w.clock.Advance(flows.LinkTTL + time.Second)
	w.ok(laptop, "signin", "laptop@example.com") // anything on the device pokes it
	run.finish(t, "login past the expiry", 1)
	if got := run.stderr.String(); got != "Not signed in: the link expired at 09:05:00 UTC (1s ago). Send a new one with: resend grace@example.com\n" {
		t.Errorf("login past the expiry: stderr %q", got)
	}
	if info, _ := w.svc.ConfirmLinkChecked(context.Background(), token, checkIn(t, run.stdout.String())); info.State != flows.LinkExpired {
		t.Errorf("the link after it expired: %+v", info)
	}
	mustContain(t, "whoami", w.ok(laptop, "whoami").stdout, "account:    no")
}

// TestPasswordFromStdin: the password is the first line of standard
// input; none at all is a usage error, and it never travels on the
// command line.
func TestPasswordFromStdin(t *testing.T) {
	w := newWorld(t)
	dev := device("laptop")
	for _, stdin := range []string{"", "\n", "\r\n"} {
		for _, args := range [][]string{{"login", grace}, {"resend", grace}, {"password", "set"}, {"stepup", "--password"}} {
			r := w.runAs(as{stdin: stdin}, dev, args...)
			if r.status != 2 || r.stdout != "" || !strings.Contains(r.stderr, "needs the password on standard input") ||
				!strings.Contains(r.stderr, `printf '%s\n' "$PASSWORD" | ssh host `+strings.Join(args, " ")) {
				t.Errorf("%q with stdin %q: status %d, stdout %q, stderr %q", args, stdin, r.status, r.stdout, r.stderr)
			}
			r = w.runAs(as{stdin: stdin}, dev, append(args, "--json")...)
			if e := r.object(t)["error"].(map[string]any); r.status != 2 || e["code"] != string(flows.ProblemUsage) {
				t.Errorf("%q --json with stdin %q: status %d, %v", args, stdin, r.status, e)
			}
		}
	}
	if w.ok(dev, "facts").stdout != "" {
		t.Error("a command without its password wrote facts")
	}
	// Only the first line counts; "\r\n" ends it too; no newline at all
	// is fine.
	for _, stdin := range []string{goodPassword + "\r\nmore", goodPassword} {
		r := w.runAs(as{stdin: stdin}, device("d-"+stdin[len(stdin)-3:]), "login", "ada@example.com", "--no-wait")
		if r.status != 0 {
			t.Errorf("login with stdin %q: status %d, stderr %q", stdin, r.status, r.stderr)
		}
	}
	// Too long is refused before any work.
	r := w.runAs(as{stdin: strings.Repeat("x", 5000)}, dev, "login", "bob@example.com")
	if r.status != 1 || !strings.Contains(r.stderr, "too long") {
		t.Errorf("login with 5000 bytes: status %d, stderr %q", r.status, r.stderr)
	}
	// A refused password is not repeated.
	r = w.runAs(pw("hunter2"), dev, "login", "carol@example.com")
	if r.status != 1 || strings.Contains(r.stderr, "hunter2") || !strings.Contains(r.stderr, "at least 15 characters") {
		t.Errorf("login with a short password: status %d, stderr %q", r.status, r.stderr)
	}
	// Each command's help says how to give the password.
	for _, args := range [][]string{{"login"}, {"resend"}, {"password", "set"}, {"stepup"}} {
		mustContain(t, strings.Join(args, " ")+" --help", w.ok(dev, append(args, "--help")...).stdout, `printf '%s\n' "$PASSWORD" | ssh host `)
	}
	mustContain(t, "help", w.ok(dev, "help").stdout, `printf '%s\n' "$PASSWORD" | ssh host login grace@example.com`)
}

func TestResend(t *testing.T) {
	w := newWorld(t)
	laptop := device("laptop")
	w.okAs(pw(goodPassword), laptop, "login", grace, "--no-wait")
	w.linkFor(grace) // the first link, unused

	// The password of the registration is needed for its link; another
	// gets a sign-in link, in the same words, as does an unknown address.
	// A minute goes between two messages to an address.
	w.clock.Advance(time.Minute)
	r := w.okAs(pw(otherPassword), device("x"), "resend", grace, "--no-wait")
	text, _ := w.linkFor(grace)
	mustContain(t, "resend with a wrong password", text, "To sign in to attest")
	u := w.okAs(pw(otherPassword), device("y"), "resend", "nobody@example.com", "--no-wait")
	check := regexp.MustCompile(`\b[A-Z2-9]{4}\b`)
	if a, b := check.ReplaceAllString(r.stdout, "CHECK"), strings.ReplaceAll(check.ReplaceAllString(u.stdout, "CHECK"), "nobody@example.com", grace); a != b {
		t.Errorf("resend answers a registration\n%q\nand an unknown address\n%q", a, b)
	}
	r = w.runAs(pw(goodPassword), laptop, "resend", grace, "--no-wait", "--json")
	if e := r.object(t)["error"].(map[string]any); r.status != 1 || e["code"] != string(flows.ProblemThrottled) || e["retry_at"] != "2026-11-21T09:02:00Z" {
		t.Errorf("resend too soon: status %d, %v", r.status, e)
	}

	w.clock.Advance(time.Minute)
	run := w.startAs(context.Background(), pw(goodPassword), laptop, "resend", grace)
	m := run.stdout.waitFor(regexp.MustCompile(`type ([A-Z2-9]{4}) on its page.*\nWaiting for the button to be pressed…\n`))
	if m == nil {
		t.Fatalf("resend: stdout %q, stderr %q", run.stdout.String(), run.stderr.String())
	}
	if want := "Sent a link to grace@example.com: it confirms the address if your registration waits for it, or else signs you in. Open it within 5 minutes, type " + m[1] +
		" on its page and press the button. Only this terminal shows " + m[1] + ": never give these characters to anyone, and never type on that page characters someone gives you.\n" +
		"Waiting for the button to be pressed…\n"; run.stdout.String() != want {
		t.Errorf("resend:\n got %q\nwant %q", run.stdout.String(), want)
	}
	text, token := w.linkFor(grace)
	mustContain(t, "the link's message", text, "confirm this address")
	if strings.Contains(text, m[1]) {
		t.Errorf("the message holds the check %s: %q", m[1], text)
	}
	w.press(token, run.stdout.String())
	run.finish(t, "resend", 0)
	if !strings.HasSuffix(run.stdout.String(), "Signed in as your account.\n") {
		t.Errorf("resend after the link: %q", run.stdout.String())
	}
	noPassword(t, "resend", []string{run.stdout.String(), run.stderr.String(), r.stdout, r.stderr}, goodPassword, otherPassword)

	// Confirmed now: a sign-in link, and the same words.
	w.clock.Advance(time.Minute)
	r = w.okAs(pw(goodPassword), device("z"), "resend", grace, "--no-wait")
	if !strings.HasPrefix(r.stdout, "Sent a link to grace@example.com: it confirms the address if your registration waits for it, or else signs you in.") {
		t.Errorf("resend once confirmed: %q", r.stdout)
	}
}

func TestPasswordSet(t *testing.T) {
	w := newWorld(t)
	laptop, phone := device("laptop"), device("phone")
	w.signUp(laptop, grace, "Grace") // stepped up for its first hour
	mustContain(t, "whoami", w.ok(laptop, "whoami").stdout, "password:   not set (`password set` sets one)")

	// The policy refuses, without repeating the password.
	r := w.runAs(pw("grace123"), laptop, "password", "set", "--json")
	if e := r.object(t)["error"].(map[string]any); r.status != 1 || e["code"] != string(flows.ProblemInput) || strings.Contains(r.stdout+r.stderr, "grace123") {
		t.Errorf("password set, guessable: status %d, stdout %q, stderr %q", r.status, r.stdout, r.stderr)
	}
	r = w.okAs(pw(goodPassword), laptop, "password", "set")
	if r.stdout != "Password set.\n" {
		t.Errorf("password set: %q", r.stdout)
	}
	mustContain(t, "whoami", w.ok(laptop, "whoami").stdout, "password:   set")
	if m := w.bag.nth(grace, 2); !strings.Contains(m.Text, "A password was set") {
		t.Errorf("notice: %q", m.Text)
	}

	// Another device must step up first.
	w.joinAccount(phone, grace)
	r = w.runAs(pw(otherPassword), phone, "password", "set")
	if r.status != 1 || r.stdout != "" || !strings.Contains(r.stderr, "first prove it is you") || !strings.HasSuffix(r.stderr, " "+stepUpHint+"\n") {
		t.Errorf("password set without a step-up: status %d, stdout %q, stderr %q", r.status, r.stdout, r.stderr)
	}
	r = w.runAs(pw(otherPassword), phone, "password", "set", "--json")
	if e := r.object(t)["error"].(map[string]any); r.status != 1 || e["code"] != string(flows.ProblemStepUp) || e["how"] != stepUpHow {
		t.Errorf("password set --json without a step-up: %v", e)
	}
	w.stepUp(phone, grace)
	r = w.okAs(pw(otherPassword), phone, "password", "set", "--sign-out-others")
	if r.stdout != "Password changed; every other device signed out.\n" {
		t.Errorf("password set --sign-out-others: %q", r.stdout)
	}
	mustContain(t, "laptop whoami", w.ok(laptop, "whoami").stdout, "account:    no")
	mustContain(t, "phone whoami", w.ok(phone, "whoami").stdout, "account:    yes")

	// The old password no longer signs in; the new one does.
	if r := w.runAs(pw(goodPassword), laptop, "login", grace, "--no-wait"); r.status != 0 || !strings.HasPrefix(r.stdout, "Not signed in with that password.") {
		t.Errorf("login with the old password: status %d, stdout %q, stderr %q", r.status, r.stdout, r.stderr)
	}
	w.okAs(pw(otherPassword), laptop, "login", grace)

	o := w.okAs(pw(goodPassword), phone, "password", "set", "--sign-out-others", "--json").object(t)
	if o["password"] != "changed" || o["signed_out_others"] != true || o["devices_signed_out"] != 1.0 {
		t.Errorf("password set --json: %v", o)
	}
	r = w.runAs(pw(goodPassword), device("stranger"), "password", "set")
	if r.status != 1 || r.stderr == "" {
		t.Errorf("password set signed out: status %d, stderr %q", r.status, r.stderr)
	}
	if r := w.run(phone, "password"); r.status != 2 || !strings.Contains(r.stderr, "needs a sub-command: set") {
		t.Errorf("password: status %d, stderr %q", r.status, r.stderr)
	}
}

func TestStepUpWithPassword(t *testing.T) {
	w := newWorld(t)
	laptop, phone := device("laptop"), device("phone")
	w.signUp(laptop, grace, "Grace")
	w.okAs(pw(goodPassword), laptop, "password", "set")

	// The phone signs in with a code: the password is its second factor.
	w.joinAccount(phone, grace)
	r := w.runAs(pw(otherPassword), phone, "stepup", "--password")
	if r.status != 1 || r.stderr != "Wrong password.\n" {
		t.Errorf("stepup --password, wrong: status %d, stderr %q", r.status, r.stderr)
	}
	mustContain(t, "phone whoami", w.ok(phone, "whoami").stdout, "not stepped up")
	r = w.okAs(pw(goodPassword), phone, "stepup", "--password")
	if want := "Stepped up until 10:01:00 UTC (in 1h), on this device only: protected changes work here until then.\n"; r.stdout != want {
		t.Errorf("stepup --password:\n got %q\nwant %q", r.stdout, want)
	}
	w.ok(phone, "keys", "remember") // a protected change
	w.clock.Advance(time.Minute)
	o := w.okAs(pw(goodPassword), phone, "stepup", "--password", "--json").object(t)
	if o["step_up_until"] != "2026-11-21T10:02:00Z" || o["factor"] != "password" {
		t.Errorf("stepup --password --json: %v", o)
	}
	noPassword(t, "stepup", []string{r.stdout, r.stderr}, goodPassword, otherPassword)

	// A device signed in with the password cannot use it again.
	tablet := device("tablet")
	w.okAs(pw(goodPassword), tablet, "login", grace)
	r = w.runAs(pw(goodPassword), tablet, "stepup", "--password", "--json")
	if e := r.object(t)["error"].(map[string]any); r.status != 1 || e["code"] != string(flows.ProblemInput) || !strings.Contains(e["message"].(string), "step up with a code") {
		t.Errorf("stepup --password after a password sign-in: status %d, %v", r.status, e)
	}
}

func TestUserAdd(t *testing.T) {
	w := newWorld(t)
	admin, other := as{admin: true}, as{}
	root := device("root")

	r := w.okAs(admin, root, "user", "add", "--email", "ada@example.com", "--nickname", "Ada Lovelace")
	m := regexp.MustCompile(`^Added user (u_[a-z2-7]+): ada@example.com \(confirmed, nickname Ada Lovelace\)\.\n` +
		`A welcome message went to ada@example.com\.\n$`).FindStringSubmatch(r.stdout)
	if m == nil {
		t.Fatalf("user add: %q", r.stdout)
	}
	if msg := w.bag.nth("ada@example.com", 1); msg.Subject != "Welcome to attest" {
		t.Errorf("welcome: %+v", msg)
	}
	// The new account signs in with a code, as the welcome says.
	w.signIn(device("ada"), "ada@example.com", 2)
	v := w.ok(device("ada"), "whoami", "--json").object(t)
	if v["user"] != m[1] || v["nickname"] != "Ada Lovelace" || v["account"] != true {
		t.Errorf("ada whoami --json: %v", v)
	}

	// In JSON, flags before the sub-command, no nickname.
	o := w.okAs(admin, root, "user", "--email", "bob@example.com", "add", "--json").object(t)
	if !strings.HasPrefix(o["user"].(string), "u_") || o["address"] != "bob@example.com" || o["nickname"] != "" || o["welcomed"] != true {
		t.Errorf("user add --json: %v", o)
	}
	// Refusals and usage errors.
	r = w.runAs(admin, root, "user", "add", "--email", "ada@example.com", "--json")
	if e := r.object(t)["error"].(map[string]any); r.status != 1 || e["code"] != string(flows.ProblemSupport) {
		t.Errorf("user add twice: status %d, %v", r.status, e)
	}
	for _, args := range [][]string{{"user", "add"}, {"user", "add", "ada@example.com"}, {"user"}, {"user", "add", "--email"}} {
		if r := w.runAs(admin, root, args...); r.status != 2 {
			t.Errorf("%q: status %d, stderr %q", args, r.status, r.stderr)
		}
	}
	mustContain(t, "user add", w.runAs(admin, root, "user", "add").stderr, "attest user add: needs --email ADDRESS",
		"usage: user add --email ADDRESS [--json] [--nickname NAME]")
	mustContain(t, "user add --help", w.okAs(admin, root, "user", "add", "--help").stdout,
		"usage: user add --email ADDRESS [--json] [--nickname NAME]", "--nickname NAME")

	// To anyone else it does not exist: each answer, --help and --json
	// included, is the one a command that does not exist gets.
	for _, args := range [][]string{{"user", "add", "--email", "eve@example.com"}, {"user", "add", "--help"}, {"user", "--help"},
		{"user"}, {"help", "user", "add"}, {"help", "user"}, {"user", "add", "--email", "eve@example.com", "--json"}} {
		r := w.runAs(other, device("eve"), args...)
		unknown := slices.Clone(args)
		unknown[slices.Index(unknown, "user")] = "nosuch"
		u := w.runAs(other, device("eve"), unknown...)
		if r.status != 2 || r.stdout != strings.ReplaceAll(u.stdout, "nosuch", "user") || r.stderr != strings.ReplaceAll(u.stderr, "nosuch", "user") ||
			strings.Contains(r.stderr, "administrator") {
			t.Errorf("%q as someone else: status %d, stdout %q, stderr %q; for %q: %d %q %q", args, r.status, r.stdout, r.stderr, unknown, u.status, u.stdout, u.stderr)
		}
	}
	if strings.Contains(w.okAs(other, device("eve"), "help").stdout, "user add") {
		t.Error("help lists user add for someone else")
	}
	mustContain(t, "help as admin", w.okAs(admin, root, "help").stdout, "  user add --email ADDRESS  ", "(administrators)")
	count := func(o as) int {
		return len(w.okAs(o, root, "help", "--json").object(t)["commands"].([]any))
	}
	if a, b := count(admin), count(other); a != b+1 || b != len(program.Runnable(false)) {
		t.Errorf("help --json lists %d commands for an administrator, %d for others", a, b)
	}
}

func TestSigninLink(t *testing.T) {
	w := newWorld(t)
	laptop, tablet := device("laptop"), device("tablet")
	w.signUp(laptop, grace, "Grace")
	w.clock.Advance(time.Minute) // one message a minute to an address

	sentRE := regexp.MustCompile(`type ([A-Z2-9]{4}) on its page.*\nWaiting for the button to be pressed…\n`)
	run := w.start(context.Background(), tablet, "signin", "--link", grace)
	m := run.stdout.waitFor(sentRE)
	if m == nil {
		t.Fatalf("signin --link: stdout %q, stderr %q", run.stdout.String(), run.stderr.String())
	}
	if want := "Sent a sign-in link to grace@example.com. Open it within 5 minutes, type " + m[1] + " on its page and press the button. " +
		"Only this terminal shows " + m[1] + ": never give these characters to anyone, and never type on that page characters someone gives you.\n" +
		"Waiting for the button to be pressed…\n"; run.stdout.String() != want {
		t.Errorf("signin --link:\n got %q\nwant %q", run.stdout.String(), want)
	}
	text, token := w.linkFor(grace)
	if strings.Contains(text, m[1]) || strings.Contains(text, "terminal session") {
		t.Errorf("the message gives away what its page asks for (%s): %q", m[1], text)
	}
	// A mail scanner fetching the page uses nothing up; a press without
	// the check signs nothing in and leaves the link as it was.
	if info, _ := w.svc.PeekLink(context.Background(), token); info.State != flows.LinkLive {
		t.Errorf("peek: %+v", info)
	}
	if info, err := w.svc.ConfirmLinkChecked(context.Background(), token, ""); err == nil || !info.Mistyped {
		t.Errorf("a press without the check: %+v, %v", info, err)
	}
	w.press(token, run.stdout.String())
	run.finish(t, "signin --link", 0)
	if !strings.HasSuffix(run.stdout.String(), "Waiting for the button to be pressed…\nSigned in as Grace.\n") || run.stderr.String() != "" {
		t.Errorf("signin --link after the link: stdout %q, stderr %q", run.stdout.String(), run.stderr.String())
	}
	mustContain(t, "tablet whoami", w.ok(tablet, "whoami").stdout, "account:    yes", "by a sign-in link")
	w.refused(tablet, flows.ProblemSignedIn, "signin", "--link", grace)

	// In JSON, and for an address new to attest: the link signs up.
	phone := device("phone")
	run = w.start(context.Background(), phone, "signin", "--link", "new@example.com", "--json")
	if run.stdout.waitFor(regexp.MustCompile(`"pending":true.*\n`)) == nil {
		t.Fatalf("signin --link --json: %q", run.stdout.String())
	}
	_, token = w.linkFor("new@example.com")
	check, _ := (result{args: []string{"signin"}, stdout: run.stdout.String()}).lines(t)[0]["link"].(map[string]any)["check"].(string)
	if info, err := w.svc.ConfirmLinkChecked(context.Background(), token, check); err != nil || info.State != flows.LinkLive {
		t.Fatalf("press with the JSON's check %q: %+v, %v", check, info, err)
	}
	run.finish(t, "signin --link --json", 0)
	lines := (result{args: []string{"signin"}, stdout: run.stdout.String()}).lines(t)
	if len(lines) != 2 || lines[0]["link"] == nil || lines[1]["signed_in"] != true ||
		lines[1]["visitor"].(map[string]any)["addresses"].([]any)[0].(map[string]any)["address"] != "new@example.com" {
		t.Errorf("signin --link --json: %v", lines)
	}

	// Usage errors.
	for _, args := range [][]string{{"signin", "--link"}, {"signin", "--link", "--key"}, {"signin", "--no-wait", grace}} {
		if r := w.run(device("x"), args...); r.status != 2 {
			t.Errorf("%q: status %d, stderr %q", args, r.status, r.stderr)
		}
	}
	// Not waiting is refused before anything goes: the link would find
	// no session to sign in.
	r := w.run(device("kiosk"), "signin", "--link", "kiosk@example.com", "--no-wait", "--json")
	if r.status != 2 || !strings.HasPrefix(r.stdout, `{"error":{"code":"usage"`) ||
		!strings.HasPrefix(r.stderr, "attest signin: --no-wait does not go with signin: a sign-in link signs in the session that waits for it") ||
		!strings.Contains(r.stderr, "Leave --no-wait out") || !strings.Contains(r.stderr, "signin ADDRESS, then code CODE") {
		t.Errorf("signin --link --no-wait: status %d, stdout %q, stderr %q", r.status, r.stdout, r.stderr)
	}
	w.svc.Wait()
	if n := w.bag.sentTo("kiosk@example.com"); n != 0 {
		t.Errorf("signin --link --no-wait sent %d messages", n)
	}
}

// TestSigninLinkEndedByAWrongCheck: someone presses the link with a
// wrong check (the address's owner, say, when an attacker asked for it);
// the waiting command says so at once and stays signed out.
func TestSigninLinkEndedByAWrongCheck(t *testing.T) {
	w := newWorld(t)
	tablet := device("tablet")
	run := w.start(context.Background(), tablet, "signin", "--link", grace)
	if run.stdout.waitFor(regexp.MustCompile(`Waiting for the button to be pressed…\n`)) == nil {
		t.Fatalf("signin --link: %q", run.stdout.String())
	}
	_, token := w.linkFor(grace)
	wrong := "AAAA"
	if checkIn(t, run.stdout.String()) == wrong {
		wrong = "BBBB"
	}
	if info, err := w.svc.ConfirmLinkChecked(context.Background(), token, wrong); err != nil || info.State != flows.LinkEnded {
		t.Fatalf("a wrong check: %+v, %v", info, err)
	}
	run.finish(t, "signin --link after a wrong check", 1)
	if got := run.stderr.String(); !strings.HasPrefix(got, "Not signed in: a wrong answer on the link's page ended it, and nobody was signed in by it.") ||
		!strings.HasSuffix(got, "Send a new one with: signin --link grace@example.com\n") {
		t.Errorf("signin --link after a wrong check: stderr %q", got)
	}
	mustContain(t, "tablet whoami", w.ok(tablet, "whoami").stdout, "account:    no")
}

func TestSigninLinkExpires(t *testing.T) {
	w := newWorld(t)
	tablet := device("tablet")
	run := w.start(context.Background(), tablet, "signin", "--link", grace)
	if run.stdout.waitFor(regexp.MustCompile(`Waiting for the button to be pressed…\n`)) == nil {
		t.Fatalf("signin --link: %q", run.stdout.String())
	}
	_, token := w.linkFor(grace)
	// The waiter's timer runs on real time: move the fake clock past the
	// expiry, then poke the device.
	w.clock.Advance(flows.LinkTTL + time.Second)
	w.ok(tablet, "signin", "tablet@example.com")
	run.finish(t, "signin --link past the expiry", 1)
	if got := run.stderr.String(); got != "Not signed in: the link expired at 09:05:00 UTC (1s ago). Send a new one with: signin --link grace@example.com\n" {
		t.Errorf("signin --link past the expiry: stderr %q", got)
	}
	if info, err := w.svc.ConfirmLinkChecked(context.Background(), token, checkIn(t, run.stdout.String())); info.State != flows.LinkExpired {
		t.Errorf("the link after it expired: %+v, %v", info, err)
	}
	mustContain(t, "tablet whoami", w.ok(tablet, "whoami").stdout, "account:    no")
}

// TestSigninLinkEndsWithTheConnection: when the connection ends, the
// wait ends, and the link finds nobody waiting.
func TestSigninLinkEndsWithTheConnection(t *testing.T) {
	w := newWorld(t)
	ctx, cancel := context.WithCancel(context.Background())
	run := w.start(ctx, device("tablet"), "signin", "--link", grace, "--json")
	if run.stdout.waitFor(regexp.MustCompile(`"pending":true.*\n`)) == nil {
		t.Fatalf("signin --link --json: %q", run.stdout.String())
	}
	_, token := w.linkFor(grace)
	cancel()
	run.finish(t, "signin --link cancelled", 1)
	if !strings.Contains(run.stderr.String(), "stopped waiting for the link") {
		t.Errorf("signin --link cancelled: stderr %q", run.stderr.String())
	}
	if info, _ := w.svc.PeekLink(context.Background(), token); info.State != flows.LinkGone {
		t.Errorf("the link after the wait: %+v", info)
	}
}
