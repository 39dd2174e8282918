package commands

import (
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"
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
			name: "whoami", summary: "who this device is: its user, account, nickname, stars and addresses",
			about: "Shows the device (its SSH key's fingerprint), the user it acts as, whether that user is an account\n" +
				"(a confirmed address) or an anonymous visitor, and how and since when the device is signed in.",
			bind: noFlags(runWhoami),
		},
		{
			name: "facts", summary: "what the ledger recorded about you, as JSON lines",
			about: "Prints every fact about this device and the user it acts as, oldest first, one JSON object per\n" +
				"line (always JSON, with or without --json).",
			bind: noFlags(runFacts),
		},
		{
			name: "signin", args: "ADDRESS", minArgs: 1, maxArgs: 1,
			summary: "send a sign-in code to an email address or phone number",
			about: "Sends a code to ADDRESS. Entering it (see `code`) signs this device in, creating the account if\n" +
				"the address has none. The answer is the same whether or not the address has an account.",
			bind: noFlags(runSignin),
		},
		{
			name: "code", args: "CODE", minArgs: 1, maxArgs: 2,
			summary: "enter a code you were sent: code B-4821 (or B 4821, or 4821 for the newest)",
			about: "Enters a code this device asked for. The letter says which code, if it asked for several;\n" +
				"without it the newest code is meant. A wrong code costs one of the code's tries.",
			bind: noFlags(runCode),
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
				"this one included, without asking to confirm.",
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
			name: "help", args: "[COMMAND]", maxArgs: 1,
			summary: "this list, or one command's usage",
			bind:    noFlags(runHelp),
		},
	}
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

// synopsis is the command's usage line: "signout [--everywhere] [--json]".
func (cmd *command) synopsis(fs *flag.FlagSet) string {
	parts := []string{cmd.name}
	if cmd.args != "" {
		parts = append(parts, cmd.args)
	}
	fs.VisitAll(func(f *flag.Flag) {
		if isBool(f) {
			parts = append(parts, "[--"+f.Name+"]")
		} else {
			parts = append(parts, "[--"+f.Name+" "+strings.ToUpper(f.Name)+"]")
		}
	})
	return strings.Join(parts, " ")
}

func isBool(f *flag.Flag) bool {
	b, ok := f.Value.(interface{ IsBoolFlag() bool })
	return ok && b.IsBoolFlag()
}

// writeHelp writes a command's --help.
func (cmd *command) writeHelp(w io.Writer, fs *flag.FlagSet) {
	fmt.Fprintf(w, "usage: %s\n\n%s.\n", cmd.synopsis(fs), capitalize(cmd.summary))
	if cmd.about != "" {
		fmt.Fprintf(w, "\n%s\n", cmd.about)
	}
	if len(cmd.aliases) > 0 {
		fmt.Fprintf(w, "\nAlso: %s\n", strings.Join(cmd.aliases, ", "))
	}
	fmt.Fprintln(w, "\nFlags:")
	var rows [][]string
	fs.VisitAll(func(f *flag.Flag) { rows = append(rows, []string{"  --" + f.Name, f.Usage}) })
	columns(w, append(rows, []string{"  --help", "show this help"}))
}

// helpJSON describes one command for `help --json`.
type helpJSON struct {
	Name    string   `json:"name"`
	Aliases []string `json:"aliases"`
	Usage   string   `json:"usage"`
	Summary string   `json:"summary"`
}

func (cmd *command) describe() helpJSON {
	fs, _, _ := cmd.flags()
	return helpJSON{Name: cmd.name, Aliases: nonNil(cmd.aliases), Usage: cmd.synopsis(fs), Summary: cmd.summary}
}

func runHelp(c *call) error {
	if len(c.args) == 1 {
		cmd := lookup(c.args[0])
		if cmd == nil {
			return usagef("there is no command %s; run `help` for the list", quote(c.args[0]))
		}
		if c.json {
			return c.emit(cmd.describe())
		}
		fs, _, _ := cmd.flags()
		cmd.writeHelp(c.env.Stdout, fs)
		return nil
	}
	if c.json {
		var list []helpJSON
		for _, cmd := range table {
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
	for _, cmd := range table {
		name := cmd.name
		if cmd.args != "" {
			name += " " + cmd.args
		}
		if len(cmd.aliases) > 0 {
			name += " (" + strings.Join(cmd.aliases, ", ") + ")"
		}
		rows = append(rows, []string{"  " + name, cmd.summary})
	}
	columns(w, rows)
	fmt.Fprint(w, "\nEvery command takes --json (JSON on stdout, for scripts) and --help.\n"+
		"Exit status: 0 done, 1 failed or refused, 2 a command line that cannot be run.\n"+
		"Connect with a terminal (ssh -t) for the screens.\n")
	return nil
}

func capitalize(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}
