package commands

import (
	"time"

	"github.com/attest-dev/attest/flows"
)

// when renders a time for a person: the clock time and how far away it
// is, with the date in front when it is not today.
func when(t, now time.Time) string {
	t, now = t.UTC(), now.UTC()
	if t.Year() != now.Year() || t.YearDay() != now.YearDay() {
		return t.Format("2006-01-02 ") + flows.When(t, now)
	}
	return flows.When(t, now)
}

// orNone returns s, or what to show when it is empty.
func orNone(s, none string) string {
	if s == "" {
		return none
	}
	return s
}
