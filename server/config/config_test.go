package config_test

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/attest-dev/attest/flows"
	"github.com/attest-dev/attest/server/config"
)

// writeFile writes a configuration file and returns its path.
func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// load is Load that fails the test on an error.
func load(t *testing.T, path string, environ ...string) config.Config {
	t.Helper()
	cfg, err := config.Load(path, environ)
	if err != nil {
		t.Fatalf("Load(%q, %q): %v", path, environ, err)
	}
	return cfg
}

// The defaults are what the README promises, and they validate.
func TestDefaults(t *testing.T) {
	d := config.Default()
	for _, c := range []struct {
		name      string
		got, want any
	}{
		{"data dir", d.DataDir, "attest-data"},
		{"ssh listen", d.SSH.Listen, "127.0.0.1:23234"},
		{"http listen", d.HTTP.Listen, "127.0.0.1:23235"},
		{"metrics off", d.HTTP.Metrics, false},
		{"metrics listen on the loopback", d.HTTP.MetricsListen, "127.0.0.1:23236"},
		{"max auth tries", d.SSH.MaxAuthTries, 4},
		{"handshake timeout", d.SSH.HandshakeTimeout, 30 * time.Second},
		{"max unauthenticated", d.SSH.MaxUnauthenticated, 60},
		{"max unauthenticated per ip", d.SSH.MaxUnauthenticatedPerIP, 10},
		{"max connections per ip", d.SSH.MaxConnectionsPerIP, 20},
		{"max sessions per connection", d.SSH.MaxSessionsPerConnection, 2},
		{"demo delivery", d.Delivery.Demo(), true},
		{"strict", d.Policy.Strict, false},
		{"log level", d.Log.Level, "info"},
		{"log format", d.Log.Format, "text"},
		{"public url", d.PublicURL(), "http://127.0.0.1:23235"},
		{"ledger path", d.LedgerPath(), filepath.Join("attest-data", "attest.db")},
		{"host key path", d.HostKeyPath(), filepath.Join("attest-data", "ssh_host_ed25519_key")},
		{"secret path", d.SecretPath(), filepath.Join("attest-data", "secret")},
		{"socket path", d.SocketPath(), filepath.Join("attest-data", "attest.sock")},
	} {
		if !reflect.DeepEqual(c.got, c.want) {
			t.Errorf("default %s = %v, want %v", c.name, c.got, c.want)
		}
	}
	if err := d.Validate(); err != nil {
		t.Errorf("the defaults do not validate: %v", err)
	}

	// With no file and no environment, Load is the defaults. (The test
	// runs in this package's directory, which has no attest-data.)
	if got := load(t, ""); !reflect.DeepEqual(got, d) {
		t.Errorf("Load with nothing set:\n got %+v\nwant %+v", got, d)
	}
	// A data directory without a config.yaml only moves the data.
	dir := t.TempDir()
	want := config.Default()
	want.DataDir = dir
	if got := load(t, "", "ATTEST_DATA_DIR="+dir); !reflect.DeepEqual(got, want) {
		t.Errorf("Load with an empty data directory:\n got %+v\nwant %+v", got, want)
	}
}

const fullFile = `
ssh:
  listen: 0.0.0.0:2222
  public_host: ssh.example.com:22
  max_auth_tries: 3
  handshake_timeout: 45s
  max_unauthenticated: 100
  max_unauthenticated_per_ip: 5
http:
  listen: 127.0.0.1:8080
  public_url: https://attest.example.com/
  metrics: true
  metrics_listen: 127.0.0.1:9100
delivery:
  smtp_url: smtps://u:p@mail.example.com:465
  smtp_from: attest@example.com
policy:
  strict: true
  default_region: GB
  governor_address_gap: 2m
  governor_address_per_hour: 7
admins:
  - ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAdmin admin@example.com
log:
  level: debug
  format: json
`

// checkFull asserts the settings of fullFile, and that what it does not
// set keeps its default.
func checkFull(t *testing.T, cfg config.Config) {
	t.Helper()
	for _, c := range []struct {
		name      string
		got, want any
	}{
		{"ssh.listen", cfg.SSH.Listen, "0.0.0.0:2222"},
		{"ssh.public_host", cfg.SSH.PublicHost, "ssh.example.com:22"},
		{"ssh.max_auth_tries", cfg.SSH.MaxAuthTries, 3},
		{"ssh.handshake_timeout", cfg.SSH.HandshakeTimeout, 45 * time.Second},
		{"ssh.max_unauthenticated", cfg.SSH.MaxUnauthenticated, 100},
		{"ssh.max_unauthenticated_per_ip", cfg.SSH.MaxUnauthenticatedPerIP, 5},
		{"http.listen", cfg.HTTP.Listen, "127.0.0.1:8080"},
		{"http.metrics", cfg.HTTP.Metrics, true},
		{"http.metrics_listen", cfg.HTTP.MetricsListen, "127.0.0.1:9100"},
		{"delivery.smtp_url", cfg.Delivery.SMTPURL, "smtps://u:p@mail.example.com:465"},
		{"delivery.smtp_from", cfg.Delivery.SMTPFrom, "attest@example.com"},
		{"demo", cfg.Delivery.Demo(), false},
		{"policy.strict", cfg.Policy.Strict, true},
		{"policy.default_region", cfg.Policy.DefaultRegion, "GB"},
		{"policy.governor_address_gap", cfg.Policy.AddressGap, 2 * time.Minute},
		{"policy.governor_address_per_hour", cfg.Policy.AddressPerHour, 7},
		{"admins", cfg.Admins, []string{"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAdmin admin@example.com"}},
		{"log.level", cfg.Log.Level, "debug"},
		{"log.format", cfg.Log.Format, "json"},
		// Not in the file: defaults.
		{"ssh.idle_timeout", cfg.SSH.IdleTimeout, 30 * time.Minute},
		{"ssh.max_connections_per_ip", cfg.SSH.MaxConnectionsPerIP, 20},
		{"ssh.max_sessions_per_connection", cfg.SSH.MaxSessionsPerConnection, 2},
		{"policy.governor_address_per_day", cfg.Policy.AddressPerDay, 0},
	} {
		if !reflect.DeepEqual(c.got, c.want) {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
	if err := cfg.Validate(); err != nil {
		t.Errorf("the full file does not validate: %v", err)
	}
}

// DATA_DIR/config.yaml is read without being named.
func TestFileInDataDirIsFound(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, config.FileName, fullFile)
	cfg := load(t, "", "ATTEST_DATA_DIR="+dir)
	if cfg.DataDir != dir {
		t.Errorf("data dir %q, want %q", cfg.DataDir, dir)
	}
	checkFull(t, cfg)
}

// An explicit path (the --config flag, or ATTEST_CONFIG) is read instead
// of the data directory's file.
func TestExplicitFile(t *testing.T) {
	dir := t.TempDir()
	// The data directory's own file would set a different listener; the
	// explicit file wins, and the two are never merged.
	writeFile(t, dir, config.FileName, "ssh:\n  listen: 10.0.0.1:1\nlog:\n  level: warn\n")
	path := writeFile(t, t.TempDir(), "elsewhere.yaml", fullFile)

	t.Run("path argument", func(t *testing.T) {
		checkFull(t, load(t, path, "ATTEST_DATA_DIR="+dir))
	})
	t.Run("ATTEST_CONFIG", func(t *testing.T) {
		checkFull(t, load(t, "", "ATTEST_DATA_DIR="+dir, "ATTEST_CONFIG="+path))
	})
	t.Run("path argument beats ATTEST_CONFIG", func(t *testing.T) {
		other := writeFile(t, t.TempDir(), "other.yaml", "log:\n  level: error\n")
		checkFull(t, load(t, path, "ATTEST_DATA_DIR="+dir, "ATTEST_CONFIG="+other))
	})
	t.Run("missing file", func(t *testing.T) {
		missing := filepath.Join(t.TempDir(), "nope.yaml")
		_, err := config.Load(missing, nil)
		if err == nil || !strings.Contains(err.Error(), "read config") || !strings.Contains(err.Error(), "nope.yaml") {
			t.Fatalf("Load of a missing file: %v, want a read config error naming it", err)
		}
	})
}

// An empty file (or one with only comments) sets nothing.
func TestEmptyFile(t *testing.T) {
	for name, content := range map[string]string{
		"empty":         "",
		"blank lines":   "\n\n",
		"only comments": "# nothing here yet\n# ssh:\n#   listen: 0.0.0.0:22\n",
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			path := writeFile(t, dir, config.FileName, content)
			want := config.Default()
			want.DataDir = dir
			for _, p := range []string{"", path} {
				if got := load(t, p, "ATTEST_DATA_DIR="+dir); !reflect.DeepEqual(got, want) {
					t.Errorf("Load(%q):\n got %+v\nwant %+v", p, got, want)
				}
			}
		})
	}
}

// A key the configuration does not have is refused, naming the key, the
// line and the file, so a typo never silently keeps a default.
func TestUnknownKeyRejected(t *testing.T) {
	for name, tc := range map[string]struct {
		content, key, line string
	}{
		"misspelt nested key": {"ssh:\n  listen: 127.0.0.1:1\n  listn: 0.0.0.0:22\n", "listn", "line 3"},
		"unknown section":     {"log:\n  level: warn\nsmtp:\n  host: x\n", "smtp", "line 3"},
		"key at wrong level":  {"listen: 0.0.0.0:22\n", "listen", "line 1"},
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			path := writeFile(t, dir, config.FileName, tc.content)
			_, err := config.Load("", []string{"ATTEST_DATA_DIR=" + dir})
			if err == nil {
				t.Fatal("a file with an unknown key was accepted")
			}
			msg := err.Error()
			for _, want := range []string{path, tc.key, tc.line, "not found"} {
				if !strings.Contains(msg, want) {
					t.Errorf("the error does not mention %q: %s", want, msg)
				}
			}
		})
	}
	// A value of the wrong type is refused too.
	dir := t.TempDir()
	writeFile(t, dir, config.FileName, "ssh:\n  max_auth_tries: many\n")
	if _, err := config.Load("", []string{"ATTEST_DATA_DIR=" + dir}); err == nil || !strings.Contains(err.Error(), "many") {
		t.Errorf("a non-number for max_auth_tries: %v", err)
	}
}

// ATTEST_* variables override the file; what they do not set keeps the
// file's value; other variables are ignored.
func TestEnvOverridesFile(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, config.FileName, fullFile)
	cfg := load(t, "",
		"ATTEST_DATA_DIR="+dir,
		"ATTEST_SSH_LISTEN=127.0.0.1:3333",
		"ATTEST_SSH_PUBLIC_HOST=attest.example.org",
		"ATTEST_HTTP_LISTEN=127.0.0.1:4444",
		"ATTEST_PUBLIC_URL=https://links.example.org",
		"ATTEST_METRICS=false",
		"ATTEST_METRICS_LISTEN=127.0.0.1:5555",
		"ATTEST_SMTP_URL=smtp://user:p=ss@smtp.example.org:587", // a '=' in the value stays
		"ATTEST_SMTP_FROM=noreply@example.org",
		"ATTEST_SMS_URL=https://SID:TOKEN@api.twilio.com?from=%2B15005550006",
		"ATTEST_STRICT=0",
		"ATTEST_DEFAULT_REGION=US",
		"ATTEST_ADMIN_KEYS= ssh-ed25519 AAAA1 a@x ;ssh-ed25519 AAAA2 b@x\n\n ssh-ed25519 AAAA3 c@x \n",
		"ATTEST_LOG_LEVEL=warn",
		"ATTEST_LOG_FORMAT=text",
		// Not ours: ignored.
		"SSH_LISTEN=0.0.0.0:1",
		"LOG_LEVEL=error",
		"ATTEST_UNKNOWN=whatever",
		"MALFORMED",
	)
	for _, c := range []struct {
		name      string
		got, want any
	}{
		{"ssh.listen", cfg.SSH.Listen, "127.0.0.1:3333"},
		{"ssh.public_host", cfg.SSH.PublicHost, "attest.example.org"},
		{"http.listen", cfg.HTTP.Listen, "127.0.0.1:4444"},
		{"public url", cfg.PublicURL(), "https://links.example.org"},
		{"metrics", cfg.HTTP.Metrics, false},
		{"metrics listen", cfg.HTTP.MetricsListen, "127.0.0.1:5555"},
		{"smtp url", cfg.Delivery.SMTPURL, "smtp://user:p=ss@smtp.example.org:587"},
		{"smtp from", cfg.Delivery.SMTPFrom, "noreply@example.org"},
		{"sms url", cfg.Delivery.SMSURL, "https://SID:TOKEN@api.twilio.com?from=%2B15005550006"},
		{"strict", cfg.Policy.Strict, false},
		{"default region", cfg.Policy.DefaultRegion, "US"},
		{"admins", cfg.Admins, []string{"ssh-ed25519 AAAA1 a@x", "ssh-ed25519 AAAA2 b@x", "ssh-ed25519 AAAA3 c@x"}},
		{"log level", cfg.Log.Level, "warn"},
		{"log format", cfg.Log.Format, "text"},
		// Only in the file: kept.
		{"max auth tries", cfg.SSH.MaxAuthTries, 3},
		{"handshake timeout", cfg.SSH.HandshakeTimeout, 45 * time.Second},
		{"address gap", cfg.Policy.AddressGap, 2 * time.Minute},
	} {
		if !reflect.DeepEqual(c.got, c.want) {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
	if err := cfg.Validate(); err != nil {
		t.Errorf("validate: %v", err)
	}

	// A variable that is set but empty is set: it clears the file's value
	// (here turning demo delivery back on).
	cfg = load(t, "", "ATTEST_DATA_DIR="+dir, "ATTEST_SMTP_URL=", "ATTEST_ADMIN_KEYS=")
	if cfg.Delivery.SMTPURL != "" || !cfg.Delivery.Demo() || cfg.Admins != nil {
		t.Errorf("empty variables: smtp %q, demo %t, admins %q", cfg.Delivery.SMTPURL, cfg.Delivery.Demo(), cfg.Admins)
	}
	// Booleans take what strconv.ParseBool takes.
	for v, want := range map[string]bool{"1": true, "t": true, "TRUE": true, "true": true, "0": false, "F": false, "false": false} {
		if got := load(t, "", "ATTEST_DATA_DIR="+dir, "ATTEST_STRICT="+v).Policy.Strict; got != want {
			t.Errorf("ATTEST_STRICT=%s: strict %t, want %t", v, got, want)
		}
	}
}

// The environment, and the --data-dir flag that main passes as
// ATTEST_DATA_DIR, come after the file, so they decide where the data
// lives even when the file names a data_dir.
func TestEnvDataDirOverridesFile(t *testing.T) {
	fromFile, fromEnv := t.TempDir(), t.TempDir()
	path := writeFile(t, t.TempDir(), "attest.yaml", "data_dir: "+fromFile+"\n")
	if got := load(t, path).DataDir; got != fromFile {
		t.Errorf("without ATTEST_DATA_DIR the file's data_dir %q should hold, got %q", fromFile, got)
	}
	if got := load(t, path, "ATTEST_DATA_DIR="+fromEnv).DataDir; got != fromEnv {
		t.Errorf("ATTEST_DATA_DIR/--data-dir %q is overridden by the file's data_dir %q", fromEnv, got)
	}
}

// A variable that is not a boolean is an error naming it; all of them
// are reported at once.
func TestBadBooleans(t *testing.T) {
	_, err := config.Load("", []string{"ATTEST_DATA_DIR=" + t.TempDir(), "ATTEST_STRICT=yes", "ATTEST_METRICS=2"})
	if err == nil {
		t.Fatal("bad booleans were accepted")
	}
	for _, want := range []string{`ATTEST_STRICT="yes"`, `ATTEST_METRICS="2"`, "want true or false"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("the error does not mention %s: %v", want, err)
		}
	}
	for _, v := range []string{"", "on", "off", "enabled"} {
		if _, err := config.Load("", []string{"ATTEST_DATA_DIR=" + t.TempDir(), "ATTEST_STRICT=" + v}); err == nil {
			t.Errorf("ATTEST_STRICT=%q was accepted", v)
		}
	}
}

// Validate reports each setting that cannot work, and all of them at
// once.
func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		name  string
		tweak func(c *config.Config)
		want  string
	}{
		{"empty data dir", func(c *config.Config) { c.DataDir = "" }, "data_dir is empty"},
		{"ssh listen without port", func(c *config.Config) { c.SSH.Listen = "localhost" }, `ssh.listen "localhost": want host:port`},
		{"http listen empty", func(c *config.Config) { c.HTTP.Listen = "" }, `http.listen "": want host:port`},
		{"metrics listen without port", func(c *config.Config) { c.HTTP.Metrics, c.HTTP.MetricsListen = true, "localhost" }, `http.metrics_listen "localhost": want host:port`},
		{"metrics on the public listener", func(c *config.Config) { c.HTTP.Metrics, c.HTTP.MetricsListen = true, c.HTTP.Listen }, `http.metrics_listen "127.0.0.1:23235": metrics have a listener of their own`},
		{"public url ftp", func(c *config.Config) { c.HTTP.PublicURL = "ftp://x.example.com" }, "http.public_url"},
		{"public url without host", func(c *config.Config) { c.HTTP.PublicURL = "https://" }, "http.public_url"},
		{"public url relative", func(c *config.Config) { c.HTTP.PublicURL = "attest.example.com/links" }, "http.public_url"},
		{"auth tries 0", func(c *config.Config) { c.SSH.MaxAuthTries = 0 }, "ssh.max_auth_tries 0: want 1 to 6"},
		{"auth tries 7", func(c *config.Config) { c.SSH.MaxAuthTries = 7 }, "ssh.max_auth_tries 7: want 1 to 6"},
		{"handshake 0", func(c *config.Config) { c.SSH.HandshakeTimeout = 0 }, "ssh.handshake_timeout"},
		{"handshake 3m", func(c *config.Config) { c.SSH.HandshakeTimeout = 3 * time.Minute }, "ssh.handshake_timeout 3m0s"},
		{"per ip above total", func(c *config.Config) { c.SSH.MaxUnauthenticatedPerIP = 61 }, "ssh.max_unauthenticated 60 / per_ip 61"},
		{"no unauthenticated", func(c *config.Config) { c.SSH.MaxUnauthenticated = 0 }, "ssh.max_unauthenticated 0"},
		{"key exchange 0", func(c *config.Config) { c.SSH.KeyExchangeTimeout = 0 }, "ssh.key_exchange_timeout 0s"},
		{"no unauthenticated per 48", func(c *config.Config) { c.SSH.MaxUnauthenticatedPer48 = 0 }, "ssh.max_unauthenticated_per_48 0"},
		{"drop rate 101", func(c *config.Config) { c.SSH.UnauthenticatedDropRate = 101 }, "ssh.unauthenticated_drop_start 10 / drop_rate 101"},
		{"negative headroom", func(c *config.Config) { c.SSH.UnauthenticatedHeadroom = -1 }, "headroom -1"},
		{"no connections", func(c *config.Config) { c.SSH.MaxConnectionsPerIP = 0 }, "ssh.max_connections_per_ip"},
		{"no sessions", func(c *config.Config) { c.SSH.MaxSessionsPerConnection = 0 }, "ssh.max_sessions_per_connection"},
		{"smtp without from", func(c *config.Config) { c.Delivery.SMTPURL = "smtp://h:587" }, "delivery.smtp_from is needed"},
		{"log level", func(c *config.Config) { c.Log.Level = "verbose" }, `log.level "verbose"`},
		{"log format", func(c *config.Config) { c.Log.Format = "xml" }, `log.format "xml"`},
		{"session idle an hour", func(c *config.Config) { c.Policy.SessionIdle = time.Hour }, "policy.session_idle 1h0m0s: want 24h to 720h"},
		{"session idle 31 days", func(c *config.Config) { c.Policy.SessionIdle = 744 * time.Hour }, "policy.session_idle 744h0m0s"},
		{"session max two years", func(c *config.Config) { c.Policy.SessionMax = 2 * 8760 * time.Hour }, "policy.session_max 17520h0m0s: want at most 8760h"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := config.Default()
			tc.tweak(&c)
			err := c.Validate()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Validate: %v, want an error with %q", err, tc.want)
			}
		})
	}

	// Valid edges pass.
	c := config.Default()
	c.SSH.MaxAuthTries, c.SSH.HandshakeTimeout = 6, 2*time.Minute
	c.SSH.MaxUnauthenticatedPerIP = c.SSH.MaxUnauthenticated
	c.HTTP.PublicURL = "http://[::1]:8080/"
	c.Log.Level = "error"
	if err := c.Validate(); err != nil {
		t.Errorf("valid edges: %v", err)
	}

	// Several problems come back together, in one error.
	c = config.Default()
	c.DataDir = ""
	c.SSH.Listen = "nowhere"
	c.SSH.MaxAuthTries = 10
	c.HTTP.PublicURL = "gopher://x"
	c.Log.Level = "loud"
	c.Log.Format = "yaml"
	err := c.Validate()
	if err == nil {
		t.Fatal("an invalid configuration passed")
	}
	msg := err.Error()
	if !strings.HasPrefix(msg, "configuration: ") {
		t.Errorf("the error does not start with configuration: %q", msg)
	}
	for _, want := range []string{"data_dir is empty", `ssh.listen "nowhere"`, "ssh.max_auth_tries 10", "http.public_url", `log.level "loud"`, `log.format "yaml"`} {
		if !strings.Contains(msg, want) {
			t.Errorf("the error does not report %q:\n%s", want, msg)
		}
	}
	if n := strings.Count(msg, "\n") + 1; n != 6 {
		t.Errorf("%d problems reported, want 6 (one per line):\n%s", n, msg)
	}
}

// PublicURL is the configured base without a trailing slash, or one built
// from the HTTP listener.
func TestPublicURL(t *testing.T) {
	for _, tc := range []struct{ listen, public, want string }{
		{"127.0.0.1:23235", "", "http://127.0.0.1:23235"},
		{"0.0.0.0:80", "", "http://0.0.0.0:80"},
		{"127.0.0.1:1", "https://attest.example.com", "https://attest.example.com"},
		{"127.0.0.1:1", "https://attest.example.com/", "https://attest.example.com"},
		{"127.0.0.1:1", "https://example.com/attest//", "https://example.com/attest"},
	} {
		c := config.Default()
		c.HTTP.Listen, c.HTTP.PublicURL = tc.listen, tc.public
		if got := c.PublicURL(); got != tc.want {
			t.Errorf("PublicURL with listen %q, public %q = %q, want %q", tc.listen, tc.public, got, tc.want)
		}
	}
}

// Policy.Flows carries every operator setting into the flows' policy, and
// leaves what operators cannot set at zero so the flows' defaults apply.
func TestPolicyFlows(t *testing.T) {
	p := config.Policy{
		Strict:         true,
		DefaultRegion:  "DE",
		AddressGap:     90 * time.Second,
		AddressPerHour: 3,
		AddressPerDay:  8,
		DevicePerHour:  -1,
		SourcePerHour:  25,
		EmailPerHour:   500,
		SMSPerHour:     50,
	}
	want := flows.Policy{
		Strict:        true,
		DefaultRegion: "DE",
		Governor: flows.Governor{
			AddressGap:     90 * time.Second,
			AddressPerHour: 3,
			AddressPerDay:  8,
			DevicePerHour:  -1,
			SourcePerHour:  25,
			EmailPerHour:   500,
			SMSPerHour:     50,
		},
	}
	if got := p.Flows(); !reflect.DeepEqual(got, want) {
		t.Errorf("Flows:\n got %+v\nwant %+v", got, want)
	}
	if got := (config.Policy{}).Flows(); !reflect.DeepEqual(got, flows.Policy{}) {
		t.Errorf("the zero policy maps to %+v, want the zero flows policy", got)
	}
	// The YAML names of the governor settings reach the flows.
	dir := t.TempDir()
	writeFile(t, dir, config.FileName, `policy:
  governor_address_gap: 30s
  governor_address_per_hour: 4
  governor_address_per_day: 9
  governor_device_per_hour: 11
  governor_source_per_hour: 20
  governor_email_per_hour: 100
  governor_sms_per_hour: -1
`)
	g := load(t, "", "ATTEST_DATA_DIR="+dir).Policy.Flows().Governor
	if want := (flows.Governor{AddressGap: 30 * time.Second, AddressPerHour: 4, AddressPerDay: 9, DevicePerHour: 11, SourcePerHour: 20, EmailPerHour: 100, SMSPerHour: -1}); g != want {
		t.Errorf("governor from YAML %+v, want %+v", g, want)
	}
}

// Every variable Load reads is listed for `attest help`, and every listed
// one is read.
func TestEnvListed(t *testing.T) {
	listed := map[string]bool{}
	for _, e := range config.Env {
		if !strings.HasPrefix(e.Name, "ATTEST_") || e.Sets == "" {
			t.Errorf("bad entry %+v", e)
		}
		listed[e.Name] = true
	}
	// Each listed variable changes something when set to an odd value.
	base := load(t, "", "ATTEST_DATA_DIR="+t.TempDir())
	cfgFile := writeFile(t, t.TempDir(), "c.yaml", "log:\n  level: error\n")
	values := map[string]string{
		"ATTEST_CONFIG": cfgFile, "ATTEST_METRICS": "true", "ATTEST_STRICT": "true", "ATTEST_DEMO_ON_NETWORK_UNSAFE": "true",
		"ATTEST_DATA_DIR": t.TempDir(), "ATTEST_ADMIN_KEYS": "ssh-ed25519 AAAA x",
		"ATTEST_SESSION_IDLE": "48h", "ATTEST_SESSION_MAX": "720h", "ATTEST_CHAIN_ID": "11155111",
	}
	for name := range listed {
		v, ok := values[name]
		if !ok {
			v = "odd-value-" + strings.ToLower(name)
		}
		env := []string{"ATTEST_DATA_DIR=" + base.DataDir, name + "=" + v}
		got, err := config.Load("", env)
		if err != nil {
			t.Errorf("%s=%s: %v", name, v, err)
			continue
		}
		if reflect.DeepEqual(got, base) {
			t.Errorf("%s is listed but setting it changes nothing", name)
		}
	}
}

// TestDatabaseAndSharedFiles: the PostgreSQL ledger and the shared secret
// and host key come from the file or the environment, and a database URL
// that is not postgres:// is refused without repeating it.
func TestDatabaseAndSharedFiles(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, config.FileName, "database_url: postgres://attest:hunter2@db.example.org/attest\nsecret_file: /etc/attest/secret\n")
	cfg := load(t, "", "ATTEST_DATA_DIR="+dir, "ATTEST_HOST_KEY_FILE=/etc/attest/host_key")
	if cfg.DatabaseURL != "postgres://attest:hunter2@db.example.org/attest" || cfg.SecretPath() != "/etc/attest/secret" || cfg.HostKeyPath() != "/etc/attest/host_key" {
		t.Errorf("got database %q, secret %q, host key %q", cfg.DatabaseURL, cfg.SecretPath(), cfg.HostKeyPath())
	}
	if got := cfg.Ledger(); strings.Contains(got, "hunter2") || !strings.Contains(got, "db.example.org") {
		t.Errorf("Ledger() = %q, want the database without its password", got)
	}
	if err := cfg.Validate(); err != nil {
		t.Error(err)
	}
	cfg.DatabaseURL = "mysql://root:hunter2@db/attest"
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "database_url") || strings.Contains(err.Error(), "hunter2") {
		t.Errorf("Validate of a mysql URL: %v", err)
	}
}

// The server's name is what authenticator apps list accounts under.
func TestName(t *testing.T) {
	dir := t.TempDir()
	cfg, err := config.Load("", []string{"ATTEST_DATA_DIR=" + dir})
	if err != nil || cfg.Name != "attest" {
		t.Fatalf("default name %q, %v", cfg.Name, err)
	}
	cfg, err = config.Load("", []string{"ATTEST_DATA_DIR=" + dir, "ATTEST_NAME=Example Corp"})
	if err != nil || cfg.Name != "Example Corp" {
		t.Fatalf("name %q, %v", cfg.Name, err)
	}
	for _, bad := range []string{"", "a:b", "tab\there", strings.Repeat("x", 33)} {
		cfg, err := config.Load("", []string{"ATTEST_DATA_DIR=" + dir, "ATTEST_NAME=" + bad})
		if err == nil {
			err = cfg.Validate()
		}
		if err == nil || !strings.Contains(err.Error(), "name") {
			t.Errorf("name %q: %v", bad, err)
		}
	}
}

func TestChainID(t *testing.T) {
	if got := load(t, "", "ATTEST_DATA_DIR="+t.TempDir(), "ATTEST_CHAIN_ID=137").Policy.ChainID; got != 137 {
		t.Errorf("ATTEST_CHAIN_ID=137: %d", got)
	}
	for _, v := range []string{"x", "-1"} {
		cfg, err := config.Load("", []string{"ATTEST_DATA_DIR=" + t.TempDir(), "ATTEST_CHAIN_ID=" + v})
		if err == nil {
			err = cfg.Validate()
		}
		if err == nil || !strings.Contains(strings.ToLower(err.Error()), "chain") {
			t.Errorf("ATTEST_CHAIN_ID=%s: %v", v, err)
		}
	}
}

// The support contact is a URL or an email address, and nothing that
// could steer a terminal.
func TestSupportContact(t *testing.T) {
	for v, ok := range map[string]bool{
		"https://help.example.com/attest":                 true,
		"http://intranet/help":                            true,
		"mailto:help@example.com":                         true,
		"help@example.com":                                true,
		"Help Desk <help@example.com>":                    false,
		"ftp://example.com":                               false,
		"https://":                                        false,
		"https://user:pw@example.com":                     false,
		"javascript:alert(1)":                             false,
		"help@example.com\x1b[2J":                         false,
		"https://example.com/\u202e":                      false,
		"call us":                                         false,
		"mailto:":                                         false,
		"https://example.com/" + strings.Repeat("a", 200): false,
	} {
		if err := config.ValidSupport(v); (err == nil) != ok {
			t.Errorf("ValidSupport(%q) = %v, want ok %v", v, err, ok)
		}
	}
	dir := "ATTEST_DATA_DIR=" + t.TempDir()
	c, err := config.Load("", []string{dir, "ATTEST_SUPPORT=help@example.com"})
	if err == nil {
		err = c.Validate()
	}
	if err != nil || c.Support != "help@example.com" {
		t.Fatalf("ATTEST_SUPPORT: %q, %v", c.Support, err)
	}
	c, err = config.Load("", []string{dir, "ATTEST_SUPPORT=ftp://x"})
	if err == nil && c.Validate() == nil {
		t.Fatal("a bad support contact was accepted")
	}
}

// Demo mode shows every code to whoever connects, so a server in it
// refuses to listen where other machines reach it, saying what to do,
// unless the operator says loudly that it should.
func TestDemoRefusedOnNetwork(t *testing.T) {
	for _, tc := range []struct {
		ssh, http string
		exposed   string // what the error names; "" for none
	}{
		{"127.0.0.1:23234", "127.0.0.1:23235", ""},
		{"[::1]:23234", "localhost:23235", ""},
		{"127.0.0.2:0", "127.0.0.1:0", ""},
		{"0.0.0.0:23234", "127.0.0.1:23235", "ssh.listen 0.0.0.0:23234"},
		{"[::]:23234", "127.0.0.1:23235", "ssh.listen [::]:23234"},
		{":23234", "127.0.0.1:23235", "ssh.listen :23234"},
		{"127.0.0.1:23234", "10.0.0.1:23235", "http.listen 10.0.0.1:23235"},
		{"attest.example.com:22", "0.0.0.0:80", "ssh.listen attest.example.com:22 and http.listen 0.0.0.0:80"},
	} {
		c := config.Default()
		c.SSH.Listen, c.HTTP.Listen = tc.ssh, tc.http
		err := c.Validate()
		if tc.exposed == "" {
			if err != nil || c.DemoExposed() != nil {
				t.Errorf("ssh %s, http %s: %v, exposed %q; want no error", tc.ssh, tc.http, err, c.DemoExposed())
			}
			continue
		}
		if err == nil {
			t.Errorf("ssh %s, http %s in demo mode: no error", tc.ssh, tc.http)
			continue
		}
		for _, want := range []string{tc.exposed + ": other machines can reach this", "demo mode", "ATTEST_SMTP_URL", "--ssh-listen 127.0.0.1:23234", "ATTEST_DEMO_ON_NETWORK_UNSAFE=true"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("ssh %s, http %s: the error lacks %q:\n%s", tc.ssh, tc.http, want, err)
			}
		}
		// Real delivery: no demo inbox, nothing to refuse (with links
		// that name where people open them: TestLinksNeedAnAddress).
		c.Delivery.SMTPURL, c.Delivery.SMTPFrom = "smtp://mail.example.com:587", "attest@example.com"
		c.HTTP.PublicURL = "https://attest.example.com"
		if err := c.Validate(); err != nil || c.DemoExposed() != nil {
			t.Errorf("ssh %s, http %s with SMTP: %v", tc.ssh, tc.http, err)
		}
		// The opt-in, from the environment: it starts (and main warns).
		d := t.TempDir()
		c, err = config.Load("", []string{"ATTEST_DATA_DIR=" + d, "ATTEST_SSH_LISTEN=" + tc.ssh, "ATTEST_HTTP_LISTEN=" + tc.http, "ATTEST_DEMO_ON_NETWORK_UNSAFE=true"})
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Validate(); err != nil || strings.Join(c.DemoExposed(), " and ") != tc.exposed {
			t.Errorf("ssh %s, http %s with the opt-in: %v, exposed %q", tc.ssh, tc.http, err, c.DemoExposed())
		}
	}
}

// With real delivery, an HTTP listener on every interface needs a public
// URL: else each link in a message would point at http://0.0.0.0:PORT.
func TestLinksNeedAnAddress(t *testing.T) {
	for _, tc := range []struct {
		listen, public string
		refused        bool
	}{
		{"0.0.0.0:23235", "", true},
		{"[::]:23235", "", true},
		{":23235", "", true},
		{"0.0.0.0:23235", "https://attest.example.com", false},
		{"10.0.0.1:23235", "", false},
		{"127.0.0.1:23235", "", false},
	} {
		c := config.Default()
		c.Delivery.SMTPURL, c.Delivery.SMTPFrom = "smtp://mail.example.com:587", "attest@example.com"
		c.HTTP.Listen, c.HTTP.PublicURL = tc.listen, tc.public
		err := c.Validate()
		if !tc.refused {
			if err != nil {
				t.Errorf("listen %s, public_url %q: %v", tc.listen, tc.public, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), "http.listen "+tc.listen+" with no http.public_url") ||
			!strings.Contains(err.Error(), "ATTEST_PUBLIC_URL") {
			t.Errorf("listen %s with no public_url: %v", tc.listen, err)
		}
	}
}

// The banner's hints reach a server listening on every interface, or on
// the loopback one, as localhost.
func TestConnectAndInboxHints(t *testing.T) {
	for _, tc := range []struct{ listen, public, connect, inbox string }{
		{"127.0.0.1:23234", "", "ssh -p 23234 localhost", "ssh -p 23234 inbox@localhost"},
		{"0.0.0.0:23244", "", "ssh -p 23244 localhost", "ssh -p 23244 inbox@localhost"},
		{"[::]:23244", "", "ssh -p 23244 localhost", "ssh -p 23244 inbox@localhost"},
		{"[::1]:2", "", "ssh -p 2 localhost", "ssh -p 2 inbox@localhost"},
		{"10.0.0.1:22", "", "ssh 10.0.0.1", "ssh inbox@10.0.0.1"},
		{"0.0.0.0:2222", "attest.example.com:22", "ssh attest.example.com", "ssh inbox@attest.example.com"},
	} {
		c := config.Default()
		c.SSH.Listen, c.SSH.PublicHost = tc.listen, tc.public
		if got := c.ConnectHint(); got != tc.connect {
			t.Errorf("ConnectHint for %s (%q) = %q, want %q", tc.listen, tc.public, got, tc.connect)
		}
		if got := c.InboxHint(); got != tc.inbox {
			t.Errorf("InboxHint for %s (%q) = %q, want %q", tc.listen, tc.public, got, tc.inbox)
		}
	}
}
