package commands

import (
	"context"
	"regexp"
	"testing"
	"time"

	"github.com/attest-dev/attest/flows"
)

// TestWaitsFollowTheClock: every command that waits for a moment (a
// link's expiry, a link code's) waits on the service's clock: moving the
// fake clock past the moment ends the wait, with nothing else happening
// on the device and no real time passing.
// patience bounds a wait that should end at once; it is far shorter than
// any expiry here, so a wait that ended only on real time fails.
const patience = 10 * time.Second

func TestWaitsFollowTheClock(t *testing.T) {
	cases := []struct {
		name    string
		stdin   string
		args    []string
		waiting *regexp.Regexp
		ttl     time.Duration
		stderr  string
	}{
		{"signin --link", "", []string{"signin", "--link", grace}, regexp.MustCompile(`Waiting for the button to be pressed…\n`), flows.LinkTTL,
			"Not signed in: the link expired at 09:05:00 UTC (1s ago). Send a new one with: signin --link grace@example.com\n"},
		{"login", goodPassword + "\n", []string{"login", grace}, waitingRE, flows.LinkTTL,
			"Not signed in: the link expired at 09:05:00 UTC (1s ago). Send a new one with: resend grace@example.com\n"},
		{"link --wait", "", []string{"link", "--wait"}, linkCodeRE, time.Minute,
			"Not linked: the code expired at 09:01:00 UTC (1s ago). Run `link --wait` for a new one.\n"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t)
			tablet := device("tablet")
			run := w.startAs(context.Background(), as{stdin: tc.stdin}, tablet, tc.args...)
			if run.stdout.waitFor(tc.waiting) == nil {
				t.Fatalf("%s: stdout %q, stderr %q", tc.name, run.stdout.String(), run.stderr.String())
			}
			w.clock.Advance(tc.ttl - time.Second)
			select {
			case status := <-run.status:
				t.Fatalf("%s ended (status %d) a second before the expiry: stderr %q", tc.name, status, run.stderr.String())
			default:
			}
			w.clock.Advance(2 * time.Second)
			select {
			case status := <-run.status:
				if status != 1 || run.stderr.String() != tc.stderr {
					t.Errorf("%s past the expiry: status %d, stderr %q", tc.name, status, run.stderr.String())
				}
			case <-time.After(patience):
				t.Fatalf("%s still waits after the clock passed its expiry", tc.name)
			}
		})
	}
}
