// Package oidctest runs a real OpenID Provider on loopback for attest's
// tests: github.com/zitadel/oidc's op package (discovery, JWKS, the
// authorization code flow with PKCE, the device authorization grant,
// UserInfo) over a small in-memory storage, with a login page and a device
// verification page that a browser or an HTTP client can fill in.
//
// Only tests import it. Its knobs make the provider misbehave the way the
// negative tests need: sign with a key it does not publish, put another
// nonce in the ID token, answer slow_down, or go away.
package oidctest

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"html/template"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"
	"golang.org/x/text/language"
)

// User is an account at the provider.
type User struct {
	Subject       string
	Username      string
	Password      string
	Email         string
	EmailVerified bool
	Name          string
}

// Client is a registered client.
type Client struct {
	ID           string
	Secret       string
	RedirectURIs []string
	// ClaimsInIDToken puts email and profile claims into the ID token even
	// when an access token is issued (many providers do not, and attest
	// must then ask UserInfo).
	ClaimsInIDToken bool
}

// OP is a running provider.
type OP struct {
	Issuer string
	srv    *http.Server
	ln     net.Listener
	st     *storage
}

// Options configure New.
type Options struct {
	Clients []Client
	Users   []User
	// PollInterval is the device grant's interval (default 5 s).
	PollInterval time.Duration
	// DeviceLifetime is how long device codes live (default 5 min).
	DeviceLifetime time.Duration
}

// New starts a provider on 127.0.0.1 at a free port.
func New(opts Options) (*OP, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	issuer := "http://" + ln.Addr().String()
	st, err := newStorage(opts)
	if err != nil {
		ln.Close()
		return nil, err
	}
	if opts.PollInterval == 0 {
		opts.PollInterval = 5 * time.Second
	}
	if opts.DeviceLifetime == 0 {
		opts.DeviceLifetime = 5 * time.Minute
	}
	cfg := &op.Config{
		CryptoKey:                sha256.Sum256([]byte(issuer)),
		CodeMethodS256:           true,
		AuthMethodPost:           true,
		SupportedUILocales:       []language.Tag{language.English},
		DefaultLogoutRedirectURI: "/",
		DeviceAuthorization: op.DeviceAuthorizationConfig{
			Lifetime:     opts.DeviceLifetime,
			PollInterval: opts.PollInterval,
			UserFormPath: "/device",
			UserCode:     op.UserCodeBase20,
		},
	}
	provider, err := op.NewProvider(cfg, st, op.StaticIssuer(issuer), op.WithAllowInsecure())
	if err != nil {
		ln.Close()
		return nil, fmt.Errorf("oidctest: %w", err)
	}
	st.callback = op.AuthCallbackURL(provider)
	st.provider = provider
	mux := http.NewServeMux()
	mux.HandleFunc("/login", st.login)
	mux.HandleFunc("/device", st.device)
	mux.Handle("/", provider)
	o := &OP{Issuer: issuer, ln: ln, st: st,
		srv: &http.Server{Handler: op.NewIssuerInterceptor(provider.IssuerFromRequest).Handler(mux), ReadHeaderTimeout: 5 * time.Second}}
	go o.srv.Serve(ln)
	return o, nil
}

// Close stops the provider: requests to it fail from then on.
func (o *OP) Close() error { return o.srv.Close() }

// SignWithUnpublishedKey makes the provider sign ID tokens with a key its
// JWKS does not list: a forged token, as attest sees it.
func (o *OP) SignWithUnpublishedKey() error {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return err
	}
	o.st.mu.Lock()
	o.st.signing = &signingKey{id: o.st.published.id, key: k}
	o.st.mu.Unlock()
	return nil
}

// ForgeNonce makes the provider put another nonce than the one asked for
// into the ID tokens of the code flow.
func (o *OP) ForgeNonce(nonce string) {
	o.st.mu.Lock()
	o.st.nonce = nonce
	o.st.mu.Unlock()
}

// SlowDown makes the next n device polls answer slow_down.
func (o *OP) SlowDown(n int) {
	o.st.mu.Lock()
	o.st.slowDown = n
	o.st.mu.Unlock()
}

// Polls counts device token polls so far.
func (o *OP) Polls() int {
	o.st.mu.Lock()
	defer o.st.mu.Unlock()
	return o.st.polls
}

// LastAuthRequest returns the query of the newest authorization request
// (prompt, max_age, code_challenge_method, ...).
func (o *OP) LastAuthRequest() *oidc.AuthRequest {
	o.st.mu.Lock()
	defer o.st.mu.Unlock()
	return o.st.lastAuth
}

type signingKey struct {
	id  string
	key *rsa.PrivateKey
}

func (s *signingKey) SignatureAlgorithm() jose.SignatureAlgorithm { return jose.RS256 }
func (s *signingKey) Key() any                                    { return s.key }
func (s *signingKey) ID() string                                  { return s.id }

type publicKey struct{ *signingKey }

func (p publicKey) Algorithm() jose.SignatureAlgorithm { return jose.RS256 }
func (p publicKey) Use() string                        { return "sig" }
func (p publicKey) Key() any                           { return &p.key.PublicKey }

type authRequest struct {
	id       string
	req      *oidc.AuthRequest
	subject  string
	done     bool
	authTime time.Time
	nonce    string
}

func (a *authRequest) GetID() string          { return a.id }
func (a *authRequest) GetACR() string         { return "" }
func (a *authRequest) GetAMR() []string       { return []string{"pwd"} }
func (a *authRequest) GetAudience() []string  { return []string{a.req.ClientID} }
func (a *authRequest) GetAuthTime() time.Time { return a.authTime }
func (a *authRequest) GetClientID() string    { return a.req.ClientID }
func (a *authRequest) GetCodeChallenge() *oidc.CodeChallenge {
	if a.req.CodeChallenge == "" {
		return nil
	}
	return &oidc.CodeChallenge{Challenge: a.req.CodeChallenge, Method: a.req.CodeChallengeMethod}
}
func (a *authRequest) GetNonce() string                   { return a.nonce }
func (a *authRequest) GetRedirectURI() string             { return a.req.RedirectURI }
func (a *authRequest) GetResponseType() oidc.ResponseType { return a.req.ResponseType }
func (a *authRequest) GetResponseMode() oidc.ResponseMode { return a.req.ResponseMode }
func (a *authRequest) GetScopes() []string                { return a.req.Scopes }
func (a *authRequest) GetState() string                   { return a.req.State }
func (a *authRequest) GetSubject() string                 { return a.subject }
func (a *authRequest) Done() bool                         { return a.done }

type deviceEntry struct {
	userCode string
	state    *op.DeviceAuthorizationState
}

type token struct {
	subject  string
	clientID string
	scopes   []string
	expires  time.Time
}

type storage struct {
	mu        sync.Mutex
	clients   map[string]Client
	users     []User
	published *signingKey
	signing   *signingKey
	requests  map[string]*authRequest
	codes     map[string]string
	tokens    map[string]*token
	devices   map[string]*deviceEntry // by device code
	userCodes map[string]string       // user code -> device code
	nonce     string
	slowDown  int
	polls     int
	lastAuth  *oidc.AuthRequest
	callback  func(context.Context, string) string
	provider  *op.Provider
}

func newStorage(opts Options) (*storage, error) {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	key := &signingKey{id: "k1", key: k}
	st := &storage{clients: map[string]Client{}, users: opts.Users, published: key, signing: key,
		requests: map[string]*authRequest{}, codes: map[string]string{}, tokens: map[string]*token{},
		devices: map[string]*deviceEntry{}, userCodes: map[string]string{}}
	for _, c := range opts.Clients {
		st.clients[c.ID] = c
	}
	return st, nil
}

func randomID() string {
	b := make([]byte, 16)
	rand.Read(b)
	return hex.EncodeToString(b)
}

var errNotFound = errors.New("not found")

func (s *storage) userByName(name, password string) (User, bool) {
	for _, u := range s.users {
		if u.Username == name && u.Password == password {
			return u, true
		}
	}
	return User{}, false
}

func (s *storage) userBySubject(sub string) (User, bool) {
	for _, u := range s.users {
		if u.Subject == sub {
			return u, true
		}
	}
	return User{}, false
}

// op.AuthStorage

func (s *storage) CreateAuthRequest(_ context.Context, req *oidc.AuthRequest, _ string) (op.AuthRequest, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := &authRequest{id: randomID(), req: req, nonce: req.Nonce}
	if s.nonce != "" {
		a.nonce = s.nonce
	}
	s.requests[a.id] = a
	s.lastAuth = req
	return a, nil
}

func (s *storage) AuthRequestByID(_ context.Context, id string) (op.AuthRequest, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if a, ok := s.requests[id]; ok {
		return a, nil
	}
	return nil, errNotFound
}

func (s *storage) AuthRequestByCode(ctx context.Context, code string) (op.AuthRequest, error) {
	s.mu.Lock()
	id, ok := s.codes[code]
	s.mu.Unlock()
	if !ok {
		return nil, errNotFound
	}
	return s.AuthRequestByID(ctx, id)
}

func (s *storage) SaveAuthCode(_ context.Context, id, code string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.codes[code] = id
	return nil
}

func (s *storage) DeleteAuthRequest(_ context.Context, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.requests, id)
	for code, rid := range s.codes {
		if rid == id {
			delete(s.codes, code)
		}
	}
	return nil
}

func (s *storage) CreateAccessToken(_ context.Context, req op.TokenRequest) (string, time.Time, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	clientID := ""
	switch r := req.(type) {
	case *authRequest:
		clientID = r.req.ClientID
	case *op.DeviceAuthorizationState:
		clientID = r.ClientID
	}
	id := randomID()
	exp := time.Now().Add(5 * time.Minute)
	s.tokens[id] = &token{subject: req.GetSubject(), clientID: clientID, scopes: req.GetScopes(), expires: exp}
	return id, exp, nil
}

func (s *storage) CreateAccessAndRefreshTokens(ctx context.Context, req op.TokenRequest, _ string) (string, string, time.Time, error) {
	id, exp, err := s.CreateAccessToken(ctx, req)
	return id, "", exp, err
}

func (s *storage) TokenRequestByRefreshToken(context.Context, string) (op.RefreshTokenRequest, error) {
	return nil, op.ErrInvalidRefreshToken
}
func (s *storage) TerminateSession(context.Context, string, string) error { return nil }
func (s *storage) RevokeToken(context.Context, string, string, string) *oidc.Error {
	return nil
}
func (s *storage) GetRefreshTokenInfo(context.Context, string, string) (string, string, error) {
	return "", "", op.ErrInvalidRefreshToken
}

func (s *storage) SigningKey(context.Context) (op.SigningKey, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.signing, nil
}

func (s *storage) SignatureAlgorithms(context.Context) ([]jose.SignatureAlgorithm, error) {
	return []jose.SignatureAlgorithm{jose.RS256}, nil
}

func (s *storage) KeySet(context.Context) ([]op.Key, error) {
	return []op.Key{publicKey{s.published}}, nil
}

// op.OPStorage

type client struct{ c Client }

func (c client) GetID() string                       { return c.c.ID }
func (c client) RedirectURIs() []string              { return c.c.RedirectURIs }
func (c client) PostLogoutRedirectURIs() []string    { return nil }
func (c client) ApplicationType() op.ApplicationType { return op.ApplicationTypeWeb }
func (c client) AuthMethod() oidc.AuthMethod {
	if c.c.Secret == "" {
		return oidc.AuthMethodNone
	}
	return oidc.AuthMethodBasic
}
func (c client) ResponseTypes() []oidc.ResponseType {
	return []oidc.ResponseType{oidc.ResponseTypeCode}
}
func (c client) GrantTypes() []oidc.GrantType {
	return []oidc.GrantType{oidc.GrantTypeCode, oidc.GrantTypeDeviceCode}
}
func (c client) LoginURL(id string) string           { return "/login?authRequestID=" + url.QueryEscape(id) }
func (c client) AccessTokenType() op.AccessTokenType { return op.AccessTokenTypeBearer }
func (c client) IDTokenLifetime() time.Duration      { return time.Hour }
func (c client) DevMode() bool                       { return true }
func (c client) RestrictAdditionalIdTokenScopes() func([]string) []string {
	return func(s []string) []string { return s }
}
func (c client) RestrictAdditionalAccessTokenScopes() func([]string) []string {
	return func(s []string) []string { return s }
}
func (c client) IsScopeAllowed(string) bool           { return false }
func (c client) IDTokenUserinfoClaimsAssertion() bool { return c.c.ClaimsInIDToken }
func (c client) ClockSkew() time.Duration             { return 0 }

func (s *storage) GetClientByClientID(_ context.Context, id string) (op.Client, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.clients[id]
	if !ok {
		return nil, errNotFound
	}
	return client{c}, nil
}

func (s *storage) AuthorizeClientIDSecret(_ context.Context, id, secret string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.clients[id]
	if !ok || c.Secret != secret {
		return errors.New("invalid client")
	}
	return nil
}

func (s *storage) setUserinfo(info *oidc.UserInfo, subject string, scopes []string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.userBySubject(subject)
	if !ok {
		return errNotFound
	}
	for _, sc := range scopes {
		switch sc {
		case oidc.ScopeOpenID:
			info.Subject = u.Subject
		case oidc.ScopeEmail:
			info.Email, info.EmailVerified = u.Email, oidc.Bool(u.EmailVerified)
		case oidc.ScopeProfile:
			info.Name = u.Name
		}
	}
	return nil
}

func (s *storage) SetUserinfoFromScopes(context.Context, *oidc.UserInfo, string, string, []string) error {
	return nil
}

func (s *storage) SetUserinfoFromRequest(_ context.Context, info *oidc.UserInfo, req op.IDTokenRequest, scopes []string) error {
	return s.setUserinfo(info, req.GetSubject(), scopes)
}

func (s *storage) SetUserinfoFromToken(_ context.Context, info *oidc.UserInfo, tokenID, _, _ string) error {
	s.mu.Lock()
	t, ok := s.tokens[tokenID]
	s.mu.Unlock()
	if !ok || time.Now().After(t.expires) {
		return errors.New("token is invalid or has expired")
	}
	return s.setUserinfo(info, t.subject, t.scopes)
}

func (s *storage) SetIntrospectionFromToken(context.Context, *oidc.IntrospectionResponse, string, string, string) error {
	return errors.New("introspection is not supported")
}

func (s *storage) GetPrivateClaimsFromScopes(context.Context, string, string, []string) (map[string]any, error) {
	return nil, nil
}

func (s *storage) GetKeyByIDAndClientID(context.Context, string, string) (*jose.JSONWebKey, error) {
	return nil, errNotFound
}

func (s *storage) ValidateJWTProfileScopes(context.Context, string, []string) ([]string, error) {
	return nil, errors.New("jwt profile is not supported")
}

func (s *storage) Health(context.Context) error { return nil }

// op.DeviceAuthorizationStorage

func (s *storage) StoreDeviceAuthorization(_ context.Context, clientID, deviceCode, userCode string, expires time.Time, scopes []string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.clients[clientID]; !ok {
		return errNotFound
	}
	if _, ok := s.userCodes[userCode]; ok {
		return op.ErrDuplicateUserCode
	}
	s.devices[deviceCode] = &deviceEntry{userCode: userCode,
		state: &op.DeviceAuthorizationState{ClientID: clientID, Scopes: scopes, Expires: expires}}
	s.userCodes[userCode] = deviceCode
	return nil
}

func (s *storage) GetDeviceAuthorizatonState(_ context.Context, clientID, deviceCode string) (*op.DeviceAuthorizationState, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.polls++
	if s.slowDown > 0 {
		s.slowDown--
		// The op package answers slow_down when storage runs out of time.
		return nil, context.DeadlineExceeded
	}
	e, ok := s.devices[deviceCode]
	if !ok || e.state.ClientID != clientID {
		return nil, errNotFound
	}
	st := *e.state
	return &st, nil
}

// ExpireDeviceCodes makes every pending device code expired.
func (o *OP) ExpireDeviceCodes() {
	o.st.mu.Lock()
	defer o.st.mu.Unlock()
	for _, e := range o.st.devices {
		e.state.Expires = time.Now().Add(-time.Second)
	}
}

// Pages: a login page for the code flow and a verification page for the
// device grant, plain HTML forms a browser or an HTTP client can fill in.

var pages = template.Must(template.New("login").Parse(`<!doctype html>
<html><head><meta charset="utf-8"><title>Test provider</title></head><body>
<h1>{{.Title}}</h1>
{{if .Error}}<p id="error">{{.Error}}</p>{{end}}
<form method="post">
<input type="hidden" name="id" value="{{.ID}}">
{{if .Device}}<label>Code <input id="user_code" name="user_code" value="{{.UserCode}}"></label>{{end}}
<label>Username <input id="username" name="username"></label>
<label>Password <input id="password" name="password" type="password"></label>
<button id="allow" type="submit" name="action" value="allow">Sign in</button>
<button id="deny" type="submit" name="action" value="deny">Deny</button>
</form></body></html>`))

type pageData struct {
	Title, Error, ID, UserCode string
	Device                     bool
}

func (s *storage) login(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodGet {
		pages.Execute(w, pageData{Title: "Sign in to the test provider", ID: r.URL.Query().Get("authRequestID")})
		return
	}
	if err := r.ParseForm(); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	id := r.PostFormValue("id")
	s.mu.Lock()
	a, ok := s.requests[id]
	s.mu.Unlock()
	if !ok {
		http.Error(w, "unknown request", http.StatusBadRequest)
		return
	}
	if r.PostFormValue("action") == "deny" {
		op.AuthRequestError(w, r, a, oidc.ErrAccessDenied().WithDescription("the person said no"), s.provider)
		return
	}
	s.mu.Lock()
	u, ok := s.userByName(r.PostFormValue("username"), r.PostFormValue("password"))
	if ok {
		a.subject, a.done, a.authTime = u.Subject, true, time.Now()
	}
	s.mu.Unlock()
	if !ok {
		pages.Execute(w, pageData{Title: "Sign in to the test provider", ID: id, Error: "wrong username or password"})
		return
	}
	http.Redirect(w, r, s.callback(r.Context(), id), http.StatusFound)
}

func (s *storage) device(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodGet {
		pages.Execute(w, pageData{Title: "Connect a device", Device: true, UserCode: r.URL.Query().Get("user_code")})
		return
	}
	if err := r.ParseForm(); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.devices[s.userCodes[r.PostFormValue("user_code")]]
	if !ok || time.Now().After(e.state.Expires) || e.state.Done || e.state.Denied {
		w.WriteHeader(http.StatusBadRequest)
		pages.Execute(w, pageData{Title: "Connect a device", Device: true, Error: "unknown or expired code"})
		return
	}
	if r.PostFormValue("action") == "deny" {
		e.state.Denied = true
		fmt.Fprint(w, "<p id=done>Denied. You can close this page.</p>")
		return
	}
	u, ok := s.userByName(r.PostFormValue("username"), r.PostFormValue("password"))
	if !ok {
		w.WriteHeader(http.StatusUnauthorized)
		pages.Execute(w, pageData{Title: "Connect a device", Device: true, UserCode: e.userCode, Error: "wrong username or password"})
		return
	}
	e.state.Subject, e.state.Done, e.state.AuthTime, e.state.AMR = u.Subject, true, time.Now(), []string{"pwd"}
	fmt.Fprint(w, "<p id=done>Signed in. You can close this page and go back to your device.</p>")
}

var _ op.Storage = (*storage)(nil)
var _ op.DeviceAuthorizationStorage = (*storage)(nil)

// Browser is what a test uses to act as the person at the provider's
// pages with a plain HTTP client: it signs in on the login page and
// returns where the provider sent the browser back to, or approves a user
// code on the verification page.
type Browser struct {
	Client *http.Client
}

// NewBrowser returns a Browser that keeps cookies and does not follow the
// last redirect to the client (the test reads it).
func NewBrowser(stopAt string) *Browser {
	return &Browser{Client: &http.Client{
		Timeout: 10 * time.Second,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if stopAt != "" && len(req.URL.String()) >= len(stopAt) && req.URL.String()[:len(stopAt)] == stopAt {
				return http.ErrUseLastResponse
			}
			if len(via) > 10 {
				return errors.New("too many redirects")
			}
			return nil
		},
	}}
}

// SignIn follows authURL to the login page, signs in as username (or
// presses Deny when deny is set) and returns the URL the provider
// redirected to.
func (b *Browser) SignIn(authURL, username, password string, deny bool) (*url.URL, error) {
	resp, err := b.Client.Get(authURL)
	if err != nil {
		return nil, err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("authorization request: %s", resp.Status)
	}
	login := resp.Request.URL
	action := "allow"
	if deny {
		action = "deny"
	}
	resp, err = b.Client.PostForm(login.String(), url.Values{"id": {login.Query().Get("authRequestID")},
		"username": {username}, "password": {password}, "action": {action}})
	if err != nil {
		return nil, err
	}
	resp.Body.Close()
	loc, err := resp.Location()
	if err != nil {
		return nil, fmt.Errorf("login answered %s without sending the browser back", resp.Status)
	}
	return loc, nil
}

// Approve enters userCode on the verification page at verifyURL and
// signs in as username (or presses Deny).
func (b *Browser) Approve(verifyURL, userCode, username, password string, deny bool) error {
	resp, err := b.Client.Get(verifyURL)
	if err != nil {
		return err
	}
	resp.Body.Close()
	action := "allow"
	if deny {
		action = "deny"
	}
	resp, err = b.Client.PostForm(resp.Request.URL.String(), url.Values{"user_code": {userCode},
		"username": {username}, "password": {password}, "action": {action}})
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("verification page: %s", resp.Status)
	}
	return nil
}

// SignInThrough is SignIn for a browser that follows every redirect:
// it returns the last page (the client's callback page) and its URL.
func (b *Browser) SignInThrough(authURL, username, password string, deny bool) (status int, body string, last *url.URL, err error) {
	resp, err := b.Client.Get(authURL)
	if err != nil {
		return 0, "", nil, err
	}
	resp.Body.Close()
	login := resp.Request.URL
	action := "allow"
	if deny {
		action = "deny"
	}
	resp, err = b.Client.PostForm(login.String(), url.Values{"id": {login.Query().Get("authRequestID")},
		"username": {username}, "password": {password}, "action": {action}})
	if err != nil {
		return 0, "", nil, err
	}
	defer resp.Body.Close()
	var sb strings.Builder
	if _, err := io.Copy(&sb, io.LimitReader(resp.Body, 1<<20)); err != nil {
		return 0, "", nil, err
	}
	return resp.StatusCode, sb.String(), resp.Request.URL, nil
}

// PendingUserCodes lists the user codes of device authorizations nobody
// has approved or denied yet, as a person would read one off a screen.
func (o *OP) PendingUserCodes() []string {
	o.st.mu.Lock()
	defer o.st.mu.Unlock()
	var out []string
	for _, e := range o.st.devices {
		if !e.state.Done && !e.state.Denied {
			out = append(out, e.userCode)
		}
	}
	return out
}

// AllowRedirect registers another redirect URI for a client, for a
// client whose address is known only once it runs.
func (o *OP) AllowRedirect(clientID, uri string) {
	o.st.mu.Lock()
	defer o.st.mu.Unlock()
	c := o.st.clients[clientID]
	c.RedirectURIs = append(c.RedirectURIs, uri)
	o.st.clients[clientID] = c
}
