package commands

import (
	"context"
	"fmt"
	"time"

	"github.com/attest-dev/attest/flows"
	"github.com/attest-dev/attest/flows/address"
	"github.com/attest-dev/attest/internal/cli"
	"github.com/attest-dev/attest/internal/inert"
)

// needAccount is the refusal of a command that lists an account's things
// on a device not signed in to one, in the flows' words.
var needAccount = &flows.Problem{Code: flows.ProblemSignedOut, Msg: "This needs a signed-in account; sign in first."}

// runAddresses lists the account's email addresses and phone numbers:
// the addresses part of `whoami`, one per line.
func runAddresses(c *call) error {
	v, err := c.Env.Service.Visit(c.Ctx, c.Env.Device)
	if err != nil {
		return fmt.Errorf("read your addresses: %w", err)
	}
	if !v.Account {
		return needAccount
	}
	addrs := reachable(v)
	if c.JSON {
		for _, a := range addrs {
			if err := c.Emit(toAddressJSON(a)); err != nil {
				return err
			}
		}
		return nil
	}
	now := c.Env.Service.Now()
	rows := [][]string{{"KIND", "ADDRESS", "STATE", "SINCE"}}
	unconfirmed := false
	for _, a := range addrs {
		since := a.ConfirmedAt
		if !a.Confirmed {
			since, unconfirmed = a.Added, true
		}
		rows = append(rows, []string{inert.String(string(a.Kind)), inert.Address(a.Display), addressState(a), when(since, now)})
	}
	if err := cli.Columns(c.Stdout, rows); err != nil {
		return err
	}
	if unconfirmed {
		c.Printf("\nConfirm an address with the code it was sent (`code CODE`), or ask for a fresh one: address confirm ADDRESS\n")
	}
	return nil
}

// addressOf returns the account's address (email or phone) that input
// names, if it is on the account, for saying what a change did. The flows
// decide; this only reads.
func addressOf(c *call, input string) (flows.AddressInfo, bool) {
	hash, err := c.Env.Service.AddressHash(input)
	if err != nil {
		return flows.AddressInfo{}, false
	}
	v, err := c.Env.Service.Visit(c.Ctx, c.Env.Device)
	if err != nil {
		return flows.AddressInfo{}, false
	}
	for _, a := range reachable(v) {
		if a.Hash == hash {
			return a, true
		}
	}
	return flows.AddressInfo{}, false
}

// display is input as the account shows it ("+1 415-555-2671"), once the
// flows have accepted it; the input itself, inert, otherwise.
func display(c *call, input string) string {
	if a, err := c.Env.Service.ParseAddress(input); err == nil {
		return a.Display()
	}
	return input
}

func runAddressAdd(c *call) error {
	return sendConfirmCode(c, c.Env.Service.AddAddress, "add the address", "Until then it is on your account, not confirmed.\n")
}

func runAddressConfirm(c *call) error {
	return sendConfirmCode(c, c.Env.Service.ConfirmAddress, "send a confirmation code", "")
}

// sendConfirmCode is what `address add` and `address confirm` share: a
// wallet is confirmed by signing a fresh challenge; any other address
// gets a code from send, and the answer says where it went (then more,
// in text).
func sendConfirmCode(c *call, send func(context.Context, flows.Device, string) (flows.Issued, error), doing, more string) error {
	if address.LooksLikeWallet(c.Args[0]) {
		return runWalletAdd(c)
	}
	iss, err := send(c.Ctx, c.Env.Device, c.Args[0])
	if err != nil {
		return fmt.Errorf("%s: %w", doing, err)
	}
	if c.JSON {
		return c.Emit(toIssuedJSON(iss, iss.To))
	}
	printIssued(c, iss, " to confirm it")
	c.Printf("%s", more)
	return nil
}

// editJSON is what `address edit --json` prints: the code sent to the new
// address, and what became of the old one.
type editJSON struct {
	issuedJSON
	Old     string `json:"old"`
	OldKept bool   `json:"old_kept"` // a confirmed old address stays until unlinked
}

func runAddressEdit(c *call) error {
	old, _ := addressOf(c, c.Args[0])
	iss, err := c.Env.Service.EditAddress(c.Ctx, c.Env.Device, c.Args[0], c.Args[1])
	if err != nil {
		return fmt.Errorf("edit the address: %w", err)
	}
	oldShown := display(c, c.Args[0])
	if c.JSON {
		return c.Emit(editJSON{issuedJSON: toIssuedJSON(iss, iss.To), Old: oldShown, OldKept: old.Confirmed})
	}
	printIssued(c, iss, " to confirm it")
	if old.Confirmed {
		c.Printf("%s stays on your account beside it until you unlink it: address unlink %s\n", inert.Address(oldShown), inert.String(c.Args[0]))
	} else {
		c.Printf("It replaces %s, which was not confirmed.\n", inert.Address(oldShown))
	}
	return nil
}

// unlinkJSON is what `address unlink --json` prints.
type unlinkJSON struct {
	Address string `json:"address"`
	Changed bool   `json:"changed"` // false: it was not on the account
}

func runAddressUnlink(c *call) error {
	before, _ := addressOf(c, c.Args[0])
	out, err := c.Env.Service.UnlinkAddress(c.Ctx, c.Env.Device, c.Args[0])
	if err != nil {
		return fmt.Errorf("unlink the address: %w", err)
	}
	shown := display(c, c.Args[0])
	if c.JSON {
		return c.Emit(unlinkJSON{Address: shown, Changed: out.Changed})
	}
	switch {
	case !out.Changed:
		c.Printf("%s is not on your account; there is nothing to unlink.\n", inert.Address(shown))
	case before.Confirmed:
		c.Printf("Unlinked %s from your account. Your other addresses, and this one, are told.\n", inert.Address(shown))
	default:
		c.Printf("Unlinked %s from your account.\n", inert.Address(shown))
	}
	return nil
}

// historyJSON is one line of `history --json`.
type historyJSON struct {
	Time    *time.Time `json:"time"`
	Kind    string     `json:"kind"` // "email", "phone", "sshkey"
	Address string     `json:"address"`
	Event   string     `json:"event"`  // "added", "confirmed", "ended"
	Detail  string     `json:"detail"` // how it was confirmed, or why it ended
}

func runHistory(c *call) error {
	events, err := c.Env.Service.History(c.Ctx, c.Env.Device)
	if err != nil {
		return fmt.Errorf("read your history: %w", err)
	}
	if c.JSON {
		for _, e := range events {
			if err := c.Emit(historyJSON{Time: cli.Stamp(e.Time), Kind: string(e.Kind), Address: e.Display, Event: e.Event, Detail: e.Detail}); err != nil {
				return err
			}
		}
		return nil
	}
	if len(events) == 0 {
		c.Printf("No address has changed yet.\n")
		return nil
	}
	now := c.Env.Service.Now()
	rows := [][]string{{"WHEN", "KIND", "ADDRESS", "EVENT"}}
	for _, e := range events {
		what := inert.String(e.Event)
		if e.Detail != "" {
			what += " (" + inert.String(e.Detail) + ")"
		}
		rows = append(rows, []string{when(e.Time, now), inert.String(string(e.Kind)), inert.Address(e.Display), what})
	}
	return cli.Columns(c.Stdout, rows)
}
