package commands

import (
	"fmt"
	"time"

	"github.com/attest-dev/attest/flows"
	"github.com/attest-dev/attest/flows/address"
	"github.com/attest-dev/attest/tui/inert"
)

// needAccount is the refusal of a command that lists an account's things
// on a device not signed in to one, in the flows' words.
var needAccount = &flows.Problem{Code: flows.ProblemSignedOut, Msg: "This needs a signed-in account; sign in first."}

// runAddresses lists the account's email addresses and phone numbers:
// the addresses part of `whoami`, one per line.
func runAddresses(c *call) error {
	v, err := c.svc().Visit(c.ctx, c.dev())
	if err != nil {
		return fmt.Errorf("read your addresses: %w", err)
	}
	if !v.Account {
		return needAccount
	}
	addrs := reachable(v)
	if c.json {
		for _, a := range addrs {
			if err := c.emit(toAddressJSON(a)); err != nil {
				return err
			}
		}
		return nil
	}
	now := c.svc().Now()
	rows := [][]string{{"KIND", "ADDRESS", "STATE", "SINCE"}}
	unconfirmed := false
	for _, a := range addrs {
		since := a.ConfirmedAt
		if !a.Confirmed {
			since, unconfirmed = a.Added, true
		}
		rows = append(rows, []string{inert.String(string(a.Kind)), inert.Address(a.Display), addressState(a), when(since, now)})
	}
	if err := columns(c.env.Stdout, rows); err != nil {
		return err
	}
	if unconfirmed {
		c.printf("\nConfirm an address with the code it was sent (`code CODE`), or ask for a fresh one: address confirm ADDRESS\n")
	}
	return nil
}

// addressOf returns the account's address (email or phone) that input
// names, if it is on the account, for saying what a change did. The flows
// decide; this only reads.
func (c *call) addressOf(input string) (flows.AddressInfo, bool) {
	hash, err := c.svc().AddressHash(input)
	if err != nil {
		return flows.AddressInfo{}, false
	}
	v, err := c.svc().Visit(c.ctx, c.dev())
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
func (c *call) display(input string) string {
	if a, err := c.svc().ParseAddress(input); err == nil {
		return a.Display()
	}
	return input
}

func runAddressAdd(c *call) error {
	if address.LooksLikeWallet(c.args[0]) {
		return runWalletAdd(c)
	}
	iss, err := c.svc().AddAddress(c.ctx, c.dev(), c.args[0])
	if err != nil {
		return fmt.Errorf("add the address: %w", err)
	}
	if c.json {
		return c.emit(toIssuedJSON(iss, iss.To))
	}
	printIssued(c, iss, " to confirm it")
	c.printf("Until then it is on your account, not confirmed.\n")
	return nil
}

func runAddressConfirm(c *call) error {
	if address.LooksLikeWallet(c.args[0]) {
		return runWalletAdd(c) // a wallet is confirmed by signing a fresh challenge
	}
	iss, err := c.svc().ConfirmAddress(c.ctx, c.dev(), c.args[0])
	if err != nil {
		return fmt.Errorf("send a confirmation code: %w", err)
	}
	if c.json {
		return c.emit(toIssuedJSON(iss, iss.To))
	}
	printIssued(c, iss, " to confirm it")
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
	old, _ := c.addressOf(c.args[0])
	iss, err := c.svc().EditAddress(c.ctx, c.dev(), c.args[0], c.args[1])
	if err != nil {
		return fmt.Errorf("edit the address: %w", err)
	}
	oldShown := c.display(c.args[0])
	if c.json {
		return c.emit(editJSON{issuedJSON: toIssuedJSON(iss, iss.To), Old: oldShown, OldKept: old.Confirmed})
	}
	printIssued(c, iss, " to confirm it")
	if old.Confirmed {
		c.printf("%s stays on your account beside it until you unlink it: address unlink %s\n", inert.Address(oldShown), inert.String(c.args[0]))
	} else {
		c.printf("It replaces %s, which was not confirmed.\n", inert.Address(oldShown))
	}
	return nil
}

// unlinkJSON is what `address unlink --json` prints.
type unlinkJSON struct {
	Address string `json:"address"`
	Changed bool   `json:"changed"` // false: it was not on the account
}

func runAddressUnlink(c *call) error {
	before, _ := c.addressOf(c.args[0])
	out, err := c.svc().UnlinkAddress(c.ctx, c.dev(), c.args[0])
	if err != nil {
		return fmt.Errorf("unlink the address: %w", err)
	}
	shown := c.display(c.args[0])
	if c.json {
		return c.emit(unlinkJSON{Address: shown, Changed: out.Changed})
	}
	switch {
	case !out.Changed:
		c.printf("%s is not on your account; there is nothing to unlink.\n", inert.Address(shown))
	case before.Confirmed:
		c.printf("Unlinked %s from your account. Your other addresses, and this one, are told.\n", inert.Address(shown))
	default:
		c.printf("Unlinked %s from your account.\n", inert.Address(shown))
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
	events, err := c.svc().History(c.ctx, c.dev())
	if err != nil {
		return fmt.Errorf("read your history: %w", err)
	}
	if c.json {
		for _, e := range events {
			if err := c.emit(historyJSON{Time: stamp(e.Time), Kind: string(e.Kind), Address: e.Display, Event: e.Event, Detail: e.Detail}); err != nil {
				return err
			}
		}
		return nil
	}
	if len(events) == 0 {
		c.printf("No address has changed yet.\n")
		return nil
	}
	now := c.svc().Now()
	rows := [][]string{{"WHEN", "KIND", "ADDRESS", "EVENT"}}
	for _, e := range events {
		what := inert.String(e.Event)
		if e.Detail != "" {
			what += " (" + inert.String(e.Detail) + ")"
		}
		rows = append(rows, []string{when(e.Time, now), inert.String(string(e.Kind)), inert.Address(e.Display), what})
	}
	return columns(c.env.Stdout, rows)
}
