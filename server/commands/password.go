package commands

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/attest-dev/attest/flows"
	"github.com/attest-dev/attest/flows/password"
	"github.com/attest-dev/attest/internal/cli"
	"github.com/attest-dev/attest/internal/english"
	"github.com/attest-dev/attest/internal/inert"
)

// Passwords reach command mode on standard input, never on the command
// line, where they would stay in shell history, in `ps` and in logs:
//
//	printf '%s\n' "$PASSWORD" | ssh host login grace@example.com
//
// A password is never printed, echoed or put in an error: the messages
// here name it, and the flows' refusals are fixed text.

// pipeHint shows how to give a command its password.
func pipeHint(cmdline string) string {
	return `printf '%s\n' "$PASSWORD" | ssh host ` + cmdline
}

// maxPasswordLine bounds what is read looking for the password's line:
// the password policy's own bound on raw input, and a little for the line
// ending. Anything longer is refused without reading on.
const maxPasswordLine = 4 * 4 * password.MaxLength

// readPassword reads the password from standard input: its first line,
// without the line ending. An empty one is a usage error: nothing was
// piped in. cmdline is the command as the hint shows it ("login ADDRESS").
func readPassword(c *call, cmdline string) (string, error) {
	type line struct {
		s   string
		err error
	}
	got := make(chan line, 1)
	go func() {
		s, err := firstLine(c.Stdin, maxPasswordLine)
		got <- line{s, err}
	}()
	var l line
	select {
	case l = <-got:
	case <-c.Ctx.Done():
		return "", fmt.Errorf("stopped waiting for the password on standard input: %w", context.Cause(c.Ctx))
	}
	switch {
	case errors.Is(l.err, errLineTooLong):
		return "", &flows.Problem{Code: flows.ProblemInput, Msg: "That password is too long: use at most 256 characters."}
	case l.err != nil:
		return "", fmt.Errorf("read the password from standard input: %w", l.err)
	case l.s == "":
		return "", usagef("needs the password on standard input (its first line), as in: %s", pipeHint(cmdline))
	}
	return l.s, nil
}

var errLineTooLong = errors.New("line too long")

// firstLine reads r up to its first newline (or its end) and returns
// what came before, without "\n" or "\r\n". It reads at most limit bytes
// and a line ending.
func firstLine(r io.Reader, limit int) (string, error) {
	var buf []byte
	chunk := make([]byte, 512)
	for {
		n, err := r.Read(chunk)
		buf = append(buf, chunk[:n]...)
		if i := bytes.IndexByte(buf, '\n'); i >= 0 {
			buf = buf[:i]
			break
		}
		if len(buf) > limit+1 {
			return "", errLineTooLong
		}
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return "", err
		}
	}
	buf = bytes.TrimSuffix(buf, []byte("\r"))
	if len(buf) > limit {
		return "", errLineTooLong
	}
	return string(buf), nil
}

// magicLinkJSON describes a link that went out.
type magicLinkJSON struct {
	Check     string     `json:"check"`   // what the link's page asks for; only this terminal shows it
	Channel   string     `json:"channel"` // "email" or "sms"
	ExpiresAt *time.Time `json:"expires_at"`
	NextAt    *time.Time `json:"next_at"` // when another message can go to the address
}

func toMagicLinkJSON(l *flows.LinkSent) *magicLinkJSON {
	if l == nil {
		return nil
	}
	return &magicLinkJSON{Check: l.Check, Channel: string(l.Channel), ExpiresAt: cli.Stamp(l.Expires), NextAt: cli.Stamp(l.NextAt)}
}

// loginJSON is what `login --json`, `resend --json` and `signin --link
// --json` print: first where things stand, then, once a waited-for link
// was pressed, a second line with signed_in true. (When the link expires
// instead, the second line is the error.)
type loginJSON struct {
	SignedIn bool           `json:"signed_in"`
	Pending  bool           `json:"pending"` // a link is to be followed
	To       string         `json:"to"`      // the address
	Link     *magicLinkJSON `json:"link"`    // null unless this command sent a link
	Merged   *mergeJSON     `json:"merged"`  // null unless a visit's data moved into the account
	Visitor  *visitorJSON   `json:"visitor"` // null until signed in
}

func toMergeJSON(m *flows.Merge) *mergeJSON {
	if m == nil {
		return nil
	}
	return &mergeJSON{From: m.From, Stars: cli.NonNil(m.Stars), VisitorNickname: m.VisitorNickname, NicknameTaken: m.NicknameTaken}
}

// The flags of the commands that wait for a magic link.
func bindNoWait(fs *flag.FlagSet) *bool {
	return fs.Bool("no-wait", false, "do not wait for the link: a sign-in link then finds no waiting session (a registration's link still works)")
}

// linkTTLWords is how long a magic link works, in words: "5 minutes".
func linkTTLWords() string {
	if d := flows.LinkTTL; d%time.Minute == 0 {
		return fmt.Sprintf("%d %s", d/time.Minute, english.Plural(int(d/time.Minute), "minute", "minutes"))
	}
	return flows.LinkTTL.String()
}

// hintAddress is an address as a command line hint shows it: the
// normalized form, which a shell keeps as one word ("+14155552671" rather
// than "+1 415-555-2671").
func hintAddress(c *call, input string) string {
	if a, err := c.Env.Service.ParseAddress(input); err == nil {
		return inert.String(a.Value)
	}
	return inert.String(input)
}

// linkWaiter is this session waiting for a magic link: a link signs in
// only a session that watches its device, so the watcher lives from
// before the link is asked for until the wait ends.
type linkWaiter struct {
	w      *flows.Watcher
	before flows.Visitor // the device before the link was asked for
}

// startWaiting watches the device, then reads it. Both come before the
// request: a link pressed at once must find the session watching, and
// its sign-in must be a change from what was read. Without wait it
// returns a nil waiter, whose stop does nothing.
func startWaiting(c *call, wait bool) (*linkWaiter, error) {
	if !wait {
		return nil, nil
	}
	w := c.Env.Service.Watch(c.Env.Device.Tag)
	v, err := c.Env.Service.Visit(c.Ctx, c.Env.Device)
	if err != nil {
		w.Stop()
		return nil, fmt.Errorf("read who you are: %w", err)
	}
	if v.User != "" {
		w.SetUser(v.User)
	}
	return &linkWaiter{w: w, before: v}, nil
}

func (lw *linkWaiter) stop() {
	if lw != nil {
		lw.w.Stop()
	}
}

// signedIn reports whether v is a sign-in that happened since the wait
// began.
func (lw *linkWaiter) signedIn(v flows.Visitor) bool {
	b := lw.before
	if w := v.Waiting; w != nil && (b.Waiting == nil || !w.Until.Equal(b.Waiting.Until)) {
		return true // signed in, and held for the authenticator app
	}
	return v.Account && (!b.Account || v.User != b.User || v.Method != b.Method || !v.Since.Equal(b.Since))
}

// wait waits until the device is signed in (the link was pressed), the
// link expires, or the connection ends. It never polls: it wakes on the
// watcher's pokes, which every change to the device sends, and re-reads
// the device from the ledger each time. expired is the refusal to return
// when the link expires; ended, when a wrong check on its page ended the
// link with ticket ("" when this command sent none).
//
// As in `link --wait`, the expiry is waited for on the service's clock.
func (lw *linkWaiter) wait(c *call, expires time.Time, ticket string, ended error, expired func(now time.Time) error) (flows.Visitor, error) {
	dead, release := c.Env.Service.Reached(expires)
	defer release()
	look := func(final bool) (flows.Visitor, bool, error) {
		v, err := c.Env.Service.Visit(c.Ctx, c.Env.Device)
		switch {
		case err != nil:
			return v, true, fmt.Errorf("read who you are: %w", err)
		case lw.signedIn(v):
			return v, true, nil
		}
		if ticket != "" { // a wrong check on the link's page ended it: nothing to wait for
			refused, err := c.Env.Service.LinkRefused(c.Ctx, ticket)
			switch {
			case err != nil:
				return v, true, err
			case refused:
				return v, true, ended
			}
		}
		if now := c.Env.Service.Now(); final || !now.Before(expires) {
			return v, true, expired(now)
		}
		return v, false, nil
	}
	for {
		v, done, err := look(false)
		if done {
			return v, err
		}
		select {
		case <-lw.w.C:
		case <-dead:
			// Dead: one last look, in case the button was pressed just
			// before, then give up.
			v, _, err := look(true)
			return v, err
		case <-c.Ctx.Done():
			return v, fmt.Errorf("stopped waiting for the link: %w", context.Cause(c.Ctx))
		}
	}
}

// printLinkSignedIn reports the sign-in a waited-for link led to.
func printLinkSignedIn(c *call, to string, v flows.Visitor) error {
	if c.JSON {
		vj := toVisitorJSON(v)
		return c.Emit(loginJSON{SignedIn: v.Waiting == nil, To: to, Visitor: &vj})
	}
	if printWaiting(c, v) {
		return nil
	}
	who := orNone(inert.String(v.Nickname), "your account")
	if v.Method == "link" {
		c.Printf("Signed in as %s.\n", who)
	} else {
		c.Printf("Signed in as %s, %s rather than by the link.\n", who, method(v.Method))
	}
	return nil
}

// ephemeralNote warns a connection without a key that a sign-in lasts
// only as long as it does.
func ephemeralNote(c *call) {
	if c.Env.Device.Ephemeral {
		fmt.Fprintln(c.Stderr, "Note: this connection has no SSH key, so a sign-in here lasts only until this command "+
			"ends. Connect with a key to stay signed in.")
	}
}

// bindPasswordLink binds `login ADDRESS` and `resend ADDRESS`, which
// take a password on standard input, send a link and wait for it (unless
// --no-wait): run gets the password and the waiter, started before the
// link goes so that pressing it at once is not missed (nil with
// --no-wait).
func bindPasswordLink(run func(c *call, pw string, lw *linkWaiter) error) func(*flag.FlagSet) func(*call) error {
	return func(fs *flag.FlagSet) func(*call) error {
		noWait := bindNoWait(fs)
		return func(c *call) error {
			pw, err := readPassword(c, c.Name+" "+hintAddress(c, c.Args[0]))
			if err != nil {
				return err
			}
			lw, err := startWaiting(c, !*noWait)
			if err != nil {
				return err
			}
			defer lw.stop()
			return run(c, pw, lw)
		}
	}
}

// runLogin is `login ADDRESS`: the one-stage login-or-register.
func runLogin(c *call, pw string, lw *linkWaiter) error {
	input := c.Args[0]
	out, err := c.Env.Service.LoginOrRegister(c.Ctx, c.Env.Device, input, pw)
	if err != nil {
		return fmt.Errorf("sign in: %w", err)
	}
	if out.Visitor.Waiting != nil { // [A], held for the authenticator app
		if c.JSON {
			vj := toVisitorJSON(out.Visitor)
			return c.Emit(loginJSON{To: display(c, input), Visitor: &vj})
		}
		printWaiting(c, out.Visitor)
		return nil
	}
	if out.SignedIn { // [A]
		if c.JSON {
			vj := toVisitorJSON(out.Visitor)
			return c.Emit(loginJSON{SignedIn: true, To: display(c, input), Merged: toMergeJSON(out.Merged), Visitor: &vj})
		}
		c.Printf("Signed in as %s.\n", orNone(inert.String(out.Visitor.Nickname), "your account"))
		printMerge(c, out.Merged)
		return nil
	}
	// Every other case answers in the same words, with the same status and
	// after the same work: whether the address has an account, or waits
	// to be confirmed, is not for anyone to learn here. The link that went
	// out (the JSON's link) is a sign-in link or a confirmation link, and
	// only the address's holder sees which.
	return pendingLink(c, lw, out.To, out.Link, input)
}

// linkWorks says when the link works, in words that fit every case: a
// sign-in link signs in only a waiting session; a registration's link
// works whether or not one waits.
const linkWorks = "A link that signs in works only while a command of this device waits for it; one that makes your " +
	"account works even after you close this (keep its characters, or send it again), and this device is signed in when it next connects."

// linkWorksKeyless is linkWorks for a connection without a key, which is
// a device for this connection only: nothing signs it in later.
const linkWorksKeyless = "A link that signs in works only while this command waits for it; one that makes your " +
	"account works even after you close this (keep its characters, or send it again), and you then sign in with the password."

// linkWorksFor is linkWorks or linkWorksKeyless, for the device of c.
func linkWorksFor(c *call) string {
	if c.Env.Device.Ephemeral {
		return linkWorksKeyless
	}
	return linkWorks
}

// pendingLink tells a person to follow the link that a one-stage login
// sent, and waits for it unless lw is nil. link is the link this command
// sent, or nil when the governor held it back.
func pendingLink(c *call, lw *linkWaiter, to string, link *flows.LinkSent, input string) error {
	ephemeralNote(c)
	again := "resend " + hintAddress(c, input)
	sent := "We sent a link to " + inert.Address(to) + ": " + flows.LinkDoes + "."
	if link == nil {
		sent = "No new link could go to " + inert.Address(to) + " just now (it had one moments ago); the latest one: " + flows.LinkDoes + "."
	} else {
		// Only the terminal that asked shows what the page asks for: see
		// flows.ConfirmLinkChecked.
		sent += " Its page asks for " + inert.String(link.Check) + ", which only this terminal shows: never give it to anyone, " +
			"and never type there characters someone gives you."
	}
	if c.JSON {
		if err := c.Emit(loginJSON{Pending: true, To: to, Link: toMagicLinkJSON(link)}); err != nil {
			return err
		}
	} else if lw != nil {
		c.Printf("Not signed in with that password. %s Nothing happens until you open it, type those characters and press its button, "+
			"within %s. %s Send it again with: %s.\n", sent, linkTTLWords(), linkWorksFor(c), again)
		c.Printf("Waiting for the link…\n")
	} else {
		c.Printf("Not signed in with that password. %s Nothing happens until you open it, type those characters and press its button, "+
			"within %s. %s\n", sent, linkTTLWords(), linkWorksFor(c))
		c.Printf("This command did not wait (--no-wait): a sign-in link will find no waiting session. "+
			"To sign in that way, run %s (it sends a new link and waits).\n", again)
	}
	// A link sent earlier expires within LinkTTL from now too.
	expires := c.Env.Service.Now().Add(flows.LinkTTL)
	if link != nil {
		expires = link.Expires
	}
	ticket := ""
	if link != nil {
		ticket = link.Ticket
	}
	return awaitLink(c, lw, to, ticket, expires, again)
}

// awaitLink waits, unless lw is nil, until the link to `to` is pressed
// (and says who is signed in) or it expires at expires (a refusal that
// says to run again).
func awaitLink(c *call, lw *linkWaiter, to, ticket string, expires time.Time, again string) error {
	if lw == nil {
		return nil
	}
	ended := &flows.Problem{Code: flows.ProblemCodeUsed,
		Msg: "Not signed in: a wrong answer on the link's page ended it, and nobody was signed in by it. " +
			"If that was not you, someone else opened the message: never give anyone the characters shown here. Send a new one with: " + again}
	v, err := lw.wait(c, expires, ticket, ended, func(now time.Time) error {
		return &flows.Problem{Code: flows.ProblemCodeUsed,
			Msg: fmt.Sprintf("Not signed in: the link expired at %s. Send a new one with: %s", when(expires, now), again)}
	})
	if err != nil {
		return err
	}
	return printLinkSignedIn(c, to, v)
}

// runResend is `resend ADDRESS`: a registration's link again.
func runResend(c *call, pw string, lw *linkWaiter) error {
	input := c.Args[0]
	sent, err := c.Env.Service.ResendVerification(c.Ctx, c.Env.Device, input, pw)
	if err != nil {
		return fmt.Errorf("send the link again: %w", err)
	}
	// One answer for every address: see flows.ResendVerification.
	return sentLink(c, lw, sent, "Sent a link to %s: it confirms the address if your registration waits for it, or else signs you in.",
		"resend "+hintAddress(c, input))
}

// sentLink tells a person about a link that went out (what is a format
// for the first sentence, given the address), and waits for it unless
// lw is nil. again is the command that sends another.
func sentLink(c *call, lw *linkWaiter, sent flows.LinkSent, what, again string) error {
	ephemeralNote(c)
	if c.JSON {
		if err := c.Emit(loginJSON{Pending: true, To: sent.To, Link: toMagicLinkJSON(&sent)}); err != nil {
			return err
		}
	} else {
		c.Printf(what+" Open it within %s, type %s on its page and press the button. Only this terminal shows %s: "+
			"never give these characters to anyone, and never type on that page characters someone gives you.\n",
			inert.Address(sent.To), linkTTLWords(), inert.String(sent.Check), inert.String(sent.Check))
		if lw != nil {
			c.Printf("Waiting for the button to be pressed…\n")
		} else {
			c.Printf("This command did not wait (--no-wait): a sign-in link signs in only a session of this device that is "+
				"waiting, so run %s when you are ready to open it; a link that confirms your new account works all the same.\n", again)
		}
	}
	return awaitLink(c, lw, sent.To, sent.Ticket, sent.Expires, again)
}

// runSigninLink is `signin --link ADDRESS`.
func runSigninLink(c *call, wait bool) error {
	input := c.Args[0]
	lw, err := startWaiting(c, wait)
	if err != nil {
		return err
	}
	defer lw.stop()
	sent, err := c.Env.Service.RequestMagicLink(c.Ctx, c.Env.Device, input)
	if err != nil {
		return fmt.Errorf("send a sign-in link: %w", err)
	}
	return sentLink(c, lw, sent, "Sent a sign-in link to %s.", "signin --link "+hintAddress(c, input))
}

// passwordSetJSON is what `password set --json` prints.
type passwordSetJSON struct {
	Password         string `json:"password"`           // "set" (the account had none) or "changed"
	SignedOutOthers  bool   `json:"signed_out_others"`  // --sign-out-others
	DevicesSignedOut int    `json:"devices_signed_out"` // other devices signed out
}

func bindPasswordSet(fs *flag.FlagSet) func(*call) error {
	others := fs.Bool("sign-out-others", false, "sign out every other device of the account too")
	return func(c *call) error { return runPasswordSet(c, *others) }
}

func runPasswordSet(c *call, signOutOthers bool) error {
	pw, err := readPassword(c, "password set")
	if err != nil {
		return err
	}
	// Read first only to say what happened; SetPassword decides.
	v, err := c.Env.Service.Visit(c.Ctx, c.Env.Device)
	if err != nil {
		return fmt.Errorf("read who you are: %w", err)
	}
	others := 0
	if signOutOthers && v.Account {
		list, err := c.Env.Service.Devices(c.Ctx, c.Env.Device)
		if err != nil {
			return fmt.Errorf("list your devices: %w", err)
		}
		for _, d := range list {
			if !d.Current {
				others++
			}
		}
	}
	if err := c.Env.Service.SetPassword(c.Ctx, c.Env.Device, pw, signOutOthers); err != nil {
		return fmt.Errorf("set the password: %w", err)
	}
	state := "set"
	if v.HasPassword {
		state = "changed"
	}
	if c.JSON {
		return c.Emit(passwordSetJSON{Password: state, SignedOutOthers: signOutOthers, DevicesSignedOut: others})
	}
	msg := "Password " + state
	if signOutOthers {
		msg += "; every other device signed out"
	}
	c.Printf("%s.\n", msg)
	return nil
}

// stepUpJSON is what `stepup --password --json` prints.
type stepUpJSON struct {
	StepUpUntil *time.Time `json:"step_up_until"`
	Factor      string     `json:"factor"` // "password"
}

func runStepUpPassword(c *call) error {
	pw, err := readPassword(c, "stepup --password")
	if err != nil {
		return err
	}
	until, err := c.Env.Service.StepUpWithPassword(c.Ctx, c.Env.Device, pw)
	return steppedUp(c, until, flows.FactorPassword, err)
}
