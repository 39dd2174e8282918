//go:build attest_testclock

package operator

import (
	"context"
	"flag"
	"fmt"
	"time"

	"github.com/attest-dev/attest/flows/clock"
)

// TestClock is the clock of a binary built with -tags attest_testclock: the
// system clock plus an offset that `attest clock advance DURATION` moves,
// so an end-to-end test can step a live server past an expiry. Release
// builds have neither this clock nor the command.
var TestClock = &clock.Offset{Base: clock.System{}}

func init() {
	commands = append(commands, command{"clock", "move the test clock (test builds only)", "clock advance DURATION", runClock})
}

func runClock(_ context.Context, env Env, fs *flag.FlagSet, args []string) error {
	if err := parse(fs, args, 2); err != nil {
		return err
	}
	if fs.Arg(0) != "advance" {
		return usageError{"the only clock subcommand is advance"}
	}
	d, err := time.ParseDuration(fs.Arg(1))
	if err != nil || d < 0 {
		return usageError{fmt.Sprintf("%q is not a positive duration like 61m", fs.Arg(1))}
	}
	fmt.Fprintf(env.Stdout, "test clock now %s\n", TestClock.Advance(d).Format(time.RFC3339))
	return nil
}
