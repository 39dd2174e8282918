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
	"github.com/attest-dev/attest/flows/explain"
	"github.com/attest-dev/attest/internal/cli"
	"github.com/attest-dev/attest/internal/inert"
	"github.com/attest-dev/attest/store"
)

// Env is what an operator command runs against.
type Env struct {
	Ledger  store.Ledger
	Service *flows.Service
	Stdout  io.Writer
	Stderr  io.Writer
}

// Commands is the operator's table. The binary shows and checks the same
// rows (cli.Forward) before it hands a command line to a running server
// or runs it here.
func Commands() []*cli.Command[Env] { return program.Commands }

var program = &cli.Program[Env]{
	Name:       "attest",
	Invocation: "attest ",
	Commands: []*cli.Command[Env]{
		{Name: "verify", Summary: "check the hash chain and every index; report the first discrepancy",
			About: "With --json: {\"ok\": true, \"facts\": N, \"indexes_checked\": true}. A discrepancy is exit 1.",
			Bind:  cli.NoFlags(runVerify)},
		{Name: "reindex", Summary: "rebuild every index from the facts",
			About: "With --json: {\"ok\": true}.",
			Bind:  cli.NoFlags(runReindex)},
		{Name: "backup", Summary: "write a consistent copy of the ledger",
			Bind: cli.NoFlags(runBackup)},
		{Name: "owner", Args: "ADDRESS", MinArgs: 1, MaxArgs: 1,
			Summary: "who had an address confirmed at a time (now by default)",
			Bind:    bindAsOf(runOwner)},
		{Name: "addresses", Args: "USER", MinArgs: 1, MaxArgs: 1,
			Summary: "which addresses a user had at a time (now by default)",
			Bind:    bindAsOf(runAddresses)},
		{Name: "user", Summary: "register users",
			Subs: []*cli.Command[Env]{
				{Name: "add", Required: []string{"email"},
					Summary: "register a user: the address is confirmed by an administrator and welcomed",
					Bind:    bindUserAdd},
			}},
		{Name: "unactivated", Summary: "registrations whose every challenge expired with nothing confirmed",
			About: "Seed 001's clean-up routine, read-only: registrations (from `login`) whose every challenge\n" +
				"(code, link) expired at least --older-than ago with nothing confirmed. With --json: a line each.",
			Bind: bindCleanup(false)},
		{Name: "cleanup", Summary: "record those registrations as abandoned (deletes nothing)",
			About: "Records a registration.abandoned fact for each registration `unactivated` lists, and ends its\n" +
				"unconfirmed addresses (reason \"abandoned\"), so the derived state drops them. Nothing is\n" +
				"deleted: `owner ADDRESS --at TIME` still shows the claim it had.",
			Bind: bindCleanup(true)},
		{Name: "facts", Summary: "print facts as JSON lines (always JSON, with or without --json); --explain in plain words",
			Bind: bindFacts},
		cli.Help[Env](),
	},
}

// Run runs one operator command and returns its exit status: 0 on
// success, 1 on failure, 2 on a command line that cannot run.
func Run(ctx context.Context, env Env, args []string) int {
	return program.Run(ctx, env, cli.IO{Stdout: env.Stdout, Stderr: env.Stderr}, args)
}

// call is one running operator command.
type call = cli.Call[Env]

func maintainer(env Env) (store.Maintainer, error) {
	m, ok := env.Ledger.(store.Maintainer)
	if !ok {
		return nil, errors.New("this ledger cannot be checked or rebuilt")
	}
	return m, nil
}

func runVerify(c *call) error {
	env := c.Env
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
	checked := true
	if ic, ok := env.Ledger.(indexChecker); ok {
		if checked, err = ic.ChecksIndexes(); err != nil {
			return err
		}
	}
	switch {
	case c.JSON:
		return c.Emit(verifyJSON{OK: true, Facts: head, IndexesChecked: checked})
	case !checked:
		c.Printf("ok: %d facts; the hash chain agrees (the indexes were not checked: install PostgreSQL's amcheck extension for that)\n", head)
	default:
		c.Printf("ok: %d facts; the hash chain and every index agree\n", head)
	}
	return nil
}

// verifyJSON is what verify --json prints when the ledger verifies.
type verifyJSON struct {
	OK             bool   `json:"ok"`
	Facts          uint64 `json:"facts"`
	IndexesChecked bool   `json:"indexes_checked"` // false: only the hash chain (PostgreSQL without amcheck)
}

// okJSON is what a command with nothing else to say prints with --json.
type okJSON struct {
	OK bool `json:"ok"`
}

// indexChecker is a ledger whose Verify checks its indexes only
// sometimes (PostgreSQL's, with amcheck).
type indexChecker interface {
	ChecksIndexes() (bool, error)
}

func runReindex(c *call) error {
	m, err := maintainer(c.Env)
	if err != nil {
		return err
	}
	if err := m.Reindex(); err != nil {
		return err
	}
	if c.JSON {
		return c.Emit(okJSON{OK: true})
	}
	c.Printf("ok: every index rebuilt from the facts\n")
	return nil
}

// runBackup writes the copy to stdout, which the binary sends to FILE;
// with --json too, since the binary prints the result.
func runBackup(c *call) error {
	m, err := maintainer(c.Env)
	if err != nil {
		return err
	}
	_, err = m.Backup(c.Stdout)
	return err
}

func bindFacts(fs *flag.FlagSet) func(*call) error {
	var f factsFlags
	fs.StringVar(&f.user, "user", "", "only facts about this user `TAG`")
	fs.StringVar(&f.device, "device", "", "only facts about this device `TAG`")
	fs.StringVar(&f.addr, "address", "", "only facts about this email address or phone number (`ADDRESS`)")
	fs.StringVar(&f.ticket, "ticket", "", "only facts about this ticket (`ID`)")
	fs.StringVar(&f.kinds, "kind", "", "only facts of these kinds (`KIND[,KIND]`)")
	fs.StringVar(&f.since, "since", "", "only facts at or after this `TIME` (RFC 3339 or YYYY-MM-DD)")
	fs.StringVar(&f.until, "until", "", "only facts at or before this `TIME` (RFC 3339 or YYYY-MM-DD)")
	fs.BoolVar(&f.explain, "explain", false, "one line per fact in plain words, and why it was written so, instead of JSON")
	return func(c *call) error { return runFacts(c.Env, f) }
}

type factsFlags struct {
	user, device, addr, ticket, kinds, since, until string
	explain                                         bool
}

func runFacts(env Env, f factsFlags) error {
	user, device, addr, ticket, kinds, since, until := f.user, f.device, f.addr, f.ticket, f.kinds, f.since, f.until
	var w store.Window
	var err error
	if w.Since, err = parseTime(since); err != nil {
		return cli.Usagef("--since: %v", err)
	}
	if w.Until, err = parseTime(until); err != nil {
		return cli.Usagef("--until: %v", err)
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
		return cli.Usagef("give at most one of --user, --device, --address and --ticket")
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
	return streamFacts(env, ix, id, w, f.explain)
}

// readMasks adds to masks the masked form of every address the facts
// name. It forgets them all past maxMasks, so a whole ledger's worth
// never piles up.
func readMasks(r store.Reader, facts []store.Fact, masks map[string]string) error {
	if len(masks) > maxMasks {
		clear(masks)
	}
	for _, f := range facts {
		if _, ok := masks[f.Address]; ok || f.Address == "" {
			continue
		}
		m, err := flows.MaskOf(r, f.Address)
		if err != nil {
			return err
		}
		masks[f.Address] = m
	}
	return nil
}

const maxMasks = 1 << 14

// factsPerView is how many facts streamFacts reads in one read transaction.
const factsPerView = 1000

// streamFacts writes the facts of id in ix (every fact when id is "") that
// w selects, as JSON lines. The output may go to a slow reader (a pager
// over the control socket), and a read transaction held open meanwhile
// would keep bbolt from reusing pages and stall any commit that must grow
// the file's map; so it reads factsPerView facts per transaction, never
// past the head it saw first. Facts never change, so the output is the
// same as one transaction's.
//
// With explained, each fact is a line of plain words (flows/explain)
// instead, the masked form of its address read in the same transaction.
func streamFacts(env Env, ix store.Index, id string, w store.Window, explained bool) error {
	enc := json.NewEncoder(env.Stdout)
	masks := map[string]string{} // address hash → masked form, for explained
	write := func(f store.Fact) error { return enc.Encode(f) }
	if explained {
		write = func(f store.Fact) error {
			_, err := fmt.Fprintln(env.Stdout, inert.String(explain.Fact(f, func(h string) string { return masks[h] }).String()))
			return err
		}
	}
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
				if explained {
					return readMasks(r, batch, masks)
				}
				return nil
			}
			err := r.All(from, func(f store.Fact) bool {
				if f.Seq > head {
					return false
				}
				if w.Matches(store.Entry{Seq: f.Seq, Time: f.Time, Kind: f.Kind}) {
					batch = append(batch, f)
				}
				from = f.Seq + 1
				return from <= head && f.Seq%factsPerView != 0
			})
			if err == nil && explained {
				err = readMasks(r, batch, masks)
			}
			return err
		})
		if err != nil {
			return err
		}
		for _, f := range batch {
			if err := write(f); err != nil {
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

// bindAsOf binds what the two history questions share: --at, the
// instant to ask about.
func bindAsOf(run func(c *call, when time.Time) error) func(*flag.FlagSet) func(*call) error {
	return func(fs *flag.FlagSet) func(*call) error {
		at := fs.String("at", "", "the instant to ask about: a `TIME` in RFC 3339, or YYYY-MM-DD for midnight UTC at its start; default now")
		return func(c *call) error {
			when, err := parseTime(*at)
			if err != nil {
				return cli.Usagef("--at: %v", err)
			}
			return run(c, when)
		}
	}
}

// runOwner answers "who owned this address at time T".
func runOwner(c *call, when time.Time) error {
	// Only a Service holds the server's secret, which finds the address.
	if c.Env.Service == nil {
		return errors.New("owner needs the server secret to find the address")
	}
	o, err := c.Env.Service.OwnerAt(c.Ctx, c.Args[0], when)
	if err != nil {
		return err
	}
	if c.JSON {
		return c.Emit(struct {
			User    string     `json:"user"`
			Since   *time.Time `json:"since"`
			Method  string     `json:"method,omitempty"`
			Pending []string   `json:"pending"`
		}{o.User, cli.Stamp(o.Since), o.Method, cli.NonNil(o.Pending)})
	}
	asked := "now"
	if !when.IsZero() {
		asked = "at " + when.Format(time.RFC3339)
	}
	if o.User == "" {
		c.Printf("nobody had it confirmed %s\n", asked)
	} else {
		c.Printf("%s had it confirmed %s (since %s, by %s)\n", o.User, asked, o.Since.Format(time.RFC3339), o.Method)
	}
	for _, u := range o.Pending {
		c.Printf("%s had an unconfirmed claim on it\n", u)
	}
	return nil
}

// runAddresses answers "which addresses did this user have at time T".
func runAddresses(c *call, when time.Time) error {
	// Only a Service holds the server's secret, which opens sealed addresses.
	if c.Env.Service == nil {
		return errors.New("addresses needs the server secret to read sealed addresses")
	}
	// The operator's own tool says so when the user does not exist (a
	// typo), rather than answer as for a user with no addresses.
	known := false
	if err := c.Env.Ledger.View(func(r store.Reader) error {
		return r.Entries(store.ByUser, c.Args[0], store.Window{Limit: 1}, func(store.Entry) bool {
			known = true
			return false
		})
	}); err != nil {
		return err
	}
	if !known {
		return fmt.Errorf("there is no user %s in the ledger (user ids look like u_...: see `attest owner ADDRESS`)", cli.Quote(c.Args[0]))
	}
	list, err := c.Env.Service.AddressesAt(c.Ctx, c.Args[0], when)
	if err != nil {
		return err
	}
	for _, a := range list {
		if c.JSON {
			if err := c.Emit(struct {
				Kind        string     `json:"kind"`
				Address     string     `json:"address"`
				Confirmed   bool       `json:"confirmed"`
				Method      string     `json:"method,omitempty"`
				Added       time.Time  `json:"added"`
				ConfirmedAt *time.Time `json:"confirmed_at"`
			}{string(a.Kind), a.Display, a.Confirmed, a.Method, a.Added, cli.Stamp(a.ConfirmedAt)}); err != nil {
				return err
			}
			continue
		}
		state := "unconfirmed"
		if a.Confirmed {
			state = "confirmed by " + a.Method
		}
		c.Printf("%-7s %s  %s, added %s\n", a.Kind, inert.Address(a.Display), state, a.Added.Format(time.RFC3339))
	}
	if len(list) == 0 && !c.JSON {
		c.Printf("no addresses\n")
	}
	return nil
}

// bindUserAdd registers a user (seed 003: "Registration ... may be done by
// the user themselves, or by an administrator").
func bindUserAdd(fs *flag.FlagSet) func(*call) error {
	email := fs.String("email", "", "the `ADDRESS` to register (an email address or a phone number)")
	nickname := fs.String("nickname", "", "the account's nickname (`NAME`)")
	return func(c *call) error {
		if c.Env.Service == nil {
			return errors.New("user add needs the server secret")
		}
		reg, err := c.Env.Service.RegisterUser(c.Ctx, *email, *nickname, "operator")
		if err != nil {
			return err
		}
		if c.JSON {
			return c.Emit(struct {
				User     string `json:"user"`
				Address  string `json:"address"`
				Nickname string `json:"nickname,omitempty"`
			}{reg.User, reg.Address, reg.Nickname})
		}
		c.Printf("registered %s for %s; a welcome message went to it\n", reg.User, inert.String(reg.Address))
		return nil
	}
}
