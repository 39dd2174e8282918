package cli

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/attest-dev/attest/flows"
)

// TestValueFlags: flags that take a value (`user add --email ADDRESS`)
// are skipped when finding a sub-command, and a "--" that is a flag's
// value does not end the flags.
func TestValueFlags(t *testing.T) {
	values := map[string]bool{"email": true}
	for _, tc := range []struct {
		args []string
		want int
	}{
		{[]string{"add", "--email", "x"}, 0},
		{[]string{"--email", "x", "add"}, 2},
		{[]string{"--email=x", "add"}, 1},
		{[]string{"--json", "--email", "add"}, -1},
		{[]string{"--", "--email"}, 1},
	} {
		if got := firstPositional(tc.args, values); got != tc.want {
			t.Errorf("firstPositional(%q) = %d, want %d", tc.args, got, tc.want)
		}
	}
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	nickname := fs.String("nickname", "", "")
	asJSON := fs.Bool("json", false, "")
	pos, err := parseInterleaved(fs, []string{"--nickname", "--", "--json", "a"})
	if err != nil || *nickname != "--" || !*asJSON || len(pos) != 1 || pos[0] != "a" {
		t.Errorf("--nickname -- --json a: nickname %q, json %v, pos %q, %v", *nickname, *asJSON, pos, err)
	}
	pos, err = parseInterleaved(fs, []string{"b", "--", "--nickname"})
	if err != nil || len(pos) != 2 || pos[1] != "--nickname" {
		t.Errorf("b -- --nickname: pos %q, %v", pos, err)
	}
}

// env is a test program's environment: whether the caller is an
// administrator, and what the commands saw.
type env struct {
	admin bool
	got   *[]string
}

// testProgram has a command with a flag and an argument, a group with a
// sub-command, an administrators' command, a refusal and a failure.
func testProgram(dflt string) *Program[env] {
	return &Program[env]{
		Name: "attest", Invocation: "attest ", Default: dflt,
		IsAdmin: func(e env) bool { return e.admin },
		Intro:   "intro\n", Outro: "outro\n",
		Commands: []*Command[env]{
			{Name: "echo", Args: "WORD", MinArgs: 1, MaxArgs: 1, Summary: "say WORD",
				Bind: func(fs *flag.FlagSet) func(*Call[env]) error {
					loud := fs.Bool("loud", false, "shout")
					at := fs.String("at", "", "when, a `TIME`")
					return func(c *Call[env]) error {
						*c.Env.got = append(*c.Env.got, c.Forwarded()...)
						if *loud {
							c.Printf("%s!\n", c.Args[0])
						} else {
							c.Printf("%s %s\n", c.Args[0], *at)
						}
						return nil
					}
				}},
			{Name: "group", Summary: "a group", Subs: []*Command[env]{
				{Name: "sub", Summary: "a sub-command", Required: []string{"name"},
					Bind: func(fs *flag.FlagSet) func(*Call[env]) error {
						name := fs.String("name", "", "a `NAME`")
						return func(c *Call[env]) error {
							*c.Env.got = append(*c.Env.got, c.Forwarded()...)
							c.Printf("sub %s\n", *name)
							return nil
						}
					}},
			}},
			{Name: "secret", Admin: true, Summary: "for administrators", Bind: NoFlags(func(c *Call[env]) error { return nil })},
			{Name: "refuse", Summary: "a refusal", Bind: NoFlags(func(c *Call[env]) error {
				return &flows.Problem{Code: flows.ProblemThrottled, Msg: "Not now.", RetryAt: time.Date(2026, 11, 21, 9, 2, 0, 0, time.UTC)}
			})},
			{Name: "fail", Summary: "a failure", Bind: NoFlags(func(c *Call[env]) error { return errors.New("disk on fire") })},
			{Name: "relay", Summary: "output already written", Bind: NoFlags(func(c *Call[env]) error { return &ExitError{Status: 3} })},
			Help[env](),
		},
	}
}

type result struct {
	status      int
	out, errOut string
	forwarded   []string
}

func runTest(p *Program[env], admin bool, args ...string) result {
	var out, errOut bytes.Buffer
	var got []string
	status := p.Run(context.Background(), env{admin: admin, got: &got}, IO{Stdout: &out, Stderr: &errOut}, args)
	return result{status, out.String(), errOut.String(), got}
}

// TestContract: exit 0 done, 1 failed or refused, 2 a command line that
// cannot run; help on stdout; an error once, on stderr; --json errors.
func TestContract(t *testing.T) {
	p := testProgram("")
	for _, tc := range []struct {
		args             []string
		status           int
		out, errOut      string
		outPrefix, jsonC string
	}{
		{args: []string{"echo", "hi", "--at", "noon"}, out: "hi noon\n"},
		{args: []string{"echo", "--loud", "hi"}, out: "hi!\n"},
		{args: []string{"echo", "--", "--loud"}, out: "--loud \n"},
		{args: []string{"group", "sub", "--name", "x"}, out: "sub x\n"},
		{args: []string{"group", "--name", "x", "sub"}, out: "sub x\n"},
		{args: []string{"--help"}, outPrefix: "intro\nCommands:\n"},
		{args: []string{"help"}, outPrefix: "intro\nCommands:\n"},
		{args: nil, outPrefix: "intro\nCommands:\n"},
		{args: []string{"echo", "-h"}, outPrefix: "usage: attest echo WORD [--at TIME] [--json] [--loud]\n\nSay WORD.\n"},
		{args: []string{"help", "group", "sub"}, outPrefix: "usage: attest group sub --name NAME [--json]\n"},
		{args: []string{"group", "--help"}, outPrefix: "usage: attest group sub --name NAME [--json]\n"},
		{args: []string{"bogus"}, status: 2, errOut: "attest: unknown command \"bogus\"; run `attest help` for the list\n"},
		{args: []string{"bogus", "--json"}, status: 2, jsonC: "unknown_command", errOut: "attest: unknown command \"bogus\"; run `attest help` for the list\n"},
		{args: []string{"--json", "echo"}, status: 2, jsonC: "usage", errOut: "attest: flags go after the command, as in `whoami --json`, not before it (\"--json\")\n"},
		{args: []string{"echo"}, status: 2, errOut: "attest echo: needs WORD\nusage: attest echo WORD [--at TIME] [--json] [--loud]\nrun `attest echo --help` for more\n"},
		{args: []string{"echo", "a", "b"}, status: 2, errOut: "attest echo: takes only WORD, not also \"b\"\nusage: attest echo WORD [--at TIME] [--json] [--loud]\nrun `attest echo --help` for more\n"},
		{args: []string{"echo", "a", "--bogus", "--json"}, status: 2, jsonC: "usage", errOut: "attest echo: flag provided but not defined: -bogus\nusage: attest echo WORD [--at TIME] [--json] [--loud]\nrun `attest echo --help` for more\n"},
		{args: []string{"group"}, status: 2, errOut: "attest group: needs a sub-command: sub\nusage: attest group sub --name NAME [--json]\nrun `attest group --help` for more\n"},
		{args: []string{"group", "sub"}, status: 2, errOut: "attest group sub: needs --name NAME\nusage: attest group sub --name NAME [--json]\nrun `attest group sub --help` for more\n"},
		// An administrators' command is, to anyone else, an unknown one.
		{args: []string{"secret"}, status: 2, errOut: "attest: unknown command \"secret\"; run `attest help` for the list\n"},
		{args: []string{"secret", "--help", "--json"}, status: 2, jsonC: "unknown_command", errOut: "attest: unknown command \"secret\"; run `attest help` for the list\n"},
		{args: []string{"help", "secret"}, status: 2, errOut: "attest help: there is no command \"secret\"; run `attest help` for the list\nusage: attest help [COMMAND [SUB-COMMAND]] [--json]\nrun `attest help --help` for more\n"},
		{args: []string{"refuse"}, status: 1, errOut: "attest refuse: Not now.\n"},
		{args: []string{"refuse", "--json"}, status: 1, out: `{"error":{"code":"throttled","message":"Not now.","retry_at":"2026-11-21T09:02:00Z"}}` + "\n", errOut: "attest refuse: Not now.\n"},
		{args: []string{"fail", "--json"}, status: 1, jsonC: "internal", errOut: "attest fail: disk on fire\n"},
		{args: []string{"relay", "--json"}, status: 3},
	} {
		r := runTest(p, false, tc.args...)
		switch {
		case r.status != tc.status || r.errOut != tc.errOut:
		case tc.jsonC != "" && !strings.HasPrefix(r.out, `{"error":{"code":"`+tc.jsonC+`",`):
		case tc.jsonC == "" && tc.outPrefix == "" && r.out != tc.out:
		case tc.outPrefix != "" && !strings.HasPrefix(r.out, tc.outPrefix):
		default:
			continue
		}
		t.Errorf("%q: exit %d, stdout %q, stderr %q; want exit %d, stdout %q%q (JSON code %q), stderr %q",
			tc.args, r.status, r.out, r.errOut, tc.status, tc.out, tc.outPrefix, tc.jsonC, tc.errOut)
	}
	// The administrators' command is listed and runs for an administrator
	// only.
	if r := runTest(p, false, "help"); strings.Contains(r.out, "secret") {
		t.Errorf("help lists the administrators' command to others:\n%s", r.out)
	}
	if r := runTest(p, true, "help"); !strings.Contains(r.out, "secret") || !strings.HasSuffix(r.out, "outro\n") {
		t.Errorf("help for an administrator:\n%s", r.out)
	}
	if r := runTest(p, true, "secret"); r.status != 0 {
		t.Errorf("secret for an administrator: exit %d, %q", r.status, r.errOut)
	}
	// Refusals over ssh are a sentence alone; the step-up hint is Explain's.
	p.BareRefusals = true
	p.Explain = func(pr *flows.Problem) (string, string) { return pr.Msg + " Wait.", "wait" }
	if r := runTest(p, false, "refuse", "--json"); r.errOut != "Not now. Wait.\n" || !strings.Contains(r.out, `"how":"wait"`) {
		t.Errorf("a bare refusal: %q %q", r.errOut, r.out)
	}
}

// TestDefault: a program with a default command runs it for an empty
// line or one that starts with a flag; help flags still mean help.
func TestDefault(t *testing.T) {
	p := testProgram("echo")
	if r := runTest(p, false, "--loud", "x"); r.status != 0 || r.out != "x!\n" {
		t.Errorf("--loud x: %d %q %q", r.status, r.out, r.errOut)
	}
	if r := runTest(p, false); r.status != 2 || !strings.HasPrefix(r.errOut, "attest echo: needs WORD") {
		t.Errorf("nothing: %d %q %q", r.status, r.out, r.errOut)
	}
	if r := runTest(p, false, "-h"); r.status != 0 || !strings.HasPrefix(r.out, "intro\n") {
		t.Errorf("-h: %d %q %q", r.status, r.out, r.errOut)
	}
	// Flags, then another command: flags go after the command, and the
	// answer is the line to type, with that command's usage.
	if r := runTest(p, false, "--at", "noon", "group", "sub", "--name", "x"); r.status != 2 || r.out != "" ||
		r.errOut != "attest group: flags go after the command: attest group --at noon sub --name x\nusage: attest group sub --name NAME [--json]\nrun `attest group --help` for more\n" {
		t.Errorf("--at noon group sub: %d %q %q", r.status, r.out, r.errOut)
	}
	if r := runTest(p, false, "--loud", "refuse", "--json"); r.status != 2 || !strings.HasPrefix(r.out, `{"error":{"code":"usage","message":"flags go after the command: attest refuse --loud --json"`) {
		t.Errorf("--loud refuse --json: %d %q %q", r.status, r.out, r.errOut)
	}
	// A flag's value that names a command is still the value.
	if r := runTest(p, false, "--at", "refuse", "x"); r.status != 0 || r.out != "x refuse\n" {
		t.Errorf("--at refuse x: %d %q %q", r.status, r.out, r.errOut)
	}
}

// TestForward: a command forwarded to another program shows the same
// usage and hands over a command line that parses the same way there.
func TestForward(t *testing.T) {
	inner := testProgram("")
	outer := &Program[env]{Name: "attest", Invocation: "attest "}
	var handed [][]string
	for _, name := range []string{"echo", "group"} {
		outer.Commands = append(outer.Commands, Forward(inner.Lookup(name), func(fs *flag.FlagSet) func(*Call[env]) error {
			dir := fs.String("data-dir", "", "a `DIR`")
			return func(c *Call[env]) error {
				if *dir != "/d" {
					return errors.New("no --data-dir")
				}
				handed = append(handed, c.Forwarded("data-dir"))
				return nil
			}
		}))
	}
	if r := runTest(outer, false, "echo", "-h"); !strings.HasPrefix(r.out, "usage: attest echo WORD [--at TIME] [--data-dir DIR] [--json] [--loud]\n") {
		t.Errorf("forwarded help: %q", r.out)
	}
	if r := runTest(outer, false, "echo"); r.status != 2 {
		t.Errorf("forwarded usage error: %d %q", r.status, r.errOut)
	}
	for _, args := range [][]string{
		{"echo", "--data-dir", "/d", "it's", "--at=noon", "--json"},
		{"echo", "--data-dir=/d", "--", "--loud"},
		{"group", "--name", "--", "--data-dir", "/d", "sub"},
	} {
		handed = nil
		if r := runTest(outer, false, args...); r.status != 0 || len(handed) != 1 {
			t.Fatalf("%q: %d %q", args, r.status, r.errOut)
		}
		// The inner program sees what the outer one parsed, and runs.
		direct := runTest(inner, false, slices.DeleteFunc(slices.Clone(args), func(a string) bool { return a == "/d" || strings.HasPrefix(a, "--data-dir") })...)
		fwd := runTest(inner, false, handed[0]...)
		if fwd.status != 0 || fwd.out != direct.out || !slices.Equal(fwd.forwarded, direct.forwarded) {
			t.Errorf("%q handed over %q: %d %q %q; directly %q", args, handed[0], fwd.status, fwd.out, fwd.errOut, direct.out)
		}
	}
}
