package commands

import (
	"flag"
	"fmt"
	"strings"
	"time"

	"github.com/attest-dev/attest/flows"
	"github.com/attest-dev/attest/flows/address"
	"github.com/attest-dev/attest/internal/cli"
	"github.com/attest-dev/attest/internal/inert"
)

// issuedJSON is what `signin --json` prints, and every other command that
// sends a code (`stepup`, `address add`, `address confirm`, `address edit`).
type issuedJSON struct {
	Letter    string     `json:"letter"`
	Digits    int        `json:"digits"`
	Purpose   string     `json:"purpose"` // "signin", "confirm" or "stepup"
	Channel   string     `json:"channel"` // "email" or "sms"
	To        string     `json:"to"`      // masked for a step-up code
	ExpiresAt *time.Time `json:"expires_at"`
	NextAt    *time.Time `json:"next_at"` // when another code can be asked for
	Tries     int        `json:"tries"`   // wrong tries the code survives
	// LinkCheck is what the page of the link in the same message asks
	// for, when the message has one (an added email).
	LinkCheck string `json:"link_check,omitempty"`
}

func toIssuedJSON(iss flows.Issued, to string) issuedJSON {
	return issuedJSON{Letter: iss.Letter, Digits: iss.Digits, Purpose: iss.Purpose, Channel: string(iss.Channel),
		To: to, ExpiresAt: cli.Stamp(iss.Expires), NextAt: cli.Stamp(iss.NextAt), Tries: iss.Tries,
		LinkCheck: iss.LinkCheck}
}

func bindSignin(fs *flag.FlagSet) func(*call) error {
	key := fs.Bool("key", false, "sign in with the key this connection uses, if it is remembered for an account")
	link := fs.Bool("link", false, "send a sign-in link to ADDRESS instead of a code, and wait until it is pressed")
	// --no-wait is refused with --link, saying why, rather than left out
	// (an unknown flag says nothing of why): a sign-in link signs in only
	// the session that waits for it, so not waiting would waste it.
	noWait := fs.Bool("no-wait", false, "refused: a sign-in link works only while this command waits for it")
	with := fs.String("with", "", "sign in with the provider `NAME` (see `providers`) and wait for it")
	return func(c *call) error {
		switch {
		case *with != "" && (*key || *link || *noWait || len(c.Args) > 0):
			return usagef("--with NAME goes alone")
		case *with != "":
			return withOIDC(c, *with, flows.PurposeSignIn)
		case *key && *link:
			return usagef("takes --key or --link, not both")
		case *noWait:
			return usagef("--no-wait does not go with signin: a sign-in link signs in the session that waits for it, " +
				"so once this command ended its button would only say \"Session ended\". Leave --no-wait out (signin --link " +
				"waits up to 5 minutes), or send a code instead: signin ADDRESS, then code CODE")
		case *key && len(c.Args) > 0:
			return usagef("takes ADDRESS or --key, not both")
		case *key:
			return signInWithKey(c)
		case len(c.Args) == 0 && *link:
			return usagef("--link needs ADDRESS")
		case len(c.Args) == 0:
			return usagef("needs ADDRESS, or --key to sign in with the key this connection uses")
		case *link:
			return runSigninLink(c, true)
		}
		return runSignin(c)
	}
}

func runSignin(c *call) error {
	if address.LooksLikeWallet(c.Args[0]) {
		if err := needsKey(c, "the signature it asks for could never be given"); err != nil {
			return err
		}
		return runWalletSignin(c)
	}
	if err := needsKey(c, "the code it sends could never be entered"); err != nil {
		return err
	}
	iss, err := c.Env.Service.RequestSignIn(c.Ctx, c.Env.Device, c.Args[0])
	if err != nil {
		return fmt.Errorf("send a sign-in code: %w", err)
	}
	if c.JSON {
		return c.Emit(toIssuedJSON(iss, iss.To))
	}
	printIssued(c, iss, "")
	return nil
}

// needsKey refuses, before anything is sent or recorded, a command that
// starts what only a later command of the same device finishes (a code
// to enter, a message to sign): each connection without an SSH key is a
// new device, so no later command could finish it. what says what would
// be lost.
func needsKey(c *call, what string) error {
	if !c.Env.Device.Ephemeral {
		return nil
	}
	return &flows.Problem{Code: flows.ProblemInput, Msg: "This connection has no SSH key, so " + what +
		": each connection without a key is a new device. Nothing was sent. Connect with an SSH key (ssh -i KEY ...), " +
		"or open the screens, where one session both starts and finishes it: ssh HOST with no command (with -p PORT as here)."}
}

// printIssued tells a person about a code that went out: "Code B (4
// digits) sent to ADDRESS<what>. It expires at .... Enter it with: ...".
func printIssued(c *call, iss flows.Issued, what string) {
	now := c.Env.Service.Now()
	c.Printf("Code %s (%d digits) sent to %s%s. It expires at %s. Enter it with: code %s-%s\n",
		iss.Letter, iss.Digits, inert.Address(iss.To), what, when(iss.Expires, now), iss.Letter, strings.Repeat("N", iss.Digits))
	c.Printf("Another code can be asked for at %s.\n", when(iss.NextAt, now))
	if iss.LinkCheck != "" {
		c.Printf("The message also has a link that confirms it: its page asks for %s, which only this account's terminals show.\n", iss.LinkCheck)
	}
}

func signInWithKey(c *call) error {
	out, err := c.Env.Service.SignInWithKey(c.Ctx, c.Env.Device)
	if err != nil {
		return fmt.Errorf("sign in with this key: %w", err)
	}
	if c.JSON {
		return c.Emit(toEnteredJSON(out))
	}
	if printWaiting(c, out.Visitor) {
		return nil
	}
	c.Printf("Signed in as %s with this device's key.\n", orNone(inert.String(out.Visitor.Nickname), "your account"))
	printMerge(c, out.Merged)
	return nil
}

// enteredJSON is what `code --json` prints, and `split`, `signin --key`.
type enteredJSON struct {
	Purpose  string      `json:"purpose"`
	Letter   string      `json:"letter"`
	SignedUp bool        `json:"signed_up"`
	Merged   *mergeJSON  `json:"merged"` // null unless a visit's data moved into the account
	Visitor  visitorJSON `json:"visitor"`
	// StepUpUntil is set when the code stepped the device up.
	StepUpUntil *time.Time `json:"step_up_until"`
	// Split is set when the sign-in may be followed by `split new`: the
	// account has another address of the code's kind.
	Split *splitJSON `json:"split"`
	// ConfirmedAddress is the address a confirmation code confirmed.
	ConfirmedAddress *addressJSON `json:"confirmed_address"`
}

type mergeJSON struct {
	From            string   `json:"from"`
	Stars           []string `json:"stars"`
	VisitorNickname string   `json:"visitor_nickname"`
	NicknameTaken   bool     `json:"nickname_taken"`
}

type splitJSON struct {
	Address string   `json:"address"` // masked
	Kind    string   `json:"kind"`    // "email" or "phone"
	Keeps   []string `json:"keeps"`   // what the account keeps, masked
	Choices []string `json:"choices"` // the sub-commands of `split`: "signin", "new"
}

func toSplitJSON(s *flows.Split) *splitJSON {
	if s == nil {
		return nil
	}
	return &splitJSON{Address: s.Address, Kind: string(s.Kind), Keeps: cli.NonNil(s.Keeps), Choices: []string{flows.SplitSignIn, flows.SplitNew}}
}

func toEnteredJSON(out flows.Entered) enteredJSON {
	e := enteredJSON{Purpose: out.Purpose, Letter: out.Letter, SignedUp: out.SignedUp, Visitor: toVisitorJSON(out.Visitor),
		StepUpUntil: cli.Stamp(out.StepUpUntil)}
	if m := out.Merged; m != nil {
		e.Merged = &mergeJSON{From: m.From, Stars: cli.NonNil(m.Stars), VisitorNickname: m.VisitorNickname, NicknameTaken: m.NicknameTaken}
	}
	e.Split = toSplitJSON(out.Split)
	if out.Purpose == flows.PurposeConfirm {
		if a, ok := justConfirmed(out.Visitor); ok {
			j := toAddressJSON(a)
			e.ConfirmedAddress = &j
		}
	}
	return e
}

// justConfirmed finds the address a confirmation code confirmed: the
// account's most recently confirmed email address or phone number.
// (flows.Entered does not name it.)
func justConfirmed(v flows.Visitor) (flows.AddressInfo, bool) {
	var best flows.AddressInfo
	found := false
	for _, a := range reachable(v) {
		if a.Confirmed && a.Method == "code" && (!found || !a.ConfirmedAt.Before(best.ConfirmedAt)) {
			best, found = a, true
		}
	}
	return best, found
}

func runCode(c *call) error {
	// flows reads "B-4821", "B 4821", "b4821" and "4821" alike.
	out, err := c.Env.Service.EnterCode(c.Ctx, c.Env.Device, "", strings.Join(c.Args, " "))
	if err != nil {
		return fmt.Errorf("enter the code: %w", err)
	}
	if c.JSON {
		return c.Emit(toEnteredJSON(out))
	}
	switch {
	case out.Purpose == flows.PurposeStepUp:
		c.Printf("Stepped up: protected changes work on this device until %s.\n", when(out.StepUpUntil, c.Env.Service.Now()))
	case out.Purpose == flows.PurposeConfirm:
		if a, ok := justConfirmed(out.Visitor); ok {
			c.Printf("Code %s accepted: %s is confirmed on your account.\n", out.Letter, inert.Address(a.Display))
		} else {
			c.Printf("Code %s accepted: the address is confirmed on your account.\n", out.Letter)
		}
	case out.Purpose == flows.PurposeSignIn:
		printSignedIn(c, out)
		printSplitOffer(c, out.Split)
	default:
		c.Printf("Code %s accepted.\n", out.Letter)
	}
	return nil
}

// printSignedIn tells a person what a sign-in did.
func printSignedIn(c *call, out flows.Entered) {
	if printWaiting(c, out.Visitor) {
		return
	}
	who := orNone(inert.String(out.Visitor.Nickname), "your account")
	if out.SignedUp {
		c.Printf("Signed up: this device is now signed in as %s.\n", who)
	} else {
		c.Printf("Signed in as %s.\n", who)
	}
	printMerge(c, out.Merged)
}

// printMerge tells a person what a visit brought into the account.
func printMerge(c *call, m *flows.Merge) {
	if m == nil {
		return
	}
	if len(m.Stars) > 0 {
		c.Printf("Brought over from your visit: %s.\n", starNames(c.Env.Service, m.Stars))
	}
	switch {
	case m.NicknameTaken:
		c.Printf("The account had no nickname and took yours, %s.\n", inert.String(m.VisitorNickname))
	case m.VisitorNickname != "":
		c.Printf("The account kept its nickname; yours from the visit (%s) was not used.\n", inert.String(m.VisitorNickname))
	}
}
