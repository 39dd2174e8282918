// Command attest is an identity and sign-in system people use over plain
// ssh. With no arguments it serves: SSH on 127.0.0.1:23234, data in
// ./attest-data, messages to a demo inbox. Other subcommands are for
// operators.
package main

import (
	"bytes"
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

	"github.com/attest-dev/attest/flows"
	"github.com/attest-dev/attest/internal/cli"
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
	return program.Run(context.Background(), binEnv{environ: environ}, cli.IO{Stdin: os.Stdin, Stdout: stdout, Stderr: stderr}, args)
}

// binEnv is what the binary's commands run with.
type binEnv struct {
	environ []string
}

type call = cli.Call[binEnv]

// program is the binary's commands: serving, and the operator's commands,
// which it shows and checks itself and then hands to a running server
// (through its control socket) or runs against the ledger (operate).
var program = &cli.Program[binEnv]{
	Name:       "attest",
	Invocation: "attest ",
	Default:    "serve",
	ErrorLines: true,
	Intro: "attest: sign in over ssh.\n\n" +
		"usage: attest [serve] [flags]     serve (the default)\n" +
		"       attest COMMAND [flags]     an operator command\n\n" +
		"Operator commands reach a running server through its control socket, or open the\n" +
		"ledger themselves when no server runs.\n\n",
}

func init() {
	program.Commands = []*cli.Command[binEnv]{
		{Name: "serve", Summary: "serve ssh and the link pages (the default)",
			About: "Serves SSH (the screens and the commands) and HTTP (the link pages), with the ledger in the\n" +
				"data directory, until Ctrl-C. Configuration: defaults, then DATA_DIR/config.yaml (or --config),\n" +
				"then ATTEST_* environment variables (`attest help` lists them), then these flags.\n" +
				"With --json, what it prints on start is one JSON object.",
			Bind: bindServe},
		{Name: "version", Summary: "print the version", Bind: cli.NoFlags(runVersion)},
	}
	for _, op := range operator.Commands() {
		switch op.Name {
		case "help":
			continue
		case "backup":
			program.Commands = append(program.Commands, &cli.Command[binEnv]{
				Name: "backup", Args: "FILE", MinArgs: 1, MaxArgs: 1,
				Summary: "write a consistent copy of the ledger to FILE, while the server runs",
				About: "The copy is written next to FILE and renamed into place once whole (mode 0600).\n" +
					"With --json: {\"ok\": true, \"file\": FILE, \"bytes\": N}.",
				Bind: withConfig(runBackup),
			})
		default:
			program.Commands = append(program.Commands, cli.Forward(op, withConfig(runOperator)))
		}
	}
	program.Commands = append(program.Commands,
		&cli.Command[binEnv]{Name: "migrate", Required: []string{"to"},
			Summary: "copy the ledger file into an empty PostgreSQL database, checking the chain",
			About: "Copies the data directory's ledger file, fact by fact, into an empty PostgreSQL database,\n" +
				"checks that the copy holds each fact as the file does, and binds the database to the data\n" +
				"directory's secret. With --json: {\"ok\": true, \"facts\": N}.",
			Bind: bindMigrate},
		cli.Help[binEnv]())
	program.Outro = outro()
}

// outro is what `attest help` says after the commands.
func outro() string {
	var b strings.Builder
	b.WriteString(`
Every command takes --json (a JSON result, or the JSON error) and --help.
Exit status: 0 done, 1 failed or refused, 2 a command line that cannot be run.

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
		fmt.Fprintf(&b, "  %-24s %s\n", e.Name, e.Sets)
	}
	for _, e := range config.EnvPerProvider {
		fmt.Fprintf(&b, "  %s\n  %-24s %s\n", e.Name, "", e.Sets)
	}
	return b.String()
}

func runVersion(c *call) error {
	if c.JSON {
		return c.Emit(struct {
			Version string `json:"version"`
		}{versionString()})
	}
	c.Printf("%s\n", versionString())
	return nil
}

// commonFlags are the flags every command takes.
type commonFlags struct {
	config, dataDir string
}

func (c *commonFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&c.config, "config", "", "the configuration file, `YAML` (default: DATA_DIR/config.yaml if present)")
	fs.StringVar(&c.dataDir, "data-dir", "", "the data directory, `DIR` (default ./attest-data)")
}

func (c *commonFlags) load(environ []string) (config.Config, error) {
	if c.dataDir != "" {
		environ = append(environ, "ATTEST_DATA_DIR="+c.dataDir)
	}
	return config.Load(c.config, environ)
}

func bindServe(fs *flag.FlagSet) func(*call) error {
	var common commonFlags
	common.register(fs)
	sshListen := fs.String("ssh-listen", "", "the SSH listen address, `ADDR` (default 127.0.0.1:23234)")
	httpListen := fs.String("http-listen", "", "the HTTP listen address, `ADDR` (default 127.0.0.1:23235)")
	showVersion := fs.Bool("version", false, "print the version")
	return func(c *call) error {
		if *showVersion {
			return runVersion(c)
		}
		cfg, err := common.load(c.Env.environ)
		if err != nil {
			return err
		}
		if *sshListen != "" {
			cfg.SSH.Listen = *sshListen
		}
		if *httpListen != "" {
			cfg.HTTP.Listen = *httpListen
		}
		if err := cfg.Validate(); err != nil {
			return err
		}
		return serve(c, cfg)
	}
}

// serve serves until interrupted.
func serve(c *call, cfg config.Config) error {
	logger := newLogger(cfg.Log, c.Stderr)

	// A running server answers on its control socket: say so at once,
	// rather than after the ledger's lock timeout.
	if conn, err := net.DialTimeout("unix", cfg.SocketPath(), time.Second); err == nil {
		conn.Close()
		return explain(cfg, fmt.Errorf("%w (its control socket %s answers)", store.ErrLocked, cfg.SocketPath()))
	}
	// Hold the ledger before opening any port: a second server on the same
	// data directory then stops with "in use", not "address in use".
	app, err := server.OpenLedger(cfg)
	if err != nil {
		return explain(cfg, err)
	}
	defer app.Close()
	sshLn, err := net.Listen("tcp", cfg.SSH.Listen)
	if err != nil {
		return listenError("ssh", cfg.SSH.Listen, "--ssh-listen ADDR, or ATTEST_SSH_LISTEN=ADDR", err)
	}
	httpLn, err := net.Listen("tcp", cfg.HTTP.Listen)
	if err != nil {
		sshLn.Close()
		return listenError("http (the link pages)", cfg.HTTP.Listen, "--http-listen ADDR, or ATTEST_HTTP_LISTEN=ADDR", err)
	}
	// Metrics have a listener of their own, on the loopback interface
	// unless the operator says otherwise.
	var metricsLn net.Listener
	if cfg.HTTP.Metrics {
		if metricsLn, err = net.Listen("tcp", cfg.HTTP.MetricsListen); err != nil {
			sshLn.Close()
			httpLn.Close()
			return listenError("metrics", cfg.HTTP.MetricsListen, "ATTEST_METRICS_LISTEN=ADDR", err)
		}
		cfg.HTTP.MetricsListen = metricsLn.Addr().String()
	}
	// With port 0 the system picked; messages must name the real ports.
	cfg.SSH.Listen, cfg.HTTP.Listen = sshLn.Addr().String(), httpLn.Addr().String()
	app.Providers = server.DiscoverProviders(context.Background(), cfg.OIDC, logger)
	if err := app.Build(cfg, testClock(), logger); err != nil {
		return explain(cfg, err)
	}
	// Servers sharing a database hear each other before taking sessions.
	if !app.WaitShared(10 * time.Second) {
		logger.Warn("not yet listening to the other servers on the database; live sign-outs and demo messages from them are missed until then")
	}
	srv, err := server.New(cfg, server.Deps{Service: app.Service, Ledger: app.Ledger, Inbox: app.Inbox, Logger: logger, Clock: app.Clock, Metrics: app.Metrics})
	if err != nil {
		return explain(cfg, err)
	}
	ctl, err := server.ListenControl(cfg.SocketPath())
	if err != nil {
		sshLn.Close()
		httpLn.Close()
		if metricsLn != nil {
			metricsLn.Close()
		}
		return explain(cfg, err)
	}
	defer os.Remove(cfg.SocketPath())
	stdout := c.Stdout

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	logger.Info("attest is serving", "ssh", cfg.SSH.Listen, "http", cfg.HTTP.Listen, "data", cfg.DataDir, "demo", cfg.Delivery.Demo(), "version", versionString())
	warnDemoExposed(cfg, logger)
	inbox, metrics := "", ""
	if metricsLn != nil {
		metrics = "http://" + cfg.HTTP.MetricsListen + "/metrics"
	}
	if cfg.Delivery.Demo() {
		inbox = cfg.InboxHint()
	}
	if c.JSON {
		if err := c.Emit(struct {
			Version string `json:"version"`
			SSH     string `json:"ssh"`
			HTTP    string `json:"http"`
			Connect string `json:"connect"`
			Inbox   string `json:"inbox,omitempty"` // demo delivery only
			Links   string `json:"links"`
			Metrics string `json:"metrics,omitempty"` // metrics on only
		}{versionString(), cfg.SSH.Listen, cfg.HTTP.Listen, cfg.ConnectHint(), inbox, cfg.PublicURL(), metrics}); err != nil {
			return err
		}
	} else {
		fmt.Fprintf(stdout, "attest %s\n  connect:  %s\n", versionString(), cfg.ConnectHint())
		if inbox != "" {
			fmt.Fprintf(stdout, "  inbox:    %s   (demo delivery: codes land here, nowhere else)\n", inbox)
		}
		fmt.Fprintf(stdout, "  links:    %s\n", cfg.PublicURL())
		if metrics != "" {
			fmt.Fprintf(stdout, "  metrics:  %s\n", metrics)
		}
		fmt.Fprintln(stdout, "  stop:     Ctrl-C")
	}

	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return srv.Serve(gctx, sshLn) })
	g.Go(func() error { return srv.ServeHTTP(gctx, httpLn) })
	if metricsLn != nil {
		g.Go(func() error { return srv.ServeMetrics(gctx, metricsLn) })
	}
	g.Go(func() error { return srv.ServeControl(gctx, ctl) })
	err = g.Wait()
	logger.Info("attest stopped")
	return err
}

// warnDemoExposed logs, at every start, that demo mode is served where
// other machines reach it: Validate let that through only because the
// operator set ATTEST_DEMO_ON_NETWORK_UNSAFE.
func warnDemoExposed(cfg config.Config, logger *slog.Logger) {
	if exposed := cfg.DemoExposed(); len(exposed) > 0 {
		logger.Warn("DEMO MODE ON THE NETWORK: anyone who reaches this server reads every code in the demo inbox and can sign in to any account",
			"listening", strings.Join(exposed, ", "), "because", "ATTEST_DEMO_ON_NETWORK_UNSAFE (delivery.demo_on_network_unsafe) is set")
	}
}

// bindMigrate copies the data directory's ledger file into an empty
// PostgreSQL database, fact by fact, checking that the copy holds each as
// the file does, and binds the database to the data directory's secret.
func bindMigrate(fs *flag.FlagSet) func(*call) error {
	var common commonFlags
	common.register(fs)
	to := fs.String("to", "", "the PostgreSQL database to copy the ledger into (`postgres://USER@HOST/DB`)")
	return func(c *call) error {
		if !strings.HasPrefix(*to, "postgres://") && !strings.HasPrefix(*to, "postgresql://") {
			return cli.Usagef("--to takes a postgres:// URL")
		}
		cfg, err := common.load(c.Env.environ)
		if err != nil {
			return err
		}
		if _, err := os.Stat(cfg.LedgerPath()); err != nil {
			return fmt.Errorf("there is no ledger at %s (is --data-dir right?)", cfg.LedgerPath())
		}
		src, err := bolt.Open(cfg.LedgerPath(), bolt.Options{})
		if err != nil {
			return explain(cfg, err)
		}
		defer src.Close()
		dst, err := postgres.Open(c.Ctx, *to, postgres.Options{})
		if err != nil {
			return err
		}
		defer dst.Close()
		if err := server.CheckSecret(cfg, dst); err != nil {
			return err
		}
		n, err := store.Copy(dst, src, func(n uint64) {
			if n%100_000 == 0 {
				fmt.Fprintf(c.Stderr, "attest migrate: %d facts copied\n", n)
			}
		})
		if err != nil {
			return fmt.Errorf("after %d facts: %w", n, err)
		}
		if err := dst.Verify(); err != nil {
			return fmt.Errorf("the copy does not verify: %w", err)
		}
		if c.JSON {
			return c.Emit(struct {
				OK    bool   `json:"ok"`
				Facts uint64 `json:"facts"`
			}{true, n})
		}
		c.Printf("copied %d facts into %s; the chain verifies. Start the servers with ATTEST_DATABASE_URL set to it.\n", n, redact(*to))
		return nil
	}
}

// redact drops a URL's password, for messages.
func redact(s string) string {
	if u, err := url.Parse(s); err == nil {
		return u.Redacted()
	}
	return "the database"
}

// explain says what a ledger held by another process most likely means.
func explain(cfg config.Config, err error) error {
	if errors.Is(err, store.ErrLocked) {
		return fmt.Errorf("the ledger %s is in use by another process, most likely an attest server that is already running.\n"+
			"Operator commands (attest verify, facts, backup) reach a running server through %s", cfg.Ledger(), cfg.SocketPath())
	}
	return err
}

// listenError says what to do when a listener cannot start; a port in
// use is the usual case (another attest, or the same one started twice
// with other data directories).
func listenError(what, addr, how string, err error) error {
	if errors.Is(err, syscall.EADDRINUSE) {
		return fmt.Errorf("listen for %s on %s: %w.\n"+
			"Another program has that port: another attest server, perhaps, with another data directory. "+
			"Stop it, or listen elsewhere: %s (port 0 picks a free one)", what, addr, err, how)
	}
	return fmt.Errorf("listen for %s on %s: %w", what, addr, err)
}

// withConfig binds a command that runs with the configuration: it takes
// --config and --data-dir, and run gets what they (and the environment)
// say.
func withConfig(run func(c *call, cfg config.Config) error) func(*flag.FlagSet) func(*call) error {
	return func(fs *flag.FlagSet) func(*call) error {
		var common commonFlags
		common.register(fs)
		return func(c *call) error {
			cfg, err := common.load(c.Env.environ)
			if err != nil {
				return err
			}
			return run(c, cfg)
		}
	}
}

// runOperator runs an operator command (forwarded from the operator's
// table, whose flags the binary has checked) inside the running server if
// there is one, else against the ledger directly.
func runOperator(c *call, cfg config.Config) error {
	return operate(c, cfg, c.Forwarded("config", "data-dir"), c.Stdout, c.Stderr)
}

// operate runs args, an operator command line, in the server or here. The
// operator's own output, errors included, goes to stdout and stderr; what
// goes wrong around it is returned.
func operate(c *call, cfg config.Config, args []string, stdout, stderr io.Writer) error {
	status, err := server.RunRemote(cfg.SocketPath(), args, stdout, stderr)
	if errors.Is(err, server.ErrNoServer) {
		return operateLocally(c, cfg, args, stdout, stderr)
	}
	if err != nil {
		return err
	}
	if status != 0 {
		return &cli.ExitError{Status: status}
	}
	return nil
}

func operateLocally(c *call, cfg config.Config, args []string, stdout, stderr io.Writer) error {
	// Registering a user may start a ledger; every other command reads one.
	if _, err := os.Stat(cfg.LedgerPath()); err != nil && args[0] != "user" && cfg.DatabaseURL == "" {
		return fmt.Errorf("there is no ledger at %s (is --data-dir right?)", cfg.LedgerPath())
	}
	app, err := server.Open(cfg, nil, nil)
	if err != nil {
		return explain(cfg, err)
	}
	defer app.Close()
	if args[0] == "user" && app.Inbox != nil {
		fmt.Fprintln(stderr, "attest: no server is running and delivery is the demo inbox, so the welcome message stays in this process and is lost; start the server first to see it in ssh inbox@host.")
	}
	if status := operator.Run(c.Ctx, operator.Env{Ledger: app.Ledger, Service: app.Service, Stdout: stdout, Stderr: stderr}, args); status != 0 {
		return &cli.ExitError{Status: status}
	}
	return nil
}

// runBackup writes the server's (or the ledger's) consistent copy to
// FILE, atomically.
func runBackup(c *call, cfg config.Config) error {
	file := c.Args[0]
	out, finish, err := createAtomic(file)
	if err != nil {
		return err
	}
	// The operator's errors go to stderr as they come; with --json the
	// last one is also the JSON error, as the copy fills stdout.
	var said lastLine
	n := &countingWriter{w: out}
	err = operate(c, cfg, []string{"backup"}, n, io.MultiWriter(c.Stderr, &said))
	if ferr := finish(err == nil); ferr != nil && err == nil {
		err = fmt.Errorf("write %s: %w", file, ferr)
	}
	var exit *cli.ExitError
	if errors.As(err, &exit) {
		c.JSONError(flows.ProblemInternal, strings.TrimPrefix(said.String(), "attest backup: "))
		return err
	}
	if err != nil {
		return err
	}
	if c.JSON {
		return c.Emit(struct {
			OK    bool   `json:"ok"`
			File  string `json:"file"`
			Bytes int64  `json:"bytes"`
		}{true, file, n.n})
	}
	c.Printf("attest backup: wrote %s\n", file)
	return nil
}

// countingWriter counts what it writes.
type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// lastLine keeps the last line written to it (its first 4 KB), for a
// JSON error relayed from the operator's stderr.
type lastLine struct {
	line  []byte
	ended bool // the line so far ended with a newline: the next write starts another
}

func (l *lastLine) Write(p []byte) (int, error) {
	for _, part := range bytes.SplitAfter(p, []byte("\n")) {
		if len(part) == 0 {
			continue
		}
		if l.ended {
			l.line, l.ended = l.line[:0], false
		}
		l.line = append(l.line, part[:min(len(part), 4096-len(l.line))]...)
		l.ended = part[len(part)-1] == '\n'
	}
	return len(p), nil
}

func (l *lastLine) String() string { return strings.TrimSpace(string(l.line)) }

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
