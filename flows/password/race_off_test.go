//go:build !race

package password

// raceSlowdown: see race_on_test.go.
const raceSlowdown = 1
