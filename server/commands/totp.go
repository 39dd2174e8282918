package commands

import (
	"fmt"
	"strings"
	"time"

	"github.com/attest-dev/attest/flows"
	"github.com/attest-dev/attest/tui/inert"
)

// Authenticator apps and recovery codes in command mode: `totp add`,
// `totp confirm CODE`, `totp CODE` (a held sign-in's second factor),
// `totp remove`, `stepup --totp CODE`, `recovery CODE`, `recovery new`.

var totpCommand = &command{
	name: "totp", args: "[CODE]", maxArgs: 1,
	summary: "authenticator app: `totp CODE` is the second factor a waiting sign-in needs; add, confirm, remove",
	about: "With an authenticator app (Google Authenticator, Authy, 1Password, ...) on the account, every\n" +
		"sign-in of a device waits for the app's 6-digit code: `totp CODE` enters it (it also steps the\n" +
		"device up for the hour). Without CODE, says whether the account has an app.\n" +
		"Enrolling is `totp add` (the secret and an otpauth:// URI to paste in the app; the screens draw it\n" +
		"as a QR code), then `totp confirm CODE` with the app's first code, which prints 10 recovery codes.",
	bind: noFlags(runTOTP),
	subs: []*command{
		{
			name: "add", summary: "start enrolling an authenticator app (protected): prints its secret and URI",
			about: "Prints the secret (base32, in groups of four to type by hand) and the otpauth:// URI; with\n" +
				"--json, {\"uri\", \"secret\", ...}. Nothing changes until `totp confirm CODE` (within 30 minutes).",
			bind: noFlags(runTOTPAdd),
		},
		{
			name: "confirm", args: "CODE", minArgs: 1, maxArgs: 1,
			summary: "finish enrolling with the app's first code (protected); prints the recovery codes",
			about: "Prints 10 recovery codes, once: keep them somewhere safe, apart from the phone. Each works\n" +
				"once where the app's code would (`recovery CODE`). With --json, {\"recovery_codes\": [...]}.",
			bind: noFlags(runTOTPConfirm),
		},
		{
			name: "remove", summary: "remove the authenticator app and its recovery codes (protected)",
			bind: noFlags(runTOTPRemove),
		},
	},
}

var recoveryCommand = &command{
	name: "recovery", args: "CODE", maxArgs: 3,
	summary: "use a recovery code instead of the authenticator's code; `recovery new` replaces them",
	about: "A recovery code (like k7qx-m3pa-9rtw; case, spaces and dashes do not matter) works once: it\n" +
		"completes this device's waiting sign-in, or else steps this signed-in device up. The account's\n" +
		"addresses are told. `recovery new` (protected) makes 10 new codes and retires the old ones.",
	bind: noFlags(runRecovery),
	subs: []*command{
		{
			name: "new", summary: "make 10 new recovery codes; the old ones stop working (protected)",
			bind: noFlags(runRecoveryNew),
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
	return &waitingJSON{For: "totp", Method: w.Method, Until: stamp(w.Until)}
}

// printWaiting tells a person that a sign-in waits for its second factor,
// and reports whether it does: the sign-in printers call it first.
func printWaiting(c *call, v flows.Visitor) bool {
	w := v.Waiting
	if w == nil {
		return false
	}
	c.printf("First factor accepted (%s). This account has an authenticator app, so this device waits for its\n"+
		"6-digit code until %s: enter it with `totp CODE` (or a recovery code with `recovery CODE`).\n", method(w.Method), when(w.Until, c.svc().Now()))
	return true
}

func runTOTP(c *call) error {
	if len(c.args) == 1 {
		out, err := c.svc().EnterTOTP(c.ctx, c.dev(), c.args[0])
		if err != nil {
			return fmt.Errorf("enter the authenticator code: %w", err)
		}
		if c.json {
			return c.emit(toEnteredJSON(out))
		}
		printSignedIn(c, out)
		c.printf("Stepped up until %s on this device: it has just proven two factors.\n", when(out.StepUpUntil, c.svc().Now()))
		return nil
	}
	v, err := c.svc().Visit(c.ctx, c.dev())
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
	if c.json {
		if a == nil {
			return c.emit(totpStatusJSON{})
		}
		return c.emit(totpStatusJSON{Authenticator: true, Since: stamp(a.Since), RecoveryLeft: a.RecoveryLeft})
	}
	if a == nil {
		c.printf("No authenticator app. `totp add` enrols one.\n")
		return nil
	}
	c.printf("Authenticator app since %s; %d recovery %s left.\n", when(a.Since, c.svc().Now()), a.RecoveryLeft, plural(a.RecoveryLeft, "code", "codes"))
	return nil
}

func runTOTPAdd(c *call) error {
	e, err := c.svc().AddTOTP(c.ctx, c.dev())
	if err != nil {
		return fmt.Errorf("add an authenticator app: %w", err)
	}
	if c.json {
		return c.emit(enrolmentJSON{URI: e.URI, Secret: e.Secret, Issuer: e.Issuer, Label: e.Label, Expires: stamp(e.Expires)})
	}
	c.printf("Add this account to your authenticator app (Google Authenticator, Authy, 1Password, ...):\n\n"+
		"  key:     %s\n  account: %s (%s)\n  uri:     %s\n\n"+
		"Then run `totp confirm CODE` with the code the app shows, before %s. Until then nothing changes.\n"+
		"(The screens, `ssh -t`, draw this as a QR code to scan.)\n",
		flows.SecretGroups(e.Secret), inert.String(e.Label), inert.String(e.Issuer), inert.String(e.URI), when(e.Expires, c.svc().Now()))
	return nil
}

func runTOTPConfirm(c *call) error {
	codes, err := c.svc().ConfirmTOTP(c.ctx, c.dev(), c.args[0])
	if err != nil {
		return fmt.Errorf("confirm the authenticator app: %w", err)
	}
	if c.json {
		return c.emit(recoveryCodesJSON{RecoveryCodes: codes})
	}
	c.printf("The authenticator app is on. Signing in now asks for its code.\n\n")
	printRecoveryCodes(c, codes)
	return nil
}

func printRecoveryCodes(c *call, codes []string) {
	c.printf("Recovery codes (shown this once; each works once, where the app's code would):\n\n")
	for i, code := range codes {
		c.printf("  %2d. %s\n", i+1, code)
	}
	c.printf("\nKeep them apart from your phone: printed, or in a password manager.\n")
}

func runTOTPRemove(c *call) error {
	if err := c.svc().RemoveTOTP(c.ctx, c.dev()); err != nil {
		return fmt.Errorf("remove the authenticator app: %w", err)
	}
	if c.json {
		return c.emit(totpStatusJSON{})
	}
	c.printf("The authenticator app and its recovery codes are removed; your addresses were told.\n")
	return nil
}

func runStepUpTOTP(c *call, code string) error {
	until, err := c.svc().StepUpWithTOTP(c.ctx, c.dev(), code)
	if err != nil {
		return fmt.Errorf("step up: %w", err)
	}
	if c.json {
		return c.emit(stepUpJSON{StepUpUntil: stamp(until), Factor: flows.FactorTOTP})
	}
	c.printf("Stepped up until %s, on this device only: protected changes work here until then.\n", when(until, c.svc().Now()))
	return nil
}

func runRecovery(c *call) error {
	if len(c.args) == 0 {
		return usagef("needs CODE, or `new`")
	}
	r, err := c.svc().UseRecoveryCode(c.ctx, c.dev(), strings.Join(c.args, " "))
	if err != nil {
		return fmt.Errorf("use the recovery code: %w", err)
	}
	if c.json {
		out := recoveredJSON{Left: r.Left, StepUpUntil: stamp(r.StepUpUntil)}
		if r.Entered != nil {
			e := toEnteredJSON(*r.Entered)
			out.Entered, out.StepUpUntil = &e, stamp(r.Entered.StepUpUntil)
		}
		return c.emit(out)
	}
	if r.Entered != nil {
		printSignedIn(c, *r.Entered)
	} else {
		c.printf("Stepped up until %s, on this device only.\n", when(r.StepUpUntil, c.svc().Now()))
	}
	c.printf("%d recovery %s left; your addresses were told one was used.", r.Left, plural(r.Left, "code", "codes"))
	if r.Left <= 3 {
		c.printf(" `recovery new` makes a new set.")
	}
	c.printf("\n")
	return nil
}

func runRecoveryNew(c *call) error {
	codes, err := c.svc().NewRecoveryCodes(c.ctx, c.dev())
	if err != nil {
		return fmt.Errorf("make new recovery codes: %w", err)
	}
	if c.json {
		return c.emit(recoveryCodesJSON{RecoveryCodes: codes})
	}
	c.printf("The old recovery codes no longer work.\n\n")
	printRecoveryCodes(c, codes)
	return nil
}
