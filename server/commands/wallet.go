package commands

import (
	"flag"
	"fmt"
	"time"

	"github.com/attest-dev/attest/flows"
	"github.com/attest-dev/attest/flows/address"
	"github.com/attest-dev/attest/internal/cli"
	"github.com/attest-dev/attest/internal/inert"
)

// Wallets sign in by signature: `signin ADDRESS` (and `address add`,
// `stepup --wallet`) print a message to sign, and `signature SIG`
// completes this device's newest challenge. Scripts take the message from
// --json, where it is exact:
//
//	ssh host signin 0x... --json | jq -r .message > challenge.txt
//	cast wallet sign --interactive "$(cat challenge.txt)"
//	ssh host signature 0x...

// challengeJSON is what a command that issues a wallet challenge prints
// with --json.
type challengeJSON struct {
	Purpose string     `json:"purpose"` // "signin", "confirm" or "stepup"
	Kind    string     `json:"kind"`    // "ethereum" or "ss58"
	Address string     `json:"address"`
	Message string     `json:"message"` // the exact text to sign
	Expires *time.Time `json:"expires"`
	How     string     `json:"how"`
}

func toChallengeJSON(ch flows.Challenge) challengeJSON {
	return challengeJSON{Purpose: ch.Purpose, Kind: string(ch.Kind), Address: ch.Address, Message: ch.Message,
		Expires: cli.Stamp(ch.Expires), How: signHow(ch.Kind)}
}

// signHow says how to sign a message with a wallet of the kind.
func signHow(k address.Kind) string {
	if k == address.Ethereum {
		return "personal_sign (EIP-191): cast wallet sign, or MetaMask; then: signature 0x..."
	}
	return "sr25519 or ed25519, as polkadot.js signRaw does; then: signature 0x..."
}

// printChallenge shows the message to sign, line by line as it is, so
// that it copies cleanly.
func printChallenge(c *call, ch flows.Challenge, what string) error {
	if c.JSON {
		return c.Emit(toChallengeJSON(ch))
	}
	c.Printf("Sign this message with the %s %s, to %s. It expires at %s.\n\n",
		ch.Kind.Noun(), inert.String(ch.Address), what, when(ch.Expires, c.Env.Service.Now()))
	c.Printf("%s\n\n", inert.Lines(ch.Message))
	c.Printf("Sign it with %s\n", signHow(ch.Kind))
	c.Printf("For the exact text in a script: signin ADDRESS --json, its \"message\".\n")
	return nil
}

func runWalletSignin(c *call) error {
	ch, err := c.Env.Service.RequestWalletSignIn(c.Ctx, c.Env.Device, c.Args[0])
	if err != nil {
		return fmt.Errorf("ask for a wallet challenge: %w", err)
	}
	return printChallenge(c, ch, "sign in")
}

func runWalletAdd(c *call) error {
	ch, err := c.Env.Service.AddWallet(c.Ctx, c.Env.Device, c.Args[0])
	if err != nil {
		return fmt.Errorf("add the wallet: %w", err)
	}
	return printChallenge(c, ch, "add it to your account")
}

func runWalletStepUp(c *call) error {
	input := ""
	if len(c.Args) > 0 {
		input = c.Args[0]
	}
	ch, err := c.Env.Service.RequestWalletStepUp(c.Ctx, c.Env.Device, input)
	if err != nil {
		return fmt.Errorf("ask for a wallet step-up challenge: %w", err)
	}
	return printChallenge(c, ch, "step this device up for "+shortDuration(c.Env.Service.Policy().StepUpTTL))
}

func bindSignature(*flag.FlagSet) func(*call) error {
	return func(c *call) error {
		out, err := c.Env.Service.SubmitSignature(c.Ctx, c.Env.Device, c.Args[0])
		if err != nil {
			return fmt.Errorf("check the signature: %w", err)
		}
		if c.JSON {
			e := toEnteredJSON(out)
			if out.Purpose == flows.PurposeConfirm {
				for _, a := range out.Visitor.Addresses {
					if a.Display == out.Address {
						j := toAddressJSON(a)
						e.ConfirmedAddress = &j
					}
				}
			}
			return c.Emit(e)
		}
		switch out.Purpose {
		case flows.PurposeStepUp:
			c.Printf("Stepped up: protected changes work on this device until %s.\n", when(out.StepUpUntil, c.Env.Service.Now()))
		case flows.PurposeConfirm:
			c.Printf("Signature accepted: %s is confirmed on your account.\n", inert.String(out.Address))
		default:
			printSignedIn(c, out)
		}
		return nil
	}
}
