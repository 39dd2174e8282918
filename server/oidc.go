package server

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/attest-dev/attest/flows"
	"github.com/attest-dev/attest/flows/openid"
	"github.com/attest-dev/attest/server/config"
	"github.com/attest-dev/attest/server/httpd"
)

// discoveryTimeout bounds how long the server waits at start for the
// providers' discovery documents: a provider that is down must not keep
// everyone else from signing in.
const discoveryTimeout = 10 * time.Second

// DiscoverProviders reads every configured provider's discovery document,
// all at once. A provider that fails is kept, unavailable, and the log
// says why; the server starts either way.
func DiscoverProviders(ctx context.Context, cfgs []config.OIDCProvider, logger *slog.Logger) []*openid.Provider {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithTimeout(ctx, discoveryTimeout)
	defer cancel()
	client := openid.NewHTTPClient(nil)
	out := make([]*openid.Provider, len(cfgs))
	var wg sync.WaitGroup
	for i, c := range cfgs {
		secret, err := c.Secret()
		oc := openid.Config{Name: c.Name, DisplayName: c.DisplayName, Issuer: c.Issuer, ClientID: c.ClientID,
			ClientSecret: secret, Scopes: c.Scopes, Flow: c.Flow}
		if err != nil {
			// Without its secret the provider would only fail later, at
			// someone's sign-in.
			out[i] = openid.Unavailable(oc, err.Error())
			logger.Error("oidc provider unavailable", "provider", c.Name, "reason", err.Error())
			continue
		}
		wg.Go(func() {
			p := openid.Discover(ctx, oc, client)
			if !p.Available() {
				logger.Error("oidc provider unavailable", "provider", c.Name, "reason", p.Reason())
			} else {
				logger.Info("oidc provider ready", "provider", c.Name, "issuer", c.Issuer, "flow", p.Flow())
			}
			out[i] = p
		})
	}
	wg.Wait()
	return out
}

// oidcPages adapts the flows' code flow to the HTTP listener's pages.
type oidcPages struct{ svc *flows.Service }

func attemptFromFlows(p flows.OIDCPage) httpd.OIDCAttempt {
	return httpd.OIDCAttempt{Provider: p.Provider, Purpose: p.Purpose, CheckLen: flows.LinkCheckLen, AuthOrigin: p.AuthOrigin,
		Expires: p.Expires, AuthURL: p.AuthURL, Binding: p.Binding, BindFor: p.BindFor, Mistyped: p.Mistyped,
		State: linkFromFlows(flows.LinkInfo{State: p.State}).State}
}

func (o oidcPages) Peek(ctx context.Context, state string) (httpd.OIDCAttempt, error) {
	p, err := o.svc.PeekOIDC(ctx, state)
	return attemptFromFlows(p), err
}

func (o oidcPages) Confirm(ctx context.Context, state, check string) (httpd.OIDCAttempt, error) {
	p, err := o.svc.ConfirmOIDCChecked(ctx, state, check)
	if pr, ok := flows.AsProblem(err); ok {
		return attemptFromFlows(p), &httpd.Refusal{Message: pr.Msg}
	}
	return attemptFromFlows(p), err
}

func (o oidcPages) Callback(ctx context.Context, state, binding, code, errCode, errDesc string) (httpd.OIDCAttempt, error) {
	p, err := o.svc.OIDCCallback(ctx, state, binding, code, errCode, errDesc)
	if pr, ok := flows.AsProblem(err); ok {
		return attemptFromFlows(p), &httpd.Refusal{Message: pr.Msg}
	}
	return attemptFromFlows(p), err
}
