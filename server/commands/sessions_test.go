package commands

import (
	"context"
	"strings"
	"testing"
	"time"
)

// TestSessionsShowUntil: `sessions` and `whoami` say until when each
// device stays signed in, and a device unused for 30 days drops out of
// both.
func TestSessionsShowUntil(t *testing.T) {
	w := newWorld(t)
	laptop, phone := device("laptop"), device("phone")
	w.signIn(laptop, "grace@example.com", 1)
	w.clock.Advance(5 * time.Minute)
	w.signIn(phone, "grace@example.com", 2)
	w.clock.Advance(10 * 24 * time.Hour)
	if err := w.svc.Touch(context.Background(), phone); err != nil { // the phone connects
		t.Fatal(err)
	}

	r := w.ok(phone, "sessions")
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if len(lines) != 3 || !strings.Contains(lines[0], "SIGNED IN UNTIL") {
		t.Fatalf("sessions: %q", r.stdout)
	}
	mustContain(t, "sessions laptop row", lines[1], "SHA256:laptop", "2026-12-21 09:00:00 UTC (in 19d23h)")
	mustContain(t, "sessions phone row", lines[2], "SHA256:phone", "2026-12-31 09:05:00 UTC (in 30d)", "← this device")

	rows := w.ok(phone, "sessions", "--json").lines(t)
	if len(rows) != 2 || rows[0]["signed_in_until"] != "2026-12-21T09:00:00Z" || rows[1]["signed_in_until"] != "2026-12-31T09:05:00Z" {
		t.Fatalf("sessions --json: %v", rows)
	}
	mustContain(t, "whoami", w.ok(laptop, "whoami").stdout, "until 2026-12-21 09:00:00 UTC (in 19d23h) unless used again")
	if v := w.ok(laptop, "whoami", "--json").object(t); v["signed_in_until"] != "2026-12-21T09:00:00Z" {
		t.Errorf("whoami --json: %v", v)
	}

	w.clock.Advance(20 * 24 * time.Hour)
	r = w.ok(phone, "sessions")
	if lines := strings.Split(strings.TrimSpace(r.stdout), "\n"); len(lines) != 2 || strings.Contains(r.stdout, "laptop") {
		t.Fatalf("sessions after the laptop's 30 idle days: %q", r.stdout)
	}
	mustContain(t, "the laptop's whoami", w.ok(laptop, "whoami").stdout, "signed in:  no")
	if r := w.run(laptop, "sessions"); r.status != 1 {
		t.Errorf("sessions on the lapsed laptop: status %d, stdout %q", r.status, r.stdout)
	}
}
