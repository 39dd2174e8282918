package config_test

import (
	"strings"
	"testing"
	"time"

	"github.com/attest-dev/attest/server/config"
)

// The session windows come from the file and the environment, which wins,
// and reach the flows' policy.
func TestSessionSettings(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, config.FileName, "policy:\n  session_idle: 168h\n  session_max: 2160h\n")
	cfg := load(t, "", "ATTEST_DATA_DIR="+dir)
	if p := cfg.Policy.Flows(); p.SessionIdle != 168*time.Hour || p.SessionMax != 2160*time.Hour {
		t.Fatalf("from the file: idle %s, max %s", p.SessionIdle, p.SessionMax)
	}
	cfg = load(t, "", "ATTEST_DATA_DIR="+dir, "ATTEST_SESSION_IDLE=48h", "ATTEST_SESSION_MAX=720h")
	if p := cfg.Policy.Flows(); p.SessionIdle != 48*time.Hour || p.SessionMax != 720*time.Hour {
		t.Fatalf("from the environment: idle %s, max %s", p.SessionIdle, p.SessionMax)
	}
	if _, err := config.Load("", []string{"ATTEST_DATA_DIR=" + dir, "ATTEST_SESSION_IDLE=30d"}); err == nil || !strings.Contains(err.Error(), `ATTEST_SESSION_IDLE="30d": want a duration`) {
		t.Errorf("ATTEST_SESSION_IDLE=30d: %v", err)
	}
	cfg = load(t, "", "ATTEST_DATA_DIR="+dir, "ATTEST_SESSION_IDLE=1h")
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "policy.session_idle 1h0m0s") {
		t.Errorf("ATTEST_SESSION_IDLE=1h: %v", err)
	}
	if d := config.Default(); d.Policy.SessionIdle != 0 || d.Policy.SessionMax != 0 {
		t.Errorf("the defaults set session windows (%s, %s) instead of leaving them to the flows", d.Policy.SessionIdle, d.Policy.SessionMax)
	}
}
