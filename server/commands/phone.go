package commands

import (
	"flag"
	"strings"

	"github.com/attest-dev/attest/flows/address"
)

// spacedAddress wraps the Bind of a command whose one argument is an
// ADDRESS (its row has MaxArgs -1, and this checks the count instead).
// ssh joins the words after the host with spaces and the server splits
// them again, so a phone number typed with spaces, even quoted once
// (`ssh host signin '+1 415 555 2671'`), arrives as several words, as
// the screens, which take spaces, never see it. The words are joined
// when together they are one phone number; otherwise the usage error
// says how to write one.
func spacedAddress(bind func(fs *flag.FlagSet) func(*call) error) func(fs *flag.FlagSet) func(*call) error {
	return func(fs *flag.FlagSet) func(*call) error {
		run := bind(fs)
		return func(c *call) error {
			if len(c.Args) <= 1 {
				return run(c)
			}
			joined := strings.Join(c.Args, " ")
			if a, err := c.Env.Service.ParseAddress(joined); err == nil && a.Kind == address.Phone {
				c.Args = []string{joined}
				return run(c)
			}
			msg := "takes only " + c.Cmd.Args + ", not also " + quote(c.Args[1])
			if phoneLike(joined) {
				msg += ". A phone number with spaces reaches the server as several words, and these are not one number: " +
					"write it without spaces (+14155552671), or quote it twice, as ssh joins its arguments with spaces: " +
					`ssh HOST ` + c.Name + ` "'+1 415 555 2671'"`
			}
			return usagef("%s", msg)
		}
	}
}

// phoneLike reports whether s is written as a phone number would be:
// digits, spaces, and + ( ) - . only, with a digit.
func phoneLike(s string) bool {
	return strings.ContainsAny(s, "0123456789") && strings.Trim(s, "0123456789 +()-.") == ""
}
