package commands

import (
	"fmt"
	"strings"
	"time"

	"github.com/attest-dev/attest/flows"
	"github.com/attest-dev/attest/internal/cli"
	"github.com/attest-dev/attest/internal/english"
	"github.com/attest-dev/attest/internal/inert"
)

// Authenticator apps and recovery codes in command mode: `totp add`,
// `totp confirm CODE`, `totp CODE` (a held sign-in's second factor),
// `totp remove`, `stepup --totp CODE`, `recovery CODE`, `recovery new`.

var totpCommand = &cli.Command[Env]{
	Name: "totp", Args: "[CODE]", MaxArgs: 1,
	Summary: "authenticator app: `totp CODE` is the second factor a waiting sign-in needs; add, confirm, remove",
	About: "With an authenticator app (Google Authenticator, Authy, 1Password, ...) on the account, every\n" +
		"sign-in of a device waits for the app's 6-digit code: `totp CODE` enters it (it also steps the\n" +
		"device up for the hour). Without CODE, says whether the account has an app.\n" +
		"Enrolling is `totp add` (the secret and an otpauth:// URI to paste in the app; the screens draw it\n" +
		"as a QR code), then `totp confirm CODE` with the app's first code, which prints 10 recovery codes.",
	Bind: cli.NoFlags(runTOTP),
	Subs: []*cli.Command[Env]{
		{
			Name: "add", Summary: "start enrolling an authenticator app (protected): prints its secret and URI",
			About: "Prints the secret (base32, in groups of four to type by hand) and the otpauth:// URI; with\n" +
				"--json, {\"uri\", \"secret\", ...}. Nothing changes until `totp confirm CODE` (within 30 minutes).",
			Bind: cli.NoFlags(runTOTPAdd),
		},
		{
			Name: "confirm", Args: "CODE", MinArgs: 1, MaxArgs: 1,
			Summary: "finish enrolling with the app's first code (protected); prints the recovery codes",
			About: "Prints 10 recovery codes, once: keep them somewhere safe, apart from the phone. Each works\n" +
				"once where the app's code would (`recovery CODE`). With --json, {\"recovery_codes\": [...]}.",
			Bind: cli.NoFlags(runTOTPConfirm),
		},
		{
			Name: "remove", Summary: "remove the authenticator app and its recovery codes (protected)",
			Bind: cli.NoFlags(runTOTPRemove),
		},
	},
}

var recoveryCommand = &cli.Command[Env]{
	Name: "recovery", Args: "CODE", MaxArgs: 3,
	Summary: "use a recovery code instead of the authenticator's code; `recovery new` replaces them",
	About: "A recovery code (like k7qx-m3pa-9rtw; case, spaces and dashes do not matter) works once: it\n" +
		"completes this device's waiting sign-in, or else steps this signed-in device up. The account's\n" +
		"addresses are told. `recovery new` (protected) makes 10 new codes and retires the old ones.",
	Bind: cli.NoFlags(runRecovery),
	Subs: []*cli.Command[Env]{
		{
			Name: "new", Summary: "make 10 new recovery codes; the old ones stop working (protected)",
			Bind: cli.NoFlags(runRecoveryNew),
		},
	},
}

type enrolmentJSON struct {
	URI     string     `json:"uri"`
	Secret  string     `json:"secret"`
	Issuer  string     `json:"issuer"`
	Label   string     `json:"label"`
	Expires *time.Time `json:"expires"`
}

type recoveryCodesJSON struct {
	RecoveryCodes []string `json:"recovery_codes"`
}

type totpStatusJSON struct {
	Authenticator bool       `json:"authenticator"`
	Since         *time.Time `json:"since"`
	RecoveryLeft  int        `json:"recovery_left"`
}

type recoveredJSON struct {
	Left        int          `json:"recovery_left"`
	StepUpUntil *time.Time   `json:"step_up_until"`
	Entered     *enteredJSON `json:"signed_in,omitempty"`
}

// waitingJSON is a held sign-in, in whoami and after a sign-in.
type waitingJSON struct {
	For    string     `json:"for"`    // "totp": the authenticator's code, or a recovery code
	Method string     `json:"method"` // how the first factor was proven
	Until  *time.Time `json:"until"`
}

func toWaitingJSON(w *flows.Waiting) *waitingJSON {
	if w == nil {
		return nil
	}
	return &waitingJSON{For: "totp", Method: w.Method, Until: cli.Stamp(w.Until)}
}

// printWaiting tells a person that a sign-in waits for its second factor,
// and reports whether it does: the sign-in printers call it first.
func printWaiting(c *call, v flows.Visitor) bool {
	w := v.Waiting
	if w == nil {
		return false
	}
	c.Printf("First factor accepted (%s). This account has an authenticator app, so this device waits for its\n"+
		"6-digit code until %s: enter it with `totp CODE` (or a recovery code with `recovery CODE`).\n", method(w.Method), when(w.Until, c.Env.Service.Now()))
	return true
}

func runTOTP(c *call) error {
	if len(c.Args) == 1 {
		out, err := c.Env.Service.EnterTOTP(c.Ctx, c.Env.Device, c.Args[0])
		if err != nil {
			return fmt.Errorf("enter the authenticator code: %w", err)
		}
		if c.JSON {
			return c.Emit(toEnteredJSON(out))
		}
		printSignedIn(c, out)
		c.Printf("Stepped up until %s on this device: it has just proven two factors.\n", when(out.StepUpUntil, c.Env.Service.Now()))
		return nil
	}
	v, err := c.Env.Service.Visit(c.Ctx, c.Env.Device)
	if err != nil {
		return fmt.Errorf("read who you are: %w", err)
	}
	if !v.Account {
		if printWaiting(c, v) {
			return nil
		}
		return &flows.Problem{Code: flows.ProblemSignedOut, Msg: "This needs a signed-in account; sign in first."}
	}
	a := v.Authenticator
	if c.JSON {
		if a == nil {
			return c.Emit(totpStatusJSON{})
		}
		return c.Emit(totpStatusJSON{Authenticator: true, Since: cli.Stamp(a.Since), RecoveryLeft: a.RecoveryLeft})
	}
	if a == nil {
		c.Printf("No authenticator app. `totp add` enrols one.\n")
		return nil
	}
	c.Printf("Authenticator app since %s; %d recovery %s left.\n", when(a.Since, c.Env.Service.Now()), a.RecoveryLeft, english.Plural(a.RecoveryLeft, "code", "codes"))
	return nil
}

func runTOTPAdd(c *call) error {
	e, err := c.Env.Service.AddTOTP(c.Ctx, c.Env.Device)
	if err != nil {
		return fmt.Errorf("add an authenticator app: %w", err)
	}
	if c.JSON {
		return c.Emit(enrolmentJSON{URI: e.URI, Secret: e.Secret, Issuer: e.Issuer, Label: e.Label, Expires: cli.Stamp(e.Expires)})
	}
	c.Printf("Add this account to your authenticator app (Google Authenticator, Authy, 1Password, ...):\n\n"+
		"  key:     %s\n  account: %s (%s)\n  uri:     %s\n\n"+
		"Then run `totp confirm CODE` with the code the app shows, before %s. Until then nothing changes.\n"+
		"(The screens, `ssh -t`, draw this as a QR code to scan.)\n",
		flows.SecretGroups(e.Secret), inert.String(e.Label), inert.String(e.Issuer), inert.String(e.URI), when(e.Expires, c.Env.Service.Now()))
	return nil
}

func runTOTPConfirm(c *call) error {
	codes, err := c.Env.Service.ConfirmTOTP(c.Ctx, c.Env.Device, c.Args[0])
	if err != nil {
		return fmt.Errorf("confirm the authenticator app: %w", err)
	}
	if c.JSON {
		return c.Emit(recoveryCodesJSON{RecoveryCodes: codes})
	}
	c.Printf("The authenticator app is on. Signing in now asks for its code.\n\n")
	printRecoveryCodes(c, codes)
	return nil
}

func printRecoveryCodes(c *call, codes []string) {
	c.Printf("Recovery codes (shown this once; each works once, where the app's code would):\n\n")
	for i, code := range codes {
		c.Printf("  %2d. %s\n", i+1, code)
	}
	c.Printf("\nKeep them apart from your phone: printed, or in a password manager.\n")
}

func runTOTPRemove(c *call) error {
	if err := c.Env.Service.RemoveTOTP(c.Ctx, c.Env.Device); err != nil {
		return fmt.Errorf("remove the authenticator app: %w", err)
	}
	if c.JSON {
		return c.Emit(totpStatusJSON{})
	}
	c.Printf("The authenticator app and its recovery codes are removed; your addresses were told.\n")
	return nil
}

func runStepUpTOTP(c *call, code string) error {
	until, err := c.Env.Service.StepUpWithTOTP(c.Ctx, c.Env.Device, code)
	return steppedUp(c, until, flows.FactorTOTP, err)
}

func runRecovery(c *call) error {
	if len(c.Args) == 0 {
		return usagef("needs CODE, or `new`")
	}
	r, err := c.Env.Service.UseRecoveryCode(c.Ctx, c.Env.Device, strings.Join(c.Args, " "))
	if err != nil {
		return fmt.Errorf("use the recovery code: %w", err)
	}
	if c.JSON {
		out := recoveredJSON{Left: r.Left, StepUpUntil: cli.Stamp(r.StepUpUntil)}
		if r.Entered != nil {
			e := toEnteredJSON(*r.Entered)
			out.Entered, out.StepUpUntil = &e, cli.Stamp(r.Entered.StepUpUntil)
		}
		return c.Emit(out)
	}
	if r.Entered != nil {
		printSignedIn(c, *r.Entered)
	} else {
		c.Printf("Stepped up until %s, on this device only.\n", when(r.StepUpUntil, c.Env.Service.Now()))
	}
	c.Printf("%d recovery %s left; your addresses were told one was used.", r.Left, english.Plural(r.Left, "code", "codes"))
	if r.Left <= 3 {
		c.Printf(" `recovery new` makes a new set.")
	}
	c.Printf("\n")
	return nil
}

func runRecoveryNew(c *call) error {
	codes, err := c.Env.Service.NewRecoveryCodes(c.Ctx, c.Env.Device)
	if err != nil {
		return fmt.Errorf("make new recovery codes: %w", err)
	}
	if c.JSON {
		return c.Emit(recoveryCodesJSON{RecoveryCodes: codes})
	}
	c.Printf("The old recovery codes no longer work.\n\n")
	printRecoveryCodes(c, codes)
	return nil
}
