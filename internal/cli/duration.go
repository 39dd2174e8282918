package cli

import (
	"errors"
	"flag"
	"strconv"
	"strings"
	"time"
)

// Duration declares a flag that takes a Go duration (90m, 24h, 1h30m) or
// a number of days (7d), which operators reach for first. A value it
// cannot read is answered with the forms it takes, where the flag
// package alone says only "parse error".
func Duration(fs *flag.FlagSet, name string, value time.Duration, usage string) *time.Duration {
	d := value
	fs.Var((*durationValue)(&d), name, usage)
	return &d
}

type durationValue time.Duration

func (d *durationValue) Set(s string) error {
	if n, ok := strings.CutSuffix(s, "d"); ok {
		days, err := strconv.Atoi(n)
		if err == nil && days >= 0 && days <= 36500 {
			*d = durationValue(time.Duration(days) * 24 * time.Hour)
			return nil
		}
	} else if v, err := time.ParseDuration(s); err == nil {
		*d = durationValue(v)
		return nil
	}
	return errors.New("want a duration such as 24h, 90m, 1h30m or 7d")
}

func (d *durationValue) String() string { return (*time.Duration)(d).String() }
