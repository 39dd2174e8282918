package config

import (
	"fmt"
	"net"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strings"
)

// OIDCProvider is one OpenID Provider people can sign in with, under
// `oidc:` in config.yaml. Everything else about it (endpoints, keys, what
// it supports) comes from its discovery document at start.
type OIDCProvider struct {
	// Name is what commands use (`signin --with google`).
	Name string `yaml:"name"`
	// DisplayName is what screens show ("Google"); defaults to Name.
	DisplayName string `yaml:"display_name"`
	// Issuer is the provider's issuer URL, exactly as its ID tokens
	// write it ("https://accounts.google.com").
	Issuer   string `yaml:"issuer"`
	ClientID string `yaml:"client_id"`
	// ClientSecret, or ClientSecretFile naming a file that holds it (so
	// the secret need not sit in config.yaml); also from
	// ATTEST_OIDC_<NAME>_CLIENT_SECRET.
	ClientSecret     string `yaml:"client_secret"`
	ClientSecretFile string `yaml:"client_secret_file"`
	// Scopes default to "openid email profile".
	Scopes []string `yaml:"scopes"`
	// Flow is "device" or "code" to choose; empty takes the device grant
	// when the provider offers it.
	Flow string `yaml:"flow"`
}

var providerName = regexp.MustCompile(`^[a-z][a-z0-9-]{0,31}$`)

// envName is the provider's part of its ATTEST_OIDC_<NAME>_* variables.
func (p OIDCProvider) envName() string {
	return strings.ToUpper(strings.ReplaceAll(p.Name, "-", "_"))
}

// EnvPerProvider lists the variables each configured provider reads,
// with NAME its name in capitals (dashes as underscores).
var EnvPerProvider = []struct{ Name, Sets string }{
	{"ATTEST_OIDC_<NAME>_CLIENT_ID", "client id of the oidc provider NAME in config.yaml"},
	{"ATTEST_OIDC_<NAME>_CLIENT_SECRET", "its client secret"},
}

// applyOIDCEnv reads each configured provider's client id and secret from
// ATTEST_OIDC_<NAME>_CLIENT_ID and ATTEST_OIDC_<NAME>_CLIENT_SECRET.
func (c *Config) applyOIDCEnv(env map[string]string) {
	for i := range c.OIDC {
		p := &c.OIDC[i]
		if v, ok := env["ATTEST_OIDC_"+p.envName()+"_CLIENT_ID"]; ok {
			p.ClientID = v
		}
		if v, ok := env["ATTEST_OIDC_"+p.envName()+"_CLIENT_SECRET"]; ok {
			p.ClientSecret, p.ClientSecretFile = v, ""
		}
	}
}

// Secret returns the client secret, reading ClientSecretFile if set.
func (p OIDCProvider) Secret() (string, error) {
	if p.ClientSecretFile == "" {
		return p.ClientSecret, nil
	}
	b, err := os.ReadFile(p.ClientSecretFile)
	if err != nil {
		return "", fmt.Errorf("oidc provider %s: read client_secret_file: %w", p.Name, err)
	}
	return strings.TrimSpace(string(b)), nil
}

// validateOIDC reports every provider setting that cannot work.
func (c *Config) validateOIDC() []error {
	var errs []error
	seen := map[string]bool{}
	for i, p := range c.OIDC {
		what := fmt.Sprintf("oidc[%d] %q", i, p.Name)
		if !providerName.MatchString(p.Name) {
			errs = append(errs, fmt.Errorf("%s: name must be lower-case letters, digits and dashes, starting with a letter (at most 32)", what))
		}
		if seen[p.Name] {
			errs = append(errs, fmt.Errorf("%s: name used twice", what))
		}
		seen[p.Name] = true
		if u, err := url.Parse(p.Issuer); err != nil || u.Host == "" || u.RawQuery != "" || u.Fragment != "" ||
			!(u.Scheme == "https" || (u.Scheme == "http" && loopbackHost(u.Hostname()))) {
			errs = append(errs, fmt.Errorf("%s: issuer %q: want an https URL (http only on loopback) without query or fragment", what, p.Issuer))
		}
		if p.ClientID == "" {
			errs = append(errs, fmt.Errorf("%s: client_id is empty", what))
		}
		if p.ClientSecret != "" && p.ClientSecretFile != "" {
			errs = append(errs, fmt.Errorf("%s: set client_secret or client_secret_file, not both", what))
		}
		if len(p.Scopes) > 0 && !slices.Contains(p.Scopes, "openid") {
			errs = append(errs, fmt.Errorf("%s: scopes must include openid", what))
		}
		switch p.Flow {
		case "", "device", "code":
		default:
			errs = append(errs, fmt.Errorf("%s: flow %q: want device or code", what, p.Flow))
		}
	}
	return errs
}

func loopbackHost(h string) bool {
	if h == "localhost" {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}
