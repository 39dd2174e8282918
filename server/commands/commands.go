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
//   - exit 2: the command line is wrong (unknown flag, missing argument);
//     an unknown command is exit 1.
//
// Untrusted text reaches the terminal only through inert.
package commands

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
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
}

// Exit statuses.
const (
	exitOK     = 0
	exitFailed = 1 // the command ran and failed, or the flows refused it
	exitUsage  = 2 // the command line cannot be run as written
)

// Error codes in --json error objects besides the flows' Problem codes.
const (
	codeUsage    = "usage"
	codeUnknown  = "unknown_command"
	codeInternal = "internal"
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
	c.jsonError(codeUnknown, fmt.Sprintf("unknown command %q", name), time.Time{})
	return exitFailed
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
	bind func(fs *flag.FlagSet) func(c *call) error
}

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

// exec runs the command, typed as name (the command's name or an alias).
func (cmd *command) exec(ctx context.Context, env Env, name string, args []string) (status int) {
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
		cmd.writeHelp(env.Stdout, fs)
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
	return c.report(run(c))
}

// flags builds the command's flag set: its own flags, and --json.
func (cmd *command) flags() (fs *flag.FlagSet, asJSON *bool, run func(*call) error) {
	fs = flag.NewFlagSet(cmd.name, flag.ContinueOnError)
	// The flag package would print its own messages and usage; exec
	// reports errors prefixed with the command, and --help on stdout.
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	asJSON = fs.Bool("json", false, "print JSON for scripts instead of text")
	return fs, asJSON, cmd.bind(fs)
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
		// Parse consumes a "--" and stops there. (A flag taking "--" as its
		// value would look the same; no flag here takes a value yet.)
		if n := len(args) - len(rest); n > 0 && args[n-1] == "--" {
			return append(pos, rest...), nil
		}
		if len(rest) == 0 {
			return pos, nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
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
			fmt.Fprintf(c.env.Stderr, "usage: %s\nrun `%s --help` for more\n", c.cmd.synopsis(c.fs), c.name)
		}
		c.jsonError(codeUsage, ue.msg, time.Time{})
		return exitUsage
	}
	if p, ok := flows.AsProblem(err); ok {
		fmt.Fprintln(c.env.Stderr, inert.String(p.Msg))
		c.jsonError(p.Code, p.Msg, p.RetryAt)
		return exitFailed
	}
	fmt.Fprintf(c.env.Stderr, "attest: %s\n", inert.String(err.Error()))
	c.jsonError(codeInternal, err.Error(), time.Time{})
	return exitFailed
}

// errorJSON is what a failed command prints on stdout with --json.
type errorJSON struct {
	Error errorBody `json:"error"`
}

type errorBody struct {
	Code    string     `json:"code"`
	Message string     `json:"message"`
	RetryAt *time.Time `json:"retry_at"` // null unless asking again later can succeed
}

func (c *call) jsonError(code, msg string, retryAt time.Time) {
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
