// Command attest is an identity and sign-in system people use over plain
// ssh. With no arguments it serves: SSH on 127.0.0.1:23234, data in
// ./attest-data, messages to a demo inbox. Other subcommands are for
// operators.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/attest-dev/attest/server"
	"github.com/attest-dev/attest/server/config"
	"github.com/attest-dev/attest/server/operator"
	"github.com/attest-dev/attest/store"
	"github.com/attest-dev/attest/store/bolt"
	"github.com/attest-dev/attest/store/postgres"
)

// Set by the release build (see .goreleaser.yaml).
var (
	version = ""
	commit  = ""
	date    = ""
)

func main() {
	os.Exit(run(os.Args[1:], os.Environ(), os.Stdout, os.Stderr))
}

func run(args, environ []string, stdout, stderr io.Writer) int {
	cmd := "serve"
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "serve":
		return serve(args, environ, stdout, stderr)
	case "version":
		fmt.Fprintln(stdout, versionString())
		return 0
	case "help":
		usage(stdout)
		return 0
	case "migrate":
		return migrate(args, environ, stdout, stderr)
	}
	for _, c := range operator.Commands() {
		if c[0] == cmd {
			return operate(cmd, args, environ, stdout, stderr)
		}
	}
	fmt.Fprintf(stderr, "attest: unknown command %q\n\n", cmd)
	usage(stderr)
	return 2
}

func usage(w io.Writer) {
	fmt.Fprint(w, `attest: sign in over ssh.

usage:
  attest [serve] [flags]     serve (the default)
  attest <command> [flags]   an operator command
  attest version             print the version

operator commands (they reach a running server through its control socket,
or open the ledger themselves when no server runs):
`)
	for _, c := range operator.Commands() {
		fmt.Fprintf(w, "  %-9s %s\n", c[0], c[1])
	}
	fmt.Fprintf(w, "  %-9s %s\n", "migrate", "copy the ledger file into an empty PostgreSQL database (--to postgres://...), checking the chain")
	fmt.Fprint(w, `
flags (every command):
  --config FILE      YAML configuration (default: DATA_DIR/config.yaml if present)
  --data-dir DIR     data directory (default ./attest-data)
flags (serve):
  --ssh-listen ADDR  SSH address (default 127.0.0.1:23234)
  --http-listen ADDR HTTP address (default 127.0.0.1:23235)
  --version          print the version

environment:
`)
	for _, e := range config.Env {
		fmt.Fprintf(w, "  %-24s %s\n", e.Name, e.Sets)
	}
	for _, e := range config.EnvPerProvider {
		fmt.Fprintf(w, "  %s\n  %-24s %s\n", e.Name, "", e.Sets)
	}
}

// commonFlags are the flags every command takes.
type commonFlags struct {
	config, dataDir string
}

func (c *commonFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&c.config, "config", "", "YAML configuration file")
	fs.StringVar(&c.dataDir, "data-dir", "", "data directory")
}

func (c *commonFlags) load(environ []string) (config.Config, error) {
	if c.dataDir != "" {
		environ = append(environ, "ATTEST_DATA_DIR="+c.dataDir)
	}
	return config.Load(c.config, environ)
}

func serve(args, environ []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { usage(stderr) }
	var common commonFlags
	common.register(fs)
	sshListen := fs.String("ssh-listen", "", "SSH listen address")
	httpListen := fs.String("http-listen", "", "HTTP listen address")
	showVersion := fs.Bool("version", false, "print the version")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if *showVersion {
		fmt.Fprintln(stdout, versionString())
		return 0
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "attest: serve takes no arguments, got %q\n", fs.Arg(0))
		return 2
	}
	cfg, err := common.load(environ)
	if err != nil {
		fmt.Fprintf(stderr, "attest: %v\n", err)
		return 1
	}
	if *sshListen != "" {
		cfg.SSH.Listen = *sshListen
	}
	if *httpListen != "" {
		cfg.HTTP.Listen = *httpListen
	}
	if err := cfg.Validate(); err != nil {
		fmt.Fprintf(stderr, "attest: %v\n", err)
		return 1
	}
	logger := newLogger(cfg.Log, stderr)

	// A running server answers on its control socket: say so at once,
	// rather than after the ledger's lock timeout.
	if c, err := net.DialTimeout("unix", cfg.SocketPath(), time.Second); err == nil {
		c.Close()
		return fail(stderr, cfg, fmt.Errorf("%w (its control socket %s answers)", store.ErrLocked, cfg.SocketPath()))
	}
	// Hold the ledger before opening any port: a second server on the same
	// data directory then stops with "in use", not "address in use".
	app, err := server.OpenLedger(cfg)
	if err != nil {
		return fail(stderr, cfg, err)
	}
	defer app.Close()
	sshLn, err := net.Listen("tcp", cfg.SSH.Listen)
	if err != nil {
		return fail(stderr, cfg, fmt.Errorf("listen for ssh: %w", err))
	}
	httpLn, err := net.Listen("tcp", cfg.HTTP.Listen)
	if err != nil {
		sshLn.Close()
		return fail(stderr, cfg, fmt.Errorf("listen for http: %w", err))
	}
	// With port 0 the system picked; messages must name the real ports.
	cfg.SSH.Listen, cfg.HTTP.Listen = sshLn.Addr().String(), httpLn.Addr().String()
	app.Providers = server.DiscoverProviders(context.Background(), cfg.OIDC, logger)
	if err := app.Build(cfg, testClock(), logger); err != nil {
		return fail(stderr, cfg, err)
	}
	// Servers sharing a database hear each other before taking sessions.
	if !app.WaitShared(10 * time.Second) {
		logger.Warn("not yet listening to the other servers on the database; live sign-outs and demo messages from them are missed until then")
	}
	srv, err := server.New(cfg, server.Deps{Service: app.Service, Ledger: app.Ledger, Inbox: app.Inbox, Logger: logger, Clock: app.Clock})
	if err != nil {
		return fail(stderr, cfg, err)
	}
	ctl, err := server.ListenControl(cfg.SocketPath())
	if err != nil {
		sshLn.Close()
		httpLn.Close()
		return fail(stderr, cfg, err)
	}
	defer os.Remove(cfg.SocketPath())

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	logger.Info("attest is serving", "ssh", cfg.SSH.Listen, "http", cfg.HTTP.Listen, "data", cfg.DataDir, "demo", cfg.Delivery.Demo(), "version", versionString())
	fmt.Fprintf(stdout, "attest %s\n  connect:  %s\n", versionString(), cfg.ConnectHint())
	if cfg.Delivery.Demo() {
		host, port := splitHostPort(cfg.SSH.Listen)
		fmt.Fprintf(stdout, "  inbox:    ssh -p %s inbox@%s   (demo delivery: codes land here, nowhere else)\n", port, host)
	}
	fmt.Fprintf(stdout, "  links:    %s\n", cfg.PublicURL())
	fmt.Fprintln(stdout, "  stop:     Ctrl-C")

	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return srv.Serve(gctx, sshLn) })
	g.Go(func() error { return srv.ServeHTTP(gctx, httpLn) })
	g.Go(func() error { return srv.ServeControl(gctx, ctl) })
	err = g.Wait()
	logger.Info("attest stopped")
	if err != nil {
		fmt.Fprintf(stderr, "attest: %v\n", err)
		return 1
	}
	return 0
}

// migrate copies the data directory's ledger file into an empty
// PostgreSQL database, fact by fact, checking that the copy holds each as
// the file does, and binds the database to the data directory's secret.
func migrate(args, environ []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("migrate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var common commonFlags
	common.register(fs)
	to := fs.String("to", "", "the PostgreSQL database to copy the ledger into (postgres://...)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 || (!strings.HasPrefix(*to, "postgres://") && !strings.HasPrefix(*to, "postgresql://")) {
		fmt.Fprintln(stderr, "usage: attest migrate --to postgres://USER@HOST/DB [--data-dir DIR]")
		return 2
	}
	cfg, err := common.load(environ)
	if err != nil {
		fmt.Fprintf(stderr, "attest: %v\n", err)
		return 1
	}
	if _, err := os.Stat(cfg.LedgerPath()); err != nil {
		fmt.Fprintf(stderr, "attest: there is no ledger at %s (is --data-dir right?)\n", cfg.LedgerPath())
		return 1
	}
	src, err := bolt.Open(cfg.LedgerPath(), bolt.Options{})
	if err != nil {
		return fail(stderr, cfg, err)
	}
	defer src.Close()
	dst, err := postgres.Open(context.Background(), *to, postgres.Options{})
	if err != nil {
		fmt.Fprintf(stderr, "attest migrate: %v\n", err)
		return 1
	}
	defer dst.Close()
	if err := server.CheckSecret(cfg, dst); err != nil {
		fmt.Fprintf(stderr, "attest migrate: %v\n", err)
		return 1
	}
	n, err := store.Copy(dst, src, func(n uint64) {
		if n%100_000 == 0 {
			fmt.Fprintf(stderr, "attest migrate: %d facts copied\n", n)
		}
	})
	if err != nil {
		fmt.Fprintf(stderr, "attest migrate: after %d facts: %v\n", n, err)
		return 1
	}
	if err := dst.Verify(); err != nil {
		fmt.Fprintf(stderr, "attest migrate: the copy does not verify: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "copied %d facts into %s; the chain verifies. Start the servers with ATTEST_DATABASE_URL set to it.\n", n, redact(*to))
	return 0
}

// redact drops a URL's password, for messages.
func redact(s string) string {
	if u, err := url.Parse(s); err == nil {
		return u.Redacted()
	}
	return "the database"
}

// fail explains a start-up failure, in particular a ledger held by
// another process.
func fail(stderr io.Writer, cfg config.Config, err error) int {
	if errors.Is(err, store.ErrLocked) {
		fmt.Fprintf(stderr, "attest: the ledger %s is in use by another process, most likely an attest server that is already running.\n"+
			"Operator commands (attest verify, facts, backup) reach a running server through %s.\n", cfg.Ledger(), cfg.SocketPath())
		return 1
	}
	fmt.Fprintf(stderr, "attest: %v\n", err)
	return 1
}

// operate runs an operator command inside the running server if there is
// one, else against the ledger directly.
func operate(cmd string, args, environ []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet(cmd, flag.ContinueOnError)
	fs.SetOutput(io.Discard) // the operator command reports its own flags
	var common commonFlags
	common.register(fs)
	// Pull the common flags out; the rest belong to the command.
	rest, err := splitCommon(fs, args)
	if err != nil {
		fmt.Fprintf(stderr, "attest %s: %v\n", cmd, err)
		return 2
	}
	cfg, err := common.load(environ)
	if err != nil {
		fmt.Fprintf(stderr, "attest: %v\n", err)
		return 1
	}
	out := stdout
	opArgs := append([]string{cmd}, rest...)
	var finish func(ok bool) error
	if cmd == "backup" {
		// The copy streams from the server (or the ledger) into FILE.
		if len(rest) != 1 || strings.HasPrefix(rest[0], "-") {
			fmt.Fprintln(stderr, "usage: attest backup FILE")
			return 2
		}
		out, finish, err = createAtomic(rest[0])
		if err != nil {
			fmt.Fprintf(stderr, "attest backup: %v\n", err)
			return 1
		}
		opArgs = []string{cmd}
	}
	code, err := server.RunRemote(cfg.SocketPath(), opArgs, out, stderr)
	if errors.Is(err, server.ErrNoServer) {
		code = operateLocally(cfg, opArgs, out, stderr)
	} else if err != nil {
		fmt.Fprintf(stderr, "attest %s: %v\n", cmd, err)
		code = 1
	}
	if finish != nil {
		if err := finish(code == 0); err != nil {
			fmt.Fprintf(stderr, "attest backup: %v\n", err)
			return 1
		}
		if code == 0 {
			fmt.Fprintf(stderr, "attest backup: wrote %s\n", rest[0])
		}
	}
	return code
}

func operateLocally(cfg config.Config, args []string, stdout, stderr io.Writer) int {
	// Registering a user may start a ledger; every other command reads one.
	if _, err := os.Stat(cfg.LedgerPath()); err != nil && args[0] != "user" && cfg.DatabaseURL == "" {
		fmt.Fprintf(stderr, "attest: there is no ledger at %s (is --data-dir right?)\n", cfg.LedgerPath())
		return 1
	}
	app, err := server.Open(cfg, nil, nil)
	if err != nil {
		return fail(stderr, cfg, err)
	}
	defer app.Close()
	if args[0] == "user" && app.Inbox != nil {
		fmt.Fprintln(stderr, "attest: no server is running and delivery is the demo inbox, so the welcome message stays in this process and is lost; start the server first to see it in ssh inbox@host.")
	}
	return operator.Run(context.Background(), operator.Env{Ledger: app.Ledger, Service: app.Service, Stdout: stdout, Stderr: stderr}, args)
}

// splitCommon parses --config and --data-dir wherever they appear and
// returns the other arguments in order.
func splitCommon(fs *flag.FlagSet, args []string) ([]string, error) {
	var rest []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		name, _, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if strings.HasPrefix(a, "-") && (name == "config" || name == "data-dir") {
			if !hasValue {
				if i+1 >= len(args) {
					return nil, fmt.Errorf("%s needs a value", a)
				}
				a += "=" + args[i+1]
				i++
			}
			if err := fs.Parse([]string{a}); err != nil {
				return nil, err
			}
			continue
		}
		rest = append(rest, a)
	}
	return rest, nil
}

// createAtomic writes to a temporary file next to path and, on success,
// syncs it and renames it into place, so a failed backup never leaves a
// half-written file under the final name.
func createAtomic(path string) (io.Writer, func(ok bool) error, error) {
	f, err := os.CreateTemp(filepath.Dir(path), ".attest-backup-*")
	if err != nil {
		return nil, nil, err
	}
	finish := func(ok bool) error {
		if !ok {
			f.Close()
			return os.Remove(f.Name())
		}
		if err := f.Sync(); err != nil {
			f.Close()
			os.Remove(f.Name())
			return err
		}
		if err := f.Close(); err != nil {
			os.Remove(f.Name())
			return err
		}
		if err := os.Chmod(f.Name(), 0o600); err != nil {
			return err
		}
		return os.Rename(f.Name(), path)
	}
	return f, finish, nil
}

func newLogger(c config.Log, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(c.Level))
	opts := &slog.HandlerOptions{Level: level}
	if c.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

func splitHostPort(addr string) (string, string) {
	i := strings.LastIndex(addr, ":")
	if i < 0 {
		return addr, "22"
	}
	host := strings.Trim(addr[:i], "[]")
	if host == "127.0.0.1" || host == "::1" {
		host = "localhost"
	}
	return host, addr[i+1:]
}

// versionString is what ldflags set, or else what the module's build
// info knows.
func versionString() string {
	v, c, d := version, commit, date
	if bi, ok := debug.ReadBuildInfo(); ok {
		if v == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			v = bi.Main.Version
		}
		for _, s := range bi.Settings {
			switch {
			case s.Key == "vcs.revision" && c == "":
				c = s.Value
			case s.Key == "vcs.time" && d == "":
				d = s.Value
			}
		}
	}
	if v == "" {
		v = "dev"
	}
	out := v
	if c != "" {
		out += " (" + c[:min(len(c), 12)]
		if d != "" {
			out += ", " + d
		}
		out += ")"
	}
	return out
}
