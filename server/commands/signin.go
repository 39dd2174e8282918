package commands

import (
	"fmt"
	"strings"
	"time"

	"github.com/attest-dev/attest/flows"
	"github.com/attest-dev/attest/tui/inert"
)

// issuedJSON is what `signin --json` prints.
type issuedJSON struct {
	Letter    string     `json:"letter"`
	Digits    int        `json:"digits"`
	Purpose   string     `json:"purpose"`
	Channel   string     `json:"channel"` // "email" or "sms"
	To        string     `json:"to"`
	ExpiresAt *time.Time `json:"expires_at"`
	NextAt    *time.Time `json:"next_at"` // when another code can be asked for
	Tries     int        `json:"tries"`   // wrong tries the code survives
}

func runSignin(c *call) error {
	iss, err := c.svc().RequestSignIn(c.ctx, c.dev(), c.args[0])
	if err != nil {
		return fmt.Errorf("send a sign-in code: %w", err)
	}
	if c.dev().Ephemeral {
		// Each `ssh host code ...` without a key is a new device, which
		// has no code: say so rather than let the code go to waste.
		fmt.Fprintln(c.env.Stderr, "Note: this connection has no SSH key, so another connection cannot enter the code. "+
			"Connect with a key, or with a terminal (ssh -t) to enter it in the same session.")
	}
	if c.json {
		return c.emit(issuedJSON{Letter: iss.Letter, Digits: iss.Digits, Purpose: iss.Purpose, Channel: string(iss.Channel),
			To: iss.To, ExpiresAt: stamp(iss.Expires), NextAt: stamp(iss.NextAt), Tries: iss.Tries})
	}
	now := c.svc().Now()
	c.printf("Code %s (%d digits) sent to %s. It expires at %s. Enter it with: code %s-%s\n",
		iss.Letter, iss.Digits, inert.String(iss.To), when(iss.Expires, now), iss.Letter, strings.Repeat("N", iss.Digits))
	c.printf("Another code can be asked for at %s.\n", when(iss.NextAt, now))
	return nil
}

// enteredJSON is what `code --json` prints.
type enteredJSON struct {
	Purpose  string      `json:"purpose"`
	Letter   string      `json:"letter"`
	SignedUp bool        `json:"signed_up"`
	Merged   *mergeJSON  `json:"merged"` // null unless a visit's data moved into the account
	Visitor  visitorJSON `json:"visitor"`
}

type mergeJSON struct {
	From            string   `json:"from"`
	Stars           []string `json:"stars"`
	VisitorNickname string   `json:"visitor_nickname"`
	NicknameTaken   bool     `json:"nickname_taken"`
}

func runCode(c *call) error {
	// flows reads "B-4821", "B 4821", "b4821" and "4821" alike.
	out, err := c.svc().EnterCode(c.ctx, c.dev(), "", strings.Join(c.args, " "))
	if err != nil {
		return fmt.Errorf("enter the code: %w", err)
	}
	if c.json {
		e := enteredJSON{Purpose: out.Purpose, Letter: out.Letter, SignedUp: out.SignedUp, Visitor: toVisitorJSON(out.Visitor)}
		if m := out.Merged; m != nil {
			e.Merged = &mergeJSON{From: m.From, Stars: nonNil(m.Stars), VisitorNickname: m.VisitorNickname, NicknameTaken: m.NicknameTaken}
		}
		return c.emit(e)
	}
	if out.Purpose != flows.PurposeSignIn {
		c.printf("Code %s accepted.\n", out.Letter)
		return nil
	}
	who := orNone(inert.String(out.Visitor.Nickname), "your account")
	if out.SignedUp {
		c.printf("Signed up: this device is now signed in as %s.\n", who)
	} else {
		c.printf("Signed in as %s.\n", who)
	}
	if m := out.Merged; m != nil {
		if len(m.Stars) > 0 {
			c.printf("Brought over from your visit: %s.\n", starNames(c.svc(), m.Stars))
		}
		switch {
		case m.NicknameTaken:
			c.printf("The account had no nickname and took yours, %s.\n", inert.String(m.VisitorNickname))
		case m.VisitorNickname != "":
			c.printf("The account kept its nickname; yours from the visit (%s) was not used.\n", inert.String(m.VisitorNickname))
		}
	}
	return nil
}
