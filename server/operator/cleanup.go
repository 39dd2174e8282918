package operator

import (
	"errors"
	"flag"
	"strings"
	"time"

	"github.com/attest-dev/attest/flows"
	"github.com/attest-dev/attest/internal/cli"
	"github.com/attest-dev/attest/internal/inert"
)

// bindCleanup is `unactivated` (record false) and `cleanup` (record
// true): seed 001's unactivated registrations, listed or recorded as
// abandoned.
func bindCleanup(record bool) func(*flag.FlagSet) func(*call) error {
	return func(fs *flag.FlagSet) func(*call) error {
		older := cli.Duration(fs, "older-than", 24*time.Hour, "only registrations whose last challenge expired at least this `DURATION` ago (24h, 7d)")
		return func(c *call) error {
			if *older < 0 {
				return cli.Usagef("--older-than must not be negative")
			}
			if c.Env.Service == nil {
				return errors.New("this command needs the server secret to read sealed addresses")
			}
			var list []flows.Unactivated
			var err error
			if record {
				list, err = c.Env.Service.Cleanup(c.Ctx, *older)
			} else {
				list, err = c.Env.Service.Unactivated(c.Ctx, *older)
			}
			if err != nil {
				return err
			}
			for _, u := range list {
				if c.JSON {
					if err := c.Emit(struct {
						User      string     `json:"user"`
						Created   time.Time  `json:"created"`
						Addresses []string   `json:"addresses"`
						Expired   *time.Time `json:"expired"`
					}{u.User, u.Created, cli.NonNil(u.Addresses), cli.Stamp(u.Expired)}); err != nil {
						return err
					}
					continue
				}
				addrs := make([]string, len(u.Addresses))
				for i, a := range u.Addresses {
					addrs[i] = inert.String(a)
				}
				c.Printf("%s  registered %s  %s  last challenge expired %s\n", u.User, u.Created.Format(time.RFC3339),
					strings.Join(addrs, ", "), u.Expired.Format(time.RFC3339))
			}
			switch {
			case c.JSON:
			case len(list) == 0 && record:
				c.Printf("nothing to clean up\n")
			case len(list) == 0:
				c.Printf("no unactivated registrations\n")
			case record:
				c.Printf("recorded %d as abandoned (registration.abandoned); nothing was deleted\n", len(list))
			}
			return nil
		}
	}
}
