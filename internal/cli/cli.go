// Package cli is attest's one command layer. The binary's commands
// (`attest verify`), the operator commands a running server answers on its
// control socket, and ssh command mode (`ssh HOST whoami`) are each a
// table of Commands run by a Program, so all three keep one contract:
//
//   - exit 0: done. `--help`, `-h` and `help [COMMAND]` print on stdout.
//   - exit 1: the command ran and failed, or was refused: it prints
//     "attest COMMAND: why" on stderr (over ssh, a refusal from the flows
//     prints its sentence alone: Program.BareRefusals).
//   - exit 2: the command line cannot run as written: an unknown command
//     or sub-command, an unknown flag, a missing or extra argument. It
//     prints "attest COMMAND: what" and the usage on stderr.
//   - every command takes --json; with it, a failure also prints one
//     {"error": {"code", "message", "retry_at"[, "how"]}} object on stdout,
//     code being a flows.ProblemCode.
//   - an error is printed once, on stderr; nothing else prints it.
//
// Flags may come before, between or after the arguments (`owner ADDRESS
// --json`); `--` ends them. The flags are Go's flag package's (-json and
// --json alike).
//
// Why our own and not cobra: the ssh command layer, which is where a
// stranger's input arrives, already was this table, with bounded input
// (commands.Split), administrators' commands hidden from others (even
// their --help), usage errors answered in JSON, and tests pinning its
// output bytes; cobra (pflag) would change the flag syntax (-json), every
// message and help text, and needs hooks to get each of those back. What
// cobra would add is shell completion and man pages for the binary's dozen
// commands; `help --json` describes every command for tools instead.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/attest-dev/attest/flows"
	"github.com/attest-dev/attest/internal/inert"
)

// Exit statuses.
const (
	ExitOK     = 0
	ExitFailed = 1 // the command ran and failed, or the flows refused it
	ExitUsage  = 2 // the command line cannot be run as written
)

// IO is where a command reads and writes.
type IO struct {
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
}

// Program is a table of commands and how they present themselves.
type Program[E any] struct {
	// Name starts every message: "attest".
	Name string
	// Invocation is what a usage line puts before a command: "attest "
	// for the binary, "" over ssh, where the command is what follows the
	// host.
	Invocation string
	Commands   []*Command[E]
	// Default is the command an empty command line, or one that starts
	// with a flag, runs ("serve" for the binary). Flags go after the
	// command: flags first followed by another command's name are a usage
	// error that shows the line to type. Without a Default, an empty line
	// is `help`, and a flag first is a usage error.
	Default string
	// IsAdmin reports whether the environment may run the commands marked
	// Admin. Without it nobody may.
	IsAdmin func(E) bool
	// Explain turns a refusal into the sentence stderr shows and the
	// JSON's "how"; without it the sentence is the Problem's message.
	Explain func(p *flows.Problem) (msg, how string)
	// BareRefusals prints a refusal's sentence alone, as a reply in a
	// conversation (ssh command mode), not after "attest COMMAND: " as in
	// an operator's terminal or log.
	BareRefusals bool
	// ErrorLines prints an error of several lines as lines (inert.Lines),
	// for the operator's own binary, whose long errors ("the ledger is in
	// use.\nOperator commands ...", one configuration problem a line) are
	// its own text. Without it a newline is shown escaped, as over ssh,
	// where an error may quote a stranger's text and must not let it
	// forge a line of its own.
	ErrorLines bool
	// Intro and Outro frame the list of commands `help` prints.
	Intro, Outro string
	// Footer, when set, ends that list with what only the environment
	// knows (the support contact).
	Footer func(E) string

	linked sync.Once // sub-commands know their parents
}

// Command is one row of a table.
type Command[E any] struct {
	Name    string
	Aliases []string
	Args    string // the positional arguments for the usage line: "ADDRESS"
	MinArgs int
	MaxArgs int    // -1: any number
	Summary string // one line, for the list
	About   string // more, for `COMMAND --help`; may be empty

	// Bind declares the command's own flags on fs (--json is every
	// command's) and returns the function that runs it, which reads the
	// flags' values through the pointers Bind kept. A group of
	// sub-commands without a run of its own (`address`) has none.
	Bind func(fs *flag.FlagSet) func(c *Call[E]) error

	// Subs are the command's sub-commands (`address add`): the first
	// positional argument names one, wherever the flags are. A command
	// with Bind runs itself when no sub-command is named (`keys` lists
	// the keys); one without prints usage and exits 2.
	Subs   []*Command[E]
	parent *Command[E]

	// Required names flags that must be given (`user add --email`): the
	// usage line shows them without brackets, and leaving one out is a
	// usage error.
	Required []string

	// Admin marks a command for administrators only (Program.IsAdmin),
	// with its sub-commands: others are refused, and `help` does not list
	// it for them.
	Admin bool
}

// NoFlags binds a command that has no flags of its own.
func NoFlags[E any](run func(c *Call[E]) error) func(*flag.FlagSet) func(*Call[E]) error {
	return func(*flag.FlagSet) func(*Call[E]) error { return run }
}

// Call is one running command.
type Call[E any] struct {
	Ctx context.Context
	Env E
	IO
	Name string // as typed: an alias stays an alias in messages
	Cmd  *Command[E]
	Args []string // the positional arguments
	JSON bool     // --json

	prog *Program[E]
	fs   *flag.FlagSet
}

// Printf writes human text to stdout. Untrusted parts must already have
// been through inert.
func (c *Call[E]) Printf(format string, a ...any) { fmt.Fprintf(c.Stdout, format, a...) }

// Emit writes one JSON object (one line) to stdout.
func (c *Call[E]) Emit(v any) error { return WriteJSON(c.Stdout, v) }

// UsageError is a command line that cannot be run as written: exit 2.
type UsageError struct{ Msg string }

func (e *UsageError) Error() string { return e.Msg }

// Usagef makes a UsageError.
func Usagef(format string, a ...any) error { return &UsageError{fmt.Sprintf(format, a...)} }

// ExitError ends a command whose output, errors included, is already
// written (one relayed from a server): exit with Status and print
// nothing more.
type ExitError struct{ Status int }

func (e *ExitError) Error() string { return fmt.Sprintf("exit status %d", e.Status) }

// Run runs args (the command line, split) and returns the exit status. It
// never panics.
func (p *Program[E]) Run(ctx context.Context, env E, stdio IO, args []string) (status int) {
	if stdio.Stdin == nil {
		stdio.Stdin = strings.NewReader("")
	}
	if stdio.Stdout == nil {
		stdio.Stdout = io.Discard
	}
	if stdio.Stderr == nil {
		stdio.Stderr = io.Discard
	}
	defer func() {
		if r := recover(); r != nil {
			fmt.Fprintf(stdio.Stderr, "%s: internal error: %s\n", p.Name, inert.String(fmt.Sprint(r)))
			status = ExitFailed
		}
	}()
	if len(args) == 0 {
		if p.Default != "" {
			return p.Lookup(p.Default).exec(ctx, p, env, stdio, p.Default, nil)
		}
		args = []string{"help"}
	}
	name := args[0]
	if cmd := p.Lookup(name); cmd != nil {
		return cmd.exec(ctx, p, env, stdio, name, args[1:])
	}
	c := &Call[E]{Ctx: ctx, Env: env, IO: stdio, Name: name, JSON: jsonRequested(args), prog: p}
	switch {
	case isHelpFlag(name):
		if help := p.Lookup("help"); help != nil {
			return help.exec(ctx, p, env, stdio, "help", args[1:])
		}
	case strings.HasPrefix(name, "-") && p.Default != "":
		// Flags first are the default command's (`attest --data-dir D`),
		// unless a command follows them (`attest --data-dir D backup f`):
		// flags go after the command, which says so with the line to type.
		dflt := p.Lookup(p.Default)
		if i := firstPositional(args, dflt.valueFlags()); i >= 0 {
			if p.Lookup(args[i]) != nil {
				fixed := append(append([]string{args[i]}, args[:i]...), args[i+1:]...)
				c.Name, c.Cmd = args[i], p.Lookup(args[i])
				return c.report(Usagef("flags go after the command: %s%s", p.Invocation, inert.String(strings.Join(fixed, " "))))
			}
			if dflt.MaxArgs == 0 {
				// Not an argument of the default command: a mistyped command.
				return c.unknown(args[i])
			}
		}
		return dflt.exec(ctx, p, env, stdio, p.Default, args)
	case strings.HasPrefix(name, "-"):
		return c.report(Usagef("flags go after the command, as in `whoami --json`, not before it (%s)", Quote(name)))
	}
	return c.unknown(name)
}

// unknown answers a command that does not exist, or one this person may
// not see: an administrators' command gets the same answer, --help and
// all, so that nobody else learns it exists.
func (c *Call[E]) unknown(name string) int {
	msg := fmt.Sprintf("unknown command %s; run `%shelp` for the list", Quote(name), c.prog.Invocation)
	fmt.Fprintf(c.Stderr, "%s: %s\n", c.prog.Name, msg)
	c.jsonError(flows.ProblemUnknown, fmt.Sprintf("unknown command %q", name))
	return ExitUsage
}

// Lookup finds a command by name or alias.
func (p *Program[E]) Lookup(name string) *Command[E] {
	p.link()
	for _, cmd := range p.Commands {
		if cmd.Name == name || slices.Contains(cmd.Aliases, name) {
			return cmd
		}
	}
	return nil
}

// link tells every sub-command its parent, so that it knows its path
// ("address add"), once: tables are literals, and a program runs many
// commands at once.
func (p *Program[E]) link() {
	p.linked.Do(func() {
		var walk func([]*Command[E])
		walk = func(cmds []*Command[E]) {
			for _, cmd := range cmds {
				for _, sub := range cmd.Subs {
					sub.parent = cmd
				}
				walk(cmd.Subs)
			}
		}
		walk(p.Commands)
	})
}

func (p *Program[E]) isAdmin(env E) bool { return p.IsAdmin != nil && p.IsAdmin(env) }

// adminOnly reports whether the command, or a group it is in, is for
// administrators.
func (cmd *Command[E]) adminOnly() bool {
	for c := cmd; c != nil; c = c.parent {
		if c.Admin {
			return true
		}
	}
	return false
}

// VisibleTo reports whether the command is shown to, and runs for, an
// administrator (admin) or anyone else.
func (cmd *Command[E]) VisibleTo(admin bool) bool { return admin || !cmd.adminOnly() }

// exec runs the command, typed as name (the command's name or an alias).
func (cmd *Command[E]) exec(ctx context.Context, p *Program[E], env E, stdio IO, name string, args []string) (status int) {
	newCall := func() *Call[E] {
		return &Call[E]{Ctx: ctx, Env: env, IO: stdio, Name: name, Cmd: cmd, JSON: jsonRequested(args), prog: p}
	}
	if len(cmd.Subs) > 0 {
		if i := firstPositional(args, cmd.valueFlags()); i >= 0 {
			if sub := cmd.Sub(args[i]); sub != nil {
				rest := append(append([]string{}, args[:i]...), args[i+1:]...)
				return sub.exec(ctx, p, env, stdio, name+" "+args[i], rest)
			}
		}
	}
	if !cmd.VisibleTo(p.isAdmin(env)) {
		// Unknown to this person before anything else, --help included:
		// `help` does not list the command for them either.
		c := newCall()
		c.Cmd = nil
		first, _, _ := strings.Cut(name, " ")
		return c.unknown(first)
	}
	if len(cmd.Subs) > 0 {
		// A group that takes arguments of its own (`totp CODE`) runs
		// itself when the first one names no sub-command.
		if i := firstPositional(args, cmd.valueFlags()); i >= 0 && cmd.MaxArgs == 0 {
			return newCall().report(Usagef("there is no sub-command %s; the sub-commands are %s", Quote(args[i]), cmd.subNames()))
		}
		if cmd.Bind == nil {
			if helpRequested(args) {
				cmd.writeHelp(p, stdio.Stdout)
				return ExitOK
			}
			return newCall().report(Usagef("needs a sub-command: %s", cmd.subNames()))
		}
	}
	fs, asJSON, run := cmd.flags()
	c := newCall()
	c.fs = fs
	defer func() {
		if r := recover(); r != nil {
			status = c.report(fmt.Errorf("failed unexpectedly: %v", r))
		}
	}()
	pos, err := parseInterleaved(fs, args)
	c.Args = pos
	if err == nil {
		c.JSON = *asJSON
	}
	switch {
	case errors.Is(err, flag.ErrHelp):
		cmd.writeHelp(p, stdio.Stdout)
		return ExitOK
	case err != nil:
		return c.report(&UsageError{err.Error()})
	case len(pos) < cmd.MinArgs:
		return c.report(Usagef("needs %s", cmd.Args))
	case cmd.MaxArgs >= 0 && len(pos) > cmd.MaxArgs:
		extra := pos[cmd.MaxArgs:]
		if cmd.MaxArgs == 0 {
			return c.report(Usagef("takes no arguments, not %s", Quote(extra[0])))
		}
		return c.report(Usagef("takes only %s, not also %s", cmd.Args, Quote(extra[0])))
	}
	if missing := missingFlags(fs, cmd.Required); len(missing) > 0 {
		return c.report(Usagef("needs %s", strings.Join(missing, " ")))
	}
	return c.report(run(c))
}

// missingFlags lists, as the usage line shows them ("--email ADDRESS"),
// the required flags the command line did not set.
func missingFlags(fs *flag.FlagSet, required []string) []string {
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	var out []string
	for _, name := range required {
		if !set[name] {
			if f := fs.Lookup(name); f != nil {
				out = append(out, flagSynopsis(f))
			}
		}
	}
	return out
}

// valueFlags names the flags of the command and its sub-commands that
// take a value (`--email ADDRESS`), so that finding the sub-command among
// the arguments skips those values.
func (cmd *Command[E]) valueFlags() map[string]bool {
	out := map[string]bool{}
	for _, c := range append([]*Command[E]{cmd}, cmd.Subs...) {
		fs, _, _ := c.flags()
		fs.VisitAll(func(f *flag.Flag) {
			if !isBool(f) {
				out[f.Name] = true
			}
		})
	}
	return out
}

// flags builds the command's flag set: its own flags, and --json.
func (cmd *Command[E]) flags() (fs *flag.FlagSet, asJSON *bool, run func(*Call[E]) error) {
	fs = flag.NewFlagSet(cmd.Name, flag.ContinueOnError)
	// The flag package would print its own messages and usage; exec
	// reports errors prefixed with the command, and --help on stdout.
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	asJSON = fs.Bool("json", false, "print JSON for scripts instead of text")
	if cmd.Bind == nil {
		return fs, asJSON, nil
	}
	return fs, asJSON, cmd.Bind(fs)
}

// Sub finds a sub-command by name or alias.
func (cmd *Command[E]) Sub(name string) *Command[E] {
	for _, s := range cmd.Subs {
		if s.Name == name || slices.Contains(s.Aliases, name) {
			return s
		}
	}
	return nil
}

// subNames lists the sub-commands for a message: "add, confirm, edit".
func (cmd *Command[E]) subNames() string {
	names := make([]string, 0, len(cmd.Subs))
	for _, s := range cmd.Subs {
		names = append(names, s.Name)
	}
	return strings.Join(names, ", ")
}

// Forwarded is the call's command line in a canonical form that another
// Program with the same command and flags parses the same way: the
// command's path, each flag set (but those named in skip) as
// --name=value, then "--" and the positional arguments. It is how the
// binary hands an operator command to a running server.
func (c *Call[E]) Forwarded(skip ...string) []string {
	out := strings.Fields(c.Cmd.Path())
	c.fs.Visit(func(f *flag.Flag) {
		if !slices.Contains(skip, f.Name) {
			out = append(out, "--"+f.Name+"="+f.Value.String())
		}
	})
	return append(append(out, "--"), c.Args...)
}

// Forward makes, from a command of another Program, a command of this one
// with the same name, arguments, flags, help and sub-commands that runs as
// bind says instead: the binary shows and checks the operator's commands
// itself, then hands them to the server (Call.Forwarded). bind may
// declare flags of its own.
func Forward[E, F any](cmd *Command[F], bind func(fs *flag.FlagSet) func(c *Call[E]) error) *Command[E] {
	out := &Command[E]{
		Name: cmd.Name, Aliases: cmd.Aliases, Args: cmd.Args, MinArgs: cmd.MinArgs, MaxArgs: cmd.MaxArgs,
		Summary: cmd.Summary, About: cmd.About, Required: cmd.Required, Admin: cmd.Admin,
	}
	if cmd.Bind != nil {
		out.Bind = func(fs *flag.FlagSet) func(*Call[E]) error {
			_ = cmd.Bind(fs) // its flags; it runs in the other program
			return bind(fs)
		}
	}
	for _, sub := range cmd.Subs {
		out.Subs = append(out.Subs, Forward(sub, bind))
	}
	return out
}

// firstPositional returns the index of the first argument that is not a
// flag or a flag's value, or -1. A flag named in values takes the next
// argument as its value unless it is written --flag=value; after "--"
// everything is positional.
func firstPositional(args []string, values map[string]bool) int {
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--":
			if i+1 < len(args) {
				return i + 1
			}
			return -1
		case len(a) > 1 && strings.HasPrefix(a, "-"):
			if name, ok := flagName(a); ok && values[name] {
				i++ // its value
			}
			continue
		}
		return i
	}
	return -1
}

// flagName returns the name of a flag written without "=value": "email"
// for "--email" or "-email".
func flagName(a string) (string, bool) {
	name := strings.TrimPrefix(strings.TrimPrefix(a, "-"), "-")
	if name == "" || strings.Contains(name, "=") || strings.HasPrefix(name, "-") {
		return "", false
	}
	return name, true
}

func isHelpFlag(a string) bool {
	switch a {
	case "-h", "-help", "--help", "--h":
		return true
	}
	return false
}

// helpRequested reports whether the flags ask for help.
func helpRequested(args []string) bool {
	for _, a := range args {
		if a == "--" {
			return false
		}
		if isHelpFlag(a) {
			return true
		}
	}
	return false
}

// parseInterleaved parses flags wherever they are among the positional
// arguments (`signout --everywhere`, `nickname Ada --json`), which the
// flag package alone stops at. Everything after "--" is positional.
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		// Parse consumes a "--" and stops there, unless the "--" was the
		// value of a flag before it (`--nickname --`).
		if n := len(args) - len(rest); n > 0 && args[n-1] == "--" && (n < 2 || !takesValue(fs, args[n-2])) {
			return append(pos, rest...), nil
		}
		if len(rest) == 0 {
			return pos, nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

// takesValue reports whether a is a flag of fs, written without "=value",
// that takes the next argument as its value.
func takesValue(fs *flag.FlagSet, a string) bool {
	if !strings.HasPrefix(a, "-") {
		return false
	}
	name, ok := flagName(a)
	if !ok {
		return false
	}
	f := fs.Lookup(name)
	return f != nil && !isBool(f)
}

// jsonRequested reports whether --json is on a command line that could
// not be parsed, so that even a usage error answers a script in JSON.
func jsonRequested(args []string) bool {
	for _, a := range args {
		switch a {
		case "--":
			return false
		case "-json", "--json", "-json=true", "--json=true", "-json=1", "--json=1":
			return true
		}
	}
	return false
}

// report turns what a command returned into output and an exit status.
func (c *Call[E]) report(err error) int {
	if err == nil {
		return ExitOK
	}
	var exit *ExitError
	if errors.As(err, &exit) {
		return exit.Status
	}
	prefix := c.prog.Name
	if c.Cmd != nil {
		prefix += " " + c.Name
	}
	var ue *UsageError
	if errors.As(err, &ue) {
		fmt.Fprintf(c.Stderr, "%s: %s\n", prefix, inert.String(ue.Msg))
		if c.Cmd != nil {
			fmt.Fprintf(c.Stderr, "usage: %s\nrun `%s%s --help` for more\n", c.Cmd.usage(c.prog), c.prog.Invocation, c.Name)
		}
		c.jsonError(flows.ProblemUsage, ue.Msg)
		return ExitUsage
	}
	if p, ok := flows.AsProblem(err); ok {
		msg, how := p.Msg, ""
		if c.prog.Explain != nil {
			msg, how = c.prog.Explain(p)
		}
		if !c.prog.BareRefusals {
			msg = prefix + ": " + msg
		}
		fmt.Fprintln(c.Stderr, inert.String(msg))
		if c.JSON {
			_ = c.Emit(errorJSON{errorBody{Code: p.Code, Message: p.Msg, RetryAt: Stamp(p.RetryAt), How: how}})
		}
		return ExitFailed
	}
	code := flows.ProblemInternal
	text := inert.String(err.Error())
	if c.prog.ErrorLines {
		text = inert.Lines(err.Error())
	}
	fmt.Fprintf(c.Stderr, "%s: %s\n", prefix, text)
	c.jsonError(code, err.Error())
	return ExitFailed
}

// errorJSON is what a failed command prints on stdout with --json.
type errorJSON struct {
	Error errorBody `json:"error"`
}

type errorBody struct {
	Code    flows.ProblemCode `json:"code"`
	Message string            `json:"message"`
	RetryAt *time.Time        `json:"retry_at"` // null unless asking again later can succeed
	// How says what to do first, for refusals with a known way out:
	// "run stepup, then code CODE" for step_up_required. Absent otherwise.
	How string `json:"how,omitempty"`
}

// JSONError prints, with --json, the JSON error for an error already
// printed on stderr (one relayed from a server).
func (c *Call[E]) JSONError(code flows.ProblemCode, msg string) { c.jsonError(code, msg) }

func (c *Call[E]) jsonError(code flows.ProblemCode, msg string) {
	if c.JSON {
		_ = c.Emit(errorJSON{errorBody{Code: code, Message: msg}})
	}
}

// Quote renders a piece of the command line for a message: quoted,
// shortened and inert.
func Quote(s string) string {
	if r := []rune(s); len(r) > 40 {
		s = string(r[:40]) + "…"
	}
	return `"` + inert.String(s) + `"`
}
