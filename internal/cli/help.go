package cli

import (
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"
)

// Path is the command as typed, sub-commands after their group:
// "address add".
func (cmd *Command[E]) Path() string {
	if cmd.parent != nil {
		return cmd.parent.Path() + " " + cmd.Name
	}
	return cmd.Name
}

// Runnable lists the commands a person can run, in table order: every
// command that runs itself, and every sub-command after its group. The
// administrators' commands are listed only for an administrator (admin).
func (p *Program[E]) Runnable(admin bool) []*Command[E] {
	p.link()
	var out []*Command[E]
	var walk func([]*Command[E])
	walk = func(cmds []*Command[E]) {
		for _, cmd := range cmds {
			if !cmd.VisibleTo(admin) {
				continue
			}
			if cmd.Bind != nil {
				out = append(out, cmd)
			}
			walk(cmd.Subs)
		}
	}
	walk(p.Commands)
	return out
}

// synopsis is the command's usage line: "signout [--everywhere] [--json]".
// Required flags come first, without brackets: "user add --email ADDRESS
// [--json] [--nickname NAME]".
func (cmd *Command[E]) synopsis(p *Program[E], fs *flag.FlagSet) string {
	parts := []string{p.Invocation + cmd.Path()}
	if cmd.Args != "" {
		parts = append(parts, cmd.Args)
	}
	for _, name := range cmd.Required {
		if f := fs.Lookup(name); f != nil {
			parts = append(parts, flagSynopsis(f))
		}
	}
	fs.VisitAll(func(f *flag.Flag) {
		if !slices.Contains(cmd.Required, f.Name) {
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
func (cmd *Command[E]) usage(p *Program[E]) string {
	var lines []string
	if cmd.Bind != nil {
		fs, _, _ := cmd.flags()
		lines = append(lines, cmd.synopsis(p, fs))
	}
	for _, sub := range cmd.Subs {
		lines = append(lines, sub.usage(p))
	}
	return strings.Join(lines, "\n       ")
}

func isBool(f *flag.Flag) bool {
	b, ok := f.Value.(interface{ IsBoolFlag() bool })
	return ok && b.IsBoolFlag()
}

// writeHelp writes a command's --help.
func (cmd *Command[E]) writeHelp(p *Program[E], w io.Writer) {
	fs, _, _ := cmd.flags()
	fmt.Fprintf(w, "usage: %s\n\n%s.\n", cmd.usage(p), capitalize(cmd.Summary))
	if cmd.About != "" {
		fmt.Fprintf(w, "\n%s\n", cmd.About)
	}
	if len(cmd.Aliases) > 0 {
		fmt.Fprintf(w, "\nAlso: %s\n", strings.Join(cmd.Aliases, ", "))
	}
	if len(cmd.Subs) > 0 {
		fmt.Fprintln(w, "\nSub-commands:")
		var rows [][]string
		for _, sub := range cmd.Subs {
			rows = append(rows, []string{"  " + sub.listName(), sub.Summary})
		}
		_ = Columns(w, rows)
	}
	fmt.Fprintln(w, "\nFlags:")
	var rows [][]string
	fs.VisitAll(func(f *flag.Flag) {
		_, usage := flag.UnquoteUsage(f)
		rows = append(rows, []string{"  " + flagSynopsis(f), usage})
	})
	_ = Columns(w, append(rows, []string{"  --help", "show this help"}))
}

// listName is the command as `help` lists it: "keys remove FINGERPRINT
// (keys forget)".
func (cmd *Command[E]) listName() string {
	name := cmd.Path()
	if cmd.Args != "" {
		name += " " + cmd.Args
	}
	if len(cmd.Required) > 0 {
		fs, _, _ := cmd.flags()
		for _, f := range cmd.Required {
			if f := fs.Lookup(f); f != nil {
				name += " " + flagSynopsis(f)
			}
		}
	}
	if len(cmd.Aliases) > 0 {
		prefix := ""
		if cmd.parent != nil {
			prefix = cmd.parent.Path() + " "
		}
		aliases := make([]string, len(cmd.Aliases))
		for i, a := range cmd.Aliases {
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

func (cmd *Command[E]) describe(p *Program[E]) helpJSON {
	return helpJSON{Name: cmd.Path(), Aliases: NonNil(cmd.Aliases), Usage: cmd.usage(p), Summary: cmd.Summary}
}

// Help is the `help [COMMAND [SUB-COMMAND]]` command, for a table.
func Help[E any]() *Command[E] {
	return &Command[E]{
		Name: "help", Args: "[COMMAND [SUB-COMMAND]]", MaxArgs: 2,
		Summary: "this list, or one command's usage",
		Bind:    NoFlags(runHelp[E]),
	}
}

func runHelp[E any](c *Call[E]) error {
	p := c.prog
	admin := p.isAdmin(c.Env)
	if len(c.Args) > 0 {
		cmd := p.Lookup(c.Args[0])
		if cmd == nil || !cmd.VisibleTo(admin) {
			return Usagef("there is no command %s; run `%shelp` for the list", Quote(c.Args[0]), p.Invocation)
		}
		if len(c.Args) > 1 {
			sub := cmd.Sub(c.Args[1])
			if sub == nil {
				return Usagef("there is no command %s; run `%shelp` for the list", Quote(c.Args[0]+" "+c.Args[1]), p.Invocation)
			}
			cmd = sub
		}
		if !cmd.VisibleTo(admin) {
			// As for a command that does not exist (see Call.unknown).
			return Usagef("there is no command %s; run `%shelp` for the list", Quote(strings.Join(c.Args, " ")), p.Invocation)
		}
		if c.JSON {
			return c.Emit(cmd.describe(p))
		}
		cmd.writeHelp(p, c.Stdout)
		return nil
	}
	if c.JSON {
		var list []helpJSON
		for _, cmd := range p.Runnable(admin) {
			list = append(list, cmd.describe(p))
		}
		return c.Emit(struct {
			Commands []helpJSON `json:"commands"`
		}{list})
	}
	fmt.Fprint(c.Stdout, p.Intro+"Commands:\n")
	var rows [][]string
	for _, cmd := range p.Runnable(admin) {
		rows = append(rows, []string{"  " + cmd.listName(), cmd.Summary})
	}
	if err := Columns(c.Stdout, rows); err != nil {
		return err
	}
	fmt.Fprint(c.Stdout, p.Outro)
	if p.Footer != nil {
		fmt.Fprint(c.Stdout, p.Footer(c.Env))
	}
	return nil
}

func capitalize(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}
