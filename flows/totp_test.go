package flows_test

import (
	"bytes"
	"encoding/base32"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/attest-dev/attest/flows"
)

// appCode is what an authenticator app shows for the secret at t.
func appCode(t *testing.T, secret string, at time.Time) string {
	t.Helper()
	c, err := totp.GenerateCodeCustom(secret, at, totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// enrolled makes an account on dev with a confirmed authenticator and
// returns the secret and the recovery codes. The clock moves on a step,
// so the confirming code is not the next test's code.
func (h *harness) enrolled(dev flows.Device, email string) (string, []string) {
	h.t.Helper()
	h.account(dev, email) // stepped up for its first hour
	e, err := h.svc.AddTOTP(ctx, dev)
	if err != nil {
		h.t.Fatalf("add authenticator: %v", err)
	}
	codes, err := h.svc.ConfirmTOTP(ctx, dev, appCode(h.t, e.Secret, h.clock.Now()))
	if err != nil {
		h.t.Fatalf("confirm authenticator: %v", err)
	}
	h.svc.Wait()
	h.clock.Advance(time.Minute) // the next code to the address may go
	return e.Secret, codes
}

// heldSignIn signs dev in with a code and checks the sign-in is held.
func (h *harness) heldSignIn(dev flows.Device, email string) flows.Entered {
	h.t.Helper()
	out := h.signIn(dev, email)
	h.clock.Advance(time.Minute) // the next code to the address may go
	if out.Visitor.Account || out.Visitor.Waiting == nil || out.Visitor.Waiting.Method != "code" {
		h.t.Fatalf("a sign-in to an account with an authenticator was not held: %+v", out.Visitor)
	}
	// The waiting device sees nothing of the account.
	if v := out.Visitor; len(v.Addresses) > 0 || v.Authenticator != nil || v.HasPassword || !v.StepUpUntil.IsZero() {
		h.t.Fatalf("a waiting device sees the account: %+v", v)
	}
	return out
}

var recoveryRE = regexp.MustCompile(`^[0-9a-hjkmnp-tv-z]{4}-[0-9a-hjkmnp-tv-z]{4}-[0-9a-hjkmnp-tv-z]{4}$`)

func TestEnrolAnAuthenticator(t *testing.T) {
	h := newHarness(t, flows.Policy{})
	dev := device("laptop")
	h.account(dev, "ada@example.com")
	if _, err := h.svc.SetNickname(ctx, dev, "Ada"); err != nil {
		t.Fatal(err)
	}

	e, err := h.svc.AddTOTP(ctx, dev)
	if err != nil {
		t.Fatal(err)
	}
	key, err := otp.NewKeyFromURL(e.URI)
	if err != nil {
		t.Fatal(err)
	}
	if key.Type() != "totp" || key.Issuer() != "attest" || key.AccountName() != "Ada" || key.Secret() != e.Secret ||
		!strings.HasPrefix(e.URI, "otpauth://totp/attest:Ada?secret=") || len(e.Secret) != 32 {
		t.Fatalf("enrolment %+v", e)
	}
	if g := flows.SecretGroups(e.Secret); len(strings.Fields(g)) != 8 || strings.ReplaceAll(g, " ", "") != e.Secret {
		t.Fatalf("groups %q", g)
	}
	// Until it is confirmed, nothing changes: another device signs in.
	h.clock.Advance(time.Minute)
	if h.signIn(device("phone"), "ada@example.com").Visitor.Waiting != nil {
		t.Fatal("a pending enrolment held a sign-in")
	}
	if h.visit(dev).Authenticator != nil {
		t.Fatal("a pending enrolment shows as an authenticator")
	}
	// A wrong code is refused and recorded.
	_, err = h.svc.ConfirmTOTP(ctx, dev, wrong(appCode(t, e.Secret, h.clock.Now())))
	wantProblem(t, err, flows.ProblemWrongCode)
	_, err = h.svc.ConfirmTOTP(ctx, dev, "12345")
	wantProblem(t, err, flows.ProblemInput)

	codes, err := h.svc.ConfirmTOTP(ctx, dev, appCode(t, e.Secret, h.clock.Now()))
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, c := range codes {
		if !recoveryRE.MatchString(c) || seen[c] {
			t.Fatalf("recovery codes %q", codes)
		}
		seen[c] = true
	}
	if len(codes) != 10 {
		t.Fatalf("%d recovery codes", len(codes))
	}
	v := h.visit(dev)
	if v.Authenticator == nil || v.Authenticator.RecoveryLeft != 10 {
		t.Fatalf("visitor %+v", v.Authenticator)
	}
	h.svc.Wait()
	if m := h.bag.to("ada@example.com"); len(m) == 0 || !strings.Contains(m[len(m)-1].Text, "authenticator app was added") {
		t.Fatalf("no notice: %+v", m)
	}
	// A second enrolment is refused while one is active.
	_, err = h.svc.AddTOTP(ctx, dev)
	wantProblem(t, err, flows.ProblemNothingToDo)

	// The ledger file holds neither the secret nor a recovery code, in
	// any form a reader would find (base32 as shown, or the raw bytes).
	for _, k := range []string{flows.KindTOTPAdded, flows.KindTOTPConfirmed, flows.KindRecoveryIssued, flows.KindTOTPUsed} {
		if len(h.facts(k)) == 0 {
			t.Fatalf("no %s fact", k)
		}
	}
	h.restart(flows.Policy{})
	raw := h.stored()
	secretBytes, err := otpDecode(e.Secret)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(raw, []byte(e.Secret)) || bytes.Contains(raw, secretBytes) {
		t.Fatal("the ledger file holds the secret")
	}
	for _, c := range codes {
		if bytes.Contains(raw, []byte(c)) || bytes.Contains(raw, []byte(strings.ReplaceAll(c, "-", ""))) {
			t.Fatal("the ledger file holds a recovery code")
		}
	}
}

func TestEnrolmentIsProtectedAndAbandonable(t *testing.T) {
	h := newHarness(t, flows.Policy{})
	dev := device("laptop")
	h.account(dev, "ada@example.com")
	h.clock.Advance(61 * time.Minute) // the sign-up's step-up is over
	before := h.head()
	_, err := h.svc.AddTOTP(ctx, dev)
	wantProblem(t, err, flows.ProblemStepUp)
	if h.head() != before {
		t.Fatal("a refused enrolment wrote facts")
	}
	h.stepUp(dev)
	e, err := h.svc.AddTOTP(ctx, dev)
	if err != nil {
		t.Fatal(err)
	}
	// Abandoned: half an hour later it cannot be confirmed, and nothing
	// ever held a sign-in.
	h.clock.Advance(31 * time.Minute)
	_, err = h.svc.ConfirmTOTP(ctx, dev, appCode(t, e.Secret, h.clock.Now()))
	wantProblem(t, err, flows.ProblemNoAuthenticator)
	if h.signIn(device("phone"), "ada@example.com").Visitor.Waiting != nil {
		t.Fatal("an abandoned enrolment held a sign-in")
	}
}

// Every way in leaves the device waiting, and a waiting device can do
// nothing with the account.
func TestEveryWayInWaitsForTheAuthenticator(t *testing.T) {
	h := newHarness(t, flows.Policy{})
	desk := device("desk")
	secret, _ := h.enrolled(desk, "ada@example.com")
	if err := h.svc.SetPassword(ctx, desk, goodPassword, false); err != nil {
		t.Fatal(err)
	}
	if err := h.svc.RememberKey(ctx, desk); err != nil {
		t.Fatal(err)
	}
	if err := h.svc.SignOut(ctx, desk); err != nil {
		t.Fatal(err)
	}
	step := func() { h.clock.Advance(30 * time.Second) }

	// A code.
	phone := device("phone")
	h.heldSignIn(phone, "ada@example.com")
	if _, err := h.svc.Keys(ctx, phone); err == nil {
		t.Fatal("a waiting device read the account's keys")
	}
	_, err := h.svc.AddAddress(ctx, phone, "x@example.com")
	wantProblem(t, err, flows.ProblemSignedOut)
	if _, err := h.svc.Devices(ctx, phone); err == nil {
		t.Fatal("a waiting device read the account's sessions")
	}
	out, err := h.svc.EnterTOTP(ctx, phone, appCode(t, secret, h.clock.Now()))
	if err != nil {
		t.Fatal(err)
	}
	if !out.Visitor.Account || out.Visitor.Waiting != nil || out.Visitor.Method != "code" || out.StepUpUntil.IsZero() {
		t.Fatalf("after the authenticator: %+v", out.Visitor)
	}
	step()

	// A password.
	tablet := device("tablet")
	l, err := h.svc.LoginOrRegister(ctx, tablet, "ada@example.com", goodPassword)
	if err != nil || l.SignedIn || l.Visitor.Waiting == nil || l.Visitor.Waiting.Method != "password" {
		t.Fatalf("password: %+v, %v", l, err)
	}
	if _, err := h.svc.EnterTOTP(ctx, tablet, appCode(t, secret, h.clock.Now())); err != nil {
		t.Fatal(err)
	}
	step()

	// A remembered key.
	v := h.visit(desk)
	if v.KeyAccount == nil {
		t.Fatal("the key is not offered")
	}
	k, err := h.svc.SignInWithKey(ctx, desk)
	if err != nil || k.Visitor.Account || k.Visitor.Waiting == nil || k.Visitor.Waiting.Method != "ssh" {
		t.Fatalf("key: %+v, %v", k.Visitor, err)
	}
	if _, err := h.svc.EnterTOTP(ctx, desk, appCode(t, secret, h.clock.Now())); err != nil {
		t.Fatal(err)
	}
	step()

	// A magic link: the waiting terminal is told, and then waits.
	laptop := device("laptop")
	w := h.svc.Watch(laptop.Tag)
	defer w.Stop()
	_, token := h.magicLink(laptop, "ada@example.com")
	if _, err := h.press(token); err != nil {
		t.Fatal(err)
	}
	select {
	case <-w.C:
	default:
		t.Fatal("the terminal was not told")
	}
	if v := h.visit(laptop); v.Account || v.Waiting == nil || v.Waiting.Method != "link" {
		t.Fatalf("link: %+v", v)
	}
	if _, err := h.svc.EnterTOTP(ctx, laptop, appCode(t, secret, h.clock.Now())); err != nil {
		t.Fatal(err)
	}
	if v := h.visit(laptop); !v.Account || v.Method != "link" {
		t.Fatalf("after the link's second factor: %+v", v)
	}
}

// An anonymous visitor who signs in keeps its stars, but only once the
// second factor is in: a first factor alone changes nothing of the account.
func TestAVisitorMergesOnlyAfterTheSecondFactor(t *testing.T) {
	h := newHarness(t, flows.Policy{})
	desk := device("desk")
	secret, _ := h.enrolled(desk, "ada@example.com")
	phone := device("phone")
	if _, err := h.svc.Star(ctx, phone, "vega"); err != nil {
		t.Fatal(err)
	}
	h.heldSignIn(phone, "ada@example.com")
	if got := h.visit(desk).Stars; len(got) != 0 {
		t.Fatalf("the account got the visitor's stars before the second factor: %v", got)
	}
	if v := h.visit(phone); !hasAll(v.Stars, "vega") || v.Waiting == nil {
		t.Fatalf("the waiting visitor: %+v", v)
	}
	out, err := h.svc.EnterTOTP(ctx, phone, appCode(t, secret, h.clock.Now()))
	if err != nil {
		t.Fatal(err)
	}
	if out.Merged == nil || !hasAll(h.visit(desk).Stars, "vega") {
		t.Fatalf("no merge after the second factor: %+v", out.Merged)
	}
}

func otpDecode(secret string) ([]byte, error) {
	return base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(secret)
}

// "the wait lapses after 10 minutes"
func TestTheWaitLapses(t *testing.T) {
	h := newHarness(t, flows.Policy{})
	secret, _ := h.enrolled(device("desk"), "ada@example.com")
	phone := device("phone")
	h.heldSignIn(phone, "ada@example.com")
	h.clock.Advance(flows.HoldTTL)
	if v := h.visit(phone); v.Waiting != nil || v.Account {
		t.Fatalf("after 10 minutes: %+v", v)
	}
	_, err := h.svc.EnterTOTP(ctx, phone, appCode(t, secret, h.clock.Now()))
	wantProblem(t, err, flows.ProblemNoCode)
}

// A code works once for its authenticator, on any device: the same step
// again, or an earlier one after a later one, is refused.
func TestNoReplay(t *testing.T) {
	h := newHarness(t, flows.Policy{})
	secret, _ := h.enrolled(device("desk"), "ada@example.com")
	a, b := device("a"), device("b")
	h.heldSignIn(a, "ada@example.com")
	h.heldSignIn(b, "ada@example.com")
	now := h.clock.Now()
	if _, err := h.svc.EnterTOTP(ctx, a, appCode(t, secret, now)); err != nil {
		t.Fatal(err)
	}
	_, err := h.svc.EnterTOTP(ctx, b, appCode(t, secret, now))
	if p := wantProblem(t, err, flows.ProblemWrongCode); !strings.Contains(p.Msg, "already used") {
		t.Fatalf("replay: %s", p.Msg)
	}
	// The previous step's code is within the skew but older than the one used.
	_, err = h.svc.EnterTOTP(ctx, b, appCode(t, secret, now.Add(-30*time.Second)))
	wantProblem(t, err, flows.ProblemWrongCode)
	// The next step's code (the skew ahead) works once.
	if _, err := h.svc.EnterTOTP(ctx, b, appCode(t, secret, now.Add(30*time.Second))); err != nil {
		t.Fatal(err)
	}
}

// Two devices with the same code at the same time: exactly one wins.
func TestReplayRaceOneWins(t *testing.T) {
	h := newHarness(t, flows.Policy{})
	secret, _ := h.enrolled(device("desk"), "ada@example.com")
	var devs []flows.Device
	for _, n := range []string{"a", "b", "c", "d"} {
		devs = append(devs, device(n))
		h.heldSignIn(devs[len(devs)-1], "ada@example.com")
	}
	code := appCode(t, secret, h.clock.Now())
	var wg sync.WaitGroup
	errs := make([]error, len(devs))
	for i, d := range devs {
		wg.Go(func() { _, errs[i] = h.svc.EnterTOTP(ctx, d, code) })
	}
	wg.Wait()
	won := 0
	for _, err := range errs {
		if err == nil {
			won++
		} else {
			wantProblem(t, err, flows.ProblemWrongCode)
		}
	}
	if won != 1 {
		t.Fatalf("%d devices won with one code: %v", won, errs)
	}
}

// ±1 step of clock skew, and no more.
func TestSkew(t *testing.T) {
	for _, tc := range []struct {
		off time.Duration
		ok  bool
	}{{-60 * time.Second, false}, {-30 * time.Second, true}, {0, true}, {30 * time.Second, true}, {60 * time.Second, false}} {
		h := newHarness(t, flows.Policy{})
		secret, _ := h.enrolled(device("desk"), "ada@example.com")
		phone := device("phone")
		h.heldSignIn(phone, "ada@example.com")
		_, err := h.svc.EnterTOTP(ctx, phone, appCode(t, secret, h.clock.Now().Add(tc.off)))
		if tc.ok && err != nil {
			t.Fatalf("offset %s: %v", tc.off, err)
		}
		if !tc.ok {
			wantProblem(t, err, flows.ProblemWrongCode)
		}
	}
}

// Wrong codes count toward the account's lockout, and a right password
// (the first factor) does not end the run.
func TestWrongCodesLockOut(t *testing.T) {
	h := newHarness(t, flows.Policy{})
	desk := device("desk")
	secret, _ := h.enrolled(desk, "ada@example.com")
	if err := h.svc.SetPassword(ctx, desk, goodPassword, false); err != nil {
		t.Fatal(err)
	}
	phone := device("phone")
	login := func() {
		t.Helper()
		if l, err := h.svc.LoginOrRegister(ctx, phone, "ada@example.com", goodPassword); err != nil || l.Visitor.Waiting == nil {
			t.Fatalf("login: %+v, %v", l, err)
		}
	}
	login()
	for range 10 {
		_, err := h.svc.EnterTOTP(ctx, phone, wrong(appCode(t, secret, h.clock.Now())))
		wantProblem(t, err, flows.ProblemWrongCode)
	}
	_, err := h.svc.EnterTOTP(ctx, phone, appCode(t, secret, h.clock.Now()))
	p := wantProblem(t, err, flows.ProblemBackoff)
	// The account's password step-up shares the lockout.
	_, err = h.svc.StepUpWithPassword(ctx, desk, goodPassword)
	wantProblem(t, err, flows.ProblemBackoff)

	// After the wait, signing in with the password again does not end
	// the run: the next wrong code waits twice as long.
	h.clock.Set(p.RetryAt)
	login()
	_, err = h.svc.EnterTOTP(ctx, phone, wrong(appCode(t, secret, h.clock.Now())))
	wantProblem(t, err, flows.ProblemWrongCode)
	_, err = h.svc.EnterTOTP(ctx, phone, appCode(t, secret, h.clock.Now()))
	p = wantProblem(t, err, flows.ProblemBackoff)
	if !p.RetryAt.Equal(h.clock.Now().Add(time.Minute)) {
		t.Fatalf("retry at %s", p.RetryAt)
	}
	h.clock.Set(p.RetryAt)
	if _, err := h.svc.EnterTOTP(ctx, phone, appCode(t, secret, h.clock.Now())); err != nil {
		t.Fatalf("after the back-off: %v", err)
	}
}

func TestStepUpWithTheAuthenticator(t *testing.T) {
	h := newHarness(t, flows.Policy{})
	desk := device("desk")
	secret, _ := h.enrolled(desk, "ada@example.com")
	h.clock.Advance(time.Hour)
	if !h.visit(desk).StepUpUntil.IsZero() {
		t.Fatal("still stepped up")
	}
	_, err := h.svc.StepUpWithTOTP(ctx, desk, wrong(appCode(t, secret, h.clock.Now())))
	wantProblem(t, err, flows.ProblemWrongCode)
	until, err := h.svc.StepUpWithTOTP(ctx, desk, appCode(t, secret, h.clock.Now()))
	if err != nil || !until.Equal(h.clock.Now().Add(time.Hour)) {
		t.Fatalf("step-up: %s, %v", until, err)
	}
	// A device without an authenticator is told to use a code.
	other := device("other")
	h.account(other, "bob@example.com")
	_, err = h.svc.StepUpWithTOTP(ctx, other, "123456")
	wantProblem(t, err, flows.ProblemNoAuthenticator)
}

func TestRecoveryCodes(t *testing.T) {
	h := newHarness(t, flows.Policy{})
	desk := device("desk")
	_, codes := h.enrolled(desk, "ada@example.com")
	phone := device("phone")
	h.heldSignIn(phone, "ada@example.com")
	before := len(h.bag.to("ada@example.com"))

	// Typed loosely: upper case, spaces, O for 0 and I or L for 1.
	typed := strings.ToUpper(strings.ReplaceAll(codes[3], "-", " "))
	typed = strings.NewReplacer("0", "O", "1", "l").Replace(typed)
	r, err := h.svc.UseRecoveryCode(ctx, phone, typed)
	if err != nil {
		t.Fatal(err)
	}
	if r.Entered == nil || !r.Entered.Visitor.Account || r.Left != 9 {
		t.Fatalf("recovered: %+v", r)
	}
	h.svc.Wait()
	if m := h.bag.to("ada@example.com"); len(m) != before+1 || !strings.Contains(m[len(m)-1].Text, "recovery code was used (9 left)") {
		t.Fatalf("notice: %+v", m)
	}
	if v := h.visit(phone); v.Authenticator == nil || v.Authenticator.RecoveryLeft != 9 {
		t.Fatalf("visitor: %+v", v.Authenticator)
	}
	// Once only, on any device.
	tablet := device("tablet")
	h.heldSignIn(tablet, "ada@example.com")
	_, err = h.svc.UseRecoveryCode(ctx, tablet, codes[3])
	if p := wantProblem(t, err, flows.ProblemWrongCode); !strings.Contains(p.Msg, "already used") {
		t.Fatal(p.Msg)
	}
	_, err = h.svc.UseRecoveryCode(ctx, tablet, "not a code")
	wantProblem(t, err, flows.ProblemInput)

	// On a signed-in device, a recovery code steps up.
	h.clock.Advance(time.Hour)
	r, err = h.svc.UseRecoveryCode(ctx, desk, codes[0])
	if err != nil || r.Entered != nil || r.StepUpUntil.IsZero() || r.Left != 8 {
		t.Fatalf("step-up by recovery: %+v, %v", r, err)
	}

	// New codes (protected) replace the old set.
	fresh, err := h.svc.NewRecoveryCodes(ctx, desk)
	if err != nil || len(fresh) != 10 {
		t.Fatalf("new codes: %v, %v", fresh, err)
	}
	h.heldSignIn(tablet, "ada@example.com")
	_, err = h.svc.UseRecoveryCode(ctx, tablet, codes[5])
	wantProblem(t, err, flows.ProblemWrongCode)
	r, err = h.svc.UseRecoveryCode(ctx, tablet, fresh[5])
	if err != nil || r.Left != 9 {
		t.Fatalf("a new code: %+v, %v", r, err)
	}
	h.clock.Advance(time.Hour)
	_, err = h.svc.NewRecoveryCodes(ctx, desk)
	wantProblem(t, err, flows.ProblemStepUp)
}

func TestRemoveTheAuthenticator(t *testing.T) {
	h := newHarness(t, flows.Policy{})
	desk := device("desk")
	secret, codes := h.enrolled(desk, "ada@example.com")
	h.addConfirmed(desk, "+1 415 555 2671")
	h.clock.Advance(time.Hour)
	wantProblem(t, h.svc.RemoveTOTP(ctx, desk), flows.ProblemStepUp)
	if _, err := h.svc.StepUpWithTOTP(ctx, desk, appCode(t, secret, h.clock.Now())); err != nil {
		t.Fatal(err)
	}
	if err := h.svc.RemoveTOTP(ctx, desk); err != nil {
		t.Fatal(err)
	}
	h.svc.Wait()
	if m := h.bag.to("+14155552671"); len(m) == 0 || !strings.Contains(m[len(m)-1].Text, "authenticator app was removed") {
		t.Fatalf("no notice to the other address: %+v", m)
	}
	if h.visit(desk).Authenticator != nil {
		t.Fatal("still shown")
	}
	if out := h.signIn(device("phone"), "ada@example.com"); !out.Visitor.Account {
		t.Fatal("a sign-in is still held after removal")
	}
	_, err := h.svc.UseRecoveryCode(ctx, desk, codes[0])
	wantProblem(t, err, flows.ProblemNoAuthenticator) // it outlived nothing
	// And it can be enrolled again.
	if _, err := h.svc.AddTOTP(ctx, desk); err != nil {
		t.Fatal(err)
	}
	// The account's history lists each change to how it signs in.
	events, err := h.svc.History(ctx, desk)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, ev := range events {
		if ev.Kind == flows.HistoryAuthenticator {
			got = append(got, ev.Display+" "+ev.Event)
		}
	}
	if strings.Join(got, ", ") != "authenticator app added, recovery codes made, authenticator app removed" {
		t.Fatalf("history: %q", got)
	}
}

// No fact body carries a secret: the sealed secret is not the secret, and
// `facts` shows the device nothing it could use.
func TestFactsHoldNothingSecret(t *testing.T) {
	h := newHarness(t, flows.Policy{})
	desk := device("desk")
	secret, codes := h.enrolled(desk, "ada@example.com")
	facts, err := h.svc.OwnFacts(ctx, desk)
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]bool{}
	for _, f := range facts {
		kinds[f.Kind] = true
		body := string(f.Body)
		if strings.Contains(body, secret) {
			t.Fatalf("%s holds the secret", f.Kind)
		}
		for _, c := range codes {
			if strings.Contains(body, strings.ReplaceAll(c, "-", "")) {
				t.Fatalf("%s holds a recovery code", f.Kind)
			}
		}
	}
	for _, k := range []string{flows.KindTOTPAdded, flows.KindTOTPConfirmed, flows.KindTOTPUsed, flows.KindRecoveryIssued} {
		if !kinds[k] {
			t.Fatalf("facts lack %s: %v", k, kinds)
		}
	}
}

// The link's page is told that the sign-in waits for the app.
func TestLinkInfoSaysTheSignInWaits(t *testing.T) {
	h := newHarness(t, flows.Policy{})
	h.enrolled(device("desk"), "ada@example.com")
	laptop := device("laptop")
	w := h.svc.Watch(laptop.Tag)
	defer w.Stop()
	_, token := h.magicLink(laptop, "ada@example.com")
	info, err := h.press(token)
	if err != nil || !info.SecondFactor {
		t.Fatalf("confirm: %+v, %v", info, err)
	}
	// Without an authenticator, it does not.
	bob := device("bob")
	wb := h.svc.Watch(bob.Tag)
	defer wb.Stop()
	_, token = h.magicLink(bob, "bob@example.com")
	if info, err := h.press(token); err != nil || info.SecondFactor {
		t.Fatalf("confirm without an app: %+v, %v", info, err)
	}
}
