package address

import (
	"net/url"
	"strings"
	"unicode/utf8"
)

// An OpenID Connect identity is the pair the provider's ID token names:
// its issuer and the subject, exactly as written there (OpenID Connect
// Core 2: "the sub and iss Claims, used together, are the only Claims
// that an RP can rely upon as a stable identifier"). Never the email.
// The value is issuer + "#" + subject: an issuer URL has no fragment, so
// the first # splits the two without ambiguity.

// maxSubject is the longest subject OpenID Connect allows (255 ASCII
// characters).
const maxSubject = 255

// OIDCSubject is the address of an account at an OpenID Provider. issuer
// and subject come from a verified ID token, never from a person.
func OIDCSubject(issuer, subject string) (Address, error) {
	u, err := url.Parse(issuer)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.Fragment != "" || strings.Contains(issuer, "#") || u.RawQuery != "" {
		return Address{}, &Error{Kind: OIDC, msg: "the issuer " + quote(issuer) + " is not an http(s) URL without query or fragment"}
	}
	if subject == "" || len(subject) > maxSubject || !utf8.ValidString(subject) || printable(subject) != subject {
		return Address{}, &Error{Kind: OIDC, msg: "the subject " + quote(subject) + " is empty, too long or not printable"}
	}
	return Address{Kind: OIDC, Value: issuer + "#" + subject}, nil
}

// OIDCParts splits an OIDC address into its issuer and subject.
func (a Address) OIDCParts() (issuer, subject string, ok bool) {
	if a.Kind != OIDC {
		return "", "", false
	}
	return strings.Cut(a.Value, "#")
}

// oidcHost is the issuer's host, which is what people recognise.
func oidcHost(issuer string) string {
	if u, err := url.Parse(issuer); err == nil && u.Host != "" {
		return u.Host + strings.TrimRight(u.Path, "/")
	}
	return issuer
}

func displayOIDC(v string) string {
	iss, sub, _ := strings.Cut(v, "#")
	return oidcHost(iss) + " " + sub
}

func maskOIDC(v string) string {
	iss, sub, _ := strings.Cut(v, "#")
	return oidcHost(iss) + " " + maskOther(sub)
}
