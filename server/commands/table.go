package commands

import (
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/attest-dev/attest/flows"
)

// table is every command, in the order `help` lists them. A new command
// is a new row (and its run function); dispatch, flags, --json, --help
// and exit statuses come with the row.
//
// It is filled in init because `help` reads it, and a variable cannot be
// initialized with functions that refer back to it.
var table []*command

func init() {
	table = []*command{
		{
			name: "whoami", summary: "who this device is: user, account, nickname, stars, addresses, step-up",
			about: "Shows the device (its SSH key's fingerprint), the user it acts as, whether that user is an account\n" +
				"(a confirmed address) or an anonymous visitor, how and since when the device is signed in, and\n" +
				"until when it is stepped up. On a signed-out device whose key is remembered for an account, it\n" +
				"says so: `signin --key` signs in.",
			bind: noFlags(runWhoami),
		},
		{
			name: "facts", summary: "what the ledger recorded about you, as JSON lines",
			about: "Prints every fact about this device and the user it acts as, oldest first, one JSON object per\n" +
				"line (always JSON, with or without --json).",
			bind: noFlags(runFacts),
		},
		{
			name: "login", args: "ADDRESS", minArgs: 1, maxArgs: 1,
			summary: "sign in with ADDRESS and its password (read from standard input), or register",
			about: "One step for both signing in and signing up. The password is read from standard input (its first\n" +
				"line), never from the command line, where it would stay in shell history and logs:\n\n" +
				"  printf '%s\\n' \"$PASSWORD\" | ssh host login grace@example.com\n\n" +
				"An address with an account and its right password signs this device in. Anything else gets one\n" +
				"answer, so that nobody learns whether an address has an account: we send the address a link.\n" +
				"For an address new to attest, the link confirms it and makes the account with that password (at\n" +
				"least 15 characters, and hard to guess); for an address with an account, it signs you in. The\n" +
				"link signs in the session that waits for it, so login waits, up to 5 minutes, until the link's\n" +
				"button is pressed (exit 0) or the link expires (exit 1). With --no-wait it returns at once, and\n" +
				"the link then finds no waiting session: `resend ADDRESS` sends a new one and waits.",
			bind: bindLogin,
		},
		{
			name: "resend", args: "ADDRESS", minArgs: 1, maxArgs: 1,
			summary: "send the link that confirms a new account again, and wait for it (password on standard input)",
			about: "For an account made with `login` whose address is not confirmed yet. It takes the password you\n" +
				"chose, read from standard input, because the link signs in this session:\n\n" +
				"  printf '%s\\n' \"$PASSWORD\" | ssh host resend grace@example.com\n\n" +
				"With any other password, or for any other address, it sends a sign-in link instead, and says\n" +
				"the same. Like login, it waits until the link's button is pressed or the link expires (5\n" +
				"minutes); --no-wait returns at once, and the link then signs nothing in.",
			bind: bindResend,
		},
		{
			name: "signin", args: "[ADDRESS]", maxArgs: 1,
			summary: "send a sign-in code to ADDRESS (email or phone), or show a wallet's message to sign; --link, --key, --with NAME",
			about: "Sends a code to ADDRESS. Entering it (see `code`) signs this device in, creating the account if\n" +
				"the address has none. The answer is the same whether or not the address has an account.\n" +
				"With --link, sends a link instead of a code and waits: opening the link and pressing the\n" +
				"button for this terminal session (its name is shown here and on the page) signs this session\n" +
				"in. The link works once, for 5 minutes, and only while a session of this device waits for it,\n" +
				"which is why waiting is the default; --no-wait returns at once.\n" +
				"With --key instead of ADDRESS, signs in at once with the key this connection uses, if it is\n" +
				"remembered for an account (see `keys remember` and `approve`).\n" +
				"A wallet address (Ethereum 0x..., or SS58) gets no code: this shows a message to sign with the\n" +
				"wallet (EIP-4361 for Ethereum), valid 5 minutes; give the signature with `signature`. With\n" +
				"--json, \"message\" is the exact text to sign.\n" +
				"With --with NAME, signs in with the provider NAME (see `providers`): it prints a URL and a\n" +
				"code to enter there, or a link labelled with this terminal session, then waits and exits 0\n" +
				"once signed in. With --json the first line is that URL and code (verification_uri,\n" +
				"verification_uri_complete, user_code) or the link (link, label), printed before it waits.",
			bind: bindSignin,
		},
		{
			name: "providers", summary: "the sign-in providers (signin --with NAME) and whether each is available",
			bind: noFlags(runProviders),
		},
		{
			name: "code", args: "CODE", minArgs: 1, maxArgs: 2,
			summary: "enter a code you were sent: code B-4821 (or B 4821, or 4821 for the newest)",
			about: "Enters a code this device asked for: to sign in, to confirm an address, or to step up. The\n" +
				"letter says which code, if it asked for several; without it the newest code is meant. A wrong\n" +
				"code costs one of the code's tries. A sign-in code for an address that is also on an account\n" +
				"with another of its kind asks you to choose: see `split`.",
			bind: noFlags(runCode),
		},
		{
			name: "stepup", args: "[ADDRESS]", maxArgs: 1,
			summary: "send a code that steps this device up for protected changes; or --password, --totp, --wallet, --with NAME",
			about: "Protected changes (adding, confirming, editing or unlinking an address; remembering or\n" +
				"forgetting a key; setting a password; approving a new device; signing out everywhere) need a\n" +
				"step-up on the device that makes them. This sends a 6-digit code to a confirmed address of the\n" +
				"account (another one than you signed in with, when there is one); entering it with `code` steps\n" +
				"this device up for an hour. Other devices are not stepped up.\n" +
				"With an authenticator app on the account, `stepup --totp CODE` steps up at once with its code.\n" +
				"With --password, the account's password steps up at once, read from standard input:\n\n" +
				"  printf '%s\\n' \"$PASSWORD\" | ssh host stepup --password\n\n" +
				"It is a second factor only for a device that signed in some other way than the password.\n" +
				"With --wallet [ADDRESS], a wallet confirmed on the account steps up: sign the message shown\n" +
				"(see `signin`) and give the signature with `signature`.\n" +
				"With --with NAME, a fresh sign-in at the provider NAME, linked to the account, steps up: the\n" +
				"provider is asked to make you sign in again, and says when you did.",
			bind: bindStepUp,
		},
		totpCommand,
		recoveryCommand,
		{
			name: "signature", args: "SIG", minArgs: 1, maxArgs: 1,
			summary: "give a wallet's signature of the message `signin 0x...` (or `address add`, `stepup --wallet`) showed",
			about: "Completes this device's newest wallet challenge: signs in (creating the account if nobody has\n" +
				"the wallet), adds the wallet to your account, or steps this device up, as the challenge was for.\n" +
				"SIG is hex (0x...): for Ethereum a personal_sign signature (65 bytes), for SS58 an sr25519 or\n" +
				"ed25519 signature of the message, as polkadot.js signRaw makes it. A challenge works once, for\n" +
				"5 minutes, on the device that asked for it.",
			bind: bindSignature,
		},
		{
			name: "password", summary: "set or change your account's password",
			subs: []*command{
				{
					name: "set", summary: "set or change the password, read from standard input (protected)",
					about: "Reads the new password from standard input (its first line), never from the command line,\n" +
						"where it would stay in shell history and logs:\n\n" +
						"  printf '%s\\n' \"$PASSWORD\" | ssh host password set\n\n" +
						"At least 8 characters (15 when the account has no address to send a code to), and hard to\n" +
						"guess. It is a protected change (see `stepup`); the account's addresses are told. With\n" +
						"--sign-out-others, every other device of the account is signed out.",
					bind: bindPasswordSet,
				},
			},
		},
		{
			name: "addresses", summary: "your account's email addresses and phone numbers, confirmed or not",
			bind: noFlags(runAddresses),
		},
		{
			name: "address", summary: "add, confirm, edit or unlink an email address or phone number",
			about: "Each sub-command changes how the account signs in, so each needs a step-up on this device\n" +
				"(see `stepup`). Phone numbers start with + and the country code.",
			subs: []*command{
				{
					name: "add", args: "ADDRESS", maxArgs: 1,
					summary: "add an address to your account and send it a code to confirm it; --with NAME links a provider",
					about: "Adds ADDRESS, unconfirmed, and sends it a code; entering the code (see `code`) confirms it.\n" +
						"An address already confirmed on another account can be added, but not confirmed: that\n" +
						"needs support.\n" +
						"With --with NAME instead, links your account at the sign-in provider NAME: sign in there\n" +
						"(the command says where) and it signs in to this account from then on.",
					bind: bindAddressAdd,
				},
				{
					name: "confirm", args: "ADDRESS", minArgs: 1, maxArgs: 1,
					summary: "send a fresh code to an unconfirmed address of your account",
					bind:    noFlags(runAddressConfirm),
				},
				{
					name: "edit", args: "OLD NEW", minArgs: 2, maxArgs: 2,
					summary: "replace OLD by NEW, and send NEW a code to confirm it",
					about: "An unconfirmed OLD is replaced by NEW at once. A confirmed OLD stays beside NEW, so the\n" +
						"account cannot lose its way in; unlink it once NEW is confirmed.",
					bind: noFlags(runAddressEdit),
				},
				{
					name: "unlink", args: "ADDRESS", maxArgs: 1,
					summary: "remove an address from your account",
					about: "Removes ADDRESS. The account's only confirmed address cannot be removed. When a confirmed\n" +
						"address goes, the account's other addresses, and the address itself, are told. An address\n" +
						"that is not on the account is not an error: there is nothing left to unlink.\n" +
						"With --with NAME instead, unlinks the sign-in provider NAME, unless it is the only way in.",
					bind: bindAddressUnlink,
				},
			},
		},
		{
			name: "history", summary: "every change to your account's addresses, keys and authenticator app, oldest first",
			about: "Lists when each address or key was added, confirmed and removed. With --json, one JSON object\n" +
				"per line.",
			bind: noFlags(runHistory),
		},
		{
			name: "keys", summary: "the SSH keys remembered for your account",
			about: "A remembered key signs its device in with `signin --key`, without a code. `keys remember`\n" +
				"remembers the key of this connection; `approve` remembers a new device's key as it links it.",
			bind: noFlags(runKeys),
			subs: []*command{
				{
					name: "remember", summary: "remember the key of this connection for your account (protected)",
					bind: noFlags(runKeysRemember),
				},
				{
					name: "remove", aliases: []string{"forget"}, args: "FINGERPRINT", minArgs: 1, maxArgs: 1,
					summary: "stop a key from signing in to your account (protected)",
					about: "FINGERPRINT is as `keys` shows it; the SHA256: in front may be left out. Devices signed in\n" +
						"with the key stay signed in; `signout --everywhere` signs them out.",
					bind: noFlags(runKeysRemove),
				},
			},
		},
		{
			name: "link", summary: "link this new device: show a code to approve on a signed-in one",
			about: "On a device that is not signed in, shows a short code. On a device already signed in to the\n" +
				"account (and stepped up), `approve CODE` remembers this device's key and signs it in. The code\n" +
				"lives a minute. With --wait, waits here until it is approved or expires.",
			bind: bindLink,
		},
		{
			name: "approve", args: "CODE", minArgs: 1, maxArgs: 2,
			summary: "approve a new device's link code, signing it in (protected)",
			bind:    noFlags(runApprove),
		},
		{
			name: "split", summary: "after a sign-in code offered it: sign in to the account, or start a new one",
			about: "A sign-in code for an address that is confirmed on an account with another address of its\n" +
				"kind asks which you mean. `split signin` signs in to that account; `split new` takes the\n" +
				"address out of it into a new account of its own (the account is told). The choice can be made\n" +
				"on the device that entered the code, while the code would still be live.",
			subs: []*command{
				{
					name: flows.SplitSignIn, summary: "sign in to the account that has the address",
					bind: noFlags(runSplit(flows.SplitSignIn)),
				},
				{
					name: flows.SplitNew, summary: "start a new account with the address, which leaves the other",
					bind: noFlags(runSplit(flows.SplitNew)),
				},
			},
		},
		{
			name: "sessions", aliases: []string{"devices"},
			summary: "the devices signed in to your account",
			bind:    noFlags(runSessions),
		},
		{
			name: "signout", summary: "sign this device out; --everywhere signs out every device of the account",
			about: "Signs this device out: it starts afresh as an anonymous visitor, and what it saved as an account\n" +
				"stays with the account. With --everywhere, every device signed in to the account is signed out,\n" +
				"this one included, without asking to confirm; it is a protected action (see `stepup`). With\n" +
				"--forget-keys too, every remembered key is forgotten, so no device signs back in without a code.",
			bind: bindSignout,
		},
		{
			name: "nickname", args: "[NAME]", maxArgs: -1,
			summary: "show your nickname, or set it to NAME (the rest of the line)",
			about: "Without NAME, prints the current nickname. With it, sets the nickname: 1 to 32 visible\n" +
				"characters; the words of NAME are joined with single spaces.",
			bind: noFlags(runNickname),
		},
		{
			name: "star", args: "[ITEM]", maxArgs: 1,
			summary: "star ITEM; without one, list what can be starred",
			bind:    noFlags(runStar),
		},
		{
			name: "unstar", args: "ITEM", minArgs: 1, maxArgs: 1,
			summary: "remove the star from ITEM",
			bind:    noFlags(runUnstar),
		},
		{
			name: "stars", summary: "list what can be starred, with ★ on your stars",
			bind: noFlags(runStars),
		},
		{
			name: "user", admin: true, summary: "administrators: make accounts",
			subs: []*command{
				{
					name: "add", required: []string{"email"},
					summary: "make an account for an address, confirmed at once, and welcome it (administrators)",
					about: "For administrators. Makes an account whose address is confirmed by an administrator, with\n" +
						"an optional nickname, and sends the address a welcome message saying how to sign in. The\n" +
						"ledger records which administrator's key made it. An address that already belongs to an\n" +
						"account is refused.",
					bind: bindUserAdd,
				},
			},
		},
		{
			name: "help", args: "[COMMAND [SUB-COMMAND]]", maxArgs: 2,
			summary: "this list, or one command's usage",
			bind:    noFlags(runHelp),
		},
	}
	setParents(table)
}

// lookup finds a command by name or alias.
func lookup(name string) *command {
	for _, cmd := range table {
		if cmd.name == name || slices.Contains(cmd.aliases, name) {
			return cmd
		}
	}
	return nil
}

// setParents sets every sub-command's parent.
func setParents(cmds []*command) {
	for _, cmd := range cmds {
		for _, sub := range cmd.subs {
			sub.parent = cmd
		}
		setParents(cmd.subs)
	}
}

// path is the command as typed, sub-commands after their group:
// "address add".
func (cmd *command) path() string {
	if cmd.parent != nil {
		return cmd.parent.path() + " " + cmd.name
	}
	return cmd.name
}

// runnable lists the commands a person can run, in table order: every
// command that runs itself, and every sub-command after its group. The
// administrators' commands are listed only for an administrator (admin).
func runnable(admin bool) []*command {
	var out []*command
	var walk func([]*command)
	walk = func(cmds []*command) {
		for _, cmd := range cmds {
			if !cmd.visibleTo(admin) {
				continue
			}
			if cmd.bind != nil {
				out = append(out, cmd)
			}
			walk(cmd.subs)
		}
	}
	walk(table)
	return out
}

// synopsis is the command's usage line: "signout [--everywhere] [--json]".
// A group without a run of its own has one line per sub-command.
// Required flags come first, without brackets: "user add --email ADDRESS
// [--json] [--nickname NAME]".
func (cmd *command) synopsis(fs *flag.FlagSet) string {
	parts := []string{cmd.path()}
	if cmd.args != "" {
		parts = append(parts, cmd.args)
	}
	for _, name := range cmd.required {
		if f := fs.Lookup(name); f != nil {
			parts = append(parts, flagSynopsis(f))
		}
	}
	fs.VisitAll(func(f *flag.Flag) {
		if !slices.Contains(cmd.required, f.Name) {
			parts = append(parts, "["+flagSynopsis(f)+"]")
		}
	})
	return strings.Join(parts, " ")
}

// flagSynopsis is a flag as the usage line shows it: "--everywhere", or
// "--email ADDRESS" for a flag whose usage names its value in backquotes
// ("the `ADDRESS` to register").
func flagSynopsis(f *flag.Flag) string {
	if isBool(f) {
		return "--" + f.Name
	}
	return "--" + f.Name + " " + flagValueName(f)
}

// flagValueName names a flag's value: the backquoted word of its usage,
// or the flag's name in capitals.
func flagValueName(f *flag.Flag) string {
	if name, _ := flag.UnquoteUsage(f); name != "" && name != "value" && name != "string" {
		return name
	}
	return strings.ToUpper(f.Name)
}

// usage is the command's usage lines, aligned under "usage: ": its own
// synopsis if it runs itself, then its sub-commands'.
func (cmd *command) usage() string {
	var lines []string
	if cmd.bind != nil {
		fs, _, _ := cmd.flags()
		lines = append(lines, cmd.synopsis(fs))
	}
	for _, sub := range cmd.subs {
		lines = append(lines, sub.usage())
	}
	return strings.Join(lines, "\n       ")
}

func isBool(f *flag.Flag) bool {
	b, ok := f.Value.(interface{ IsBoolFlag() bool })
	return ok && b.IsBoolFlag()
}

// writeHelp writes a command's --help.
func (cmd *command) writeHelp(w io.Writer) {
	fs, _, _ := cmd.flags()
	fmt.Fprintf(w, "usage: %s\n\n%s.\n", cmd.usage(), capitalize(cmd.summary))
	if cmd.about != "" {
		fmt.Fprintf(w, "\n%s\n", cmd.about)
	}
	if len(cmd.aliases) > 0 {
		fmt.Fprintf(w, "\nAlso: %s\n", strings.Join(cmd.aliases, ", "))
	}
	if len(cmd.subs) > 0 {
		fmt.Fprintln(w, "\nSub-commands:")
		var rows [][]string
		for _, sub := range cmd.subs {
			rows = append(rows, []string{"  " + listName(sub), sub.summary})
		}
		columns(w, rows)
	}
	fmt.Fprintln(w, "\nFlags:")
	var rows [][]string
	fs.VisitAll(func(f *flag.Flag) {
		_, usage := flag.UnquoteUsage(f)
		rows = append(rows, []string{"  " + flagSynopsis(f), usage})
	})
	columns(w, append(rows, []string{"  --help", "show this help"}))
}

// listName is the command as `help` lists it: "keys remove FINGERPRINT
// (keys forget)".
func listName(cmd *command) string {
	name := cmd.path()
	if cmd.args != "" {
		name += " " + cmd.args
	}
	if len(cmd.required) > 0 {
		fs, _, _ := cmd.flags()
		for _, f := range cmd.required {
			if f := fs.Lookup(f); f != nil {
				name += " " + flagSynopsis(f)
			}
		}
	}
	if len(cmd.aliases) > 0 {
		prefix := ""
		if cmd.parent != nil {
			prefix = cmd.parent.path() + " "
		}
		aliases := make([]string, len(cmd.aliases))
		for i, a := range cmd.aliases {
			aliases[i] = prefix + a
		}
		name += " (" + strings.Join(aliases, ", ") + ")"
	}
	return name
}

// helpJSON describes one command for `help --json`.
type helpJSON struct {
	Name    string   `json:"name"` // as typed: "address add"
	Aliases []string `json:"aliases"`
	Usage   string   `json:"usage"`
	Summary string   `json:"summary"`
}

func (cmd *command) describe() helpJSON {
	return helpJSON{Name: cmd.path(), Aliases: nonNil(cmd.aliases), Usage: cmd.usage(), Summary: cmd.summary}
}

func runHelp(c *call) error {
	if len(c.args) > 0 {
		cmd := lookup(c.args[0])
		if cmd == nil {
			return usagef("there is no command %s; run `help` for the list", quote(c.args[0]))
		}
		if len(c.args) > 1 {
			sub := cmd.sub(c.args[1])
			if sub == nil {
				return usagef("there is no command %s; run `help` for the list", quote(c.args[0]+" "+c.args[1]))
			}
			cmd = sub
		}
		if !cmd.visibleTo(c.env.Admin) {
			return &errForbidden{cmd.path()}
		}
		if c.json {
			return c.emit(cmd.describe())
		}
		cmd.writeHelp(c.env.Stdout)
		return nil
	}
	if c.json {
		var list []helpJSON
		for _, cmd := range runnable(c.env.Admin) {
			list = append(list, cmd.describe())
		}
		return c.emit(struct {
			Commands []helpJSON `json:"commands"`
		}{list})
	}
	w := c.env.Stdout
	fmt.Fprint(w, "attest: who you are, over plain ssh. Run one command per connection:\n\n"+
		"  ssh [-p PORT] HOST COMMAND [ARGS...] [--json]\n\nCommands:\n")
	var rows [][]string
	for _, cmd := range runnable(c.env.Admin) {
		rows = append(rows, []string{"  " + listName(cmd), cmd.summary})
	}
	columns(w, rows)
	fmt.Fprint(w, "\nEvery command takes --json (JSON on stdout, for scripts) and --help.\n"+
		"Exit status: 0 done, 1 failed or refused, 2 a command line that cannot be run.\n"+
		"Protected changes (addresses, keys, a password, approving a device, signing out everywhere)\n"+
		"need a step-up on this device first: `stepup`, then `code CODE` (or `stepup --password`); it\n"+
		"lasts up to an hour.\n"+
		"A password is read from standard input, never from the command line, where it would stay in\n"+
		"shell history and logs: "+pipeHint("login grace@example.com")+"\n"+
		"Connect with a terminal (ssh -t) for the screens.\n")
	return nil
}

func capitalize(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}
