package flows_test

import (
	"context"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/attest-dev/attest/flows"
	"github.com/attest-dev/attest/flows/address"
	"github.com/attest-dev/attest/flows/clock"
	"github.com/attest-dev/attest/flows/openid"
	"github.com/attest-dev/attest/internal/oidctest"
	"github.com/attest-dev/attest/store"
)

// The scenarios run against a real OpenID Provider on loopback
// (internal/oidctest: zitadel's op package), through its own login and
// verification pages. The service's clock starts at the real time, since
// the provider stamps its tokens with it; the device grant's waits move
// the service's clock instead of sleeping.

const callbackURL = "http://127.0.0.1:23235/oidc/callback" // the service's default link base

type waits struct {
	mu    sync.Mutex
	clock *clock.Fake
	got   []time.Duration
	// at, when set, runs before the n-th wait returns (from 1): the person
	// acting at the provider while the terminal polls.
	at func(n int)
}

func (w *waits) wait(_ context.Context, d time.Duration) error {
	w.mu.Lock()
	w.got = append(w.got, d)
	n, at := len(w.got), w.at
	w.mu.Unlock()
	w.clock.Advance(d)
	if at != nil {
		at(n)
	}
	return nil
}

func (w *waits) list() []time.Duration {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.got)
}

var provUsers = []oidctest.User{
	{Subject: "sub-ada", Username: "ada", Password: "pw-ada", Email: "ada@example.com", EmailVerified: true, Name: "Ada"},
	{Subject: "sub-bob", Username: "bob", Password: "pw-bob", Email: "bob@example.com", EmailVerified: false, Name: "Bob"},
}

func newOIDCHarness(t *testing.T, flow string) (*harness, *oidctest.OP, *waits) {
	t.Helper()
	op, err := oidctest.New(oidctest.Options{
		Clients: []oidctest.Client{{ID: "attest", Secret: "s3cret", RedirectURIs: []string{callbackURL}}},
		Users:   provUsers,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { op.Close() })
	h := &harness{t: t, clock: clock.NewFake(time.Now()), bag: newMailbag(),
		path: filepath.Join(t.TempDir(), "attest.db"), secret: []byte("0123456789abcdef0123456789abcdef-test-secret")}
	p := openid.Discover(ctx, openid.Config{Name: "test", DisplayName: "TestID", Issuer: op.Issuer, ClientID: "attest", ClientSecret: "s3cret", Flow: flow}, nil)
	if !p.Available() {
		t.Fatalf("provider unavailable: %s", p.Reason())
	}
	w := &waits{clock: h.clock}
	h.providers, h.pollWait = []*openid.Provider{p}, w.wait
	h.open(flows.Policy{})
	return h, op, w
}

// deviceSignIn starts a device-grant attempt and approves it at the
// provider's verification page as username before the first poll.
func (h *harness) deviceSignIn(dev flows.Device, purpose, username, password string) (flows.OIDCResult, error) {
	h.t.Helper()
	st, err := h.svc.StartOIDC(ctx, dev, "test", purpose)
	if err != nil {
		return flows.OIDCResult{}, err
	}
	if st.Flow != openid.FlowDevice || st.UserCode == "" || !strings.Contains(st.VerificationURIComplete, st.UserCode) {
		h.t.Fatalf("device start %+v", st)
	}
	if err := oidctest.NewBrowser("").Approve(st.VerificationURIComplete, st.UserCode, username, password, false); err != nil {
		h.t.Fatal(err)
	}
	return h.svc.WaitOIDC(ctx, dev, st)
}

func addressOf(v flows.Visitor, kind address.Kind) []flows.AddressInfo {
	var out []flows.AddressInfo
	for _, a := range v.Addresses {
		if a.Kind == kind {
			out = append(out, a)
		}
	}
	return out
}

func TestOIDCDeviceSignUpMergesTheVisitAndAddsTheVerifiedEmail(t *testing.T) {
	h, op, w := newOIDCHarness(t, "")
	dev := device("laptop")
	if _, err := h.svc.Star(ctx, dev, "vega"); err != nil {
		t.Fatal(err)
	}
	st, err := h.svc.StartOIDC(ctx, dev, "test", flows.PurposeSignIn)
	if err != nil {
		t.Fatal(err)
	}
	// The person enters the code at the provider while the terminal polls.
	w.at = func(n int) {
		if n == 2 {
			if err := oidctest.NewBrowser("").Approve(st.VerificationURI, st.UserCode, "ada", "pw-ada", false); err != nil {
				t.Error(err)
			}
		}
	}
	res, err := h.svc.WaitOIDC(ctx, dev, st)
	if err != nil {
		t.Fatal(err)
	}
	if got := w.list(); !slices.Equal(got, []time.Duration{5 * time.Second, 5 * time.Second}) {
		t.Fatalf("waits %v, want the provider's interval twice", got)
	}
	if op.Polls() != 2 {
		t.Fatalf("%d polls, want 2", op.Polls())
	}
	v := res.Entered.Visitor
	if !res.Entered.SignedUp || !v.Account || !slices.Equal(v.Stars, []string{"vega"}) || res.Email != "ada@example.com" {
		t.Fatalf("result %+v", res)
	}
	ids := addressOf(v, address.OIDC)
	if len(ids) != 1 || !ids[0].Confirmed || ids[0].Method != "oidc" || !strings.HasSuffix(ids[0].Display, " sub-ada") {
		t.Fatalf("oidc addresses %+v", ids)
	}
	if mails := addressOf(v, address.Email); len(mails) != 1 || mails[0].Display != "ada@example.com" || mails[0].Method != "oidc" {
		t.Fatalf("email addresses %+v", mails)
	}
	// The ledger has the issuer, the masked subject, when, which claims:
	// never a token.
	fs := h.facts(flows.KindOIDCVerified)
	if len(fs) != 1 {
		t.Fatalf("%d oidc.verified facts", len(fs))
	}
	body := string(fs[0].Body)
	for _, want := range []string{`"issuer":"` + op.Issuer + `"`, `"outcome":"signed_up"`, `"email":"confirmed"`, `"email (userinfo)"`, `"auth_time"`} {
		if !strings.Contains(body, want) {
			t.Fatalf("oidc.verified body %s lacks %s", body, want)
		}
	}
	if strings.Contains(body, "sub-ada") || strings.Contains(body, "eyJ") {
		t.Fatalf("oidc.verified body %s holds the subject in full or a token", body)
	}

	// Another device, anonymous with a star, signs in: the same account,
	// the visit merged into it.
	phone := device("phone")
	if _, err := h.svc.Star(ctx, phone, "rigel"); err != nil {
		t.Fatal(err)
	}
	w.at = nil
	res, err = h.deviceSignIn(phone, flows.PurposeSignIn, "ada", "pw-ada")
	if err != nil {
		t.Fatal(err)
	}
	if res.Entered.SignedUp || res.Entered.Merged == nil || res.Entered.Visitor.User != v.User ||
		!slices.Equal(res.Entered.Visitor.Stars, []string{"vega", "rigel"}) {
		t.Fatalf("second sign-in %+v", res.Entered)
	}
	// A signed-in device cannot start a sign-in.
	_, err = h.svc.StartOIDC(ctx, phone, "test", flows.PurposeSignIn)
	wantProblem(t, err, flows.ProblemSignedIn)
}

func TestOIDCDeviceSlowDownDeniedExpiredAndDown(t *testing.T) {
	h, op, w := newOIDCHarness(t, "")
	dev := device("tv")

	op.SlowDown(2)
	if _, err := h.deviceSignIn(dev, flows.PurposeSignIn, "ada", "pw-ada"); err != nil {
		t.Fatal(err)
	}
	if got := w.list(); !slices.Equal(got, []time.Duration{5 * time.Second, 10 * time.Second, 15 * time.Second}) {
		t.Fatalf("waits %v, want 5s, then 5s more after each slow_down", got)
	}

	// Denied at the provider: a clear refusal, the attempt ends, nothing
	// else changes.
	other := device("other")
	st, err := h.svc.StartOIDC(ctx, other, "test", flows.PurposeSignIn)
	if err != nil {
		t.Fatal(err)
	}
	if err := oidctest.NewBrowser("").Approve(st.VerificationURI, st.UserCode, "ada", "pw-ada", true); err != nil {
		t.Fatal(err)
	}
	_, err = h.svc.WaitOIDC(ctx, other, st)
	if p := wantProblem(t, err, flows.ProblemOIDCDenied); !strings.Contains(p.Msg, "You said no at TestID") {
		t.Fatalf("denial says %q", p.Msg)
	}
	if v := h.visit(other); v.Account || v.User != "" {
		t.Fatalf("a denied sign-in left %+v", v)
	}
	if fs := h.facts(flows.KindOIDCFailed); len(fs) != 1 || fs[0].Ticket != st.Ticket || !strings.Contains(string(fs[0].Body), string(flows.ProblemOIDCDenied)) {
		t.Fatalf("oidc.failed facts %+v", fs)
	}

	// Nobody enters the code: the terminal stops at the expiry by its own
	// clock (five minutes of 5-second waits), without asking forever.
	st, err = h.svc.StartOIDC(ctx, other, "test", flows.PurposeSignIn)
	if err != nil {
		t.Fatal(err)
	}
	polls := op.Polls()
	_, err = h.svc.WaitOIDC(ctx, other, st)
	wantProblem(t, err, flows.ProblemOIDCExpired)
	if n := op.Polls() - polls; n < 55 || n > 60 {
		t.Fatalf("%d polls in five minutes at a 5-second interval", n)
	}

	// The provider says the code expired.
	st, err = h.svc.StartOIDC(ctx, other, "test", flows.PurposeSignIn)
	if err != nil {
		t.Fatal(err)
	}
	op.ExpireDeviceCodes()
	_, err = h.svc.WaitOIDC(ctx, other, st)
	wantProblem(t, err, flows.ProblemOIDCExpired)

	// The provider goes away while the terminal polls.
	st, err = h.svc.StartOIDC(ctx, other, "test", flows.PurposeSignIn)
	if err != nil {
		t.Fatal(err)
	}
	op.Close()
	_, err = h.svc.WaitOIDC(ctx, other, st)
	wantProblem(t, err, flows.ProblemProviderUnavailable)
	if v := h.visit(other); v.Account {
		t.Fatal("signed in with the provider down")
	}
}

func TestOIDCUnavailableProviderAndThrottle(t *testing.T) {
	op, err := oidctest.New(oidctest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	issuer := op.Issuer
	op.Close()
	h := newHarness(t, flows.Policy{})
	h.providers = []*openid.Provider{openid.Discover(ctx, openid.Config{Name: "down", DisplayName: "Down", Issuer: issuer, ClientID: "x"}, nil)}
	h.restart(flows.Policy{})
	ps := h.svc.Providers()
	if len(ps) != 1 || ps[0].Available || !strings.Contains(ps[0].Reason, "discovery") {
		t.Fatalf("providers %+v", ps)
	}
	before := h.head()
	_, err = h.svc.StartOIDC(ctx, device("d"), "down", flows.PurposeSignIn)
	wantProblem(t, err, flows.ProblemProviderUnavailable)
	_, err = h.svc.StartOIDC(ctx, device("d"), "nope", flows.PurposeSignIn)
	wantProblem(t, err, flows.ProblemInput)
	if h.head() != before {
		t.Fatal("refused starts wrote facts")
	}

	h2, _, _ := newOIDCHarness(t, "")
	dev := device("flood")
	for range 10 {
		if _, err := h2.svc.StartOIDC(ctx, dev, "test", flows.PurposeSignIn); err != nil {
			t.Fatal(err)
		}
	}
	_, err = h2.svc.StartOIDC(ctx, dev, "test", flows.PurposeSignIn)
	if p := wantProblem(t, err, flows.ProblemThrottled); p.RetryAt.IsZero() {
		t.Fatal("no retry time")
	}
	h2.clock.Advance(time.Hour)
	if _, err := h2.svc.StartOIDC(ctx, dev, "test", flows.PurposeSignIn); err != nil {
		t.Fatalf("an hour later: %v", err)
	}
}

func TestOIDCEmailCollisionDoesNotLink(t *testing.T) {
	h, _, _ := newOIDCHarness(t, "")
	// Ada's attest account has her email, confirmed by a code. (Signed in
	// again, so the sign-up's own hour of step-up is not in play; the
	// provider's tokens carry the real time, so this test cannot move the
	// clock by hours.)
	desk := device("desk")
	acct := h.signIn(desk, "ada@example.com").Visitor
	if err := h.svc.SignOut(ctx, desk); err != nil {
		t.Fatal(err)
	}
	h.clock.Advance(time.Minute + time.Second) // the governor's gap
	h.signIn(desk, "ada@example.com")

	// Someone signs in with a provider account that claims (verified) the
	// same email: no account is made, nothing is linked, and they are told
	// to sign in to that account and link from there.
	tv := device("tv")
	before := len(h.facts(flows.KindAddressConfirmed))
	_, err := h.deviceSignIn(tv, flows.PurposeSignIn, "ada", "pw-ada")
	if p := wantProblem(t, err, flows.ProblemEmailTaken); !strings.Contains(p.Msg, "link TestID from there") {
		t.Fatalf("collision says %q", p.Msg)
	}
	if v := h.visit(tv); v.Account {
		t.Fatal("the collision signed a device in")
	}
	if n := len(h.facts(flows.KindAddressConfirmed)); n != before {
		t.Fatalf("the collision confirmed %d addresses", n-before)
	}

	// Linking from the account is protected by a step-up.
	_, err = h.svc.StartOIDC(ctx, desk, "test", flows.PurposeLink)
	wantProblem(t, err, flows.ProblemStepUp)
	h.clock.Advance(time.Minute + time.Second)
	h.stepUp(desk)
	res, err := h.deviceSignIn(desk, flows.PurposeLink, "ada", "pw-ada")
	if err != nil {
		t.Fatal(err)
	}
	if res.Purpose != flows.PurposeLink || len(addressOf(res.Entered.Visitor, address.OIDC)) != 1 {
		t.Fatalf("link %+v", res)
	}
	// The account's address is told.
	h.svc.Wait()
	if msgs := h.bag.to("ada@example.com"); len(msgs) == 0 || !strings.Contains(msgs[len(msgs)-1].Text, "A sign-in with TestID") {
		t.Fatalf("no notice of the link: %+v", msgs)
	}
	// Now the provider signs in to Ada's account.
	res, err = h.deviceSignIn(tv, flows.PurposeSignIn, "ada", "pw-ada")
	if err != nil {
		t.Fatal(err)
	}
	if res.Entered.Visitor.User != acct.User {
		t.Fatalf("signed in to %s, want %s", res.Entered.Visitor.User, acct.User)
	}
	// And a second account cannot link the same provider account.
	other := device("other")
	h.signIn(other, "carol@example.com")
	_, err = h.deviceSignIn(other, flows.PurposeLink, "ada", "pw-ada")
	wantProblem(t, err, flows.ProblemSupport)
}

func TestOIDCUnverifiedEmailIsNotLinkedAndUnlinkKeepsALastWayIn(t *testing.T) {
	h, _, _ := newOIDCHarness(t, "")
	dev := device("bob")
	res, err := h.deviceSignIn(dev, flows.PurposeSignIn, "bob", "pw-bob")
	if err != nil {
		t.Fatal(err)
	}
	if res.Email != "" || len(addressOf(res.Entered.Visitor, address.Email)) != 0 {
		t.Fatalf("an unverified email was linked: %+v", res)
	}
	// The provider is Bob's only way in: unlinking it is refused.
	_, err = h.svc.UnlinkProvider(ctx, dev, "test")
	wantProblem(t, err, flows.ProblemLastAddress)
	// With an email confirmed, it can go, and the email is told.
	if _, err := h.svc.AddAddress(ctx, dev, "bob@example.org"); err != nil {
		t.Fatal(err)
	}
	iss := h.bag.waitFor(h.facts(flows.KindCodeEmailed)[0].Ticket)
	code, err := codeIn(iss, "A")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.svc.EnterCode(ctx, dev, "A", code); err != nil {
		t.Fatal(err)
	}
	out, err := h.svc.UnlinkProvider(ctx, dev, "test")
	if err != nil || !out.Changed {
		t.Fatalf("unlink: %+v %v", out, err)
	}
	v := h.visit(dev)
	if len(addressOf(v, address.OIDC)) != 0 {
		t.Fatalf("still linked: %+v", v.Addresses)
	}
	h.svc.Wait()
	if msgs := h.bag.to("bob@example.org"); !strings.Contains(msgs[len(msgs)-1].Text, "was removed") {
		t.Fatalf("no notice of the unlink: %+v", msgs)
	}
	// The history keeps it.
	hist, err := h.svc.History(ctx, dev)
	if err != nil {
		t.Fatal(err)
	}
	ended := false
	for _, e := range hist {
		ended = ended || (e.Kind == address.OIDC && e.Event == "ended" && e.Detail == "unlinked")
	}
	if !ended {
		t.Fatalf("history %+v", hist)
	}
}

// codeFlowState is the state in a code-flow link.
func codeFlowState(t *testing.T, st flows.OIDCStart) string {
	t.Helper()
	_, state, ok := strings.Cut(st.Link, "/oidc/start/")
	if !ok || st.Flow != openid.FlowCode || len(st.Check) != flows.LinkCheckLen {
		t.Fatalf("code-flow start %+v", st)
	}
	return state
}

// pressProvider answers the start page with the check the terminal shows
// and signs in at the provider it sends the browser on to, returning the
// state, the callback's code (or error) and the browser's binding.
func pressProvider(t *testing.T, h *harness, st flows.OIDCStart, username, password string, deny bool) (state, code, errCode, binding string) {
	t.Helper()
	state = codeFlowState(t, st)
	page, err := h.svc.ConfirmOIDCChecked(ctx, state, st.Check)
	if err != nil || page.State != flows.LinkLive || page.AuthURL == "" || page.Binding == "" {
		t.Fatalf("start page %+v %v", page, err)
	}
	back, err := oidctest.NewBrowser(callbackURL).SignIn(page.AuthURL, username, password, deny)
	if err != nil {
		t.Fatal(err)
	}
	if back.Query().Get("state") != state {
		t.Fatalf("callback state %q, want %q", back.Query().Get("state"), state)
	}
	return state, back.Query().Get("code"), back.Query().Get("error"), page.Binding
}

func TestOIDCCodeFlowCallback(t *testing.T) {
	h, op, _ := newOIDCHarness(t, openid.FlowCode)
	dev := device("laptop")
	watch := h.svc.Watch(dev.Tag) // the terminal that waits
	defer watch.Stop()

	st, err := h.svc.StartOIDC(ctx, dev, "test", flows.PurposeSignIn)
	if err != nil {
		t.Fatal(err)
	}
	state, code, _, binding := pressProvider(t, h, st, "ada", "pw-ada", false)
	if req := op.LastAuthRequest(); req.CodeChallengeMethod != "S256" || req.Nonce == "" || len(req.Prompt) != 0 {
		t.Fatalf("authorization request %+v", req)
	}
	page, err := h.svc.OIDCCallback(ctx, state, binding, code, "", "")
	if err != nil || page.State != flows.LinkLive {
		t.Fatalf("callback %+v %v", page, err)
	}
	res, err := h.svc.WaitOIDC(ctx, dev, st)
	if err != nil || !res.Entered.SignedUp || !res.Entered.Visitor.Account {
		t.Fatalf("wait %+v %v", res, err)
	}

	// Replayed: the same callback again changes nothing and says so.
	before := h.head()
	page, err = h.svc.OIDCCallback(ctx, state, binding, code, "", "")
	if err != nil || page.State != flows.LinkUsed || h.head() != before {
		t.Fatalf("replay: %+v %v, %d new facts", page, err, h.head()-before)
	}
	// Foreign: a state this server never minted, or not a state at all.
	for _, s := range []string{strings.Repeat("a", 26), "../../etc", strings.Repeat("a", 4000)} {
		if page, err := h.svc.OIDCCallback(ctx, s, binding, code, "", ""); err != nil || page.State != flows.LinkUnknown {
			t.Fatalf("foreign state %q: %+v %v", s, page, err)
		}
	}
	if h.head() != before {
		t.Fatal("foreign callbacks wrote facts")
	}
	if err := h.svc.SignOut(ctx, dev); err != nil {
		t.Fatal(err)
	}

	// Late: the link's ten minutes have passed.
	st, err = h.svc.StartOIDC(ctx, dev, "test", flows.PurposeSignIn)
	if err != nil {
		t.Fatal(err)
	}
	state, code, _, binding = pressProvider(t, h, st, "ada", "pw-ada", false)
	h.clock.Advance(flows.OIDCTTL + time.Second)
	before = h.head()
	if page, err := h.svc.OIDCCallback(ctx, state, binding, code, "", ""); err != nil || page.State != flows.LinkExpired || h.head() != before {
		t.Fatalf("late callback %+v %v", page, err)
	}

	// Denied consent.
	st, err = h.svc.StartOIDC(ctx, dev, "test", flows.PurposeSignIn)
	if err != nil {
		t.Fatal(err)
	}
	state, _, errCode, binding := pressProvider(t, h, st, "ada", "pw-ada", true)
	_, err = h.svc.OIDCCallback(ctx, state, binding, "", errCode, "the person said no")
	wantProblem(t, err, flows.ProblemOIDCDenied)
	_, err = h.svc.WaitOIDC(ctx, dev, st)
	wantProblem(t, err, flows.ProblemOIDCDenied)

	// The terminal has left: the link does nothing.
	st, err = h.svc.StartOIDC(ctx, dev, "test", flows.PurposeSignIn)
	if err != nil {
		t.Fatal(err)
	}
	watch.Stop()
	if page, err := h.svc.PeekOIDC(ctx, codeFlowState(t, st)); err != nil || page.State != flows.LinkGone {
		t.Fatalf("link of a terminal that left: %+v %v", page, err)
	}
	if v := h.visit(dev); v.Account {
		t.Fatal("signed in after sign-out")
	}
}

func TestOIDCCodeFlowRefusesAForgedNonceAndAnUnpublishedKey(t *testing.T) {
	h, op, _ := newOIDCHarness(t, openid.FlowCode)
	dev := device("laptop")
	watch := h.svc.Watch(dev.Tag)
	defer watch.Stop()
	try := func() error {
		st, err := h.svc.StartOIDC(ctx, dev, "test", flows.PurposeSignIn)
		if err != nil {
			t.Fatal(err)
		}
		state, code, _, binding := pressProvider(t, h, st, "ada", "pw-ada", false)
		_, err = h.svc.OIDCCallback(ctx, state, binding, code, "", "")
		return err
	}
	op.ForgeNonce("not-the-nonce")
	if p := wantProblem(t, try(), flows.ProblemOIDCRefused); !strings.Contains(p.Msg, "nonce") {
		t.Fatalf("forged nonce says %q", p.Msg)
	}
	op.ForgeNonce("")
	if err := op.SignWithUnpublishedKey(); err != nil {
		t.Fatal(err)
	}
	if p := wantProblem(t, try(), flows.ProblemOIDCRefused); !strings.Contains(p.Msg, "signature") {
		t.Fatalf("bad signature says %q", p.Msg)
	}
	if v := h.visit(dev); v.Account || len(h.facts(flows.KindOIDCVerified)) != 0 {
		t.Fatal("refused tokens signed someone in")
	}
}

func TestOIDCStepUpNeedsAFreshSignInAtALinkedProvider(t *testing.T) {
	h, op, _ := newOIDCHarness(t, openid.FlowCode)
	dev := device("laptop")
	watch := h.svc.Watch(dev.Tag)
	defer watch.Stop()
	// An account without the provider cannot step up with it.
	h.signIn(dev, "carol@example.com")
	_, err := h.svc.StartOIDC(ctx, dev, "test", flows.PurposeStepUp)
	wantProblem(t, err, flows.ProblemInput)
	if err := h.svc.SignOut(ctx, dev); err != nil {
		t.Fatal(err)
	}

	run := func(purpose string) (flows.OIDCResult, error) {
		st, err := h.svc.StartOIDC(ctx, dev, "test", purpose)
		if err != nil {
			t.Fatal(err)
		}
		state, code, _, binding := pressProvider(t, h, st, "ada", "pw-ada", false)
		if _, err := h.svc.OIDCCallback(ctx, state, binding, code, "", ""); err != nil {
			return flows.OIDCResult{}, err
		}
		return h.svc.WaitOIDC(ctx, dev, st)
	}
	if _, err := run(flows.PurposeSignIn); err != nil {
		t.Fatal(err)
	}
	// Signed in again: no sign-up, so no step-up of its own.
	if err := h.svc.SignOut(ctx, dev); err != nil {
		t.Fatal(err)
	}
	if _, err := run(flows.PurposeSignIn); err != nil {
		t.Fatal(err)
	}
	if v := h.visit(dev); !v.StepUpUntil.IsZero() {
		t.Fatal("stepped up by a plain sign-in")
	}
	res, err := run(flows.PurposeStepUp)
	if err != nil {
		t.Fatal(err)
	}
	if req := op.LastAuthRequest(); strings.Join(req.Prompt, " ") != "login" || req.MaxAge == nil || *req.MaxAge != 0 {
		t.Fatalf("a step-up must ask the provider for a fresh sign-in: %+v", req)
	}
	if res.Entered.StepUpUntil.IsZero() || res.Entered.Visitor.StepUpUntil.IsZero() {
		t.Fatalf("step-up %+v", res.Entered)
	}
	var grants []store.Fact
	for _, f := range h.facts(flows.KindStepUpGranted) {
		if strings.Contains(string(f.Body), `"factor":"oidc"`) {
			grants = append(grants, f)
		}
	}
	if len(grants) != 1 {
		t.Fatalf("%d oidc step-up grants", len(grants))
	}
}

// A provider sign-in passes the same gate as every way in: an account
// with an authenticator app holds it, and nothing of the account changes
// (the provider's email is not added) until the app's code.
func TestOIDCSignInWaitsForTheAuthenticator(t *testing.T) {
	h, _, _ := newOIDCHarness(t, "")
	desk := device("desk")
	// Bob's account: the provider (whose email is unverified) and an app.
	if _, err := h.deviceSignIn(desk, flows.PurposeSignIn, "bob", "pw-bob"); err != nil {
		t.Fatal(err)
	}
	e, err := h.svc.AddTOTP(ctx, desk)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.svc.ConfirmTOTP(ctx, desk, appCode(t, e.Secret, h.clock.Now())); err != nil {
		t.Fatal(err)
	}
	h.clock.Advance(time.Minute)

	tv := device("tv")
	res, err := h.deviceSignIn(tv, flows.PurposeSignIn, "bob", "pw-bob")
	if err != nil {
		t.Fatal(err)
	}
	if v := res.Entered.Visitor; v.Account || v.Waiting == nil || v.Waiting.Method != "oidc" {
		t.Fatalf("the sign-in was not held: %+v", v)
	}
	out, err := h.svc.EnterTOTP(ctx, tv, appCode(t, e.Secret, h.clock.Now()))
	if err != nil {
		t.Fatal(err)
	}
	if !out.Visitor.Account || out.Visitor.User != h.visit(desk).User {
		t.Fatalf("after the app's code: %+v", out.Visitor)
	}
}

// The start link is number-matched as a magic link is: its page changes
// nothing until it is given the characters only the starting terminal
// shows; a slip changes nothing, a wrong answer ends the attempt, and the
// right one sends the browser on, bound to it by a cookie the callback
// wants back. Nothing of it is stored: not the state, not the check, not
// the binding.
func TestOIDCCodeFlowCheckAndBrowserBinding(t *testing.T) {
	h, op, _ := newOIDCHarness(t, openid.FlowCode)
	dev := device("mallory")
	watch := h.svc.Watch(dev.Tag)
	defer watch.Stop()
	start := func() (flows.OIDCStart, string) {
		t.Helper()
		st, err := h.svc.StartOIDC(ctx, dev, "test", flows.PurposeSignIn)
		if err != nil {
			t.Fatal(err)
		}
		return st, codeFlowState(t, st)
	}
	var secrets []string // states, checks and bindings, none of which the ledger may hold

	// Opening the page: live, nothing that leads on, nothing written.
	st, state := start()
	secrets = append(secrets, state, st.Check)
	before := h.head()
	page, err := h.svc.PeekOIDC(ctx, state)
	if err != nil || page.State != flows.LinkLive || page.AuthURL != "" || page.Binding != "" || page.AuthOrigin != op.Issuer {
		t.Fatalf("peek %+v %v (issuer %s)", page, err, op.Issuer)
	}
	// Slips: nothing changes, and the page may ask again.
	for _, slip := range []string{"", "ab", st.Check[:3], st.Check + "X", "1111", strings.Repeat("A", 65), "<b>AB</b>"} {
		page, err := h.svc.ConfirmOIDCChecked(ctx, state, slip)
		if p := wantProblem(t, err, flows.ProblemInput); !page.Mistyped || page.State != flows.LinkLive || page.AuthURL != "" ||
			!strings.Contains(p.Msg, "Type the 4 characters") {
			t.Fatalf("slip %q: %+v %v", slip, page, err)
		}
	}
	if h.head() != before {
		t.Fatal("a slip wrote to the ledger")
	}
	// The right check, as a person might type it: the provider's URL and
	// this browser's binding, for the attempt's remaining life; nothing
	// written, and it may be given again.
	h.clock.Advance(time.Minute)
	typed := strings.ToLower(st.Check[:2]) + "-" + st.Check[2:]
	for range 2 {
		page, err = h.svc.ConfirmOIDCChecked(ctx, state, typed)
		if err != nil || page.State != flows.LinkLive || !strings.HasPrefix(page.AuthURL, op.Issuer) ||
			!strings.Contains(page.AuthURL, "state="+state) || page.BindFor != flows.OIDCTTL-time.Minute {
			t.Fatalf("right check: %+v %v", page, err)
		}
	}
	binding := page.Binding
	if len(binding) < 40 || strings.Contains(binding, state) {
		t.Fatalf("binding %q", binding)
	}
	secrets = append(secrets, binding)
	if h.head() != before {
		t.Fatal("a right check wrote to the ledger")
	}

	// A browser without the cookie (the victim, sent the provider URL the
	// attacker's check led to) signs in at the provider: the callback
	// refuses it, ends the attempt, and signs nobody in; its page tells
	// the victim what happened, the terminal hears it ended.
	back, err := oidctest.NewBrowser(callbackURL).SignIn(page.AuthURL, "ada", "pw-ada", false)
	if err != nil {
		t.Fatal(err)
	}
	code := back.Query().Get("code")
	_, err = h.svc.OIDCCallback(ctx, state, "", code, "", "")
	if p := wantProblem(t, err, flows.ProblemOIDCRefused); !strings.Contains(p.Msg, "finished in a different browser") ||
		!strings.Contains(p.Msg, "If someone sent you this link, close this page") {
		t.Fatalf("callback without the cookie says %q", p.Msg)
	}
	_, err = h.svc.WaitOIDC(ctx, dev, st)
	if p := wantProblem(t, err, flows.ProblemOIDCRefused); p.Msg != flows.OIDCOtherBrowser {
		t.Fatalf("the terminal hears %q", p.Msg)
	}
	// The attacker's own browser comes too late: the attempt has ended.
	before = h.head()
	if page, err := h.svc.OIDCCallback(ctx, state, binding, code, "", ""); err != nil || page.State != flows.LinkEnded || h.head() != before {
		t.Fatalf("callback after the refusal: %+v %v", page, err)
	}
	if v := h.visit(dev); v.Account || v.User != "" || len(h.facts(flows.KindOIDCVerified)) != 0 {
		t.Fatalf("a callback from another browser signed someone in: %+v", v)
	}

	// A wrong cookie (another attempt's binding) is no better.
	st1, state1 := start()
	st2, state2 := start()
	secrets = append(secrets, state1, state2, st1.Check, st2.Check)
	_, code1, _, binding1 := pressProvider(t, h, st1, "ada", "pw-ada", false)
	_, _, _, binding2 := pressProvider(t, h, st2, "ada", "pw-ada", false)
	secrets = append(secrets, binding1, binding2)
	if binding1 == binding2 {
		t.Fatal("two attempts have one binding")
	}
	_, err = h.svc.OIDCCallback(ctx, state1, binding2, code1, "", "")
	if p := wantProblem(t, err, flows.ProblemOIDCRefused); !strings.Contains(p.Msg, "finished in a different browser") {
		t.Fatalf("callback with another attempt's cookie says %q", p.Msg)
	}
	_, err = h.svc.WaitOIDC(ctx, dev, st1)
	if p := wantProblem(t, err, flows.ProblemOIDCRefused); p.Msg != flows.OIDCOtherBrowser {
		t.Fatalf("the terminal hears %q", p.Msg)
	}
	if v := h.visit(dev); v.Account {
		t.Fatal("a wrong cookie signed someone in")
	}

	// A wrong check (the victim guessing) ends the attempt: an
	// oidc.failed that says so, which the terminal hears; nothing else.
	wrong := "AAAA"
	if st2.Check == wrong {
		wrong = "BBBB"
	}
	before = h.head()
	page, err = h.svc.ConfirmOIDCChecked(ctx, state2, wrong)
	if err != nil || page.State != flows.LinkEnded || page.AuthURL != "" || page.Binding != "" || h.head() != before+1 {
		t.Fatalf("wrong check: %+v %v, %d new facts", page, err, h.head()-before)
	}
	fs := h.facts(flows.KindOIDCFailed)
	if last := fs[len(fs)-1]; last.Ticket != st2.Ticket || !strings.Contains(string(last.Body), `"code":"code_used_up"`) ||
		!strings.Contains(string(last.Body), "A wrong answer on its page ended this sign-in; nobody was signed in.") {
		t.Fatalf("oidc.failed %+v %s", last, last.Body)
	}
	_, err = h.svc.WaitOIDC(ctx, dev, st2)
	if p := wantProblem(t, err, flows.ProblemCodeUsed); p.Msg != flows.OIDCCheckRefused {
		t.Fatalf("the terminal hears %q", p.Msg)
	}
	// Ended: the right check, the page and the bound callback do nothing.
	before = h.head()
	for _, page := range []func() (flows.OIDCPage, error){
		func() (flows.OIDCPage, error) { return h.svc.PeekOIDC(ctx, state2) },
		func() (flows.OIDCPage, error) { return h.svc.ConfirmOIDCChecked(ctx, state2, st2.Check) },
		func() (flows.OIDCPage, error) { return h.svc.OIDCCallback(ctx, state2, binding2, "code", "", "") },
	} {
		if p, err := page(); err != nil || p.State != flows.LinkEnded || p.AuthURL != "" {
			t.Fatalf("ended attempt: %+v %v", p, err)
		}
	}
	if h.head() != before || h.visit(dev).Account {
		t.Fatal("an ended attempt changed something")
	}

	// Nothing secret is stored: the starts hold no label and no check,
	// and no fact anywhere holds a state or a binding.
	for _, f := range h.facts(flows.KindOIDCStarted, flows.KindOIDCFailed) {
		for _, c := range []string{st.Check, st1.Check, st2.Check} {
			if strings.Contains(string(f.Body), `"`+c+`"`) || strings.Contains(string(f.Body), `"label"`) {
				t.Fatalf("%s holds a check or a label: %s", f.Kind, f.Body)
			}
		}
	}
	raw := string(h.stored())
	for _, s := range secrets {
		if len(s) > flows.LinkCheckLen && strings.Contains(raw, s) {
			t.Fatalf("the ledger holds %q", s)
		}
	}
}
