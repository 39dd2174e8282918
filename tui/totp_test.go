package tui

import (
	"regexp"
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/attest-dev/attest/flows"
	"github.com/attest-dev/attest/tui/qrtest"
)

func appCode(t *testing.T, secret string, at time.Time) string {
	t.Helper()
	c, err := totp.GenerateCodeCustom(secret, at, totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

var recoveryRE = regexp.MustCompile(`\b[0-9a-z]{4}-[0-9a-z]{4}-[0-9a-z]{4}\b`)

// The account screen's t enrols an app: the QR code drawn at 80x24
// decodes (with a decoder that is not the encoder) to the otpauth URI,
// the key beneath it is the URI's secret, and the app's code confirms it.
func TestEnrolDrawsAQRCodeThatDecodes(t *testing.T) {
	e := newEnv(t)
	e.signIn(laptop, grace) // stepped up for its first hour
	tr := e.open(laptop, "")
	tr.waitFor("signed in as grace@example.com")
	tr.typeText("a")
	tr.waitFor("2nd factor   none · t adds an authenticator app")
	tr.typeText("t")
	screen := tr.waitFor("Add an authenticator app", "Then type the code it shows:")
	tr.golden("qr", screen)

	rows, err := qrtest.Rows(screen)
	if err != nil {
		t.Fatal(err)
	}
	uri, err := qrtest.Decode(rows, true)
	if err != nil {
		t.Fatalf("the drawn code does not decode: %v\n%s", err, screen)
	}
	key, err := otp.NewKeyFromURL(uri)
	if err != nil {
		t.Fatal(err)
	}
	if key.Issuer() != "attest" || key.AccountName() != grace || !strings.HasPrefix(uri, "otpauth://totp/attest:") {
		t.Fatalf("decoded %q", uri)
	}
	groups := strings.Fields(flows.SecretGroups(key.Secret()))
	if !strings.Contains(screen, strings.Join(groups[:4], " ")) || !strings.Contains(screen, strings.Join(groups[4:], " ")) {
		t.Fatalf("the key beneath is not the code's secret %s:\n%s", key.Secret(), screen)
	}

	tr.typeText("000000")
	tr.waitFor("> 000000")
	tr.press(tea.KeyEnter)
	tr.waitFor("✗ That is not the code your")
	tr.typeText(appCode(t, key.Secret(), e.clock.Now()))
	tr.press(tea.KeyEnter)
	screen = tr.waitFor("Recovery codes", "Shown this once")
	if n := len(recoveryRE.FindAllString(screen, -1)); n != 10 {
		t.Fatalf("%d recovery codes on the screen:\n%s", n, screen)
	}
	tr.press(tea.KeyEnter)
	tr.waitFor("The authenticator app is on", "2nd factor   authenticator app, 10 recovery codes left")
}

// A window too small for the code says so and still shows the key.
func TestEnrolInASmallWindow(t *testing.T) {
	e := newEnv(t)
	e.signIn(laptop, grace)
	tr := e.open(laptop, "")
	tr.waitFor("signed in as grace@example.com")
	tr.send(tea.WindowSizeMsg{Width: 70, Height: 22})
	tr.typeText("a")
	tr.waitFor("2nd factor")
	tr.typeText("t")
	screen := tr.waitFor("This window is too small for the QR code", "(it needs 77x23", "70x22", "Then type the code it shows:")
	if strings.ContainsAny(screen, "▀▄") {
		t.Fatalf("a QR code was drawn anyway:\n%s", screen)
	}
	v, err := e.svc.Visit(ctx, laptop)
	if err != nil || v.Authenticator != nil {
		t.Fatalf("enrolment is active before confirmation: %+v %v", v.Authenticator, err)
	}
	// The key is there to type: eight groups of four.
	if !regexp.MustCompile(`(?m)^ *[A-Z2-7]{4} [A-Z2-7]{4} [A-Z2-7]{4} [A-Z2-7]{4}$`).MatchString(screen) {
		t.Fatalf("no key to type:\n%s", screen)
	}
	// Made larger, it draws the code.
	tr.send(tea.WindowSizeMsg{Width: 80, Height: 24})
	tr.waitFor("▄", "Scan the code")
}

// enrolled gives grace's account an app through the flows and returns
// its secret; the clock moves a minute on.
func enrolled(t *testing.T, e *env, dev flows.Device) string {
	t.Helper()
	en, err := e.svc.AddTOTP(ctx, dev)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.ConfirmTOTP(ctx, dev, appCode(t, en.Secret, e.clock.Now())); err != nil {
		t.Fatal(err)
	}
	e.svc.Wait()
	e.clock.Advance(time.Minute)
	return en.Secret
}

// Signing in on the screens ends on the wait for the app's code, which
// says what it waits for; the app's code then signs the device in.
func TestSignInWaitsForTheAuthenticator(t *testing.T) {
	e := newEnv(t)
	e.signIn(laptop, grace)
	secret := enrolled(t, e, laptop)

	tr := e.open(phone, "")
	tr.typeText("s")
	tr.waitFor("Sign in")
	tr.typeText(grace)
	tr.press(tea.KeyEnter)
	// Delivered first: the laptop's own code A went to the same address,
	// and e.code takes the newest code A there.
	tr.waitFor("Code A sent to grace@example.com", "Delivery    sent")
	tr.typeText(e.code(grace, "A"))
	tr.press(tea.KeyEnter)
	screen := tr.waitFor("Waiting for your authenticator app", "Signed in with a code", "Waits until", "type one of your recovery codes instead")
	tr.golden("waiting", screen)
	if strings.Contains(screen, "grace@example.com") {
		t.Fatalf("a waiting device shows the account:\n%s", screen)
	}
	tr.typeText("000000")
	tr.press(tea.KeyEnter)
	tr.waitFor("✗ That is not the code your authenticator app shows.")
	tr.typeText(appCode(t, secret, e.clock.Now()))
	tr.press(tea.KeyEnter)
	tr.waitFor("Signed in as grace@example.com", "stepped up · 1h")
}

// A device that reconnects while its sign-in waits is shown the wait, and
// a recovery code works there too; the wait lapses after 10 minutes.
func TestReconnectWhileWaiting(t *testing.T) {
	e := newEnv(t)
	e.signIn(laptop, grace)
	enrolled(t, e, laptop)
	codes := func() []string {
		c, err := e.svc.NewRecoveryCodes(ctx, laptop)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}()
	e.signIn(phone, grace)
	tr := e.open(phone, "")
	tr.waitFor("Waiting for your authenticator app")
	tr.typeText(strings.ToUpper(codes[2]))
	tr.press(tea.KeyEnter)
	tr.waitFor("Signed in as grace@example.com", "A recovery code was used: 9 left.")

	e.clock.Advance(time.Minute)
	e.signIn(tablet, grace)
	tt := e.open(tablet, "")
	tt.waitFor("Waiting for your authenticator app")
	e.clock.Advance(flows.HoldTTL)
	tt.send(tickMsg{n: -1})
	tt.waitFor("This sign-in waited 10 minutes for the app's code and lapsed.")
}

// With an app, the step-up asks for its code first; ctrl+r sends a code
// to an address instead.
func TestStepUpOffersTheAppFirst(t *testing.T) {
	e := newEnv(t)
	e.signIn(laptop, grace)
	secret := enrolled(t, e, laptop)
	e.clock.Advance(time.Hour)
	tr := e.open(laptop, "")
	tr.waitFor("signed in as grace@example.com")
	tr.typeText("a")
	tr.waitFor("2nd factor")
	tr.typeText("s")
	tr.waitFor("step up · authenticator app", "a recovery code.")
	tr.typeText(appCode(t, secret, e.clock.Now()))
	tr.press(tea.KeyEnter)
	tr.waitFor("Stepped up on this device until", "stepped up · 1h")

	// The code way is one key away.
	e.clock.Advance(2 * time.Hour)
	tr.send(tickMsg{n: -1})
	tr.waitGone("stepped up ·")
	tr.typeText("s")
	tr.waitFor("step up · authenticator app")
	tr.ctrl('r')
	tr.waitFor("Code B sent to grace@example.com")
}

// A link's button pressed in a browser moves the waiting terminal on to
// the wait for the app's code, not into the account.
func TestMagicLinkWaitsForTheAuthenticator(t *testing.T) {
	e := newEnv(t)
	e.signIn(laptop, grace)
	secret := enrolled(t, e, laptop)
	tr := e.open(phone, "")
	check := checkOn(t, toLink(tr, grace))
	token := e.link(grace, 1)
	e.confirmLink(token, check)
	tr.waitFor("Waiting for your authenticator app", "Signed in with a sign-in link")
	tr.typeText(appCode(t, secret, e.clock.Now()))
	tr.press(tea.KeyEnter)
	tr.waitFor("Signed in as grace@example.com", "stepped up · 1h")
}
