package operator_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/attest-dev/attest/flows"
)

// `attest unactivated` lists a registration nobody confirmed once its
// link expired; `attest cleanup` records it as abandoned, deleting
// nothing, and finds nothing the second time.
func TestUnactivatedAndCleanup(t *testing.T) {
	f := newFixture(t)
	dev := flows.KeyDevice("SHA256:newcomer")
	if _, err := f.svc.LoginOrRegister(context.Background(), dev, "ada@example.com", "correct horse battery staple"); err != nil {
		t.Fatal(err)
	}
	if code, out, _ := f.run("unactivated", "--older-than", "0s"); code != 0 || out != "no unactivated registrations\n" {
		t.Fatalf("unactivated while the link is live: %d %q", code, out)
	}
	f.clock.Advance(flows.LinkTTL + 25*time.Hour)
	code, out, errOut := f.run("unactivated")
	if code != 0 || !strings.Contains(out, "registered 2026-") || !strings.Contains(out, "@example.com") ||
		strings.Contains(out, "ada@") || strings.Count(out, "\n") != 1 {
		t.Fatalf("unactivated: %d %q %q", code, out, errOut)
	}
	if code, out, _ := f.run("unactivated", "--older-than", "48h"); code != 0 || out != "no unactivated registrations\n" {
		t.Fatalf("unactivated --older-than 48h: %d %q", code, out)
	}
	f.svc.Wait() // the link's delivery is recorded
	before := len(f.all())
	code, out, errOut = f.run("cleanup", "--json")
	var line struct {
		User      string   `json:"user"`
		Addresses []string `json:"addresses"`
	}
	if code != 0 || json.Unmarshal([]byte(out), &line) != nil || line.User == "" || len(line.Addresses) != 1 {
		t.Fatalf("cleanup --json: %d %q %q", code, out, errOut)
	}
	after := f.all()
	if len(after) != before+2 || after[len(after)-1].Kind != flows.KindRegistrationAbandoned {
		t.Fatalf("cleanup wrote %d facts, the last %+v", len(after)-before, after[len(after)-1])
	}
	if code, out, _ := f.run("cleanup"); code != 0 || out != "nothing to clean up\n" {
		t.Fatalf("a second cleanup: %d %q", code, out)
	}
	if code, _, errOut := f.run("cleanup", "--older-than", "-1h"); code != 2 || !strings.Contains(errOut, "negative") {
		t.Fatalf("a negative --older-than: %d %q", code, errOut)
	}
}
