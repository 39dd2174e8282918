// Package commands is attest's command mode: what `ssh host whoami` runs
// when the client asks for a command rather than a terminal, so that the
// system can be scripted and demonstrated from a shell.
//
// Each command is a row of the table in table.go. It calls the flows and
// prints short human text, or with --json one JSON object (JSON lines for
// lists) with stable snake_case names. Every command follows the same
// conventions, enforced here rather than by each command:
//
//   - exit 0: done; --help, -h and `help` print usage on stdout.
//   - exit 1: the command ran and failed. A refusal from the flows prints
//     its message on stderr (and with --json an {"error": ...} object on
//     stdout); anything else prints "attest: <what failed>: <why>".
//   - exit 2: the command line is wrong (unknown flag, missing argument,
//     a group such as `address` without a known sub-command, an unknown
//     command).
//   - a protected action refused for lack of a step-up (step_up_required)
//     also says how to step up: a sentence after the message, and "how"
//     in the JSON error.
//
// Untrusted text reaches the terminal only through inert. A password
// comes only on standard input, never on the command line, and is never
// printed (password.go).
package commands

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/attest-dev/attest/flows"
	"github.com/attest-dev/attest/tui/inert"
)

// Env is one command invocation.
type Env struct {
	Service *flows.Service
	Device  flows.Device
	Stdin   io.Reader
	Stdout  io.Writer
	Stderr  io.Writer
	// Admin is true when the session's key is one of the configured
	// administrator keys (the key that signed, never a key merely offered).
	Admin bool
}

// Exit statuses.
const (
	exitOK     = 0
	exitFailed = 1 // the command ran and failed, or the flows refused it
	exitUsage  = 2 // the command line cannot be run as written
)

// Run runs args (the SSH command line, already split like a shell would)
// and returns the exit status. It never panics.
func Run(ctx context.Context, env Env, args []string) (status int) {
	if env.Stdin == nil {
		env.Stdin = strings.NewReader("")
	}
	if env.Stdout == nil {
		env.Stdout = io.Discard
	}
	if env.Stderr == nil {
		env.Stderr = io.Discard
	}
	defer func() {
		if r := recover(); r != nil {
			fmt.Fprintf(env.Stderr, "attest: internal error: %s\n", inert.String(fmt.Sprint(r)))
			status = exitFailed
		}
	}()
	if len(args) == 0 {
		args = []string{"help"}
	}
	name := args[0]
	if cmd := lookup(name); cmd != nil {
		return cmd.exec(ctx, env, name, args[1:])
	}
	c := &call{ctx: ctx, env: env, name: name, json: jsonRequested(args)}
	switch {
	case name == "-h" || name == "-help" || name == "--help":
		return lookup("help").exec(ctx, env, "help", args[1:])
	case strings.HasPrefix(name, "-"):
		return c.report(&usageError{fmt.Sprintf("flags go after the command, as in `whoami --json`, not before it (%s)", quote(name))})
	}
	fmt.Fprintf(env.Stderr, "attest: unknown command %s; run `help` for the list\n", quote(name))
	c.jsonError(flows.ProblemUnknown, fmt.Sprintf("unknown command %q", name), time.Time{})
	return exitUsage
}

// command is one row of the table.
type command struct {
	name    string
	aliases []string
	args    string // the positional arguments for the usage line: "ADDRESS"
	minArgs int
	maxArgs int    // -1: any number
	summary string // one line, for the list
	about   string // more, for `CMD --help`; may be empty

	// bind declares the command's own flags on fs (--json and --help are
	// every command's) and returns the function that runs it. The run
	// function reads the flags' values through the pointers bind kept.
	// A group of sub-commands without a run of its own (`address`) has
	// none.
	bind func(fs *flag.FlagSet) func(c *call) error

	// subs are the command's sub-commands (`address add`, `keys remember`):
	// the first positional argument names one, wherever the flags are. A
	// command with bind runs itself when no sub-command is named (`keys`
	// lists the keys); one without prints usage and exits 2.
	subs   []*command
	parent *command // set in init for sub-commands

	// required names flags that must be given (`user add --email`): the
	// usage line shows them without brackets, and leaving one out is a
	// usage error.
	required []string

	// admin marks a command for administrators only (Env.Admin), with its
	// sub-commands: others are refused, and `help` does not list it for
	// them.
	admin bool
}

// adminOnly reports whether the command, or a group it is in, is for
// administrators.
func (cmd *command) adminOnly() bool {
	for c := cmd; c != nil; c = c.parent {
		if c.admin {
			return true
		}
	}
	return false
}

// visibleTo reports whether the command is shown to, and runs for, an
// administrator (admin) or anyone else.
func (cmd *command) visibleTo(admin bool) bool { return admin || !cmd.adminOnly() }

// noFlags binds a command that has no flags of its own.
func noFlags(run func(c *call) error) func(*flag.FlagSet) func(*call) error {
	return func(*flag.FlagSet) func(*call) error { return run }
}

// call is one running command.
type call struct {
	ctx  context.Context
	env  Env
	name string // as typed: an alias stays an alias in messages
	cmd  *command
	fs   *flag.FlagSet
	args []string // the positional arguments
	json bool
}

func (c *call) svc() *flows.Service { return c.env.Service }
func (c *call) dev() flows.Device   { return c.env.Device }

// printf writes human text to stdout. Untrusted parts must already have
// been through inert.
func (c *call) printf(format string, a ...any) { fmt.Fprintf(c.env.Stdout, format, a...) }

// emit writes one JSON object (one line) to stdout.
func (c *call) emit(v any) error { return writeJSON(c.env.Stdout, v) }

// usageError is a command line that cannot be run as written: exit 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, a ...any) error { return &usageError{fmt.Sprintf(format, a...)} }

// errForbidden refuses an administrators' command to someone else: exit 1.
type errForbidden struct{ name string }

func (e *errForbidden) Error() string { return e.name + " is for administrators" }

// exec runs the command, typed as name (the command's name or an alias).
func (cmd *command) exec(ctx context.Context, env Env, name string, args []string) (status int) {
	if len(cmd.subs) > 0 {
		if i := firstPositional(args, cmd.valueFlags()); i >= 0 {
			if sub := cmd.sub(args[i]); sub != nil {
				rest := append(append([]string{}, args[:i]...), args[i+1:]...)
				return sub.exec(ctx, env, name+" "+args[i], rest)
			}
		}
	}
	if !cmd.visibleTo(env.Admin) {
		// Refused before anything else, --help included: `help` does not
		// list the command for this person either.
		c := &call{ctx: ctx, env: env, name: name, cmd: cmd, json: jsonRequested(args)}
		return c.report(&errForbidden{name})
	}
	if len(cmd.subs) > 0 {
		// A group that takes arguments of its own (`totp CODE`) runs
		// itself when the first one names no sub-command.
		if i := firstPositional(args, cmd.valueFlags()); i >= 0 && cmd.maxArgs == 0 {
			c := &call{ctx: ctx, env: env, name: name, cmd: cmd, json: jsonRequested(args)}
			return c.report(usagef("there is no sub-command %s; the sub-commands are %s", quote(args[i]), cmd.subNames()))
		}
		if cmd.bind == nil {
			if helpRequested(args) {
				cmd.writeHelp(env.Stdout)
				return exitOK
			}
			c := &call{ctx: ctx, env: env, name: name, cmd: cmd, json: jsonRequested(args)}
			return c.report(usagef("needs a sub-command: %s", cmd.subNames()))
		}
	}
	fs, asJSON, run := cmd.flags()
	c := &call{ctx: ctx, env: env, name: name, cmd: cmd, fs: fs}
	defer func() {
		if r := recover(); r != nil {
			status = c.report(fmt.Errorf("%s failed unexpectedly: %v", name, r))
		}
	}()
	pos, err := parseInterleaved(fs, args)
	c.args, c.json = pos, *asJSON
	switch {
	case errors.Is(err, flag.ErrHelp):
		cmd.writeHelp(env.Stdout)
		return exitOK
	case err != nil:
		c.json = jsonRequested(args)
		return c.report(&usageError{err.Error()})
	case len(pos) < cmd.minArgs:
		return c.report(usagef("needs %s", cmd.args))
	case cmd.maxArgs >= 0 && len(pos) > cmd.maxArgs:
		extra := pos[cmd.maxArgs:]
		if cmd.maxArgs == 0 {
			return c.report(usagef("takes no arguments, not %s", quote(extra[0])))
		}
		return c.report(usagef("takes only %s, not also %s", cmd.args, quote(extra[0])))
	}
	if missing := missingFlags(fs, cmd.required); len(missing) > 0 {
		return c.report(usagef("needs %s", strings.Join(missing, " ")))
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
func (cmd *command) valueFlags() map[string]bool {
	out := map[string]bool{}
	for _, c := range append([]*command{cmd}, cmd.subs...) {
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
func (cmd *command) flags() (fs *flag.FlagSet, asJSON *bool, run func(*call) error) {
	fs = flag.NewFlagSet(cmd.name, flag.ContinueOnError)
	// The flag package would print its own messages and usage; exec
	// reports errors prefixed with the command, and --help on stdout.
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	asJSON = fs.Bool("json", false, "print JSON for scripts instead of text")
	if cmd.bind == nil {
		return fs, asJSON, nil
	}
	return fs, asJSON, cmd.bind(fs)
}

// sub finds a sub-command by name or alias.
func (cmd *command) sub(name string) *command {
	for _, s := range cmd.subs {
		if s.name == name || slices.Contains(s.aliases, name) {
			return s
		}
	}
	return nil
}

// subNames lists the sub-commands for a message: "add, confirm, edit".
func (cmd *command) subNames() string {
	names := make([]string, 0, len(cmd.subs))
	for _, s := range cmd.subs {
		names = append(names, s.name)
	}
	return strings.Join(names, ", ")
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

// helpRequested reports whether the flags ask for help.
func helpRequested(args []string) bool {
	for _, a := range args {
		switch a {
		case "--":
			return false
		case "-h", "-help", "--help", "--h":
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
func (c *call) report(err error) int {
	if err == nil {
		return exitOK
	}
	var ue *usageError
	if errors.As(err, &ue) {
		prefix := "attest"
		if c.cmd != nil {
			prefix += " " + c.name
		}
		fmt.Fprintf(c.env.Stderr, "%s: %s\n", prefix, inert.String(ue.msg))
		if c.cmd != nil {
			fmt.Fprintf(c.env.Stderr, "usage: %s\nrun `%s --help` for more\n", c.cmd.usage(), c.name)
		}
		c.jsonError(flows.ProblemUsage, ue.msg, time.Time{})
		return exitUsage
	}
	if p, ok := flows.AsProblem(err); ok {
		msg, how := p.Msg, ""
		if p.Code == flows.ProblemStepUp {
			// The flows say why; command mode says how, in its own words.
			msg, how = strings.TrimRight(msg, " ")+" "+stepUpHint, stepUpHow
		}
		fmt.Fprintln(c.env.Stderr, inert.String(msg))
		if c.json {
			_ = c.emit(errorJSON{errorBody{Code: p.Code, Message: p.Msg, RetryAt: stamp(p.RetryAt), How: how}})
		}
		return exitFailed
	}
	code := flows.ProblemInternal
	var fe *errForbidden
	if errors.As(err, &fe) {
		code = flows.ProblemForbidden
	}
	fmt.Fprintf(c.env.Stderr, "attest: %s\n", inert.String(err.Error()))
	c.jsonError(code, err.Error(), time.Time{})
	return exitFailed
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

// What a protected command refused for lack of a step-up adds to the
// flows' message: in words (human mode) and as "how" (JSON).
const (
	stepUpHint = "Step up first: run `stepup`, then `code CODE` with the code it sends (or `stepup --totp CODE` with your authenticator app), then run this again."
	stepUpHow  = "run stepup, then code CODE"
)

func (c *call) jsonError(code flows.ProblemCode, msg string, retryAt time.Time) {
	if c.json {
		_ = c.emit(errorJSON{errorBody{Code: code, Message: msg, RetryAt: stamp(retryAt)}})
	}
}

// quote renders a piece of the command line for a message: quoted,
// shortened and inert.
func quote(s string) string {
	if r := []rune(s); len(r) > 40 {
		s = string(r[:40]) + "…"
	}
	return `"` + inert.String(s) + `"`
}
