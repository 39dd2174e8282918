// Package commands is attest's command mode: what `ssh host whoami` runs
// when the client asks for a command rather than a terminal, so that the
// system can be scripted and demonstrated from a shell.
//
// Each command is a row of the table in table.go. It calls the flows and
// prints short human text, or with --json one JSON object (JSON lines for
// lists) with stable snake_case names. Dispatch, flags, --help, exit
// statuses and errors are internal/cli's, the same as the binary's
// commands: exit 0 done, 1 failed or refused, 2 a command line that
// cannot run. A protected action refused for lack of a step-up
// (step_up_required) also says how to step up: a sentence after the
// message, and "how" in the JSON error.
//
// Untrusted text reaches the terminal only through inert. A password
// comes only on standard input, never on the command line, and is never
// printed (password.go).
package commands

import (
	"context"
	"io"
	"strings"

	"github.com/attest-dev/attest/flows"
	"github.com/attest-dev/attest/internal/cli"
	"github.com/attest-dev/attest/internal/inert"
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

// call is one running command.
type call = cli.Call[Env]

// program is ssh command mode: the table, and how it presents itself.
var program = &cli.Program[Env]{
	Name:         "attest",
	IsAdmin:      func(env Env) bool { return env.Admin },
	Explain:      explain,
	BareRefusals: true,
	Intro: "attest: who you are, over plain ssh. Run one command per connection:\n\n" +
		"  ssh [-p PORT] HOST COMMAND [ARGS...] [--json]\n\n",
	Outro: "\nEvery command takes --json (JSON on stdout, for scripts) and --help.\n" +
		"Exit status: 0 done, 1 failed or refused, 2 a command line that cannot be run.\n" +
		"Protected changes (addresses, keys, a password, approving a device, signing out everywhere)\n" +
		"need a step-up on this device first: `stepup`, then `code CODE` (or `stepup --password`); it\n" +
		"lasts up to an hour.\n" +
		"A password is read from standard input, never from the command line, where it would stay in\n" +
		"shell history and logs: " + pipeHint("login grace@example.com") + "\n" +
		"Connect with a terminal (ssh -t) for the screens.\n",
	Footer: func(env Env) string {
		if env.Service == nil {
			return ""
		}
		return supportLine(env.Service.Support()) + "\n"
	},
}

// supportLine says whom to contact when a refusal says "contact
// support": the configured contact, or the operator of this server.
func supportLine(support string) string {
	if support == "" {
		return "Support: the operator of this server. A refusal that sends you there names what to quote."
	}
	return "Support: " + inert.String(support)
}

// Run runs args (the SSH command line, already split like a shell would)
// and returns the exit status. It never panics.
func Run(ctx context.Context, env Env, args []string) int {
	return program.Run(ctx, env, cli.IO{Stdin: env.Stdin, Stdout: env.Stdout, Stderr: env.Stderr}, args)
}

// lookup finds a command by name or alias.
func lookup(name string) *cli.Command[Env] { return program.Lookup(name) }

// explain adds to the flows' message, for a protected command refused for
// lack of a step-up, how to step up: in words (human mode) and as "how"
// (JSON). The flows say why; command mode says how, in its own words.
func explain(p *flows.Problem) (msg, how string) {
	if p.Code == flows.ProblemStepUp {
		return strings.TrimRight(p.Msg, " ") + " " + stepUpHint, stepUpHow
	}
	return p.Msg, ""
}

const (
	stepUpHint = "Step up first: run `stepup`, then `code CODE` with the code it sends (or `stepup --totp CODE` with your authenticator app), then run this again."
	stepUpHow  = "run stepup, then code CODE"
)

// usagef makes a usage error: exit 2.
func usagef(format string, a ...any) error { return cli.Usagef(format, a...) }

// quote renders a piece of the command line for a message.
func quote(s string) string { return cli.Quote(s) }
