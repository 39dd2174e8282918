package commands

import (
	"fmt"

	"github.com/attest-dev/attest/flows"
	"github.com/attest-dev/attest/tui/inert"
)

// runSplit carries out the choice a sign-in code offered (see `code`).
func runSplit(choice string) func(*call) error {
	return func(c *call) error {
		out, err := c.Env.Service.ChooseSplit(c.Ctx, c.Env.Device, choice)
		if err != nil {
			return fmt.Errorf("choose: %w", err)
		}
		if c.JSON {
			return c.Emit(toEnteredJSON(out))
		}
		if choice == flows.SplitSignIn {
			printSignedIn(c, out)
			return nil
		}
		shown := "the address"
		if a, ok := justConfirmed(out.Visitor); ok {
			shown = inert.Address(a.Display)
		}
		c.Printf("Signed up: a new account with %s, and this device is signed in to it. The other account no longer\n"+
			"has %s and was told.\n", shown, shown)
		printMerge(c, out.Merged)
		return nil
	}
}
