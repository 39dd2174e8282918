package commands

import (
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/attest-dev/attest/flows"
)

func appCode(t *testing.T, secret string, at time.Time) string {
	t.Helper()
	c, err := totp.GenerateCodeCustom(secret, at, totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

var recoveryLineRE = regexp.MustCompile(`(?m)^ +\d+\. ([0-9a-z]{4}-[0-9a-z]{4}-[0-9a-z]{4})$`)

// The commands scripts rely on, and what a waiting device is told.
func TestTOTPCommands(t *testing.T) {
	w := newWorld(t)
	desk := device("desk")
	w.signIn(desk, "ada@example.com", 1)

	// Enrol: --json has uri and secret; nothing changes until confirmed.
	add := w.ok(desk, "totp", "add", "--json").object(t)
	hasFields(t, "totp add --json", add, "uri", "secret")
	secret := add["secret"].(string)
	if !strings.HasPrefix(add["uri"].(string), "otpauth://totp/attest:ada@example.com?secret="+secret+"&issuer=attest") {
		t.Fatalf("uri %v", add["uri"])
	}
	r := w.run(desk, "totp", "confirm", "12345")
	if r.status != 1 || !strings.Contains(r.stderr, "6 digits") {
		t.Fatalf("a 5-digit code: %+v", r)
	}
	conf := w.ok(desk, "totp", "confirm", appCode(t, secret, w.clock.Now()), "--json").object(t)
	codes, _ := conf["recovery_codes"].([]any)
	if len(codes) != 10 {
		t.Fatalf("recovery_codes %v", conf)
	}
	mustContain(t, "whoami", w.ok(desk, "whoami").stdout, "totp:       yes, 10 recovery codes left")
	// Messages go out on their own goroutines: wait for the enrolment's
	// notice, so that the sign-in code below is surely the third.
	if m := w.bag.nth("ada@example.com", 2); codeRE.MatchString(m.Text) {
		t.Fatalf("the enrolment's notice carries a code: %q", m.Text)
	}
	w.clock.Advance(time.Minute)

	// A code signs the phone in only as far as the wait.
	phone := device("phone")
	w.ok(phone, "signin", "ada@example.com")
	letter, digits := w.code("ada@example.com", 3) // 2: the enrolment's notice
	r = w.ok(phone, "code", letter+"-"+digits)
	mustContain(t, "code", r.stdout, "First factor accepted (with a code)", "6-digit code until 09:11:00 UTC", "`totp CODE`", "`recovery CODE`")
	who := w.ok(phone, "whoami", "--json").object(t)
	wait, _ := who["waiting"].(map[string]any)
	if who["account"] != false || wait == nil || wait["for"] != "totp" || wait["method"] != "code" || wait["until"] != "2026-11-21T09:11:00Z" {
		t.Fatalf("whoami --json while waiting: %v", who)
	}
	mustContain(t, "whoami", w.ok(phone, "whoami").stdout, "waiting:", "with a code waits for the authenticator app's code")
	if r := w.run(phone, "addresses"); r.status != 1 {
		t.Fatalf("a waiting device listed the addresses: %+v", r)
	}
	r = w.run(phone, "totp", wrongDigits(appCode(t, secret, w.clock.Now())))
	if r.status != 1 || !strings.Contains(r.stderr, "not the code your authenticator app shows") {
		t.Fatalf("wrong code: %+v", r)
	}
	r = w.ok(phone, "totp", appCode(t, secret, w.clock.Now()))
	mustContain(t, "totp CODE", r.stdout, "Signed in as your account.", "Stepped up until 10:01:00 UTC")

	// Step-up with the app, on a device whose step-up lapsed.
	w.clock.Advance(2 * time.Hour)
	r = w.run(desk, "totp", "remove")
	mustContain(t, "totp remove unstepped", r.stderr, "stepup --totp CODE")
	su := w.ok(desk, "stepup", "--totp", appCode(t, secret, w.clock.Now()), "--json").object(t)
	if su["factor"] != flows.FactorTOTP || su["step_up_until"] != "2026-11-21T12:01:00Z" {
		t.Fatalf("stepup --totp: %v", su)
	}

	// Recovery codes: one completes a waiting sign-in, `recovery new`
	// replaces them.
	tablet := device("tablet")
	w.ok(tablet, "signin", "ada@example.com")
	letter, digits = w.code("ada@example.com", 4)
	w.ok(tablet, "code", letter+"-"+digits)
	rec := w.ok(tablet, "recovery", strings.ToUpper(codes[0].(string)), "--json").object(t)
	in, _ := rec["signed_in"].(map[string]any)
	if rec["recovery_left"] != 9.0 || in == nil || in["visitor"].(map[string]any)["account"] != true {
		t.Fatalf("recovery --json: %v", rec)
	}
	fresh := w.ok(desk, "recovery", "new").stdout
	if got := recoveryLineRE.FindAllStringSubmatch(fresh, -1); len(got) != 10 {
		t.Fatalf("recovery new:\n%s", fresh)
	}
	mustContain(t, "history", w.ok(desk, "history").stdout, "authenticator app  added", "recovery code      used (signin)", "recovery codes     made")
	r = w.ok(desk, "totp", "remove")
	mustContain(t, "totp remove", r.stdout, "removed")
	if r := w.ok(desk, "totp", "--json").object(t); r["authenticator"] != false {
		t.Fatalf("totp --json after removal: %v", r)
	}
	r = w.run(desk, "totp", "frobnicate", "x")
	if r.status != 2 {
		t.Fatalf("totp with two arguments: %+v", r)
	}
}

func wrongDigits(code string) string {
	b := []byte(code)
	b[0] = '0' + (b[0]-'0'+1)%10
	return string(b)
}

// A link waited for in command mode, and a password login, end on the
// wait for the app's code, and say so.
func TestLinkAndLoginWaitForTOTP(t *testing.T) {
	w := newWorld(t)
	desk := device("desk")
	w.signIn(desk, "ada@example.com", 1)
	add := w.ok(desk, "totp", "add", "--json").object(t)
	secret := add["secret"].(string)
	w.ok(desk, "totp", "confirm", appCode(t, secret, w.clock.Now()))
	w.okAs(pw(goodPassword), desk, "password", "set")
	w.clock.Advance(time.Minute)

	// The password.
	phone := device("phone")
	r := w.okAs(pw(goodPassword), phone, "login", "ada@example.com")
	mustContain(t, "login", r.stdout, "First factor accepted (with a password).", "`totp CODE`")
	j := w.okAs(pw(goodPassword), phone, "login", "ada@example.com", "--json").object(t)
	if j["signed_in"] != false || j["visitor"].(map[string]any)["waiting"] == nil {
		t.Fatalf("login --json while held: %v", j)
	}

	// A link.
	tablet := device("tablet")
	run := w.start(context.Background(), tablet, "signin", "--link", "ada@example.com")
	if run.stdout.waitFor(regexp.MustCompile(`Waiting for the button to be pressed…\n`)) == nil {
		t.Fatalf("signin --link: %q", run.stdout.String())
	}
	_, token := w.linkFor("ada@example.com")
	w.press(token, run.stdout.String())
	run.finish(t, "signin --link", 0)
	mustContain(t, "signin --link", run.stdout.String(), "First factor accepted (by a sign-in link).", "`totp CODE`")
	if strings.Contains(run.stdout.String(), "Signed in as") {
		t.Fatalf("a held sign-in said it signed in: %q", run.stdout.String())
	}
	w.ok(tablet, "totp", appCode(t, secret, w.clock.Now()))
	mustContain(t, "whoami", w.ok(tablet, "whoami").stdout, "account:    yes", "by a sign-in link")
}
