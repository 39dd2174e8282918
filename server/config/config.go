// Package config is attest's configuration: one struct with defaults, then
// an optional YAML file, then ATTEST_* environment variables, then
// command-line flags, then Validate. Each layer overrides the one before.
package config

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/mail"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
	"unicode"

	"go.yaml.in/yaml/v3"

	"github.com/attest-dev/attest/flows"
	"github.com/attest-dev/attest/flows/address"
	"github.com/attest-dev/attest/internal/inert"
)

// Config is everything an attest server needs to know.
type Config struct {
	// DataDir holds the ledger, the host key, the server secret and the
	// control socket. Everything the server must keep lives here, so a
	// redeploy that keeps this directory keeps the server's identity.
	DataDir string `yaml:"data_dir"`

	// Name is the server's name where people see it outside attest: the
	// issuer authenticator apps list the account under.
	Name string `yaml:"name"`
	// Support is who people reach when a refusal asks them to contact
	// support: a URL (https://, http:// or mailto:) or an email address.
	// Empty means the operator of this server, whom a refusal's message
	// tells how to find it in the log.
	Support string `yaml:"support"`
	// DatabaseURL puts the ledger in PostgreSQL (postgres://...) instead
	// of DataDir/attest.db, so that several servers share it. Servers that
	// share a database must share the secret and the host key too, which
	// SecretFile and HostKeyFile can point at; empty means the file in
	// DataDir.
	DatabaseURL string `yaml:"database_url"`
	SecretFile  string `yaml:"secret_file"`
	HostKeyFile string `yaml:"host_key_file"`

	SSH      SSH      `yaml:"ssh"`
	HTTP     HTTP     `yaml:"http"`
	Delivery Delivery `yaml:"delivery"`
	Policy   Policy   `yaml:"policy"`

	// Admins are SSH public keys (authorized_keys lines) whose devices may
	// run administrator commands.
	Admins []string `yaml:"admins"`

	// OIDC are the OpenID Providers people can sign in with (oidc.go).
	OIDC []OIDCProvider `yaml:"oidc"`

	Log Log `yaml:"log"`
}

// SSH configures the SSH listener and its hardening.
type SSH struct {
	Listen string `yaml:"listen"`
	// PublicHost is how people reach the server ("ssh.example.com:22"),
	// for the text the server shows; defaults to Listen.
	PublicHost string `yaml:"public_host"`

	MaxAuthTries     int           `yaml:"max_auth_tries"`
	HandshakeTimeout time.Duration `yaml:"handshake_timeout"`
	// KeyExchangeTimeout bounds the first part of the handshake, from the
	// connection to the end of key exchange (the client's version line
	// included); HandshakeTimeout bounds all of it, authentication too,
	// and so wins when it is the shorter.
	KeyExchangeTimeout time.Duration `yaml:"key_exchange_timeout"`
	IdleTimeout        time.Duration `yaml:"idle_timeout"`
	MaxTimeout         time.Duration `yaml:"max_timeout"`
	// Admission of connections that have not finished authenticating,
	// like OpenSSH's MaxStartups start:rate:full. A source is one IPv4
	// address or one IPv6 /64.
	//
	// From UnauthenticatedDropStart waiting connections, a new one from a
	// source that already has one waiting is refused with probability
	// UnauthenticatedDropRate percent, rising linearly to 100% at
	// MaxUnauthenticated. A source with none waiting is not dropped at
	// random: it may also use UnauthenticatedHeadroom slots above
	// MaxUnauthenticated, so a few sources holding the pool do not lock
	// everyone else out.
	MaxUnauthenticated       int `yaml:"max_unauthenticated"`
	UnauthenticatedDropStart int `yaml:"unauthenticated_drop_start"`
	UnauthenticatedDropRate  int `yaml:"unauthenticated_drop_rate"`
	UnauthenticatedHeadroom  int `yaml:"unauthenticated_headroom"`
	// Per source, and per IPv6 /48 (a site, which may hold many /64s).
	MaxUnauthenticatedPerIP int `yaml:"max_unauthenticated_per_ip"`
	MaxUnauthenticatedPer48 int `yaml:"max_unauthenticated_per_48"`
	// MaxConnectionsPerIP caps authenticated connections per source.
	MaxConnectionsPerIP int `yaml:"max_connections_per_ip"`
	// MaxSessionsPerConnection caps session channels on one connection.
	MaxSessionsPerConnection int `yaml:"max_sessions_per_connection"`
}

// HTTP configures the small HTTP listeners: the public one (magic links,
// health) and, when Metrics is on, the operator's (metrics, health).
type HTTP struct {
	Listen string `yaml:"listen"`
	// PublicURL is the base of links in messages; defaults to
	// http://<Listen>.
	PublicURL string `yaml:"public_url"`
	Metrics   bool   `yaml:"metrics"`
	// MetricsListen is where metrics are served when Metrics is on: a
	// listener of their own, on the loopback interface by default, so
	// the public listener never shows them.
	MetricsListen string `yaml:"metrics_listen"`
}

// Delivery says how messages leave the server. With neither SMTP nor SMS
// configured the server runs in demo mode: messages land in a built-in
// inbox that `ssh inbox@host` shows. Demo mode is off as soon as any real
// delivery is configured, so a production server never shows codes to
// whoever connects.
type Delivery struct {
	SMTPURL  string `yaml:"smtp_url"`  // smtp://user:pass@host:587 (STARTTLS) or smtps://...:465
	SMTPFrom string `yaml:"smtp_from"` // the From address
	SMSURL   string `yaml:"sms_url"`   // https://SID:TOKEN@api.twilio.com?from=%2B15005550006
	// DemoOnNetworkUnsafe lets a server in demo mode listen where other
	// machines reach it, which Validate otherwise refuses: anyone who
	// connects reads every code in the demo inbox and so can take over
	// any account. It is for a container whose published port only its
	// owner reaches; the server logs a warning at start.
	DemoOnNetworkUnsafe bool `yaml:"demo_on_network_unsafe"`
}

// Demo reports whether messages go to the built-in inbox.
func (d Delivery) Demo() bool { return d.SMTPURL == "" && d.SMSURL == "" }

// Policy holds the flows' numbers an operator may change. Zero values
// take the flows' defaults.
type Policy struct {
	Strict        bool   `yaml:"strict"`
	DefaultRegion string `yaml:"default_region"`

	AddressGap     time.Duration `yaml:"governor_address_gap"`
	AddressPerHour int           `yaml:"governor_address_per_hour"`
	AddressPerDay  int           `yaml:"governor_address_per_day"`
	DevicePerHour  int           `yaml:"governor_device_per_hour"`
	SourcePerHour  int           `yaml:"governor_source_per_hour"`
	EmailPerHour   int           `yaml:"governor_email_per_hour"`
	SMSPerHour     int           `yaml:"governor_sms_per_hour"`

	// A device signed in to an account is signed out after SessionIdle
	// unused (default and most 720h, least 24h) and SessionMax after it
	// signed in (default and most 8760h, a year).
	SessionIdle time.Duration `yaml:"session_idle"`
	SessionMax  time.Duration `yaml:"session_max"`
	// ChainID is the EIP-155 chain id Ethereum wallet challenges name
	// (0: 1, Ethereum mainnet).
	ChainID int `yaml:"chain_id"`
}

// Log configures logging.
type Log struct {
	Level  string `yaml:"level"`  // debug, info, warn, error
	Format string `yaml:"format"` // text or json
}

// Default returns the configuration used when nothing is set: everything
// on localhost, data in ./attest-data, demo delivery.
func Default() Config {
	return Config{
		DataDir: "attest-data",
		Name:    "attest",
		SSH: SSH{
			Listen:                   "127.0.0.1:23234",
			MaxAuthTries:             4,
			HandshakeTimeout:         30 * time.Second,
			KeyExchangeTimeout:       10 * time.Second,
			IdleTimeout:              30 * time.Minute,
			MaxTimeout:               12 * time.Hour,
			MaxUnauthenticated:       60,
			UnauthenticatedDropStart: 10,
			UnauthenticatedDropRate:  30,
			UnauthenticatedHeadroom:  20,
			MaxUnauthenticatedPerIP:  10,
			MaxUnauthenticatedPer48:  30,
			MaxConnectionsPerIP:      20,
			MaxSessionsPerConnection: 2,
		},
		HTTP: HTTP{Listen: "127.0.0.1:23235", MetricsListen: "127.0.0.1:23236"},
		Log:  Log{Level: "info", Format: "text"},
	}
}

// FileName is the configuration file looked for in the data directory.
const FileName = "config.yaml"

// Load builds the configuration: defaults, then the file (path, or
// DataDir/config.yaml if it exists), then the environment.
func Load(path string, environ []string) (Config, error) {
	cfg := Default()
	env := envMap(environ)
	if d, ok := env["ATTEST_DATA_DIR"]; ok {
		cfg.DataDir = d // the file may live inside it
	}
	if path == "" {
		if p := env["ATTEST_CONFIG"]; p != "" {
			path = p
		} else if p := filepath.Join(cfg.DataDir, FileName); fileExists(p) {
			path = p
		}
	}
	if path != "" {
		raw, err := os.ReadFile(path)
		if err != nil {
			return cfg, plainError{fmt.Errorf("read config: %w", err)}
		}
		dec := yaml.NewDecoder(strings.NewReader(string(raw)))
		dec.KnownFields(true)
		if err := dec.Decode(&cfg); err != nil && !errors.Is(err, io.EOF) { // an empty file sets nothing
			return cfg, plainError{fmt.Errorf("read config %s: %w", path, err)}
		}
	}
	if err := cfg.applyEnv(env); err != nil {
		return cfg, err
	}
	return cfg, nil
}

// plainError is err with its text safe for a terminal. A YAML error
// quotes the value it could not use, and a double-quoted YAML string can
// hold any control character ("\e]52;c;..." sets the clipboard), which
// would otherwise reach the operator's terminal as it is. errors.Is and
// errors.As still see err.
type plainError struct{ err error }

func (e plainError) Error() string { return inert.Lines(e.err.Error()) }
func (e plainError) Unwrap() error { return e.err }

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

func envMap(environ []string) map[string]string {
	m := map[string]string{}
	for _, kv := range environ {
		if k, v, ok := strings.Cut(kv, "="); ok && strings.HasPrefix(k, "ATTEST_") {
			m[k] = v
		}
	}
	return m
}

// Env lists the environment variables Load reads, with what each sets.
var Env = []struct{ Name, Sets string }{
	{"ATTEST_CONFIG", "path of the YAML configuration file"},
	{"ATTEST_DATA_DIR", "data directory (ledger, host key, secret)"},
	{"ATTEST_NAME", "the server's name in authenticator apps (default attest)"},
	{"ATTEST_SUPPORT", "who people contact when told to contact support: a URL or an email address (default: the operator)"},
	{"ATTEST_DATABASE_URL", "keep the ledger in PostgreSQL: postgres://user:pass@host/db (default: DATA_DIR/attest.db)"},
	{"ATTEST_SECRET_FILE", "the server secret's file (default: DATA_DIR/secret)"},
	{"ATTEST_HOST_KEY_FILE", "the SSH host key's file (default: DATA_DIR/ssh_host_ed25519_key)"},
	{"ATTEST_SSH_LISTEN", "SSH listen address"},
	{"ATTEST_SSH_PUBLIC_HOST", "host[:port] people use to reach the SSH server"},
	{"ATTEST_HTTP_LISTEN", "HTTP listen address"},
	{"ATTEST_PUBLIC_URL", "base URL of links in messages"},
	{"ATTEST_METRICS", "serve Prometheus metrics on a listener of their own (true/false)"},
	{"ATTEST_METRICS_LISTEN", "the metrics listener's address (default 127.0.0.1:23236)"},
	{"ATTEST_SMTP_URL", "SMTP delivery, smtp://user:pass@host:587 or smtps://...:465"},
	{"ATTEST_SMTP_FROM", "From address of emails"},
	{"ATTEST_SMS_URL", "SMS delivery, https://SID:TOKEN@api.twilio.com?from=%2B1..."},
	{"ATTEST_DEMO_ON_NETWORK_UNSAFE", "true: serve demo mode (every code readable by anyone) on a non-loopback address"},
	{"ATTEST_STRICT", "every code 6 digits (true/false)"},
	{"ATTEST_SESSION_IDLE", "sign a device out after this long unused (default 720h, 24h to 720h)"},
	{"ATTEST_SESSION_MAX", "sign a device out this long after it signed in (default 8760h, at most 8760h)"},
	{"ATTEST_DEFAULT_REGION", "region for phone numbers without a country code (US, GB, ...)"},
	{"ATTEST_CHAIN_ID", "EIP-155 chain id that Ethereum wallet challenges name (default 1)"},
	{"ATTEST_ADMIN_KEYS", "administrator SSH public keys, separated by newlines or ';'"},
	{"ATTEST_LOG_LEVEL", "debug, info, warn or error"},
	{"ATTEST_LOG_FORMAT", "text or json"},
}

func (c *Config) applyEnv(env map[string]string) error {
	var errs []error
	str := func(name string, dst *string) {
		if v, ok := env[name]; ok {
			*dst = v
		}
	}
	boolean := func(name string, dst *bool) {
		if v, ok := env[name]; ok {
			b, err := strconv.ParseBool(v)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s=%q: want true or false", name, v))
				return
			}
			*dst = b
		}
	}
	duration := func(name string, dst *time.Duration) {
		if v, ok := env[name]; ok {
			d, err := time.ParseDuration(v)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s=%q: want a duration such as 720h", name, v))
				return
			}
			*dst = d
		}
	}
	// Read once before the file (to find DATA_DIR/config.yaml) and again
	// here, so the environment beats the file like every other setting.
	str("ATTEST_DATA_DIR", &c.DataDir)
	str("ATTEST_NAME", &c.Name)
	str("ATTEST_SUPPORT", &c.Support)
	str("ATTEST_DATABASE_URL", &c.DatabaseURL)
	str("ATTEST_SECRET_FILE", &c.SecretFile)
	str("ATTEST_HOST_KEY_FILE", &c.HostKeyFile)
	str("ATTEST_SSH_LISTEN", &c.SSH.Listen)
	str("ATTEST_SSH_PUBLIC_HOST", &c.SSH.PublicHost)
	str("ATTEST_HTTP_LISTEN", &c.HTTP.Listen)
	str("ATTEST_PUBLIC_URL", &c.HTTP.PublicURL)
	boolean("ATTEST_METRICS", &c.HTTP.Metrics)
	str("ATTEST_METRICS_LISTEN", &c.HTTP.MetricsListen)
	str("ATTEST_SMTP_URL", &c.Delivery.SMTPURL)
	str("ATTEST_SMTP_FROM", &c.Delivery.SMTPFrom)
	str("ATTEST_SMS_URL", &c.Delivery.SMSURL)
	boolean("ATTEST_DEMO_ON_NETWORK_UNSAFE", &c.Delivery.DemoOnNetworkUnsafe)
	boolean("ATTEST_STRICT", &c.Policy.Strict)
	str("ATTEST_DEFAULT_REGION", &c.Policy.DefaultRegion)
	duration("ATTEST_SESSION_IDLE", &c.Policy.SessionIdle)
	duration("ATTEST_SESSION_MAX", &c.Policy.SessionMax)
	if v, ok := env["ATTEST_CHAIN_ID"]; ok {
		n, err := strconv.Atoi(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("ATTEST_CHAIN_ID=%q: want a number", v))
		}
		c.Policy.ChainID = n
	}
	str("ATTEST_LOG_LEVEL", &c.Log.Level)
	str("ATTEST_LOG_FORMAT", &c.Log.Format)
	if v, ok := env["ATTEST_ADMIN_KEYS"]; ok {
		c.Admins = nil
		for _, line := range strings.FieldsFunc(v, func(r rune) bool { return r == '\n' || r == ';' }) {
			if line = strings.TrimSpace(line); line != "" {
				c.Admins = append(c.Admins, line)
			}
		}
	}
	c.applyOIDCEnv(env)
	return errors.Join(errs...)
}

// Validate reports every setting that cannot work, all at once.
func (c *Config) Validate() error {
	var errs []error
	if c.DataDir == "" {
		errs = append(errs, errors.New("data_dir is empty"))
	}
	if n := c.Name; n == "" || len(n) > 32 || strings.Trim(n, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 .-_") != "" {
		errs = append(errs, fmt.Errorf("name %q: want 1 to 32 letters, digits, spaces, dots, dashes or underscores", n))
	}
	if c.Support != "" {
		if err := ValidSupport(c.Support); err != nil {
			errs = append(errs, err)
		}
	}
	if c.DatabaseURL != "" && !strings.HasPrefix(c.DatabaseURL, "postgres://") && !strings.HasPrefix(c.DatabaseURL, "postgresql://") {
		// The URL may hold a password: never repeat it.
		errs = append(errs, errors.New("database_url: want a postgres:// URL"))
	}
	listens := map[string]string{"ssh.listen": c.SSH.Listen, "http.listen": c.HTTP.Listen}
	if c.HTTP.Metrics {
		listens["http.metrics_listen"] = c.HTTP.MetricsListen
		// Port 0 is a free port each, so two of them are no conflict.
		if _, port, _ := net.SplitHostPort(c.HTTP.MetricsListen); c.HTTP.MetricsListen == c.HTTP.Listen && port != "0" {
			errs = append(errs, fmt.Errorf("http.metrics_listen %q: metrics have a listener of their own, not http.listen's", c.HTTP.MetricsListen))
		}
	}
	for name, addr := range listens {
		if _, _, err := net.SplitHostPort(addr); err != nil {
			errs = append(errs, fmt.Errorf("%s %q: want host:port", name, addr))
		}
	}
	if err := c.demoExposed(); err != nil {
		errs = append(errs, err)
	}
	if err := c.linksUnreachable(); err != nil {
		errs = append(errs, err)
	}
	if c.HTTP.PublicURL != "" {
		if u, err := url.Parse(c.HTTP.PublicURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			errs = append(errs, fmt.Errorf("http.public_url %q: want an http or https URL", c.HTTP.PublicURL))
		}
	}
	if c.SSH.MaxAuthTries < 1 || c.SSH.MaxAuthTries > 6 {
		errs = append(errs, fmt.Errorf("ssh.max_auth_tries %d: want 1 to 6", c.SSH.MaxAuthTries))
	}
	if c.SSH.HandshakeTimeout <= 0 || c.SSH.HandshakeTimeout > 2*time.Minute {
		errs = append(errs, fmt.Errorf("ssh.handshake_timeout %s: want more than 0 and at most 2m", c.SSH.HandshakeTimeout))
	}
	if c.SSH.KeyExchangeTimeout <= 0 {
		errs = append(errs, fmt.Errorf("ssh.key_exchange_timeout %s: want more than 0", c.SSH.KeyExchangeTimeout))
	}
	if c.SSH.MaxUnauthenticated < 1 || c.SSH.MaxUnauthenticatedPerIP < 1 || c.SSH.MaxUnauthenticatedPerIP > c.SSH.MaxUnauthenticated {
		errs = append(errs, fmt.Errorf("ssh.max_unauthenticated %d / per_ip %d: want 1 <= per_ip <= total",
			c.SSH.MaxUnauthenticated, c.SSH.MaxUnauthenticatedPerIP))
	}
	if c.SSH.MaxUnauthenticatedPer48 < 1 {
		errs = append(errs, fmt.Errorf("ssh.max_unauthenticated_per_48 %d: want at least 1", c.SSH.MaxUnauthenticatedPer48))
	}
	if c.SSH.UnauthenticatedDropStart < 0 || c.SSH.UnauthenticatedDropRate < 0 || c.SSH.UnauthenticatedDropRate > 100 || c.SSH.UnauthenticatedHeadroom < 0 {
		errs = append(errs, fmt.Errorf("ssh.unauthenticated_drop_start %d / drop_rate %d / headroom %d: want start >= 0, 0 <= rate <= 100, headroom >= 0",
			c.SSH.UnauthenticatedDropStart, c.SSH.UnauthenticatedDropRate, c.SSH.UnauthenticatedHeadroom))
	}
	if c.SSH.MaxConnectionsPerIP < 1 || c.SSH.MaxSessionsPerConnection < 1 {
		errs = append(errs, errors.New("ssh.max_connections_per_ip and ssh.max_sessions_per_connection must be at least 1"))
	}
	if !address.KnownRegion(c.Policy.DefaultRegion) {
		errs = append(errs, fmt.Errorf("policy.default_region %q: want an ISO 3166 region code such as US or GB", c.Policy.DefaultRegion))
	}
	if d := c.Policy.SessionIdle; d != 0 && (d < 24*time.Hour || d > 720*time.Hour) {
		errs = append(errs, fmt.Errorf("policy.session_idle %s: want 24h to 720h (NIST SP 800-63B: at most 30 days)", d))
	}
	if d := c.Policy.SessionMax; d < 0 || d > 8760*time.Hour {
		errs = append(errs, fmt.Errorf("policy.session_max %s: want at most 8760h (a year)", d))
	}
	if c.Policy.ChainID < 0 {
		errs = append(errs, fmt.Errorf("policy.chain_id %d: want a positive EIP-155 chain id", c.Policy.ChainID))
	}
	if c.Delivery.SMTPURL != "" && c.Delivery.SMTPFrom == "" {
		errs = append(errs, errors.New("delivery.smtp_from is needed with delivery.smtp_url"))
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		errs = append(errs, fmt.Errorf("log.level %q: want debug, info, warn or error", c.Log.Level))
	}
	switch c.Log.Format {
	case "text", "json":
	default:
		errs = append(errs, fmt.Errorf("log.format %q: want text or json", c.Log.Format))
	}
	errs = append(errs, c.validateOIDC()...)
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("configuration: %w", err)
	}
	return nil
}

// Paths of what lives in the data directory.
func (c *Config) LedgerPath() string { return filepath.Join(c.DataDir, "attest.db") }
func (c *Config) SocketPath() string { return filepath.Join(c.DataDir, "attest.sock") }

// HostKeyPath and SecretPath are in the data directory unless set.
func (c *Config) HostKeyPath() string {
	if c.HostKeyFile != "" {
		return c.HostKeyFile
	}
	return filepath.Join(c.DataDir, "ssh_host_ed25519_key")
}

func (c *Config) SecretPath() string {
	if c.SecretFile != "" {
		return c.SecretFile
	}
	return filepath.Join(c.DataDir, "secret")
}

// Ledger names where the ledger is, for messages: the file, or the
// PostgreSQL database without its password.
func (c *Config) Ledger() string {
	if c.DatabaseURL == "" {
		return c.LedgerPath()
	}
	if u, err := url.Parse(c.DatabaseURL); err == nil {
		return u.Redacted()
	}
	return "the PostgreSQL database"
}

// PublicURL is the base of links in messages.
func (c *Config) PublicURL() string {
	if c.HTTP.PublicURL != "" {
		return strings.TrimRight(c.HTTP.PublicURL, "/")
	}
	return "http://" + c.HTTP.Listen
}

// Flows turns the operator's policy into the flows' policy.
func (p Policy) Flows() flows.Policy {
	return flows.Policy{
		Strict:        p.Strict,
		DefaultRegion: p.DefaultRegion,
		SessionIdle:   p.SessionIdle,
		SessionMax:    p.SessionMax,
		Governor: flows.Governor{
			AddressGap:     p.AddressGap,
			AddressPerHour: p.AddressPerHour,
			AddressPerDay:  p.AddressPerDay,
			DevicePerHour:  p.DevicePerHour,
			SourcePerHour:  p.SourcePerHour,
			EmailPerHour:   p.EmailPerHour,
			SMSPerHour:     p.SMSPerHour,
		},
	}
}

// ConnectHint is the ssh command people use to reach the server, for
// messages: "ssh -p 23234 localhost", or "ssh attest.example.com".
func (c *Config) ConnectHint() string { return c.sshCommand("") }

// InboxHint is the ssh command that shows the demo inbox: "ssh -p 23234
// inbox@localhost".
func (c *Config) InboxHint() string { return c.sshCommand("inbox@") }

// sshCommand is the ssh command line that reaches the server as user
// ("" or "inbox@"). A listen address on every interface (0.0.0.0, ::)
// or the loopback one is reached as localhost from this machine.
func (c *Config) sshCommand(user string) string {
	addr := c.SSH.PublicHost
	if addr == "" {
		addr = c.SSH.Listen
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "ssh " + user + addr
	}
	switch host {
	case "", "127.0.0.1", "::1", "0.0.0.0", "::":
		host = "localhost"
	}
	if port == "22" {
		return "ssh " + user + host
	}
	return "ssh -p " + port + " " + user + host
}

// Loopback reports whether a listen address takes connections from this
// machine only: localhost, 127.0.0.0/8 or ::1. Every interface (an empty
// host, 0.0.0.0, ::), any other address and any other name are not.
func Loopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// DemoExposed names the listeners that other machines may reach while
// the server is in demo mode, where whoever connects reads every code.
func (c *Config) DemoExposed() []string {
	if !c.Delivery.Demo() {
		return nil
	}
	var out []string
	for _, l := range []struct{ name, addr string }{{"ssh.listen", c.SSH.Listen}, {"http.listen", c.HTTP.Listen}} {
		if _, _, err := net.SplitHostPort(l.addr); err == nil && !Loopback(l.addr) {
			out = append(out, l.name+" "+inert.String(l.addr))
		}
	}
	return out
}

// demoExposed refuses demo mode on an address other machines reach
// (unless the operator said so, loudly): the demo inbox shows every code
// to whoever connects, who could then sign in to any account.
func (c *Config) demoExposed() error {
	exposed := c.DemoExposed()
	if len(exposed) == 0 || c.Delivery.DemoOnNetworkUnsafe {
		return nil
	}
	return fmt.Errorf("%s: other machines can reach this, and with no delivery configured the server is in demo mode, "+
		"where anyone who connects reads every code (ssh inbox@HOST) and can sign in to any account.\n"+
		"Configure delivery (ATTEST_SMTP_URL and ATTEST_SMTP_FROM, or ATTEST_SMS_URL; delivery: in config.yaml), "+
		"or listen on the loopback interface only: --ssh-listen 127.0.0.1:23234 --http-listen 127.0.0.1:23235 "+
		"(or [::1]:PORT; ATTEST_SSH_LISTEN, ATTEST_HTTP_LISTEN).\n"+
		"For a container whose published port only you reach, ATTEST_DEMO_ON_NETWORK_UNSAFE=true serves it anyway",
		strings.Join(exposed, " and "))
}

// linksUnreachable refuses real delivery whose links would name an
// unspecified address: with http.listen on every interface (0.0.0.0, ::)
// and no public_url, every link in a message would point at
// http://0.0.0.0:PORT, which no reader can open. (Demo mode keeps that
// fallback: its links are read on this machine.)
func (c *Config) linksUnreachable() error {
	if c.Delivery.Demo() || c.HTTP.PublicURL != "" {
		return nil
	}
	host, _, err := net.SplitHostPort(c.HTTP.Listen)
	if err != nil || (host != "" && !net.ParseIP(host).IsUnspecified()) {
		return nil
	}
	return fmt.Errorf("http.listen %s with no http.public_url: links in messages would point at %s, which nobody can open; "+
		"set http.public_url (ATTEST_PUBLIC_URL) to the address people open, such as https://attest.example.com", inert.String(c.HTTP.Listen), inert.String(c.PublicURL()))
}

// ValidSupport checks a support contact: an http(s) URL with a host, a
// mailto: URL, or an email address, at most 200 characters of printable
// text. It is shown on terminals and in messages, so nothing that could
// steer a terminal (control or format characters) gets through.
func ValidSupport(v string) error {
	bad := func(why string) error {
		return fmt.Errorf("support %q: %s; want an https:// URL or an email address", inert.String(v), why)
	}
	if len(v) > 200 {
		return bad("longer than 200 characters")
	}
	for _, r := range v {
		if !unicode.IsPrint(r) || unicode.Is(unicode.Cf, r) || unicode.IsSpace(r) {
			return bad("it holds a space or a character that is not printable")
		}
	}
	if strings.Contains(v, "://") || strings.HasPrefix(strings.ToLower(v), "mailto:") {
		u, err := url.Parse(v)
		switch {
		case err != nil:
			return bad("not a URL")
		case u.Scheme == "mailto":
			if _, err := mail.ParseAddress(u.Opaque); err != nil || u.Opaque == "" {
				return bad("the mailto: address is not an email address")
			}
		case u.Scheme != "https" && u.Scheme != "http":
			return bad("a URL must be https:// (or http://)")
		case u.Host == "" || u.User != nil:
			return bad("a URL needs a host and no user name or password")
		}
		return nil
	}
	a, err := mail.ParseAddress(v)
	if err != nil || a.Name != "" || a.Address != v {
		return bad("not an email address")
	}
	return nil
}
