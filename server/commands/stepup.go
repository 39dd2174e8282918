package commands

import (
	"flag"
	"fmt"
	"strings"
	"time"

	"github.com/attest-dev/attest/flows"
	"github.com/attest-dev/attest/internal/cli"
	"github.com/attest-dev/attest/internal/inert"
)

func bindStepUp(fs *flag.FlagSet) func(*call) error {
	pw := fs.Bool("password", false, "step up with the account's password, read from standard input, instead of a code")
	totp := fs.String("totp", "", "step up with the authenticator app's 6-digit `CODE`")
	wallet := fs.Bool("wallet", false, "step up by signing a challenge with a wallet of the account (ADDRESS, or its first)")
	with := fs.String("with", "", "step up by signing in afresh at the linked provider `NAME`")
	return func(c *call) error {
		switch {
		case *pw && *wallet, *totp != "" && (*pw || *wallet), *with != "" && (*pw || *wallet || *totp != ""):
			return usagef("takes one of --password, --totp, --wallet and --with")
		case *with != "" && len(c.Args) > 0:
			return usagef("ADDRESS goes with --wallet")
		case *with != "":
			return withOIDC(c, *with, flows.PurposeStepUp)
		case *totp != "":
			return runStepUpTOTP(c, *totp)
		case *wallet:
			return runWalletStepUp(c)
		case len(c.Args) > 0:
			return usagef("ADDRESS goes with --wallet")
		case *pw:
			return runStepUpPassword(c)
		}
		return runStepUp(c)
	}
}

// runStepUp sends a step-up code. The address it went to is shown
// masked: a step-up proves a second factor, so the screen of a device
// that may not be its owner's should not spell the address out.
func runStepUp(c *call) error {
	iss, err := c.Env.Service.RequestStepUp(c.Ctx, c.Env.Device)
	if err != nil {
		return fmt.Errorf("send a step-up code: %w", err)
	}
	to := masked(c, iss.To)
	if c.JSON {
		return c.Emit(toIssuedJSON(iss, to))
	}
	now := c.Env.Service.Now()
	c.Printf("Step-up code %s (%d digits) sent to %s. Enter it with: code %s-%s. The step-up lasts %s on this device only.\n",
		iss.Letter, iss.Digits, inert.Address(to), iss.Letter, strings.Repeat("N", iss.Digits), shortDuration(c.Env.Service.Policy().StepUpTTL))
	c.Printf("The code expires at %s.\n", when(iss.Expires, now))
	return nil
}

// steppedUp answers a step-up with a factor that needs no code to be
// entered (the password, the authenticator app): err, or until when the
// device is stepped up.
func steppedUp(c *call, until time.Time, factor string, err error) error {
	if err != nil {
		return fmt.Errorf("step up: %w", err)
	}
	if c.JSON {
		return c.Emit(stepUpJSON{StepUpUntil: cli.Stamp(until), Factor: factor})
	}
	c.Printf("Stepped up until %s, on this device only: protected changes work here until then.\n", when(until, c.Env.Service.Now()))
	return nil
}

// masked returns the masked form of one of the account's addresses,
// given as flows displays it (flows.Issued.To).
func masked(c *call, display string) string {
	if v, err := c.Env.Service.Visit(c.Ctx, c.Env.Device); err == nil {
		for _, a := range v.Addresses {
			if a.Display == display {
				return a.Masked
			}
		}
	}
	if a, err := c.Env.Service.ParseAddress(display); err == nil {
		return a.Masked()
	}
	return "a confirmed address of your account"
}

// shortDuration renders a policy duration: "1h", "30m", "1h30m".
func shortDuration(d time.Duration) string {
	switch {
	case d%time.Hour == 0:
		return fmt.Sprintf("%dh", d/time.Hour)
	case d >= time.Hour && d%time.Minute == 0:
		return fmt.Sprintf("%dh%dm", d/time.Hour, d%time.Hour/time.Minute)
	case d%time.Minute == 0:
		return fmt.Sprintf("%dm", d/time.Minute)
	}
	return d.String()
}
