package server

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"

	"github.com/attest-dev/attest/flows"
	"github.com/attest-dev/attest/flows/clock"
	"github.com/attest-dev/attest/flows/message"
	"github.com/attest-dev/attest/flows/openid"
	"github.com/attest-dev/attest/server/config"
	"github.com/attest-dev/attest/server/delivery"
	"github.com/attest-dev/attest/server/metrics"
	"github.com/attest-dev/attest/store"
	"github.com/attest-dev/attest/store/bolt"
	"github.com/attest-dev/attest/store/postgres"
)

// App is everything built from a configuration: the ledger, the flows
// service and delivery. The serve command and the operator commands that
// run without a server share it.
type App struct {
	Config  config.Config
	Ledger  store.Ledger
	Service *flows.Service
	Inbox   *delivery.Inbox // nil unless in demo mode
	Clock   clock.Clock
	Logger  *slog.Logger
	// Metrics count what the flows and the server do; Build makes them.
	Metrics *metrics.Set

	// With a shared ledger: how to stop passing pokes and messages to
	// the other servers, and who waits until this one listens.
	stopShare func()
	listening sync.WaitGroup
	// Providers are the OpenID Providers, discovered (DiscoverProviders)
	// before Build by the serve command; operator commands have none.
	Providers []*openid.Provider
}

// Open builds an App: it creates the data directory and the server
// secret on first use, opens the ledger (bbolt, failing fast with
// store.ErrLocked when a running server holds it, or PostgreSQL when
// configured, refusing a secret other than the database's), wires
// delivery and builds the flows.
func Open(cfg config.Config, clk clock.Clock, logger *slog.Logger) (*App, error) {
	app, err := OpenLedger(cfg)
	if err != nil {
		return nil, err
	}
	if err := app.Build(cfg, clk, logger); err != nil {
		app.Ledger.Close()
		return nil, err
	}
	return app, nil
}

// OpenLedger takes the first half of Open: the data directory and the
// ledger. The serve command holds the ledger (and so the right to serve
// from this data directory) before it opens its ports, then calls Build
// with the addresses it actually got.
func OpenLedger(cfg config.Config) (*App, error) {
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("create data directory: %w", err)
	}
	if cfg.DatabaseURL != "" {
		led, err := postgres.Open(context.Background(), cfg.DatabaseURL, postgres.Options{})
		if err != nil {
			return nil, err
		}
		return &App{Config: cfg, Ledger: led}, nil
	}
	led, err := bolt.Open(cfg.LedgerPath(), bolt.Options{InitialMmapSize: mmapAhead()})
	if err != nil {
		return nil, err
	}
	return &App{Config: cfg, Ledger: led}, nil
}

// claimer is a ledger shared by several servers, which records values
// the first of them sets (postgres.Ledger).
type claimer interface {
	Claim(name, value string) (string, error)
}

// secretCheck is what a shared ledger keeps of the server secret: a MAC
// of a fixed string, which tells whether two servers hold the same secret
// and says nothing of it.
func secretCheck(secret []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte("attest secret check v1"))
	return hex.EncodeToString(m.Sum(nil))
}

// CheckSecret binds a shared ledger to the secret of cfg (its data
// directory's, or ATTEST_SECRET_FILE's) if it is bound to none yet, and
// refuses one bound to another: attest migrate uses it before copying.
func CheckSecret(cfg config.Config, led store.Ledger) error {
	secret, err := loadSecret(cfg.SecretPath())
	if err != nil {
		return err
	}
	return checkSecret(led, secret, cfg.SecretPath())
}

// checkSecret refuses a secret other than the one the shared ledger was
// started with: codes, links and sealed addresses made by the other
// servers would be unreadable, and addresses would hash differently.
func checkSecret(led store.Ledger, secret []byte, path string) error {
	c, ok := led.(claimer)
	if !ok {
		return nil
	}
	mine := secretCheck(secret)
	stored, err := c.Claim("secret_check", mine)
	if err != nil {
		return fmt.Errorf("check the server secret against the database: %w", err)
	}
	if !hmac.Equal([]byte(stored), []byte(mine)) {
		return fmt.Errorf("the server secret %s is not the one this database was started with: "+
			"servers that share a database must share the secret (copy the first server's file, or point ATTEST_SECRET_FILE at it)", path)
	}
	return nil
}

// mmapAhead is how much of the ledger file to map at open. bbolt remaps
// when the file outgrows its map, and a remap waits for every read
// transaction: a backup in progress would hold up every sign-in. Mapping
// 1 GiB ahead costs only address space on 64-bit Unix; on Windows bbolt
// grows the file to the size of its map, so there it maps as it grows.
func mmapAhead() int {
	if runtime.GOOS == "windows" || strconv.IntSize < 64 {
		return 0
	}
	return 1 << 30
}

// Build wires delivery and the flows over the open ledger.
func (a *App) Build(cfg config.Config, clk clock.Clock, logger *slog.Logger) error {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if clk == nil {
		clk = clock.System{}
	}
	a.Config, a.Clock, a.Logger = cfg, clk, logger
	if a.Metrics == nil {
		a.Metrics = metrics.New()
		a.watchLedger()
	}
	secret, err := loadSecret(cfg.SecretPath())
	if err != nil {
		return err
	}
	if err := checkSecret(a.Ledger, secret, cfg.SecretPath()); err != nil {
		return err
	}
	sender, err := a.sender()
	if err != nil {
		return err
	}
	channels := delivery.ChannelsOf(sender)
	var relay flows.Relay
	pg, shared := a.Ledger.(*postgres.Ledger)
	var pokes *pokeRelay
	if shared {
		pokes = newPokeRelay(pg, logger)
		relay = pokes
		if a.Inbox != nil {
			sender = &sharedInbox{Inbox: a.Inbox, led: pg, log: logger}
		}
	}
	a.Service, err = flows.New(flows.Config{
		Ledger:      a.Metrics.Ledger(a.Ledger),
		Secret:      secret,
		Clock:       clk,
		Sender:      a.Metrics.Sender(sender),
		Channels:    channels,
		Observer:    a.Metrics,
		Policy:      cfg.Policy.Flows(),
		Logger:      logger,
		LinkBase:    cfg.PublicURL(),
		ConnectHint: cfg.ConnectHint(),
		Support:     cfg.Support,
		Issuer:      cfg.Name,
		Relay:       relay,
		ChainID:     cfg.Policy.ChainID,
		Providers:   a.Providers,
	})
	if err != nil {
		return err
	}
	if shared {
		a.stopShare = a.share(pg, pokes)
	}
	return nil
}

// watchLedger exports the ledger's own counters: commits, the updates
// and facts they carried (their ratios are the batch sizes), and what
// only one kind of ledger does.
func (a *App) watchLedger() {
	m := a.Metrics
	var commits, updates, facts func() uint64
	switch l := a.Ledger.(type) {
	case *bolt.Ledger:
		commits, updates, facts = func() uint64 { return l.Stats().Commits }, func() uint64 { return l.Stats().Updates }, func() uint64 { return l.Stats().Facts }
		m.Counter("attest_ledger_merges_total", "Moves of the ledger's newest index entries into its B-tree indexes (bbolt).",
			func() float64 { return float64(l.Stats().Merges) })
	case *postgres.Ledger:
		commits, updates, facts = func() uint64 { return l.Stats().Commits }, func() uint64 { return l.Stats().Updates }, func() uint64 { return l.Stats().Facts }
		m.Counter("attest_ledger_retries_total", "Batches run again after losing the database (PostgreSQL).",
			func() float64 { return float64(l.Stats().Retries) })
	default:
		return
	}
	m.Counter("attest_ledger_commits_total", "Ledger transactions committed; each carries a batch of updates.",
		func() float64 { return float64(commits()) })
	m.Counter("attest_ledger_updates_total", "Ledger updates committed: updates/commits is the average batch.",
		func() float64 { return float64(updates()) })
	m.Counter("attest_ledger_appended_facts_total", "Facts appended since the server started: facts/commits is the average batch in facts.",
		func() float64 { return float64(facts()) })
}

// sender wires delivery: real SMTP and SMS when configured, otherwise the
// demo inbox.
func (a *App) sender() (message.Sender, error) {
	d := a.Config.Delivery
	if d.Demo() {
		a.Inbox = delivery.NewInbox(500)
		a.Logger.Info("demo delivery: messages go to the built-in inbox (ssh inbox@host), not to real addresses")
		return a.Inbox, nil
	}
	var email, sms message.Sender
	if d.SMTPURL != "" {
		s, err := delivery.NewSMTP(d.SMTPURL, d.SMTPFrom)
		if err != nil {
			return nil, fmt.Errorf("smtp delivery: %w", err)
		}
		email = s
	}
	if d.SMSURL != "" {
		sc, err := delivery.ParseSMSURL(d.SMSURL)
		if err != nil {
			return nil, fmt.Errorf("sms delivery: %w", err)
		}
		s, err := delivery.NewSMS(sc)
		if err != nil {
			return nil, fmt.Errorf("sms delivery: %w", err)
		}
		sms = s
	}
	return &delivery.Router{Email: email, SMS: sms}, nil
}

// Close waits for deliveries in flight and closes the ledger.
func (a *App) Close() error {
	if a.Service != nil {
		a.Service.Close()
	}
	if a.stopShare != nil {
		a.stopShare()
	}
	return a.Ledger.Close()
}

// loadSecret reads the server secret, creating it (32 random bytes, mode
// 0600) on first use. A secret others can read is refused: with it,
// anyone could forge code MACs and read sealed addresses.
func loadSecret(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		var won []byte
		if won, err = createSecret(path); err != nil || won != nil {
			return won, err
		}
		// Another server sharing the file made it first: use theirs.
		b, err = os.ReadFile(path)
	}
	if err != nil {
		return nil, fmt.Errorf("read server secret: %w", err)
	}
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("read server secret: %w", err)
	}
	if st.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("server secret %s is readable by others (mode %v); run chmod 600 %s", path, st.Mode().Perm(), path)
	}
	if len(b) < 32 {
		return nil, fmt.Errorf("server secret %s is %d bytes; it must be at least 32", path, len(b))
	}
	return b, nil
}

// createSecret writes a new secret to path, unless a file is there by
// then: servers sharing one secret file (ATTEST_SECRET_FILE) may start at
// once on a fresh machine. It returns nil, nil when another server's
// secret won.
func createSecret(path string) ([]byte, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return nil, fmt.Errorf("create server secret: %w", err)
	}
	won, err := placeOnce(path, b)
	if err != nil {
		return nil, fmt.Errorf("create server secret: %w", err)
	}
	if !won {
		return nil, nil
	}
	return b, nil
}

// placeOnce creates path holding data, mode 0600, unless a file is there
// already, and reports whether it did. The data is written and synced to
// a file of its own first and then linked into place, so that another
// process never reads it half written, and of processes racing to create
// path one wins and the others read the winner's.
func placeOnce(path string, data []byte) (bool, error) {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+"-*")
	if err != nil {
		return false, err
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(data); err != nil {
		f.Close()
		return false, err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return false, err
	}
	if err := f.Close(); err != nil {
		return false, err
	}
	// CreateTemp made it 0600; link fails if path exists.
	if err := os.Link(f.Name(), path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return false, nil
		}
		return false, err
	}
	return true, nil
}

var (
	_ store.Ledger = (*bolt.Ledger)(nil)
	_ claimer      = (*postgres.Ledger)(nil)
)
