package openid

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

// Identity is who the provider says signed in, from a verified ID token
// and, for what the token lacks, the UserInfo endpoint.
type Identity struct {
	Issuer  string
	Subject string
	// Email and EmailVerified as the provider asserts them; the email is
	// worth something only when verified.
	Email         string
	EmailVerified bool
	Name          string
	// AuthTime is when the person last signed in at the provider (zero
	// when the provider does not say).
	AuthTime time.Time
	// Claims names the claims attest used and where each came from:
	// "sub", "email", "email_verified (userinfo)", ...
	Claims []string
}

// VerifyError says why tokens were refused: a bad signature, another
// audience, an expired token, a nonce that does not match.
type VerifyError struct {
	Reason string
	Err    error
}

func (e *VerifyError) Error() string {
	if e.Err != nil {
		return e.Reason + ": " + e.Err.Error()
	}
	return e.Reason
}

func (e *VerifyError) Unwrap() error { return e.Err }

// Identify verifies the ID token (signature through the provider's JWKS,
// issuer, audience, expiry against now, and the nonce when one was sent)
// and reads the identity. Claims the token lacks come from UserInfo, whose
// subject must be the token's. The access token is used for that one call
// and dropped.
func (p *Provider) Identify(ctx context.Context, t Tokens, nonce string, now func() time.Time) (Identity, error) {
	if err := p.check(); err != nil {
		return Identity{}, err
	}
	v := p.op.Verifier(&oidc.Config{ClientID: p.cfg.ClientID, Now: now})
	tok, err := v.Verify(p.ctx(ctx), t.IDToken)
	if err != nil {
		return Identity{}, &VerifyError{Reason: verifyReason(err), Err: err}
	}
	if nonce != "" && subtle.ConstantTimeCompare([]byte(tok.Nonce), []byte(nonce)) != 1 {
		return Identity{}, &VerifyError{Reason: "the ID token's nonce is not the one this sign-in sent"}
	}
	var c struct {
		Email         string    `json:"email"`
		EmailVerified *boolish  `json:"email_verified"`
		Name          string    `json:"name"`
		AuthTime      *unixTime `json:"auth_time"`
	}
	if err := tok.Claims(&c); err != nil {
		return Identity{}, &VerifyError{Reason: "the ID token's claims do not decode", Err: err}
	}
	id := Identity{Issuer: tok.Issuer, Subject: tok.Subject, Email: c.Email, Name: c.Name, Claims: []string{"iss", "sub"}}
	if tok.Subject == "" {
		return Identity{}, &VerifyError{Reason: "the ID token has no subject"}
	}
	if c.AuthTime != nil {
		id.AuthTime = time.Time(*c.AuthTime)
		id.Claims = append(id.Claims, "auth_time")
	}
	if c.Email != "" {
		id.Claims = append(id.Claims, "email")
		if c.EmailVerified != nil {
			id.EmailVerified = bool(*c.EmailVerified)
			id.Claims = append(id.Claims, "email_verified")
		}
	} else if p.op.UserInfoEndpoint() != "" && t.access != nil && t.access.AccessToken != "" {
		// Many providers put the email only in UserInfo.
		ui, err := p.op.UserInfo(p.ctx(ctx), oauth2.StaticTokenSource(t.access))
		if err != nil {
			return Identity{}, fmt.Errorf("read UserInfo at %s: %w", p.cfg.Name, err)
		}
		if ui.Subject != tok.Subject {
			// OpenID Connect Core 5.3.2: otherwise the answer is not about
			// this person and must not be used.
			return Identity{}, &VerifyError{Reason: "UserInfo answered for another subject than the ID token's"}
		}
		if ui.Email != "" {
			id.Email, id.EmailVerified = ui.Email, ui.EmailVerified
			id.Claims = append(id.Claims, "email (userinfo)", "email_verified (userinfo)")
		}
	}
	if c.Name != "" {
		id.Claims = append(id.Claims, "name")
	}
	return id, nil
}

func verifyReason(err error) string {
	var expired *oidc.TokenExpiredError
	switch {
	case errors.As(err, &expired):
		return "the ID token has expired"
	case errorContains(err, "signature"):
		return "the ID token's signature does not verify with the provider's keys"
	case errorContains(err, "expected audience"):
		return "the ID token is for another client (audience)"
	case errorContains(err, "id token issued by a different provider"):
		return "the ID token comes from another issuer"
	}
	return "the ID token does not verify"
}

func errorContains(err error, s string) bool {
	return err != nil && containsFold(err.Error(), s)
}
