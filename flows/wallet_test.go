package flows_test

import (
	"crypto/ed25519"
	"encoding/hex"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	schnorrkel "github.com/ChainSafe/go-schnorrkel"
	"github.com/decred/dcrd/dcrec/secp256k1/v4"
	"github.com/decred/dcrd/dcrec/secp256k1/v4/ecdsa"

	"github.com/attest-dev/attest/flows"
	"github.com/attest-dev/attest/flows/address"
	"github.com/attest-dev/attest/flows/clock"
	"github.com/attest-dev/attest/flows/wallet"
	"github.com/attest-dev/attest/store/bolt"
)

// Scenario tests of wallet sign-in. The signatures here are made with the
// same libraries the server checks with; that they agree with real
// wallets (ethers, @polkadot/keyring) is what flows/wallet's vectors
// check, and the end-to-end test signs with those wallets themselves.

// signer is a wallet key in a test.
type signer interface {
	address() string
	sign(msg string) string
}

type ethKey struct{ k *secp256k1.PrivateKey }

func newEthKey(t *testing.T, seed byte) ethKey {
	t.Helper()
	var b [32]byte
	b[31], b[0] = seed, 0x42
	return ethKey{secp256k1.PrivKeyFromBytes(b[:])}
}

func (e ethKey) address() string { return address.EIP55(wallet.AddressOf(e.k.PubKey())) }

// sign is personal_sign: r ‖ s ‖ v with v 27 or 28.
func (e ethKey) sign(msg string) string {
	c := ecdsa.SignCompact(e.k, wallet.PersonalHash([]byte(msg)), false)
	return "0x" + hex.EncodeToString(append(c[1:], c[0]))
}

type edKey struct {
	k       ed25519.PrivateKey
	prefix  uint16
	wrapped bool // as polkadot.js's signRaw: <Bytes>…</Bytes>
}

func newEdKey(seed byte, prefix uint16, wrapped bool) edKey {
	var b [32]byte
	b[0] = seed
	return edKey{ed25519.NewKeyFromSeed(b[:]), prefix, wrapped}
}

func (e edKey) address() string {
	a, err := address.EncodeSS58(e.prefix, e.k.Public().(ed25519.PublicKey))
	if err != nil {
		panic(err)
	}
	return a
}

func (e edKey) sign(msg string) string {
	if e.wrapped {
		msg = "<Bytes>" + msg + "</Bytes>"
	}
	return "0x" + hex.EncodeToString(ed25519.Sign(e.k, []byte(msg)))
}

type srKey struct {
	sk      *schnorrkel.SecretKey
	pk      *schnorrkel.PublicKey
	wrapped bool
}

func newSrKey(t *testing.T, seed byte, wrapped bool) srKey {
	t.Helper()
	var b [32]byte
	b[0] = seed
	mini, err := schnorrkel.NewMiniSecretKeyFromRaw(b)
	if err != nil {
		t.Fatal(err)
	}
	sk := mini.ExpandEd25519()
	pk, err := sk.Public()
	if err != nil {
		t.Fatal(err)
	}
	return srKey{sk, pk, wrapped}
}

func (s srKey) address() string {
	pub := s.pk.Encode()
	a, err := address.EncodeSS58(42, pub[:])
	if err != nil {
		panic(err)
	}
	return a
}

func (s srKey) sign(msg string) string {
	if s.wrapped {
		msg = "<Bytes>" + msg + "</Bytes>"
	}
	sig, err := s.sk.Sign(schnorrkel.NewSigningContext([]byte("substrate"), []byte(msg)))
	if err != nil {
		panic(err)
	}
	b := sig.Encode()
	return "0x" + hex.EncodeToString(b[:])
}

// walletSignIn asks for a challenge for w on dev, signs it and submits
// the signature.
func (h *harness) walletSignIn(dev flows.Device, w signer) flows.Entered {
	h.t.Helper()
	ch, err := h.svc.RequestWalletSignIn(ctx, dev, w.address())
	if err != nil {
		h.t.Fatalf("request challenge: %v", err)
	}
	out, err := h.svc.SubmitSignature(ctx, dev, w.sign(ch.Message))
	if err != nil {
		h.t.Fatalf("submit signature: %v", err)
	}
	return out
}

var siweRE = regexp.MustCompile(`^127\.0\.0\.1:23235 wants you to sign in with your Ethereum account:
(0x[0-9a-fA-F]{40})

Sign in to attest\.

URI: http://127\.0\.0\.1:23235
Version: 1
Chain ID: 1
Nonce: ([a-z2-7]{26})
Issued At: (\S+)
Expiration Time: (\S+)$`)

func TestWalletSignUpThenSignInMergesVisitor(t *testing.T) {
	h := newHarness(t, flows.Policy{})
	w := newEthKey(t, 1)
	desk, laptop := device("desk"), device("laptop")

	// An anonymous visitor on the desk stars something, then signs up
	// with a wallet: the visitor becomes the account.
	if _, err := h.svc.Star(ctx, desk, "vega"); err != nil {
		t.Fatal(err)
	}
	anon := h.visit(desk).User
	// Asked in lower case, shown with its checksum.
	ch, err := h.svc.RequestWalletSignIn(ctx, desk, strings.ToLower(w.address()))
	if err != nil {
		t.Fatal(err)
	}
	m := siweRE.FindStringSubmatch(ch.Message)
	if m == nil {
		t.Fatalf("not the EIP-4361 message expected:\n%s", ch.Message)
	}
	if m[1] != w.address() || ch.Address != w.address() || ch.Kind != address.Ethereum || ch.Purpose != flows.PurposeSignIn {
		t.Errorf("challenge %+v names %s", ch, m[1])
	}
	if m[3] != start.Format(time.RFC3339) || m[4] != start.Add(5*time.Minute).Format(time.RFC3339) || !ch.Expires.Equal(start.Add(5*time.Minute)) {
		t.Errorf("issued %s, expires %s (%s)", m[3], m[4], ch.Expires)
	}
	// The nonce is nowhere in the ledger.
	for _, f := range h.facts(flows.KindWalletChallenged) {
		if strings.Contains(string(f.Body), m[2]) || strings.Contains(f.Ticket, m[2]) {
			t.Fatalf("the nonce is stored: %s", f.Body)
		}
	}
	out, err := h.svc.SubmitSignature(ctx, desk, w.sign(ch.Message))
	if err != nil {
		t.Fatal(err)
	}
	if !out.SignedUp || out.Purpose != flows.PurposeSignIn || !out.Visitor.Account || out.Visitor.User != anon ||
		out.Visitor.Method != flows.MethodWallet || out.Address != w.address() {
		t.Fatalf("sign-up: %+v", out)
	}
	if len(out.Visitor.Addresses) != 1 || out.Visitor.Addresses[0].Kind != address.Ethereum ||
		!out.Visitor.Addresses[0].Confirmed || out.Visitor.Addresses[0].Method != "wallet" || out.Visitor.Addresses[0].Display != w.address() {
		t.Fatalf("addresses: %+v", out.Visitor.Addresses)
	}
	if !hasAll(out.Visitor.Stars, "vega") {
		t.Errorf("stars %v", out.Visitor.Stars)
	}

	// Another device's anonymous visitor signs in with the same wallet:
	// merged into the account, exactly as with a code.
	if _, err := h.svc.Star(ctx, laptop, "sirius"); err != nil {
		t.Fatal(err)
	}
	if _, err := h.svc.SetNickname(ctx, laptop, "ada"); err != nil {
		t.Fatal(err)
	}
	visitor := h.visit(laptop).User
	out = h.walletSignIn(laptop, w)
	if out.SignedUp || out.Visitor.User != anon || out.Merged == nil || out.Merged.From != visitor || !out.Merged.NicknameTaken {
		t.Fatalf("sign-in: %+v merged %+v", out, out.Merged)
	}
	if !hasAll(out.Visitor.Stars, "vega", "sirius") {
		t.Errorf("stars after merge %v", out.Visitor.Stars)
	}
	if owner, err := h.svc.OwnerAt(ctx, w.address(), time.Time{}); err != nil || owner.User != anon || owner.Method != "wallet" {
		t.Errorf("owner %+v, %v", owner, err)
	}

	// Signed in, a device asks for no sign-in challenge.
	_, err = h.svc.RequestWalletSignIn(ctx, laptop, w.address())
	wantProblem(t, err, flows.ProblemSignedIn)
}

func TestWalletSS58SignIn(t *testing.T) {
	for name, w := range map[string]signer{
		"ed25519 wrapped":            newEdKey(1, 42, true),
		"ed25519 bare, polkadot (0)": newEdKey(2, 0, false),
		"ed25519 two-byte prefix":    newEdKey(3, 255, true),
		"sr25519 wrapped":            newSrKey(t, 4, true),
		"sr25519 bare":               newSrKey(t, 5, false),
	} {
		t.Run(name, func(t *testing.T) {
			h := newHarness(t, flows.Policy{})
			ch, err := h.svc.RequestWalletSignIn(ctx, device("d"), w.address())
			if err != nil {
				t.Fatal(err)
			}
			want := "127.0.0.1:23235 wants you to sign in with your Substrate account:\n" + w.address() + "\n\nSign in to attest.\n\nURI: http://127.0.0.1:23235\nVersion: 1\nNonce: "
			if !strings.HasPrefix(ch.Message, want) || strings.Contains(ch.Message, "Chain ID") || ch.Kind != address.SS58 {
				t.Fatalf("message:\n%s", ch.Message)
			}
			out, err := h.svc.SubmitSignature(ctx, device("d"), w.sign(ch.Message))
			if err != nil {
				t.Fatal(err)
			}
			if !out.SignedUp || out.Visitor.Addresses[0].Display != w.address() {
				t.Fatalf("%+v", out)
			}
		})
	}
}

func TestWalletRefusals(t *testing.T) {
	h := newHarness(t, flows.Policy{})
	w, other := newEthKey(t, 1), newEthKey(t, 2)
	dev := device("d")

	_, err := h.svc.SubmitSignature(ctx, dev, w.sign("anything"))
	wantProblem(t, err, flows.ProblemNoCode)

	first, err := h.svc.RequestWalletSignIn(ctx, dev, w.address())
	if err != nil {
		t.Fatal(err)
	}
	ch, err := h.svc.RequestWalletSignIn(ctx, dev, w.address())
	if err != nil {
		t.Fatal(err)
	}
	if ch.Message == first.Message {
		t.Fatal("two challenges with one message")
	}
	before := len(h.facts(flows.KindWalletFailed))
	for i, c := range []struct{ name, sig string }{
		{"another key", other.sign(ch.Message)},
		{"another message", w.sign(ch.Message + "\n")},
		{"the device's older challenge", w.sign(first.Message)},
		{"bad encoding", "0xnot-hex"},
		{"too short", w.sign(ch.Message)[:100]},
		{"a contract wallet's (EIP-1271)", w.sign(ch.Message) + strings.Repeat("ab", 30)},
		{"another key, v as 0 or 1", strings.TrimSuffix(strings.TrimSuffix(other.sign(ch.Message), "1b"), "1c") + "00"},
	} {
		head := h.head()
		_, err := h.svc.SubmitSignature(ctx, dev, c.sig)
		if i >= flows.WalletTries {
			// The challenge is used up by the refusals, and no more of
			// them are written.
			wantProblem(t, err, flows.ProblemCodeUsed)
			if h.head() != head {
				t.Errorf("%s: a refusal after the tries wrote facts", c.name)
			}
			continue
		}
		p := wantProblem(t, err, flows.ProblemWrongSignature)
		if p.Msg == "" || strings.Contains(p.Msg, "%!") {
			t.Errorf("%s: message %q", c.name, p.Msg)
		}
		// Nothing changes but the failure being recorded.
		if got := h.head(); got != head+1 {
			t.Errorf("%s: %d facts written", c.name, got-head)
		}
		if h.visit(dev).Account {
			t.Fatalf("%s signed the device in", c.name)
		}
	}
	if got := len(h.facts(flows.KindWalletFailed)) - before; got != flows.WalletTries {
		t.Errorf("%d failures recorded, want %d (the tries)", got, flows.WalletTries)
	}
	// The challenge is used up by the failures: even the right signature
	// is refused now.
	_, err = h.svc.SubmitSignature(ctx, dev, w.sign(ch.Message))
	wantProblem(t, err, flows.ProblemCodeUsed)

	// A fresh challenge works; a signature too long to be one is refused
	// before anything is read.
	ch, err = h.svc.RequestWalletSignIn(ctx, dev, w.address())
	if err != nil {
		t.Fatal(err)
	}
	head := h.head()
	_, err = h.svc.SubmitSignature(ctx, dev, strings.Repeat("a", 10000))
	wantProblem(t, err, flows.ProblemInput)
	if h.head() != head {
		t.Error("an oversized signature wrote facts")
	}
	if _, err := h.svc.SubmitSignature(ctx, dev, w.sign(ch.Message)); err != nil {
		t.Fatal(err)
	}
}

func TestWalletReplayAndExpiry(t *testing.T) {
	h := newHarness(t, flows.Policy{})
	w := newEthKey(t, 1)
	dev := device("d")
	ch, err := h.svc.RequestWalletSignIn(ctx, dev, w.address())
	if err != nil {
		t.Fatal(err)
	}
	sig := w.sign(ch.Message)
	if _, err := h.svc.SubmitSignature(ctx, dev, sig); err != nil {
		t.Fatal(err)
	}
	if err := h.svc.SignOut(ctx, dev); err != nil {
		t.Fatal(err)
	}
	// Replay: the same signature again, on the same device.
	_, err = h.svc.SubmitSignature(ctx, dev, sig)
	wantProblem(t, err, flows.ProblemCodeUsed)
	if h.visit(dev).Account {
		t.Fatal("a replayed signature signed the device in")
	}

	// Expiry, on the test clock: a second before the end works, at the
	// end it does not.
	ch, err = h.svc.RequestWalletSignIn(ctx, dev, w.address())
	if err != nil {
		t.Fatal(err)
	}
	h.clock.Advance(flows.WalletTTL)
	_, err = h.svc.SubmitSignature(ctx, dev, w.sign(ch.Message))
	p := wantProblem(t, err, flows.ProblemCodeUsed)
	if !strings.Contains(p.Msg, "expired") {
		t.Errorf("expiry message %q", p.Msg)
	}
	ch, err = h.svc.RequestWalletSignIn(ctx, dev, w.address())
	if err != nil {
		t.Fatal(err)
	}
	h.clock.Advance(flows.WalletTTL - time.Second)
	if _, err := h.svc.SubmitSignature(ctx, dev, w.sign(ch.Message)); err != nil {
		t.Fatalf("a second before expiry: %v", err)
	}
}

// TestWalletRace: the challenge is bound to the device that asked, and
// used once: of many submissions of one signature, from that device and
// from another, exactly one signs in.
func TestWalletRace(t *testing.T) {
	h := newHarness(t, flows.Policy{})
	w := newEthKey(t, 1)
	a, b := device("a"), device("b")
	ch, err := h.svc.RequestWalletSignIn(ctx, a, w.address())
	if err != nil {
		t.Fatal(err)
	}
	// b asks for its own challenge for the same wallet: a's signature is
	// not an answer to it.
	if _, err := h.svc.RequestWalletSignIn(ctx, b, w.address()); err != nil {
		t.Fatal(err)
	}
	sig := w.sign(ch.Message)
	var wg sync.WaitGroup
	var mu sync.Mutex
	wins := map[string]int{}
	for i := range 8 {
		dev := a
		if i%2 == 1 {
			dev = b
		}
		wg.Go(func() {
			_, err := h.svc.SubmitSignature(ctx, dev, sig)
			mu.Lock()
			defer mu.Unlock()
			if err == nil {
				wins[dev.Tag]++
			} else if _, ok := flows.AsProblem(err); !ok {
				t.Errorf("submit: %v", err)
			}
		})
	}
	wg.Wait()
	if len(wins) != 1 || wins[a.Tag] != 1 {
		t.Fatalf("wins %v, want one, by a", wins)
	}
	if h.visit(b).Account || !h.visit(a).Account {
		t.Fatal("b signed in, or a did not")
	}
	if n := len(h.facts(flows.KindWalletSigned)); n != 1 {
		t.Fatalf("%d signed facts", n)
	}
}

func TestWalletChallengeLimits(t *testing.T) {
	h := newHarness(t, flows.Policy{})
	dev := device("d")
	// Per device: ten an hour, whatever the address.
	for i := range flows.WalletChallengesPerHour {
		if _, err := h.svc.RequestWalletSignIn(ctx, dev, newEthKey(t, byte(i+1)).address()); err != nil {
			t.Fatalf("challenge %d: %v", i+1, err)
		}
		h.clock.Advance(time.Minute)
	}
	head := h.head()
	_, err := h.svc.RequestWalletSignIn(ctx, dev, newEthKey(t, 99).address())
	p := wantProblem(t, err, flows.ProblemThrottled)
	if !p.RetryAt.Equal(start.Add(time.Hour)) || !strings.Contains(p.Msg, "this device") || h.head() != head {
		t.Fatalf("throttled until %s: %s", p.RetryAt, p.Msg)
	}
	h.clock.Set(start.Add(time.Hour))
	if _, err := h.svc.RequestWalletSignIn(ctx, dev, newEthKey(t, 99).address()); err != nil {
		t.Fatalf("an hour later: %v", err)
	}

	// Per address: ten an hour, whatever the device.
	w := newEdKey(7, 42, true)
	for i := range flows.WalletChallengesPerHour {
		if _, err := h.svc.RequestWalletSignIn(ctx, device("other-"+string(rune('a'+i))), w.address()); err != nil {
			t.Fatalf("challenge %d: %v", i+1, err)
		}
	}
	_, err = h.svc.RequestWalletSignIn(ctx, device("z"), w.address())
	p = wantProblem(t, err, flows.ProblemThrottled)
	if !strings.Contains(p.Msg, "one address") {
		t.Errorf("message %q", p.Msg)
	}
}

func TestWalletAddresses(t *testing.T) {
	h := newHarness(t, flows.Policy{})
	dev := device("d")
	for in, want := range map[string]string{
		"0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAeD":         "the checksum does not match; check the address",
		"5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQZ":   "checksum",
		"0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeA":           "40 hex digits",
		"5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY0l": "base58",
	} {
		_, err := h.svc.RequestWalletSignIn(ctx, dev, in)
		p := wantProblem(t, err, flows.ProblemInput)
		if !strings.Contains(p.Msg, want) {
			t.Errorf("%s: %q", in, p.Msg)
		}
	}
	// A wallet gets no code and no link.
	for _, f := range []func() error{
		func() error { _, err := h.svc.RequestSignIn(ctx, dev, newEthKey(t, 1).address()); return err },
		func() error { _, err := h.svc.RequestMagicLink(ctx, dev, newEdKey(1, 42, false).address()); return err },
	} {
		p := wantProblem(t, f(), flows.ProblemInput)
		if !strings.Contains(p.Msg, "wallet address") {
			t.Errorf("message %q", p.Msg)
		}
	}
	if h.head() != 0 {
		t.Errorf("refused input wrote %d facts", h.head())
	}
}

func TestAddWalletAndStepUpWithIt(t *testing.T) {
	h := newHarness(t, flows.Policy{})
	dev := device("d")
	h.signIn(dev, "ada@example.com") // signed up: stepped up for the first hour
	w := newEdKey(1, 42, true)
	ch, err := h.svc.AddWallet(ctx, dev, w.address())
	if err != nil {
		t.Fatal(err)
	}
	if ch.Purpose != flows.PurposeConfirm || !strings.Contains(ch.Message, "\n\nAdd this wallet to your attest account.\n\n") {
		t.Fatalf("challenge %+v", ch)
	}
	out, err := h.svc.SubmitSignature(ctx, dev, w.sign(ch.Message))
	if err != nil {
		t.Fatal(err)
	}
	if out.Purpose != flows.PurposeConfirm || out.SignedUp || out.Address != w.address() {
		t.Fatalf("%+v", out)
	}
	var found bool
	for _, a := range out.Visitor.Addresses {
		found = found || (a.Display == w.address() && a.Confirmed && a.Method == "wallet")
	}
	if !found {
		t.Fatalf("wallet not confirmed: %+v", out.Visitor.Addresses)
	}
	// The account's email is told, with no secret in the message.
	h.svc.Wait()
	msgs := h.bag.to("ada@example.com")
	if last := msgs[len(msgs)-1]; !strings.Contains(last.Text, "SS58 wallet") {
		t.Errorf("notice %q", last.Text)
	}
	// Adding it again: nothing to do.
	_, err = h.svc.AddWallet(ctx, dev, w.address())
	wantProblem(t, err, flows.ProblemNothingToDo)

	// An hour later the step-up has lapsed: adding needs one, and the
	// wallet gives it.
	h.clock.Advance(time.Hour)
	_, err = h.svc.AddWallet(ctx, dev, newEthKey(t, 5).address())
	wantProblem(t, err, flows.ProblemStepUp)
	_, err = h.svc.RequestWalletStepUp(ctx, dev, newEthKey(t, 5).address())
	wantProblem(t, err, flows.ProblemInput) // not a wallet of the account
	ch, err = h.svc.RequestWalletStepUp(ctx, dev, "")
	if err != nil {
		t.Fatal(err)
	}
	if ch.Address != w.address() || ch.Purpose != flows.PurposeStepUp {
		t.Fatalf("step-up challenge %+v", ch)
	}
	out, err = h.svc.SubmitSignature(ctx, dev, w.sign(ch.Message))
	if err != nil {
		t.Fatal(err)
	}
	if !out.StepUpUntil.Equal(h.clock.Now().Add(time.Hour)) || !h.visit(dev).StepUpUntil.Equal(out.StepUpUntil) {
		t.Fatalf("stepped up until %s", out.StepUpUntil)
	}
	if _, err := h.svc.AddWallet(ctx, dev, newEthKey(t, 5).address()); err != nil {
		t.Fatalf("after a wallet step-up: %v", err)
	}
}

func TestWalletOneOwnerAndLastAddress(t *testing.T) {
	h := newHarness(t, flows.Policy{})
	w := newEthKey(t, 1)
	alice, bob := device("alice"), device("bob")
	h.walletSignIn(alice, w) // alice's account has only the wallet

	// The only way in cannot be unlinked.
	_, err := h.svc.UnlinkAddress(ctx, alice, w.address())
	wantProblem(t, err, flows.ProblemLastAddress)

	// Bob's account cannot take the wallet: confirmed elsewhere.
	h.signIn(bob, "bob@example.com")
	ch, err := h.svc.AddWallet(ctx, bob, w.address())
	if err != nil {
		t.Fatal(err)
	}
	_, err = h.svc.SubmitSignature(ctx, bob, w.sign(ch.Message))
	wantProblem(t, err, flows.ProblemSupport)
	if owner, err := h.svc.OwnerAt(ctx, w.address(), time.Time{}); err != nil || owner.User != h.visit(alice).User {
		t.Fatalf("owner %+v, %v", owner, err)
	}
	// The challenge was used by that signature all the same.
	_, err = h.svc.SubmitSignature(ctx, bob, w.sign(ch.Message))
	wantProblem(t, err, flows.ProblemCodeUsed)

	// With an email confirmed beside it, the wallet can go; history says so.
	iss, err := h.svc.AddAddress(ctx, alice, "alice@example.com")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.svc.EnterCode(ctx, alice, iss.Letter, h.codeOf(iss)); err != nil {
		t.Fatal(err)
	}
	if u, err := h.svc.UnlinkAddress(ctx, alice, strings.ToLower(w.address())); err != nil || !u.Changed {
		t.Fatalf("unlink the wallet: %+v, %v", u, err)
	}
	hist, err := h.svc.History(ctx, alice)
	if err != nil {
		t.Fatal(err)
	}
	var events []string
	for _, e := range hist {
		if e.Kind == address.Ethereum {
			events = append(events, e.Event+" "+e.Detail+" "+e.Display)
		}
	}
	want := []string{"added  " + w.address(), "confirmed wallet " + w.address(), "ended unlinked " + w.address()}
	if strings.Join(events, "|") != strings.Join(want, "|") {
		t.Fatalf("history %q", events)
	}
}

// A wallet is one more way in: an account with an authenticator app holds
// a wallet sign-in for its code, like every other.
func TestWalletSignInWaitsForTheAuthenticator(t *testing.T) {
	h := newHarness(t, flows.Policy{})
	desk := device("desk")
	secret, _ := h.enrolled(desk, "ada@example.com")
	w := newEthKey(t, 1)
	ch, err := h.svc.AddWallet(ctx, desk, w.address())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.svc.SubmitSignature(ctx, desk, w.sign(ch.Message)); err != nil {
		t.Fatal(err)
	}
	phone := device("phone")
	out := h.walletSignIn(phone, w)
	if out.Visitor.Account || out.Visitor.Waiting == nil || out.Visitor.Waiting.Method != flows.MethodWallet {
		t.Fatalf("a wallet sign-in was not held: %+v", out.Visitor)
	}
	if _, err := h.svc.Keys(ctx, phone); err == nil {
		t.Fatal("a waiting device read the account's keys")
	}
	h.clock.Advance(30 * time.Second)
	got, err := h.svc.EnterTOTP(ctx, phone, appCode(t, secret, h.clock.Now()))
	if err != nil {
		t.Fatal(err)
	}
	if !got.Visitor.Account || got.Visitor.Method != flows.MethodWallet {
		t.Fatalf("after the authenticator: %+v", got.Visitor)
	}
}

// An account with only a wallet gets no step-up code; the refusal says to
// sign instead, and signing steps the device up.
func TestWalletOnlyAccountStepsUpBySigning(t *testing.T) {
	h := newHarness(t, flows.Policy{})
	w := newSrKey(t, 3, true)
	dev := device("d")
	h.walletSignIn(dev, w)
	h.clock.Advance(time.Hour) // the sign-up's step-up lapses
	_, err := h.svc.RequestStepUp(ctx, dev)
	p := wantProblem(t, err, flows.ProblemInput)
	if !strings.Contains(p.Msg, "stepup --wallet") {
		t.Errorf("refusal %q", p.Msg)
	}
	ch, err := h.svc.RequestWalletStepUp(ctx, dev, "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.svc.SubmitSignature(ctx, dev, w.sign(ch.Message)); err != nil {
		t.Fatal(err)
	}
	if h.visit(dev).StepUpUntil.IsZero() {
		t.Fatal("not stepped up")
	}
}

// The chain id an operator configures is the one Ethereum messages name.
func TestWalletChainID(t *testing.T) {
	l, err := bolt.Open(filepath.Join(t.TempDir(), "attest.db"), bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	svc, err := flows.New(flows.Config{Ledger: l, Secret: []byte("0123456789abcdef0123456789abcdef-test-secret"),
		Clock: clock.NewFake(start), ChainID: 11155111, LinkBase: "https://id.example.org/"})
	if err != nil {
		t.Fatal(err)
	}
	ch, err := svc.RequestWalletSignIn(ctx, device("d"), newEthKey(t, 1).address())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(ch.Message, "id.example.org wants you to sign in") || !strings.Contains(ch.Message, "\nURI: https://id.example.org\n") ||
		!strings.Contains(ch.Message, "\nChain ID: 11155111\n") {
		t.Fatalf("message:\n%s", ch.Message)
	}
}
