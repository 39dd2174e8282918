package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestOIDCProvidersFromFileAndEnv(t *testing.T) {
	dir := t.TempDir()
	secretFile := filepath.Join(dir, "gitlab.secret")
	if err := os.WriteFile(secretFile, []byte("from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "config.yaml")
	yaml := `oidc:
  - name: google
    display_name: Google
    issuer: https://accounts.google.com
    client_id: id-from-file
    client_secret: secret-from-file
  - name: gitlab
    issuer: https://gitlab.example.com
    client_id: gl
    client_secret_file: ` + secretFile + `
    scopes: [openid, email]
    flow: code
`
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := Load(path, []string{"ATTEST_OIDC_GOOGLE_CLIENT_SECRET=secret-from-env", "ATTEST_OIDC_GOOGLE_CLIENT_ID=id-from-env"})
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	g, gl := cfg.OIDC[0], cfg.OIDC[1]
	if g.ClientID != "id-from-env" || g.ClientSecret != "secret-from-env" || g.DisplayName != "Google" {
		t.Fatalf("google %+v", g)
	}
	if s, err := gl.Secret(); err != nil || s != "from-file" || gl.Flow != "code" || strings.Join(gl.Scopes, " ") != "openid email" {
		t.Fatalf("gitlab %+v secret %q %v", gl, s, err)
	}
	gl.ClientSecretFile = filepath.Join(dir, "missing")
	if _, err := gl.Secret(); err == nil || !strings.Contains(err.Error(), "client_secret_file") {
		t.Fatalf("missing secret file: %v", err)
	}
}

func TestOIDCValidate(t *testing.T) {
	good := OIDCProvider{Name: "kc", Issuer: "https://sso.example.com/realms/main", ClientID: "attest"}
	for _, tc := range []struct {
		name string
		edit func(*OIDCProvider)
		want string
	}{
		{"bad name", func(p *OIDCProvider) { p.Name = "Google!" }, "name must be"},
		{"http issuer", func(p *OIDCProvider) { p.Issuer = "http://sso.example.com" }, "want an https URL"},
		{"issuer with query", func(p *OIDCProvider) { p.Issuer = "https://sso.example.com/?x=1" }, "want an https URL"},
		{"no client id", func(p *OIDCProvider) { p.ClientID = "" }, "client_id is empty"},
		{"two secrets", func(p *OIDCProvider) { p.ClientSecret, p.ClientSecretFile = "a", "b" }, "not both"},
		{"no openid scope", func(p *OIDCProvider) { p.Scopes = []string{"email"} }, "must include openid"},
		{"bad flow", func(p *OIDCProvider) { p.Flow = "implicit" }, "want device or code"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := Default()
			p := good
			tc.edit(&p)
			cfg.OIDC = []OIDCProvider{p}
			if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Validate: %v, want %q", err, tc.want)
			}
		})
	}
	cfg := Default()
	loop := good
	loop.Issuer = "http://127.0.0.1:5556/dex"
	cfg.OIDC = []OIDCProvider{good, loop}
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "name used twice") {
		t.Fatalf("duplicate names: %v", err)
	}
	loop.Name = "dex"
	cfg.OIDC = []OIDCProvider{good, loop}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("an http issuer on loopback is fine: %v", err)
	}
}
