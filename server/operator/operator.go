// Package operator holds the commands an operator runs against a ledger:
// verify, reindex, backup, facts. They run the same way in a process of
// their own (when no server is running) and inside a running server
// (reached through its control socket), so there is one implementation of
// each.
package operator

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/attest-dev/attest/flows"
	"github.com/attest-dev/attest/store"
	"github.com/attest-dev/attest/tui/inert"
)

// Env is what an operator command runs against.
type Env struct {
	Ledger  store.Ledger
	Service *flows.Service
	Stdout  io.Writer
	Stderr  io.Writer
}

type command struct {
	name    string
	summary string
	usage   string
	run     func(ctx context.Context, env Env, fs *flag.FlagSet, args []string) error
}

// Commands lists the operator commands, for the binary's help.
func Commands() [][2]string {
	out := make([][2]string, len(commands))
	for i, c := range commands {
		out[i] = [2]string{c.name, c.summary}
	}
	return out
}

var commands = []command{
	{"verify", "check the hash chain and every index; report the first discrepancy", "verify", runVerify},
	{"reindex", "rebuild every index from the facts", "reindex", runReindex},
	{"backup", "write a consistent copy of the ledger (the binary writes it to FILE)", "backup", runBackup},
	{"owner", "who had an address confirmed at a time (now by default)", "owner ADDRESS [--at TIME] [--json]", runOwner},
	{"addresses", "which addresses a user had at a time (now by default)", "addresses USER [--at TIME] [--json]", runAddresses},
	{"user", "register a user: the address is confirmed by an administrator and welcomed", "user add --email ADDRESS [--nickname NAME] [--json]", runUser},
	{"facts", "print facts as JSON lines", "facts [--user TAG] [--device TAG] [--address ADDRESS] [--ticket ID] [--kind KIND[,KIND]] [--since TIME] [--until TIME]", runFacts},
}

// usageError is a mistake in how a command was called (exit status 2).
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

// Run runs one operator command and returns its exit status: 0 on
// success, 1 on failure, 2 on a usage mistake.
func Run(ctx context.Context, env Env, args []string) int {
	if len(args) == 0 {
		fmt.Fprintln(env.Stderr, "attest: no operator command given")
		return 2
	}
	for _, c := range commands {
		if c.name != args[0] {
			continue
		}
		fs := flag.NewFlagSet(c.name, flag.ContinueOnError)
		fs.SetOutput(env.Stderr)
		fs.Usage = func() { fmt.Fprintf(env.Stderr, "usage: attest %s\n  %s\n", c.usage, c.summary) }
		err := c.run(ctx, env, fs, args[1:])
		var ue usageError
		switch {
		case err == nil:
			return 0
		case errors.Is(err, flag.ErrHelp):
			return 0
		case errors.As(err, &ue):
			fmt.Fprintf(env.Stderr, "attest %s: %s\n", c.name, ue.msg)
			fs.Usage()
			return 2
		default:
			if p, ok := flows.AsProblem(err); ok {
				fmt.Fprintf(env.Stderr, "attest %s: %s\n", c.name, p.Msg)
			} else {
				fmt.Fprintf(env.Stderr, "attest %s: %v\n", c.name, err)
			}
			return 1
		}
	}
	fmt.Fprintf(env.Stderr, "attest: unknown operator command %q\n", args[0])
	return 2
}

func parse(fs *flag.FlagSet, args []string, positional int) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError{err.Error()}
	}
	if fs.NArg() != positional {
		return usageError{fmt.Sprintf("takes %d arguments, got %d", positional, fs.NArg())}
	}
	return nil
}

func maintainer(env Env) (store.Maintainer, error) {
	m, ok := env.Ledger.(store.Maintainer)
	if !ok {
		return nil, errors.New("this ledger cannot be checked or rebuilt")
	}
	return m, nil
}

func runVerify(_ context.Context, env Env, fs *flag.FlagSet, args []string) error {
	if err := parse(fs, args, 0); err != nil {
		return err
	}
	m, err := maintainer(env)
	if err != nil {
		return err
	}
	var head uint64
	if err := env.Ledger.View(func(r store.Reader) error {
		head, _, err = r.Head()
		return err
	}); err != nil {
		return err
	}
	if err := m.Verify(); err != nil {
		return err
	}
	if c, ok := env.Ledger.(indexChecker); ok {
		checked, err := c.ChecksIndexes()
		if err != nil {
			return err
		}
		if !checked {
			fmt.Fprintf(env.Stdout, "ok: %d facts; the hash chain agrees (the indexes were not checked: install PostgreSQL's amcheck extension for that)\n", head)
			return nil
		}
	}
	fmt.Fprintf(env.Stdout, "ok: %d facts; the hash chain and every index agree\n", head)
	return nil
}

// indexChecker is a ledger whose Verify checks its indexes only
// sometimes (PostgreSQL's, with amcheck).
type indexChecker interface {
	ChecksIndexes() (bool, error)
}

func runReindex(_ context.Context, env Env, fs *flag.FlagSet, args []string) error {
	if err := parse(fs, args, 0); err != nil {
		return err
	}
	m, err := maintainer(env)
	if err != nil {
		return err
	}
	if err := m.Reindex(); err != nil {
		return err
	}
	fmt.Fprintln(env.Stdout, "ok: every index rebuilt from the facts")
	return nil
}

func runBackup(_ context.Context, env Env, fs *flag.FlagSet, args []string) error {
	if err := parse(fs, args, 0); err != nil {
		return err
	}
	m, err := maintainer(env)
	if err != nil {
		return err
	}
	_, err = m.Backup(env.Stdout)
	return err
}

func runFacts(_ context.Context, env Env, fs *flag.FlagSet, args []string) error {
	var user, device, addr, ticket, kinds, since, until string
	fs.StringVar(&user, "user", "", "only facts about this user tag")
	fs.StringVar(&device, "device", "", "only facts about this device tag")
	fs.StringVar(&addr, "address", "", "only facts about this email address or phone number")
	fs.StringVar(&ticket, "ticket", "", "only facts about this ticket")
	fs.StringVar(&kinds, "kind", "", "only facts of these kinds (comma-separated)")
	fs.StringVar(&since, "since", "", "only facts at or after this time (RFC 3339 or YYYY-MM-DD)")
	fs.StringVar(&until, "until", "", "only facts at or before this time (RFC 3339 or YYYY-MM-DD)")
	if err := parse(fs, args, 0); err != nil {
		return err
	}
	var w store.Window
	var err error
	if w.Since, err = parseTime(since); err != nil {
		return usageError{"--since: " + err.Error()}
	}
	if w.Until, err = parseTime(until); err != nil {
		return usageError{"--until: " + err.Error()}
	}
	if len(until) == len("2006-01-02") {
		w.Until = w.Until.Add(24*time.Hour - time.Nanosecond) // a date means to the end of that day
	}
	if kinds != "" {
		w.Kinds = strings.Split(kinds, ",")
	}
	var ix store.Index
	var id string
	set := 0
	for _, f := range []struct {
		v  string
		ix store.Index
	}{{user, store.ByUser}, {device, store.ByDevice}, {ticket, store.ByTicket}, {addr, store.ByAddress}} {
		if f.v != "" {
			ix, id = f.ix, f.v
			set++
		}
	}
	if set > 1 {
		return usageError{"give at most one of --user, --device, --address and --ticket"}
	}
	if addr != "" {
		if env.Service == nil {
			return errors.New("--address needs the server secret to find the address's facts")
		}
		if id, err = env.Service.AddressHash(addr); err != nil {
			return err
		}
	}
	if set == 0 && len(w.Kinds) == 1 {
		ix, id = store.ByKind, w.Kinds[0]
	}
	return streamFacts(env, ix, id, w)
}

// factsPerView is how many facts streamFacts reads in one read transaction.
const factsPerView = 1000

// streamFacts writes the facts of id in ix (every fact when id is "") that
// w selects, as JSON lines. The output may go to a slow reader (a pager
// over the control socket), and a read transaction held open meanwhile
// would keep bbolt from reusing pages and stall any commit that must grow
// the file's map; so it reads factsPerView facts per transaction, never
// past the head it saw first. Facts never change, so the output is the
// same as one transaction's.
func streamFacts(env Env, ix store.Index, id string, w store.Window) error {
	enc := json.NewEncoder(env.Stdout)
	var head uint64
	var seqs []uint64 // the facts of id, when there is one
	err := env.Ledger.View(func(r store.Reader) error {
		var err error
		if head, _, err = r.Head(); err != nil || id == "" {
			return err
		}
		return r.Entries(ix, id, w, func(e store.Entry) bool {
			seqs = append(seqs, e.Seq)
			return true
		})
	})
	if err != nil {
		return err
	}
	var batch []store.Fact
	for from := uint64(1); from <= head; {
		batch = batch[:0]
		err := env.Ledger.View(func(r store.Reader) error {
			if id != "" {
				for _, seq := range seqs[:min(factsPerView, len(seqs))] {
					f, err := r.Fact(seq)
					if err != nil {
						return err
					}
					batch = append(batch, f)
				}
				seqs = seqs[min(factsPerView, len(seqs)):]
				return nil
			}
			return r.All(from, func(f store.Fact) bool {
				if f.Seq > head {
					return false
				}
				if w.Matches(store.Entry{Seq: f.Seq, Time: f.Time, Kind: f.Kind}) {
					batch = append(batch, f)
				}
				from = f.Seq + 1
				return from <= head && f.Seq%factsPerView != 0
			})
		})
		if err != nil {
			return err
		}
		for _, f := range batch {
			if err := enc.Encode(f); err != nil {
				return err
			}
		}
		if id != "" && len(seqs) == 0 {
			break
		}
	}
	return nil
}

func parseTime(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("%q is not a time; use RFC 3339 (2026-11-21T09:00:00Z) or a date (2026-11-21)", s)
}

// runOwner answers "who owned this address at time T".
func runOwner(ctx context.Context, env Env, fs *flag.FlagSet, args []string) error {
	when, asJSON, err := asOf(env, fs, args, "owner needs the server secret to find the address")
	if err != nil {
		return err
	}
	o, err := env.Service.OwnerAt(ctx, fs.Arg(0), when)
	if err != nil {
		return err
	}
	if asJSON {
		return json.NewEncoder(env.Stdout).Encode(struct {
			User    string     `json:"user"`
			Since   *time.Time `json:"since"`
			Method  string     `json:"method,omitempty"`
			Pending []string   `json:"pending"`
		}{o.User, stamp(o.Since), o.Method, nonNil(o.Pending)})
	}
	asked := "now"
	if !when.IsZero() {
		asked = "at " + when.Format(time.RFC3339)
	}
	if o.User == "" {
		fmt.Fprintf(env.Stdout, "nobody had it confirmed %s\n", asked)
	} else {
		fmt.Fprintf(env.Stdout, "%s had it confirmed %s (since %s, by %s)\n", o.User, asked, o.Since.Format(time.RFC3339), o.Method)
	}
	for _, u := range o.Pending {
		fmt.Fprintf(env.Stdout, "%s had an unconfirmed claim on it\n", u)
	}
	return nil
}

// runAddresses answers "which addresses did this user have at time T".
func runAddresses(ctx context.Context, env Env, fs *flag.FlagSet, args []string) error {
	when, asJSON, err := asOf(env, fs, args, "addresses needs the server secret to read sealed addresses")
	if err != nil {
		return err
	}
	list, err := env.Service.AddressesAt(ctx, fs.Arg(0), when)
	if err != nil {
		return err
	}
	enc := json.NewEncoder(env.Stdout)
	for _, a := range list {
		if asJSON {
			if err := enc.Encode(struct {
				Kind        string     `json:"kind"`
				Address     string     `json:"address"`
				Confirmed   bool       `json:"confirmed"`
				Method      string     `json:"method,omitempty"`
				Added       time.Time  `json:"added"`
				ConfirmedAt *time.Time `json:"confirmed_at"`
			}{string(a.Kind), a.Display, a.Confirmed, a.Method, a.Added, stamp(a.ConfirmedAt)}); err != nil {
				return err
			}
			continue
		}
		state := "unconfirmed"
		if a.Confirmed {
			state = "confirmed by " + a.Method
		}
		fmt.Fprintf(env.Stdout, "%-7s %s  %s, added %s\n", a.Kind, inert.Address(a.Display), state, a.Added.Format(time.RFC3339))
	}
	if len(list) == 0 && !asJSON {
		fmt.Fprintln(env.Stdout, "no addresses")
	}
	return nil
}

// asOf parses what the two history questions share: one argument, --at
// (the instant to ask about) and --json. Both need the server's secret,
// which only a Service holds.
func asOf(env Env, fs *flag.FlagSet, args []string, needsService string) (time.Time, bool, error) {
	at := fs.String("at", "", "the instant to ask about (RFC 3339, or YYYY-MM-DD for midnight UTC at its start); default now")
	asJSON := fs.Bool("json", false, "print JSON")
	if err := parse(fs, reorder(args), 1); err != nil {
		return time.Time{}, false, err
	}
	when, err := parseTime(*at)
	if err != nil {
		return time.Time{}, false, usageError{"--at: " + err.Error()}
	}
	if env.Service == nil {
		return time.Time{}, false, errors.New(needsService)
	}
	return when, *asJSON, nil
}

// reorder puts flags before positional arguments, so `owner ADDR --at T`
// parses as people type it.
func reorder(args []string) []string {
	var flags, rest []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if strings.HasPrefix(a, "-") && len(a) > 1 {
			flags = append(flags, a)
			if !strings.Contains(a, "=") && a != "--json" && a != "-json" && i+1 < len(args) {
				flags = append(flags, args[i+1])
				i++
			}
			continue
		}
		rest = append(rest, a)
	}
	return append(flags, rest...)
}

func stamp(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	u := t.UTC()
	return &u
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// runUser registers a user (seed 003: "Registration ... may be done by the
// user themselves, or by an administrator").
func runUser(ctx context.Context, env Env, fs *flag.FlagSet, args []string) error {
	if len(args) == 0 || args[0] != "add" {
		return usageError{"the only user subcommand is add"}
	}
	var email, nickname string
	var asJSON bool
	fs.StringVar(&email, "email", "", "the address to register (an email address or a phone number)")
	fs.StringVar(&nickname, "nickname", "", "the account's nickname")
	fs.BoolVar(&asJSON, "json", false, "print JSON")
	if err := parse(fs, args[1:], 0); err != nil {
		return err
	}
	if email == "" {
		return usageError{"--email is required"}
	}
	if env.Service == nil {
		return errors.New("user add needs the server secret")
	}
	reg, err := env.Service.RegisterUser(ctx, email, nickname, "operator")
	if err != nil {
		return err
	}
	if asJSON {
		return json.NewEncoder(env.Stdout).Encode(struct {
			User     string `json:"user"`
			Address  string `json:"address"`
			Nickname string `json:"nickname,omitempty"`
		}{reg.User, reg.Address, reg.Nickname})
	}
	fmt.Fprintf(env.Stdout, "registered %s for %s; a welcome message went to it\n", reg.User, inert.String(reg.Address))
	return nil
}
