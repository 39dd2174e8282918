package openid

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/attest-dev/attest/internal/oidctest"
)

const callback = "http://127.0.0.1:1/oidc/callback"

func newOP(t *testing.T, claimsInIDToken bool) *oidctest.OP {
	t.Helper()
	op, err := oidctest.New(oidctest.Options{
		Clients: []oidctest.Client{
			{ID: "attest", Secret: "s3cret", RedirectURIs: []string{callback}, ClaimsInIDToken: claimsInIDToken},
			{ID: "other", Secret: "other-secret", RedirectURIs: []string{callback}},
		},
		Users: []oidctest.User{{Subject: "u-1001", Username: "ada", Password: "pw", Email: "ada@example.com", EmailVerified: true, Name: "Ada"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { op.Close() })
	return op
}

func discover(t *testing.T, op *oidctest.OP, client, secret, flow string) *Provider {
	t.Helper()
	p := Discover(context.Background(), Config{Name: "test", Issuer: op.Issuer, ClientID: client, ClientSecret: secret, Flow: flow}, nil)
	if !p.Available() {
		t.Fatalf("provider unavailable: %s", p.Reason())
	}
	return p
}

// deviceTokens runs the device grant to the end: the person approves on
// the verification page, the poll gets tokens.
func deviceTokens(t *testing.T, op *oidctest.OP, p *Provider) Tokens {
	t.Helper()
	ctx := context.Background()
	st, err := p.StartDevice(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.PollDevice(ctx, st.DeviceCode); !errors.Is(err, ErrPending) {
		t.Fatalf("poll before approval: %v, want ErrPending", err)
	}
	if err := oidctest.NewBrowser("").Approve(st.VerificationURIComplete, st.UserCode, "ada", "pw", false); err != nil {
		t.Fatal(err)
	}
	tok, err := p.PollDevice(ctx, st.DeviceCode)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func TestDeviceGrant(t *testing.T) {
	op := newOP(t, false)
	p := discover(t, op, "attest", "s3cret", "")
	if p.Flow() != FlowDevice {
		t.Fatalf("flow %q, want device (the provider offers it)", p.Flow())
	}
	st, err := p.StartDevice(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if st.UserCode == "" || !strings.HasPrefix(st.VerificationURI, op.Issuer+"/device") ||
		!strings.Contains(st.VerificationURIComplete, "user_code=") || st.Interval != 5*time.Second || st.ExpiresIn != 5*time.Minute {
		t.Fatalf("device start %+v", st)
	}
	tok := deviceTokens(t, op, p)
	id, err := p.Identify(context.Background(), tok, "", time.Now)
	if err != nil {
		t.Fatal(err)
	}
	// The ID token lacks the email (an access token was issued): it came
	// from UserInfo, and the identity says so.
	if id.Issuer != op.Issuer || id.Subject != "u-1001" || id.Email != "ada@example.com" || !id.EmailVerified {
		t.Fatalf("identity %+v", id)
	}
	if !strings.Contains(strings.Join(id.Claims, ","), "email (userinfo)") || id.AuthTime.IsZero() {
		t.Fatalf("claims %v, auth time %v", id.Claims, id.AuthTime)
	}
}

func TestDeviceGrantDeniedSlowDownAndExpired(t *testing.T) {
	op := newOP(t, false)
	p := discover(t, op, "attest", "s3cret", "")
	ctx := context.Background()

	st, err := p.StartDevice(ctx)
	if err != nil {
		t.Fatal(err)
	}
	op.SlowDown(1)
	if _, err := p.PollDevice(ctx, st.DeviceCode); !errors.Is(err, ErrSlowDown) {
		t.Fatalf("poll: %v, want ErrSlowDown", err)
	}
	if got := SlowDown(st.Interval); got != 10*time.Second {
		t.Fatalf("interval after slow_down %v, want 10s", got)
	}
	if err := oidctest.NewBrowser("").Approve(st.VerificationURI, st.UserCode, "ada", "pw", true); err != nil {
		t.Fatal(err)
	}
	var d *Denied
	if _, err := p.PollDevice(ctx, st.DeviceCode); !errors.As(err, &d) || d.Code != "access_denied" {
		t.Fatalf("poll after denial: %v, want access_denied", err)
	}

	st, err = p.StartDevice(ctx)
	if err != nil {
		t.Fatal(err)
	}
	op.ExpireDeviceCodes()
	if _, err := p.PollDevice(ctx, st.DeviceCode); !errors.As(err, &d) || d.Code != "expired_token" {
		t.Fatalf("poll after expiry: %v, want expired_token", err)
	}
}

// codeFlow runs the authorization code flow through the login page and
// returns the code the provider sent back, after checking the state.
func codeFlow(t *testing.T, p *Provider, state, nonce, verifier string, fresh, deny bool) (code string, errCode string) {
	t.Helper()
	u, err := p.AuthURL(callback, state, nonce, verifier, fresh)
	if err != nil {
		t.Fatal(err)
	}
	back, err := oidctest.NewBrowser(callback).SignIn(u, "ada", "pw", deny)
	if err != nil {
		t.Fatal(err)
	}
	if got := back.Query().Get("state"); got != state {
		t.Fatalf("state %q came back, want %q", got, state)
	}
	return back.Query().Get("code"), back.Query().Get("error")
}

const verifier = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFG"

func TestCodeFlowWithPKCE(t *testing.T) {
	op := newOP(t, true)
	p := discover(t, op, "attest", "s3cret", FlowCode)
	code, _ := codeFlow(t, p, "st-1", "n-1", verifier, true, false)
	req := op.LastAuthRequest()
	if req.CodeChallengeMethod != "S256" || req.Nonce != "n-1" || strings.Join(req.Prompt, " ") != "login" || req.MaxAge == nil || *req.MaxAge != 0 {
		t.Fatalf("authorization request %+v", req)
	}
	// The code alone is worth nothing: without the verifier the provider
	// refuses it (PKCE).
	var d *Denied
	if _, err := p.Exchange(context.Background(), callback, code, strings.Repeat("x", 43)); !errors.As(err, &d) {
		t.Fatalf("exchange with a wrong verifier: %v, want a refusal", err)
	}
	code, _ = codeFlow(t, p, "st-2", "n-2", verifier, false, false)
	tok, err := p.Exchange(context.Background(), callback, code, verifier)
	if err != nil {
		t.Fatal(err)
	}
	id, err := p.Identify(context.Background(), tok, "n-2", time.Now)
	if err != nil {
		t.Fatal(err)
	}
	if id.Subject != "u-1001" || id.Email != "ada@example.com" || !id.EmailVerified || !strings.Contains(strings.Join(id.Claims, ","), "email_verified") {
		t.Fatalf("identity %+v", id)
	}
	// A nonce that is not this sign-in's is refused.
	var ve *VerifyError
	if _, err := p.Identify(context.Background(), tok, "n-other", time.Now); !errors.As(err, &ve) || !strings.Contains(ve.Reason, "nonce") {
		t.Fatalf("identify with another nonce: %v", err)
	}
	// Expired: the same token an hour and a minute later.
	later := func() time.Time { return time.Now().Add(61 * time.Minute) }
	if _, err := p.Identify(context.Background(), tok, "n-2", later); !errors.As(err, &ve) || !strings.Contains(ve.Reason, "expired") {
		t.Fatalf("identify an expired token: %v", err)
	}
}

func TestCodeFlowDeniedAndForgedNonce(t *testing.T) {
	op := newOP(t, true)
	p := discover(t, op, "attest", "s3cret", FlowCode)
	if code, errCode := codeFlow(t, p, "st-d", "n", verifier, false, true); code != "" || errCode != "access_denied" {
		t.Fatalf("denied consent came back with code %q error %q", code, errCode)
	}
	op.ForgeNonce("n-forged")
	code, _ := codeFlow(t, p, "st-n", "n-real", verifier, false, false)
	tok, err := p.Exchange(context.Background(), callback, code, verifier)
	if err != nil {
		t.Fatal(err)
	}
	var ve *VerifyError
	if _, err := p.Identify(context.Background(), tok, "n-real", time.Now); !errors.As(err, &ve) || !strings.Contains(ve.Reason, "nonce") {
		t.Fatalf("identify with a forged nonce: %v", err)
	}
}

func TestBadSignatureAndWrongAudience(t *testing.T) {
	op := newOP(t, false)
	attest := discover(t, op, "attest", "s3cret", "")
	other := discover(t, op, "other", "other-secret", "")

	// A token the provider issued to another client is not for attest.
	tok := deviceTokens(t, op, other)
	var ve *VerifyError
	if _, err := attest.Identify(context.Background(), tok, "", time.Now); !errors.As(err, &ve) || !strings.Contains(ve.Reason, "audience") {
		t.Fatalf("identify another client's token: %v", err)
	}
	if _, err := other.Identify(context.Background(), tok, "", time.Now); err != nil {
		t.Fatalf("the token is good for its own client: %v", err)
	}

	if err := op.SignWithUnpublishedKey(); err != nil {
		t.Fatal(err)
	}
	tok = deviceTokens(t, op, attest)
	if _, err := attest.Identify(context.Background(), tok, "", time.Now); !errors.As(err, &ve) || !strings.Contains(ve.Reason, "signature") {
		t.Fatalf("identify a token signed with an unpublished key: %v", err)
	}
}

func TestProviderDown(t *testing.T) {
	op := newOP(t, false)
	issuer := op.Issuer
	op.Close()
	p := Discover(context.Background(), Config{Name: "down", Issuer: issuer, ClientID: "attest"}, nil)
	if p.Available() || !strings.Contains(p.Reason(), "discovery of "+issuer+" failed") {
		t.Fatalf("available %v, reason %q", p.Available(), p.Reason())
	}
	if _, err := p.StartDevice(context.Background()); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("start on an unavailable provider: %v", err)
	}

	// Up at discovery, down when polled: a transport error, not a verdict.
	op = newOP(t, false)
	p = discover(t, op, "attest", "s3cret", "")
	st, err := p.StartDevice(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	op.Close()
	var d *Denied
	if _, err := p.PollDevice(context.Background(), st.DeviceCode); err == nil || errors.As(err, &d) || errors.Is(err, ErrPending) {
		t.Fatalf("poll of a provider that went away: %v", err)
	}
}
