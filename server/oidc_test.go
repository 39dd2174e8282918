package server

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"

	"github.com/attest-dev/attest/internal/oidctest"
	"github.com/attest-dev/attest/server/config"
)

// A provider that is down at start is listed as unavailable, with the
// reason in the log, and the rest start as usual.
func TestDiscoverProvidersKeepsTheDownOnes(t *testing.T) {
	up, err := oidctest.New(oidctest.Options{Clients: []oidctest.Client{{ID: "attest", Secret: "s"}}})
	if err != nil {
		t.Fatal(err)
	}
	defer up.Close()
	down, err := oidctest.New(oidctest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	down.Close()
	var logs bytes.Buffer
	ps := DiscoverProviders(context.Background(), []config.OIDCProvider{
		{Name: "up", Issuer: up.Issuer, ClientID: "attest", ClientSecret: "s"},
		{Name: "down", Issuer: down.Issuer, ClientID: "attest"},
		{Name: "nosecret", Issuer: up.Issuer, ClientID: "attest", ClientSecretFile: "/nonexistent/secret"},
	}, slog.New(slog.NewTextHandler(&logs, nil)))
	if len(ps) != 3 || !ps[0].Available() || ps[1].Available() || ps[2].Available() {
		t.Fatalf("availability: %v %v %v", ps[0].Available(), ps[1].Available(), ps[2].Available())
	}
	for _, want := range []string{"provider=down reason=", "provider=nosecret", `msg="oidc provider ready" provider=up`} {
		if !strings.Contains(logs.String(), want) {
			t.Fatalf("log lacks %q:\n%s", want, logs.String())
		}
	}
}
