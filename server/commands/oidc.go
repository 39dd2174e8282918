package commands

import (
	"errors"
	"flag"
	"fmt"
	"time"

	"github.com/attest-dev/attest/flows"
	"github.com/attest-dev/attest/flows/openid"
	"github.com/attest-dev/attest/internal/cli"
	"github.com/attest-dev/attest/internal/inert"
)

// Sign-in with an OpenID Provider from a shell: `signin --with NAME`,
// `address add --with NAME` (link it), `address unlink --with NAME`,
// `stepup --with NAME`, and `providers`. Each prints where to go (the
// device grant's URL and code, or the code flow's link) and waits until
// the provider's answer moves it on.

// providerJSON is one line of `providers --json`.
type providerJSON struct {
	Name        string `json:"name"`
	DisplayName string `json:"display_name"`
	Available   bool   `json:"available"`
	Flow        string `json:"flow,omitempty"` // "device" or "code"
}

func runProviders(c *call) error {
	ps := c.Env.Service.Providers()
	if c.JSON {
		for _, p := range ps {
			if err := c.Emit(providerJSON{Name: p.Name, DisplayName: p.DisplayName, Available: p.Available, Flow: p.Flow}); err != nil {
				return err
			}
		}
		return nil
	}
	if len(ps) == 0 {
		c.Printf("This server has no sign-in providers.\n")
		return nil
	}
	for _, p := range ps {
		state := "unavailable right now"
		if p.Available {
			state = map[string]string{openid.FlowDevice: "available (you enter a code at the provider)",
				openid.FlowCode: "available (you open a link)"}[p.Flow]
		}
		c.Printf("%-16s %-20s %s\n", inert.String(p.Name), inert.String(p.DisplayName), state)
	}
	return nil
}

// oidcStartJSON is the first line `signin --with NAME --json` prints,
// before it waits: RFC 8628's names for the device grant, or the link.
type oidcStartJSON struct {
	Provider                string `json:"provider"`
	Purpose                 string `json:"purpose"`
	VerificationURI         string `json:"verification_uri,omitempty"`
	VerificationURIComplete string `json:"verification_uri_complete,omitempty"`
	UserCode                string `json:"user_code,omitempty"`
	Link                    string `json:"link,omitempty"`
	// Check is what the link's page asks for: only this terminal shows it.
	Check     string     `json:"check,omitempty"`
	ExpiresAt *time.Time `json:"expires_at"`
}

// oidcResultJSON is the line printed when the provider has answered.
type oidcResultJSON struct {
	enteredJSON
	Provider string `json:"provider"`
	// Email is the provider's email when it is now confirmed on the
	// account.
	Email string `json:"email,omitempty"`
	// Note says what was not done, and why.
	Note string `json:"note,omitempty"`
}

// withOIDC runs an attempt for purpose from start to end.
func withOIDC(c *call, name, purpose string) error {
	// Watch first: a link opened at once must find this session waiting.
	w := c.Env.Service.Watch(c.Env.Device.Tag)
	defer w.Stop()
	st, err := c.Env.Service.StartOIDC(c.Ctx, c.Env.Device, name, purpose)
	if err != nil {
		return fmt.Errorf("start with %s: %w", name, err)
	}
	if purpose == flows.PurposeSignIn {
		ephemeralNote(c)
	}
	if c.JSON {
		if err := c.Emit(oidcStartJSON{Provider: st.Provider, Purpose: st.Purpose, VerificationURI: st.VerificationURI,
			VerificationURIComplete: st.VerificationURIComplete, UserCode: st.UserCode, Link: st.Link, Check: st.Check,
			ExpiresAt: cli.Stamp(st.Expires)}); err != nil {
			return err
		}
	} else {
		now := c.Env.Service.Now()
		if st.Flow == openid.FlowDevice {
			c.Printf("Open %s and enter the code %s", inert.String(st.VerificationURI), inert.String(st.UserCode))
			if st.VerificationURIComplete != "" {
				c.Printf(" (or open %s)", inert.String(st.VerificationURIComplete))
			}
			c.Printf(" to continue with %s. The code works until %s.\n", inert.String(st.DisplayName), when(st.Expires, now))
		} else {
			c.Printf("Open %s, type %s on its page and continue with %s; the link works until %s. Only this terminal shows %s: never give it to anyone.\n",
				st.Link, inert.String(st.Check), inert.String(st.DisplayName), when(st.Expires, now), inert.String(st.Check))
		}
		c.Printf("Waiting for %s…\n", inert.String(st.DisplayName))
	}
	res, err := c.Env.Service.WaitOIDC(c.Ctx, c.Env.Device, st)
	if err != nil {
		if errors.Is(err, c.Ctx.Err()) {
			return fmt.Errorf("stopped waiting for %s", st.DisplayName)
		}
		return fmt.Errorf("wait for %s: %w", st.DisplayName, err)
	}
	if c.JSON {
		return c.Emit(oidcResultJSON{enteredJSON: toEnteredJSON(res.Entered), Provider: res.Provider, Email: res.Email, Note: res.Note})
	}
	switch purpose {
	case flows.PurposeStepUp:
		c.Printf("Stepped up with %s: protected changes work on this device until %s.\n", inert.String(res.Provider), when(res.Entered.StepUpUntil, c.Env.Service.Now()))
	case flows.PurposeLink:
		c.Printf("%s is linked: it signs in to this account from now on.\n", inert.String(res.Provider))
	default:
		printSignedIn(c, res.Entered)
	}
	if res.Email != "" && purpose != flows.PurposeStepUp {
		c.Printf("%s is on your account, confirmed by %s.\n", inert.String(res.Email), inert.String(res.Provider))
	}
	if res.Note != "" {
		c.Printf("%s\n", inert.String(res.Note))
	}
	return nil
}

// bindAddressAdd is `address add ADDRESS`, or `address add --with NAME`
// to link a provider's account.
func bindAddressAdd(fs *flag.FlagSet) func(*call) error {
	with := fs.String("with", "", "link the account you have at the sign-in provider `NAME` (see `providers`)")
	return func(c *call) error {
		switch {
		case *with != "" && len(c.Args) > 0:
			return usagef("takes ADDRESS or --with NAME, not both")
		case *with != "":
			return withOIDC(c, *with, flows.PurposeLink)
		case len(c.Args) == 0:
			return usagef("needs ADDRESS, or --with NAME to link a sign-in provider")
		}
		return runAddressAdd(c)
	}
}

// bindAddressUnlink is `address unlink ADDRESS`, or `--with NAME`.
func bindAddressUnlink(fs *flag.FlagSet) func(*call) error {
	with := fs.String("with", "", "unlink the sign-in provider `NAME`")
	return func(c *call) error {
		switch {
		case *with != "" && len(c.Args) > 0:
			return usagef("takes ADDRESS or --with NAME, not both")
		case *with != "":
			return runUnlinkProvider(c, *with)
		case len(c.Args) == 0:
			return usagef("needs ADDRESS, or --with NAME to unlink a sign-in provider")
		}
		return runAddressUnlink(c)
	}
}

func runUnlinkProvider(c *call, name string) error {
	out, err := c.Env.Service.UnlinkProvider(c.Ctx, c.Env.Device, name)
	if err != nil {
		return fmt.Errorf("unlink %s: %w", name, err)
	}
	if c.JSON {
		return c.Emit(unlinkJSON{Address: name, Changed: out.Changed})
	}
	if !out.Changed {
		c.Printf("%s is not linked to your account; there is nothing to unlink.\n", inert.String(name))
		return nil
	}
	c.Printf("%s is unlinked: it no longer signs in to this account. Your other addresses were told.\n", inert.String(name))
	return nil
}
