package openid

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"golang.org/x/oauth2"
)

// The device authorization grant (RFC 8628): attest asks the provider for
// a device code and a user code, shows the person where to enter the user
// code, and polls the token endpoint until the person has signed in there,
// said no, or the code expired.

// DeviceStart is what the provider answered to a device authorization
// request. DeviceCode is a secret: it stays in memory, with the terminal
// session that polls with it.
type DeviceStart struct {
	DeviceCode              string
	UserCode                string
	VerificationURI         string
	VerificationURIComplete string
	// ExpiresIn is how long the codes work, as the provider said.
	ExpiresIn time.Duration
	// Interval is how long to wait between polls (RFC 8628 3.2: 5 s when
	// the provider does not say).
	Interval time.Duration
}

// Bounds on what a provider's device answer can make a session do: codes
// that live for days, or polls every millisecond.
const (
	maxDeviceLifetime = 30 * time.Minute
	minInterval       = time.Second
	maxInterval       = time.Minute
	defaultInterval   = 5 * time.Second
	// slowDownStep is what slow_down adds to the interval (RFC 8628 3.5).
	slowDownStep = 5 * time.Second
)

// StartDevice asks the provider for a device code and a user code.
func (p *Provider) StartDevice(ctx context.Context) (DeviceStart, error) {
	if err := p.check(); err != nil {
		return DeviceStart{}, err
	}
	cfg := p.oauth("")
	var opts []oauth2.AuthCodeOption
	if cfg.ClientSecret != "" && cfg.Endpoint.AuthStyle == oauth2.AuthStyleInParams {
		// Some providers (Google) want the secret with the device request.
		opts = append(opts, oauth2.SetAuthURLParam("client_secret", cfg.ClientSecret))
	}
	asked := time.Now()
	da, err := cfg.DeviceAuth(p.ctx(ctx), opts...)
	if err != nil {
		if re, ok := errors.AsType[*oauth2.RetrieveError](err); ok && re.ErrorCode != "" {
			return DeviceStart{}, &Denied{Code: re.ErrorCode, Description: re.ErrorDescription}
		}
		return DeviceStart{}, fmt.Errorf("device authorization at %s: %w", p.cfg.Name, err)
	}
	if da.DeviceCode == "" || da.UserCode == "" || da.VerificationURI == "" {
		return DeviceStart{}, fmt.Errorf("device authorization at %s: the answer lacks device_code, user_code or verification_uri", p.cfg.Name)
	}
	for _, u := range []string{da.VerificationURI, da.VerificationURIComplete} {
		if u == "" {
			continue
		}
		if pu, err := url.Parse(u); err != nil || (pu.Scheme != "https" && pu.Scheme != "http") || pu.Host == "" {
			return DeviceStart{}, fmt.Errorf("device authorization at %s: verification URL %q is not an http(s) URL", p.cfg.Name, u)
		}
	}
	st := DeviceStart{DeviceCode: da.DeviceCode, UserCode: da.UserCode, VerificationURI: da.VerificationURI,
		VerificationURIComplete: da.VerificationURIComplete, Interval: time.Duration(da.Interval) * time.Second}
	// oauth2 turned expires_in into a wall-clock time; the flows keep
	// their own clock, so turn it back into a duration.
	st.ExpiresIn = maxDeviceLifetime
	if !da.Expiry.IsZero() {
		st.ExpiresIn = min(da.Expiry.Sub(asked).Round(time.Second), maxDeviceLifetime)
	}
	if st.Interval == 0 {
		st.Interval = defaultInterval
	}
	st.Interval = min(max(st.Interval, minInterval), maxInterval)
	return st, nil
}

// Answers to a device poll besides tokens.
var (
	// ErrPending: the person has not finished at the provider yet.
	ErrPending = errors.New("authorization pending")
	// ErrSlowDown: poll less often; the interval grows by 5 seconds.
	ErrSlowDown = errors.New("slow down")
)

// SlowDown returns the interval after a slow_down answer.
func SlowDown(interval time.Duration) time.Duration {
	return min(interval+slowDownStep, maxInterval)
}

const deviceGrant = "urn:ietf:params:oauth:grant-type:device_code"

// PollDevice asks the token endpoint once whether the person has finished.
// It returns tokens, ErrPending, ErrSlowDown, a *Denied (access_denied,
// expired_token, or another OAuth error), or a transport error.
func (p *Provider) PollDevice(ctx context.Context, deviceCode string) (Tokens, error) {
	if err := p.check(); err != nil {
		return Tokens{}, err
	}
	cfg := p.oauth("")
	form := url.Values{"grant_type": {deviceGrant}, "device_code": {deviceCode}, "client_id": {cfg.ClientID}}
	if cfg.ClientSecret != "" && cfg.Endpoint.AuthStyle == oauth2.AuthStyleInParams {
		form.Set("client_secret", cfg.ClientSecret)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, cfg.Endpoint.TokenURL, strings.NewReader(form.Encode()))
	if err != nil {
		return Tokens{}, fmt.Errorf("poll %s: %w", p.cfg.Name, err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	if cfg.ClientSecret != "" && cfg.Endpoint.AuthStyle == oauth2.AuthStyleInHeader {
		req.SetBasicAuth(url.QueryEscape(cfg.ClientID), url.QueryEscape(cfg.ClientSecret))
	}
	resp, err := p.client.Do(req)
	if err != nil {
		return Tokens{}, fmt.Errorf("poll %s: %w", p.cfg.Name, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return Tokens{}, fmt.Errorf("poll %s: read the answer: %w", p.cfg.Name, err)
	}
	var tr struct {
		AccessToken string `json:"access_token"`
		TokenType   string `json:"token_type"`
		IDToken     string `json:"id_token"`
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}
	if err := json.Unmarshal(body, &tr); err != nil {
		return Tokens{}, fmt.Errorf("poll %s: %s answer that is not JSON", p.cfg.Name, resp.Status)
	}
	switch {
	case tr.Error == "authorization_pending":
		return Tokens{}, ErrPending
	case tr.Error == "slow_down":
		return Tokens{}, ErrSlowDown
	case tr.Error != "":
		return Tokens{}, &Denied{Code: tr.Error, Description: tr.Description}
	case resp.StatusCode != http.StatusOK:
		return Tokens{}, fmt.Errorf("poll %s: %s", p.cfg.Name, resp.Status)
	}
	tok := (&oauth2.Token{AccessToken: tr.AccessToken, TokenType: tr.TokenType}).WithExtra(map[string]any{"id_token": tr.IDToken})
	return tokensOf(tok)
}
