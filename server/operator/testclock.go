//go:build attest_testclock

package operator

import (
	"time"

	"github.com/attest-dev/attest/flows/clock"
	"github.com/attest-dev/attest/internal/cli"
)

// TestClock is the clock of a binary built with -tags attest_testclock: the
// system clock plus an offset that `attest clock advance DURATION` moves,
// so an end-to-end test can step a live server past an expiry. Release
// builds have neither this clock nor the command.
var TestClock = &clock.Offset{Base: clock.System{}}

func init() {
	program.Commands = append(program.Commands, &cli.Command[Env]{
		Name: "clock", Summary: "move the test clock (test builds only)",
		Subs: []*cli.Command[Env]{{
			Name: "advance", Args: "DURATION", MinArgs: 1, MaxArgs: 1,
			Summary: "move the test clock forward by DURATION (61m)",
			Bind:    cli.NoFlags(runClockAdvance),
		}},
	})
}

func runClockAdvance(c *call) error {
	d, err := time.ParseDuration(c.Args[0])
	if err != nil || d < 0 {
		return cli.Usagef("%q is not a positive duration like 61m", c.Args[0])
	}
	c.Printf("test clock now %s\n", TestClock.Advance(d).Format(time.RFC3339))
	return nil
}
