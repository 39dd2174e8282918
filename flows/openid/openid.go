// Package openid is attest's side of OpenID Connect: a configured provider
// read through its discovery document, the two ways a terminal can reach
// it (the device authorization grant of RFC 8628, and the authorization
// code flow with PKCE through attest's own HTTP listener), and the
// verification of what comes back. It keeps nothing: no access or refresh
// token outlives the call that used it, and what to record is the flows'
// business.
//
// Tokens are verified with github.com/coreos/go-oidc (signature through
// the provider's JWKS, issuer, audience, expiry) and the nonce is compared
// here; the OAuth 2.0 requests go through golang.org/x/oauth2, except the
// device grant's single token poll, which that library only offers inside
// a loop that sleeps on the wall clock.
package openid

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

// Flows a provider can be used with.
const (
	FlowDevice = "device" // RFC 8628: the person enters a code at the provider
	FlowCode   = "code"   // authorization code with PKCE, back through /oidc/callback
)

// DefaultScopes are asked for when a provider's configuration names none.
var DefaultScopes = []string{oidc.ScopeOpenID, "email", "profile"}

// Config is one provider as the operator configured it.
type Config struct {
	// Name is what commands use (`signin --with google`): lower-case
	// letters, digits and dashes.
	Name string
	// DisplayName is what people read ("Google").
	DisplayName  string
	Issuer       string
	ClientID     string
	ClientSecret string
	Scopes       []string
	// Flow forces FlowDevice or FlowCode; empty means the device grant when
	// the provider offers it, the code flow otherwise.
	Flow string
}

// Limits on what a provider can make attest read or wait for: a provider
// is configured by the operator, but its answers still cross a network.
const (
	requestTimeout  = 15 * time.Second
	maxResponseSize = 1 << 20
)

// NewHTTPClient is the client providers are reached with: every request
// bounded in time, every response body in size.
func NewHTTPClient(base http.RoundTripper) *http.Client {
	if base == nil {
		base = http.DefaultTransport
	}
	return &http.Client{Timeout: requestTimeout, Transport: limitedTransport{base}}
}

type limitedTransport struct{ base http.RoundTripper }

func (t limitedTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := t.base.RoundTrip(r)
	if err != nil {
		return nil, err
	}
	resp.Body = limitedBody{io.LimitReader(resp.Body, maxResponseSize), resp.Body}
	return resp, nil
}

type limitedBody struct {
	io.Reader
	io.Closer
}

// Provider is a configured provider after discovery. A provider whose
// discovery failed is still a Provider: it says it is unavailable and why,
// so screens can list it and the log can say what went wrong.
type Provider struct {
	cfg    Config
	client *http.Client
	op     *oidc.Provider // nil when unavailable
	reason string
	flow   string
	// authMethods is token_endpoint_auth_methods_supported.
	authMethods []string
}

// Discover reads the provider's discovery document. It never fails: a
// provider that cannot be reached or answers nonsense comes back
// unavailable, with the reason.
func Discover(ctx context.Context, cfg Config, client *http.Client) *Provider {
	if client == nil {
		client = NewHTTPClient(nil)
	}
	if len(cfg.Scopes) == 0 {
		cfg.Scopes = DefaultScopes
	}
	p := &Provider{cfg: cfg, client: client}
	op, err := oidc.NewProvider(oidc.ClientContext(ctx, client), cfg.Issuer)
	if err != nil {
		p.reason = fmt.Sprintf("discovery of %s failed: %v", cfg.Issuer, err)
		return p
	}
	var extra struct {
		AuthMethods []string `json:"token_endpoint_auth_methods_supported"`
		Challenges  []string `json:"code_challenge_methods_supported"`
	}
	if err := op.Claims(&extra); err != nil {
		p.reason = fmt.Sprintf("discovery document of %s: %v", cfg.Issuer, err)
		return p
	}
	ep := op.Endpoint()
	switch {
	case cfg.Flow == FlowDevice && ep.DeviceAuthURL == "":
		p.reason = "configured for the device grant, but the provider offers no device_authorization_endpoint"
	case cfg.Flow == FlowDevice || (cfg.Flow == "" && ep.DeviceAuthURL != ""):
		p.flow = FlowDevice
	case ep.AuthURL == "" || ep.TokenURL == "":
		p.reason = "the discovery document has no authorization or token endpoint"
	case len(extra.Challenges) > 0 && !slices.Contains(extra.Challenges, "S256"):
		// PKCE with S256 or nothing: plain would put the verifier in the URL.
		p.reason = "the provider does not offer PKCE with S256 (code_challenge_methods_supported)"
	default:
		p.flow = FlowCode
	}
	if p.reason != "" {
		return p
	}
	p.op, p.authMethods = op, extra.AuthMethods
	return p
}

// Name is the provider's name in commands.
func (p *Provider) Name() string { return p.cfg.Name }

// DisplayName is the provider's name for people.
func (p *Provider) DisplayName() string {
	if p.cfg.DisplayName != "" {
		return p.cfg.DisplayName
	}
	return p.cfg.Name
}

// Issuer is the configured issuer URL.
func (p *Provider) Issuer() string { return p.cfg.Issuer }

// Available reports whether discovery succeeded.
func (p *Provider) Available() bool { return p.op != nil }

// Reason says why the provider is unavailable.
func (p *Provider) Reason() string { return p.reason }

// Flow is the way this provider is used: FlowDevice or FlowCode ("" when
// unavailable).
func (p *Provider) Flow() string { return p.flow }

func (p *Provider) ctx(ctx context.Context) context.Context {
	return oidc.ClientContext(ctx, p.client)
}

func (p *Provider) oauth(redirect string) *oauth2.Config {
	ep := p.op.Endpoint()
	// Secret in the Authorization header unless the provider says it only
	// takes it in the body; a public client (no secret) sends only its id.
	ep.AuthStyle = oauth2.AuthStyleInHeader
	if p.cfg.ClientSecret == "" || (len(p.authMethods) > 0 && !slices.Contains(p.authMethods, "client_secret_basic")) {
		ep.AuthStyle = oauth2.AuthStyleInParams
	}
	return &oauth2.Config{ClientID: p.cfg.ClientID, ClientSecret: p.cfg.ClientSecret, Endpoint: ep,
		RedirectURL: redirect, Scopes: p.cfg.Scopes}
}

// ErrUnavailable is returned by every request to an unavailable provider.
var ErrUnavailable = errors.New("provider unavailable")

func (p *Provider) check() error {
	if p.op == nil {
		return fmt.Errorf("%s: %w: %s", p.cfg.Name, ErrUnavailable, p.reason)
	}
	return nil
}

// Tokens is a token response, held only while verifying it.
type Tokens struct {
	IDToken string
	access  *oauth2.Token
}

// Denied is the provider's refusal: the person said no (access_denied), or
// another OAuth error the provider named.
type Denied struct {
	Code        string // "access_denied", "expired_token", ...
	Description string
}

func (d *Denied) Error() string {
	if d.Description != "" {
		return fmt.Sprintf("the provider answered %s: %s", d.Code, d.Description)
	}
	return "the provider answered " + d.Code
}

// AuthURL is where the code flow sends the person: the provider's
// authorization endpoint with state, nonce and the PKCE challenge of
// verifier. fresh asks the provider to make the person sign in again
// (prompt=login, max_age=0), for a step-up.
func (p *Provider) AuthURL(redirect, state, nonce, verifier string, fresh bool) (string, error) {
	if err := p.check(); err != nil {
		return "", err
	}
	opts := []oauth2.AuthCodeOption{oidc.Nonce(nonce), oauth2.S256ChallengeOption(verifier)}
	if fresh {
		opts = append(opts, oauth2.SetAuthURLParam("prompt", "login"), oauth2.SetAuthURLParam("max_age", "0"))
	}
	return p.oauth(redirect).AuthCodeURL(state, opts...), nil
}

// Exchange trades an authorization code for tokens, proving the PKCE
// verifier.
func (p *Provider) Exchange(ctx context.Context, redirect, code, verifier string) (Tokens, error) {
	if err := p.check(); err != nil {
		return Tokens{}, err
	}
	tok, err := p.oauth(redirect).Exchange(p.ctx(ctx), code, oauth2.VerifierOption(verifier))
	if err != nil {
		if re, ok := errors.AsType[*oauth2.RetrieveError](err); ok && re.ErrorCode != "" {
			return Tokens{}, &Denied{Code: re.ErrorCode, Description: re.ErrorDescription}
		}
		return Tokens{}, fmt.Errorf("exchange the code at %s: %w", p.cfg.Name, err)
	}
	return tokensOf(tok)
}

func tokensOf(tok *oauth2.Token) (Tokens, error) {
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		return Tokens{}, &VerifyError{Reason: "the token response has no ID token"}
	}
	return Tokens{IDToken: raw, access: tok}, nil
}

// Unavailable is a configured provider that cannot be used at all (its
// secret could not be read, say), listed with the reason.
func Unavailable(cfg Config, reason string) *Provider {
	return &Provider{cfg: cfg, reason: reason}
}
