package commands

import (
	"fmt"
	"strings"

	"github.com/attest-dev/attest/flows"
	"github.com/attest-dev/attest/internal/inert"
)

// printSplitOffer tells a device that signed in with an address whose
// account has another of its kind that `split new` can make the address
// an account of its own. It is said after the sign-in, never asked.
func printSplitOffer(c *call, s *flows.Split) {
	if s == nil {
		return
	}
	c.Printf("This account also has the %s %s. If %s is yours and not the account's, `split new`\n"+
		"makes it an account of its own: it leaves this account, which keeps %s and is told.\n",
		s.Kind.Noun(), keepsText(s.Keeps), inert.Address(s.Display), keepsText(s.Keeps))
}

// keepsText names what an account keeps after a split.
func keepsText(keeps []string) string {
	out := make([]string, len(keeps))
	for i, k := range keeps {
		out[i] = inert.String(k)
	}
	return strings.Join(out, ", ")
}

// runSplit takes the split a sign-in allows (see `code`).
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
		shown, keeps := "the address", "its other address"
		if s := out.Took; s != nil {
			shown, keeps = inert.Address(s.Display), keepsText(s.Keeps)
		}
		c.Printf("Signed up: a new account with %s, and this device is signed in to it. The account it left keeps\n"+
			"%s and was told.\n", shown, keeps)
		printMerge(c, out.Merged)
		return nil
	}
}
