//go:build attest_testclock

package main

import (
	"github.com/attest-dev/attest/flows/clock"
	"github.com/attest-dev/attest/server/operator"
)

// testClock is the movable clock of a test build.
func testClock() clock.Clock { return operator.TestClock }
