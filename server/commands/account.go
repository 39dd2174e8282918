package commands

import (
	"encoding/json"
	"flag"
	"fmt"
	"strings"
	"time"

	"github.com/attest-dev/attest/flows"
	"github.com/attest-dev/attest/flows/address"
	plain "github.com/attest-dev/attest/flows/explain"
	"github.com/attest-dev/attest/internal/cli"
	"github.com/attest-dev/attest/internal/english"
	"github.com/attest-dev/attest/internal/inert"
	"github.com/attest-dev/attest/store"
)

// visitorJSON is a flows.Visitor for scripts: `whoami --json`, and the
// visitor in `code --json`.
type visitorJSON struct {
	Device  deviceJSON `json:"device"`
	User    string     `json:"user"`    // "" until the first write
	Account bool       `json:"account"` // false: an anonymous visitor
	Method  string     `json:"method"`  // how the device signed in; "" when it acts as nobody
	Since   *time.Time `json:"since"`
	// Until is when the device is signed out unless it is used again;
	// null for an anonymous visitor, whose visit does not lapse.
	Until     *time.Time    `json:"signed_in_until"`
	Nickname  string        `json:"nickname"`
	Stars     []string      `json:"stars"`
	Addresses []addressJSON `json:"addresses"` // email addresses and phone numbers; keys are counted in keys
	Keys      int           `json:"keys"`      // SSH keys remembered for the account (`keys` lists them)
	// StepUpUntil is when the device's step-up ends; null when it has none.
	StepUpUntil *time.Time `json:"step_up_until"`
	// HasPassword is true when the account has a password.
	HasPassword bool `json:"has_password"`
	// KeyAccount is set on a device not signed in to the account its key
	// is remembered for: `signin --key` signs in to it.
	KeyAccount *keyAccountJSON `json:"key_account"`
	// Waiting is set while a sign-in waits for the authenticator app's
	// code; Authenticator when the account has an app.
	Waiting       *waitingJSON    `json:"waiting"`
	Authenticator *totpStatusJSON `json:"authenticator"`
}

type keyAccountJSON struct {
	User     string `json:"user"`
	Nickname string `json:"nickname"`
}

type deviceJSON struct {
	Tag       string `json:"tag"`
	Ephemeral bool   `json:"ephemeral"` // this connection only: no SSH key
}

type addressJSON struct {
	Kind        string     `json:"kind"`
	Address     string     `json:"address"`
	Confirmed   bool       `json:"confirmed"`
	Method      string     `json:"method"`
	Added       *time.Time `json:"added"`
	ConfirmedAt *time.Time `json:"confirmed_at"`
	// LinkCheck: what the page of the address's live confirmation link
	// asks for.
	LinkCheck string `json:"link_check,omitempty"`
}

func toVisitorJSON(v flows.Visitor) visitorJSON {
	out := visitorJSON{
		Device: deviceJSON{Tag: v.Device.Tag, Ephemeral: v.Device.Ephemeral},
		User:   v.User, Account: v.Account, Method: v.Method, Since: cli.Stamp(v.Since), Until: cli.Stamp(v.Until),
		Nickname: v.Nickname, Stars: cli.NonNil(v.Stars), Addresses: []addressJSON{},
		StepUpUntil: cli.Stamp(v.StepUpUntil), HasPassword: v.HasPassword,
	}
	for _, a := range v.Addresses {
		if a.Kind == address.SSHKey {
			if a.Confirmed {
				out.Keys++
			}
			continue
		}
		out.Addresses = append(out.Addresses, toAddressJSON(a))
	}
	if k := v.KeyAccount; k != nil {
		out.KeyAccount = &keyAccountJSON{User: k.User, Nickname: k.Nickname}
	}
	out.Waiting = toWaitingJSON(v.Waiting)
	if a := v.Authenticator; a != nil {
		out.Authenticator = &totpStatusJSON{Authenticator: true, Since: cli.Stamp(a.Since), RecoveryLeft: a.RecoveryLeft}
	}
	return out
}

func toAddressJSON(a flows.AddressInfo) addressJSON {
	return addressJSON{Kind: string(a.Kind), Address: a.Display, Confirmed: a.Confirmed, Method: a.Method,
		Added: cli.Stamp(a.Added), ConfirmedAt: cli.Stamp(a.ConfirmedAt), LinkCheck: a.LinkCheck}
}

// reachable lists the visitor's email addresses and phone numbers: its
// addresses without its SSH keys.
func reachable(v flows.Visitor) []flows.AddressInfo {
	var out []flows.AddressInfo
	for _, a := range v.Addresses {
		if a.Kind != address.SSHKey {
			out = append(out, a)
		}
	}
	return out
}

// addressState says where an address stands, for a person.
func addressState(a flows.AddressInfo) string {
	if a.Confirmed {
		return "confirmed"
	}
	if a.LinkCheck != "" {
		return "not confirmed; its link asks for " + a.LinkCheck
	}
	return "not confirmed"
}

func runWhoami(c *call) error {
	v, err := c.Env.Service.Visit(c.Ctx, c.Env.Device)
	if err != nil {
		return fmt.Errorf("read who you are: %w", err)
	}
	if c.JSON {
		return c.Emit(toVisitorJSON(v))
	}
	now := c.Env.Service.Now()
	var rows [][]string
	line := func(label, value string) { rows = append(rows, []string{label, value}) }

	if v.Device.Ephemeral {
		line("device:", "this connection only (no SSH key)")
	} else {
		line("device:", inert.String(v.Device.Tag))
	}
	line("user:", orNone(inert.String(v.User), "(none yet)"))
	switch {
	case v.Account:
		line("account:", "yes")
	case v.User != "":
		line("account:", "no, an anonymous visitor")
	default:
		line("account:", "no, an anonymous visitor (no nickname or stars yet)")
	}
	line("nickname:", orNone(inert.String(v.Nickname), "(none)"))
	line("stars:", orNone(starNames(c.Env.Service, v.Stars), "(none)"))
	addrs := reachable(v)
	if len(addrs) == 0 {
		line("addresses:", "(none)")
	}
	for i, a := range addrs {
		label := ""
		if i == 0 {
			label = "addresses:"
		}
		line(label, fmt.Sprintf("%s (%s)", inert.Address(a.Display), addressState(a)))
	}
	if v.Account {
		keys, this := 0, false
		for _, a := range v.Addresses {
			if a.Kind == address.SSHKey && a.Confirmed {
				keys++
				this = this || a.Display == v.Device.Tag
			}
		}
		switch {
		case keys == 0:
			line("keys:", "none remembered")
		case this:
			line("keys:", fmt.Sprintf("%d remembered, this one included", keys))
		default:
			line("keys:", fmt.Sprintf("%d remembered, not this one", keys))
		}
	}
	switch {
	case v.User == "":
		line("signed in:", "no")
	case v.Method == "visit":
		line("signed in:", "as an anonymous visitor since "+when(v.Since, now))
	default:
		line("signed in:", fmt.Sprintf("%s, since %s, until %s unless used again", method(v.Method), when(v.Since, now), when(v.Until, now)))
	}
	if v.Account {
		if v.HasPassword {
			line("password:", "set")
		} else {
			line("password:", "not set (`password set` sets one)")
		}
		if v.StepUpUntil.IsZero() {
			line("step-up:", "not stepped up (`stepup` allows protected changes)")
		} else {
			line("step-up:", "stepped up until "+when(v.StepUpUntil, now)+", on this device only")
		}
		if a := v.Authenticator; a != nil {
			line("totp:", fmt.Sprintf("yes, %d recovery %s left", a.RecoveryLeft, english.Plural(a.RecoveryLeft, "code", "codes")))
		} else {
			line("totp:", "none (`totp add` enrols an app)")
		}
	}
	if w := v.Waiting; w != nil {
		line("waiting:", fmt.Sprintf("a sign-in %s waits for the authenticator app's code until %s (`totp CODE`, or `recovery CODE`)",
			method(w.Method), when(w.Until, now)))
	}
	if err := cli.Columns(c.Stdout, rows); err != nil {
		return err
	}
	if k := v.KeyAccount; k != nil && !v.Account {
		c.Printf("\nThis key is remembered for %s: `signin --key` signs you in.\n", orNone(inert.String(k.Nickname), "an account"))
	}
	return nil
}

// method says how a device signed in, for a person.
func method(m string) string {
	switch m {
	case "code":
		return "with a code"
	case "ssh":
		return "with a remembered key"
	case "device-link":
		return "by a device link"
	case "password":
		return "with a password"
	case "link":
		return "by a sign-in link"
	case "visit":
		return "as a visitor"
	case "":
		return "-"
	}
	return "by " + inert.String(m)
}

// starNames lists starred items by their catalogue names.
func starNames(svc *flows.Service, ids []string) string {
	names := make([]string, 0, len(ids))
	for _, id := range ids {
		name := id
		for _, it := range svc.Catalogue() {
			if it.ID == id {
				name = it.Name
			}
		}
		names = append(names, inert.String(name))
	}
	return strings.Join(names, ", ")
}

func bindFacts(fs *flag.FlagSet) func(*call) error {
	explained := fs.Bool("explain", false, "one line per fact in plain words, and why it was written so")
	return func(c *call) error {
		if *explained {
			return runFactsExplained(c)
		}
		return runFacts(c)
	}
}

// runFactsExplained prints the visitor's own facts, oldest first, each in
// plain words (flows/explain, as the ledger panel shows them).
func runFactsExplained(c *call) error {
	rec, err := c.Env.Service.RecentFacts(c.Ctx, c.Env.Device, 0)
	if err != nil {
		return fmt.Errorf("read your facts: %w", err)
	}
	for i := len(rec.Facts) - 1; i >= 0; i-- {
		l := plain.Fact(rec.Facts[i], func(h string) string { return rec.Masked[h] })
		c.Printf("%s\n", inert.String(l.String()))
	}
	return nil
}

// runFacts prints the visitor's own facts, always as JSON lines: the
// ledger's own encoding is the most honest answer to "what do you know
// about me".
func runFacts(c *call) error {
	facts, err := c.Env.Service.OwnFacts(c.Ctx, c.Env.Device)
	if err != nil {
		return fmt.Errorf("read your facts: %w", err)
	}
	for _, f := range facts {
		if err := c.Emit(redacted(f)); err != nil {
			return err
		}
	}
	return nil
}

// redacted is a fact as `facts` shows it: a password's hash is left out.
// It is no secret in plaintext, but whoever holds it can guess at the
// password offline, as fast as they like; the ledger keeps it for
// checking passwords, not for showing.
func redacted(f store.Fact) store.Fact {
	if f.Kind == flows.KindPasswordSet {
		var b struct {
			Rehash bool `json:"rehash"`
		}
		_ = json.Unmarshal(f.Body, &b) // only its rehash mark is kept, if it reads
		f.Body = json.RawMessage(`{"phc":"(not shown)"}`)
		if b.Rehash {
			f.Body = json.RawMessage(`{"phc":"(not shown)","rehash":true}`)
		}
	}
	return f
}

// sessionJSON is one line of `sessions --json`.
type sessionJSON struct {
	Tag        string     `json:"tag"`
	Current    bool       `json:"current"` // the device asking
	Method     string     `json:"method"`
	SignedInAt *time.Time `json:"signed_in_at"`
	FirstSeen  *time.Time `json:"first_seen"`
	LastSeen   *time.Time `json:"last_seen"`
	// Until is when the device is signed out unless it is used again.
	Until *time.Time `json:"signed_in_until"`
}

func runSessions(c *call) error {
	list, err := c.Env.Service.Devices(c.Ctx, c.Env.Device)
	if err != nil {
		return fmt.Errorf("list your devices: %w", err)
	}
	if c.JSON {
		for _, d := range list {
			if err := c.Emit(sessionJSON{Tag: d.Tag, Current: d.Current, Method: d.Method,
				SignedInAt: cli.Stamp(d.SignedIn), FirstSeen: cli.Stamp(d.FirstSeen), LastSeen: cli.Stamp(d.LastSeen), Until: cli.Stamp(d.Until)}); err != nil {
				return err
			}
		}
		return nil
	}
	now := c.Env.Service.Now()
	rows := [][]string{{"DEVICE", "SIGNED IN", "FIRST SEEN", "LAST SEEN", "SIGNED IN UNTIL", ""}}
	for _, d := range list {
		mark := ""
		if d.Current {
			mark = "← this device"
		}
		rows = append(rows, []string{inert.String(d.Tag), method(d.Method), when(d.FirstSeen, now), when(d.LastSeen, now), lapse(d.Until, now), mark})
	}
	return cli.Columns(c.Stdout, rows)
}

// lapse says when a sign-in lapses; an anonymous visit does not.
func lapse(t, now time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return when(t, now)
}

// signoutJSON is what `signout --json` prints.
type signoutJSON struct {
	SignedOut     string `json:"signed_out"`     // "device" or "everywhere"
	Devices       int    `json:"devices"`        // how many devices were signed out
	KeysForgotten int    `json:"keys_forgotten"` // remembered keys forgotten (--forget-keys)
}

func bindSignout(fs *flag.FlagSet) func(*call) error {
	everywhere := fs.Bool("everywhere", false, "sign out every device of the account, this one included (protected)")
	forgetKeys := fs.Bool("forget-keys", false, "with --everywhere: forget every remembered key of the account too")
	return func(c *call) error {
		switch {
		case *forgetKeys && !*everywhere:
			return usagef("--forget-keys goes with --everywhere")
		case *everywhere:
			return signOutEverywhere(c, *forgetKeys)
		}
		return signOut(c)
	}
}

func signOut(c *call) error {
	// Read first only to say what the sign-out meant; SignOut decides.
	v, err := c.Env.Service.Visit(c.Ctx, c.Env.Device)
	if err != nil {
		return fmt.Errorf("read who you are: %w", err)
	}
	if err := c.Env.Service.SignOut(c.Ctx, c.Env.Device); err != nil {
		return fmt.Errorf("sign out: %w", err)
	}
	if c.JSON {
		return c.Emit(signoutJSON{SignedOut: "device", Devices: 1})
	}
	if v.Account {
		c.Printf("Signed out of %s on this device. What you saved stays with the account: sign in again to see it.\n",
			orNone(inert.String(v.Nickname), "your account"))
	} else {
		c.Printf("Signed out on this device. It starts afresh as a new anonymous visitor; what it saved is left behind.\n")
	}
	return nil
}

func signOutEverywhere(c *call, forgetKeys bool) error {
	// Count first only to say what happened; SignOutEverywhere decides.
	list, err := c.Env.Service.Devices(c.Ctx, c.Env.Device)
	if err != nil {
		return fmt.Errorf("list your devices: %w", err)
	}
	var keys []flows.KeyInfo
	if forgetKeys {
		if keys, err = c.Env.Service.Keys(c.Ctx, c.Env.Device); err != nil {
			return fmt.Errorf("list your keys: %w", err)
		}
	}
	if err := c.Env.Service.SignOutEverywhere(c.Ctx, c.Env.Device, forgetKeys); err != nil {
		return fmt.Errorf("sign out everywhere: %w", err)
	}
	if c.JSON {
		return c.Emit(signoutJSON{SignedOut: "everywhere", Devices: len(list), KeysForgotten: len(keys)})
	}
	if len(list) <= 1 {
		c.Printf("Signed out everywhere: this device was the only one signed in.\n")
	} else {
		c.Printf("Signed out everywhere: %d devices, this one included. Each must sign in again.\n", len(list))
	}
	switch {
	case !forgetKeys:
	case len(keys) == 0:
		c.Printf("No key was remembered for the account, so there was none to forget.\n")
	default:
		c.Printf("Forgot %d remembered %s: signing in again needs a code.\n", len(keys), english.Plural(len(keys), "key", "keys"))
	}
	return nil
}

// nicknameJSON is what `nickname --json` prints.
type nicknameJSON struct {
	Nickname string `json:"nickname"` // "" when there is none
}

func runNickname(c *call) error {
	if len(c.Args) == 0 {
		v, err := c.Env.Service.Visit(c.Ctx, c.Env.Device)
		if err != nil {
			return fmt.Errorf("read your nickname: %w", err)
		}
		if c.JSON {
			return c.Emit(nicknameJSON{v.Nickname})
		}
		if v.Nickname == "" {
			c.Printf("You have no nickname yet. Set one with: nickname NAME\n")
		} else {
			c.Printf("%s\n", inert.String(v.Nickname))
		}
		return nil
	}
	v, err := c.Env.Service.SetNickname(c.Ctx, c.Env.Device, strings.Join(c.Args, " "))
	if err != nil {
		return fmt.Errorf("set your nickname: %w", err)
	}
	if c.JSON {
		return c.Emit(nicknameJSON{v.Nickname})
	}
	c.Printf("Nickname set to %s.\n", inert.String(v.Nickname))
	return nil
}
