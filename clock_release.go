//go:build !attest_testclock

package main

import "github.com/attest-dev/attest/flows/clock"

// testClock is nil in a release build: the system clock, which nothing
// can move.
func testClock() clock.Clock { return nil }
