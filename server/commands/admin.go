package commands

import (
	"flag"
	"fmt"

	"github.com/attest-dev/attest/internal/inert"
)

// userAddJSON is what `user add --json` prints.
type userAddJSON struct {
	User     string `json:"user"`     // the new account's user tag
	Address  string `json:"address"`  // confirmed, by the method "admin"
	Nickname string `json:"nickname"` // "" when none was given
	Welcomed bool   `json:"welcomed"` // a welcome message went to the address
}

func bindUserAdd(fs *flag.FlagSet) func(*call) error {
	email := fs.String("email", "", "the new account's `ADDRESS`, confirmed at once (a phone number, with +, works too)")
	nickname := fs.String("nickname", "", "the account's nickname, a `NAME` of 1 to 32 visible characters")
	return func(c *call) error { return runUserAdd(c, *email, *nickname) }
}

// runUserAdd makes an account for an address, as an administrator. The
// ledger records which administrator's device made it.
func runUserAdd(c *call, email, nickname string) error {
	reg, err := c.Env.Service.RegisterUser(c.Ctx, email, nickname, "admin "+c.Env.Device.Tag)
	if err != nil {
		return fmt.Errorf("add the user: %w", err)
	}
	if c.JSON {
		return c.Emit(userAddJSON{User: reg.User, Address: reg.Address, Nickname: reg.Nickname, Welcomed: true})
	}
	named := ""
	if reg.Nickname != "" {
		named = ", nickname " + inert.String(reg.Nickname)
	}
	c.Printf("Added user %s: %s (confirmed%s).\n", inert.String(reg.User), inert.String(reg.Address), named)
	c.Printf("A welcome message went to %s.\n", inert.String(reg.Address))
	return nil
}
