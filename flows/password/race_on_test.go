//go:build race

package password

// raceSlowdown is how much slower the race detector makes the estimator
// (pure Go, every memory access instrumented) than argon2id (assembly on
// amd64, not instrumented), measured here at about 6: cost budgets that
// compare the two allow for it.
const raceSlowdown = 10
