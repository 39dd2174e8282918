package flows_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/attest-dev/attest/flows"
	"github.com/attest-dev/attest/store"
)

// "a user signs up with email, and then validates that email address"
func TestSignUpWithEmailThenValidate(t *testing.T) {
	h := newHarness(t, flows.Policy{})
	dev := device("laptop")

	iss, err := h.svc.RequestSignIn(ctx, dev, "  Grace@Example.COM ")
	if err != nil {
		t.Fatal(err)
	}
	if iss.Letter != "A" || iss.Digits != 4 || iss.To != "grace@example.com" {
		t.Fatalf("issued %+v", iss)
	}
	if !iss.Expires.Equal(start.Add(10 * time.Minute)) {
		t.Fatalf("expires %s", iss.Expires)
	}
	// The code is not a fact yet a sign-up: no user, no address claim.
	if n := len(h.facts(flows.KindUserCreated, flows.KindAddressAdded)); n != 0 {
		t.Fatalf("asking for a code wrote %d user or address facts", n)
	}
	code := h.codeOf(iss)
	msgs := h.bag.to("grace@example.com")
	if len(msgs) != 1 || !strings.Contains(msgs[0].Text, "Code A: "+code) || msgs[0].Subject != "attest code A" {
		t.Fatalf("message: %+v", msgs)
	}
	if len(h.facts(flows.KindMessageSent)) != 1 {
		t.Fatal("the delivery outcome was not recorded")
	}

	h.clock.Advance(2 * time.Minute)
	out, err := h.svc.EnterCode(ctx, dev, "", code)
	if err != nil {
		t.Fatal(err)
	}
	if !out.SignedUp || !out.Visitor.Account || out.Visitor.Method != "code" {
		t.Fatalf("after the code: %+v", out)
	}
	addrs := out.Visitor.Addresses
	if len(addrs) != 1 || addrs[0].Display != "grace@example.com" || !addrs[0].Confirmed || addrs[0].Method != "code" {
		t.Fatalf("addresses: %+v", addrs)
	}
	// "code sent" and "code entered" are two facts; the ledger holds no
	// code and no address in plaintext.
	var all []store.Fact
	_ = h.ledger.View(func(r store.Reader) error {
		return r.All(1, func(f store.Fact) bool { all = append(all, f); return true })
	})
	for _, f := range all {
		body := string(f.Body)
		if strings.Contains(body, code) || strings.Contains(strings.ToLower(body), "grace") {
			t.Fatalf("fact %d (%s) holds a secret or the address: %s", f.Seq, f.Kind, body)
		}
	}
	if len(h.facts(flows.KindCodeAccepted)) != 1 {
		t.Fatal("no code.accepted fact")
	}
}

// "a user, already signed in, returns to the site"
func TestSignedInUserReturns(t *testing.T) {
	h := newHarness(t, flows.Policy{})
	dev := device("laptop")
	if _, err := h.svc.SetNickname(ctx, dev, "Grace"); err != nil {
		t.Fatal(err)
	}
	h.signIn(dev, "grace@example.com")

	// 29 days: at 30 unused days the sign-in lapses (sessions_test.go).
	h.clock.Advance(29 * 24 * time.Hour)
	h.restart(flows.Policy{})
	v := h.visit(dev)
	if !v.Account || v.Nickname != "Grace" {
		t.Fatalf("a returning user is not recognised: %+v", v)
	}
	if err := h.svc.Touch(ctx, dev); err != nil {
		t.Fatal(err)
	}
	devs, err := h.svc.Devices(ctx, dev)
	if err != nil {
		t.Fatal(err)
	}
	if len(devs) != 1 || !devs[0].Current || !devs[0].LastSeen.Equal(start.Add(29*24*time.Hour)) || !devs[0].FirstSeen.Equal(start) {
		t.Fatalf("devices: %+v", devs)
	}
	// Signed in, the device is told so instead of being sent a code.
	_, err = h.svc.RequestSignIn(ctx, dev, "other@example.com")
	wantProblem(t, err, flows.ProblemSignedIn)
}

// "what happens when an anonymous user with data signs up? this is the
// cart combined problem": signing up keeps everything.
func TestAnonymousDataSurvivesSignUp(t *testing.T) {
	h := newHarness(t, flows.Policy{})
	dev := device("laptop")
	v, _ := h.svc.SetNickname(ctx, dev, "Visitor")
	h.svc.Star(ctx, dev, "vega")
	h.svc.Star(ctx, dev, "rigel")

	out := h.signIn(dev, "new@example.com")
	if !out.SignedUp || out.Merged != nil {
		t.Fatalf("sign-up: %+v", out)
	}
	// The anonymous user became the account: same tag, same data.
	if out.Visitor.User != v.User || out.Visitor.Nickname != "Visitor" || !hasAll(out.Visitor.Stars, "vega", "rigel") {
		t.Fatalf("after sign-up: %+v", out.Visitor)
	}
}

// The cart problem when the account exists: the two are merged.
func TestAnonymousDataMergesIntoExistingAccount(t *testing.T) {
	h := newHarness(t, flows.Policy{})
	desk, phone := device("desk"), device("phone")

	// The account, made on the desk: nickname "Grace", a star on vega.
	h.svc.SetNickname(ctx, desk, "Grace")
	h.svc.Star(ctx, desk, "vega")
	account := h.signIn(desk, "grace@example.com").Visitor.User

	// Later, anonymous on the phone: another nickname and two stars.
	h.clock.Advance(2 * time.Minute)
	anon, _ := h.svc.SetNickname(ctx, phone, "ph0ne")
	h.svc.Star(ctx, phone, "vega")
	h.svc.Star(ctx, phone, "polaris")

	out := h.signIn(phone, "grace@example.com")
	if out.SignedUp || out.Merged == nil {
		t.Fatalf("sign-in: %+v", out)
	}
	m := out.Merged
	if m.From != anon.User || !hasAll(m.Stars, "polaris") || m.VisitorNickname != "ph0ne" || m.NicknameTaken {
		t.Fatalf("merge: %+v", m)
	}
	v := out.Visitor
	if v.User != account || v.Nickname != "Grace" || !hasAll(v.Stars, "vega", "polaris") {
		t.Fatalf("account after the merge: %+v", v)
	}
	// The merge is recorded: what moved and the visitor's nickname.
	absorbed := h.facts(flows.KindUserAbsorbed)
	if len(absorbed) != 1 || absorbed[0].User != account || !strings.Contains(string(absorbed[0].Body), `"visitor_nickname":"ph0ne"`) {
		t.Fatalf("absorbed facts: %+v", absorbed)
	}
	// The old anonymous tag answers for the account.
	if got, _ := h.svc.Resolve(ctx, anon.User); got != account {
		t.Fatalf("the anonymous tag resolves to %q, want %q", got, account)
	}
	// And the desk sees the same account.
	if d := h.visit(desk); !hasAll(d.Stars, "vega", "polaris") {
		t.Fatalf("desk sees %+v", d)
	}
}

// When the account has no nickname, it takes the visitor's.
func TestMergeTakesNicknameWhenAccountHasNone(t *testing.T) {
	h := newHarness(t, flows.Policy{})
	h.signIn(device("desk"), "grace@example.com")
	h.clock.Advance(2 * time.Minute)
	phone := device("phone")
	h.svc.SetNickname(ctx, phone, "Amazing Grace")
	out := h.signIn(phone, "grace@example.com")
	if !out.Merged.NicknameTaken || out.Visitor.Nickname != "Amazing Grace" {
		t.Fatalf("merge: %+v, visitor %+v", out.Merged, out.Visitor)
	}
}

// A failure half way through a merge leaves both users intact.
func TestMergeFailureLeavesBothIntact(t *testing.T) {
	h := newHarness(t, flows.Policy{})
	desk, phone := device("desk"), device("phone")
	h.svc.SetNickname(ctx, desk, "Grace")
	h.signIn(desk, "grace@example.com")
	h.clock.Advance(2 * time.Minute)
	anon, _ := h.svc.SetNickname(ctx, phone, "visitor")
	h.svc.Star(ctx, phone, "polaris")
	iss, code := h.request(phone, "grace@example.com")

	// Rebuild the service on a ledger that fails the merge's third append
	// (after the code is accepted and the merge fact is staged).
	failing := &failingLedger{Ledger: h.ledger, failAt: map[string]int{flows.KindUserAbsorbed: 1}}
	svc := h.rebuild(failing)
	before := h.head()
	if _, err := svc.EnterCode(ctx, phone, iss.Letter, code); !errors.Is(err, errInjected) {
		t.Fatalf("want the injected failure, got %v", err)
	}
	if h.head() != before {
		t.Fatalf("a failed merge left %d facts", h.head()-before)
	}
	if v := h.visit(phone); v.User != anon.User || v.Account || !hasAll(v.Stars, "polaris") {
		t.Fatalf("the visitor changed: %+v", v)
	}
	if got, _ := h.svc.Resolve(ctx, anon.User); got != anon.User {
		t.Fatal("the visitor resolves elsewhere after a failed merge")
	}
	// The code was not used up by the failure: it still works.
	out, err := h.svc.EnterCode(ctx, phone, iss.Letter, code)
	if err != nil || out.Merged == nil {
		t.Fatalf("retry: %+v, %v", out, err)
	}
}

// "a user signs in on desktop, then on mobile, returns later and is still
// signed in, then signs out of everywhere on desktop"
func TestDesktopMobileSignOutEverywhere(t *testing.T) {
	h := newHarness(t, flows.Policy{})
	desk, phone := device("desk"), device("phone")
	h.signIn(desk, "grace@example.com")
	h.clock.Advance(5 * time.Minute)
	h.signIn(phone, "grace@example.com")

	// Two keys, two devices, one account.
	devs, err := h.svc.Devices(ctx, desk)
	if err != nil || len(devs) != 2 {
		t.Fatalf("devices: %+v, %v", devs, err)
	}
	if !devs[0].Current || devs[1].Current || devs[0].Tag != desk.Tag || devs[1].Tag != phone.Tag {
		t.Fatalf("devices: %+v", devs)
	}

	// Later, both still signed in.
	h.clock.Advance(7 * 24 * time.Hour)
	h.restart(flows.Policy{})
	if !h.visit(desk).Account || !h.visit(phone).Account {
		t.Fatal("a device was signed out by time alone")
	}

	// The phone has a live session watching its state.
	w := h.svc.Watch(phone.Tag)
	defer w.Stop()
	w.SetUser(h.visit(phone).User)

	// Signing everyone out is protected: the desktop steps up first.
	wantProblem(t, h.svc.SignOutEverywhere(ctx, desk, false), flows.ProblemStepUp)
	h.stepUp(desk)
	if err := h.svc.SignOutEverywhere(ctx, desk, false); err != nil {
		t.Fatal(err)
	}
	select {
	case <-w.C:
	default:
		t.Fatal("the phone's live session was not told")
	}
	if h.visit(desk).Account || h.visit(phone).Account {
		t.Fatal("a device is still signed in after sign-out everywhere")
	}
	// Signing in again afterwards works, on one device only.
	h.clock.Advance(time.Hour)
	h.signIn(phone, "grace@example.com")
	if !h.visit(phone).Account || h.visit(desk).Account {
		t.Fatal("signing in again signed the wrong devices in")
	}
}

func TestSignOutThisDevice(t *testing.T) {
	h := newHarness(t, flows.Policy{})
	desk, phone := device("desk"), device("phone")
	h.signIn(desk, "grace@example.com")
	h.clock.Advance(5 * time.Minute)
	h.signIn(phone, "grace@example.com")
	if err := h.svc.SignOut(ctx, phone); err != nil {
		t.Fatal(err)
	}
	if h.visit(phone).User != "" || !h.visit(desk).Account {
		t.Fatal("sign out touched the wrong device")
	}
	// The device starts afresh: a new visitor, nothing of the account.
	v, _ := h.svc.Star(ctx, phone, "vega")
	if v.User == h.visit(desk).User || v.Account {
		t.Fatalf("the signed-out device still acts as the account: %+v", v)
	}
	wantProblem(t, h.svc.SignOut(ctx, device("stranger")), flows.ProblemSignedOut)
}

// A keyless device lasts one connection; it can still sign in.
func TestEphemeralDevice(t *testing.T) {
	h := newHarness(t, flows.Policy{})
	a, err := h.svc.EphemeralDevice()
	if err != nil || !a.Ephemeral || !strings.HasPrefix(a.Tag, "conn:") {
		t.Fatalf("ephemeral device: %+v, %v", a, err)
	}
	b, _ := h.svc.EphemeralDevice()
	if a.Tag == b.Tag {
		t.Fatal("two connections share a device")
	}
	out := h.signIn(a, "grace@example.com")
	if !out.Visitor.Account || h.visit(b).Account {
		t.Fatal("a keyless sign-in leaked to another connection")
	}
}

// Refused input at sign-in writes nothing and says what is wrong.
func TestSignInRefusesBadAddress(t *testing.T) {
	h := newHarness(t, flows.Policy{})
	for _, in := range []string{"", "grace", "grace@", "@example.com", "Grace <grace@example.com>", "a@b@c.com", "x\x1b[2J@example.com"} {
		_, err := h.svc.RequestSignIn(ctx, device("d"), in)
		p := wantProblem(t, err, flows.ProblemInput)
		if strings.ContainsAny(p.Msg, "\x1b") || p.Msg == "" {
			t.Errorf("%q: message %q", in, p.Msg)
		}
	}
	if h.head() != 0 || h.bag.count() != 0 {
		t.Fatal("a refused address changed something")
	}
}
