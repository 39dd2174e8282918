package config_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/attest-dev/attest/internal/inert"
	"github.com/attest-dev/attest/server/config"
)

// checkLoaded runs everything the binary does with a loaded configuration
// and fails t if any error would put something other than plain text on
// the operator's terminal.
func checkLoaded(t *testing.T, cfg config.Config, err error) {
	t.Helper()
	if err != nil {
		if msg := err.Error(); inert.Lines(msg) != msg {
			t.Fatalf("Load error %q is not plain text", msg)
		}
		return
	}
	if err := cfg.Validate(); err != nil {
		if msg := err.Error(); inert.Lines(msg) != msg {
			t.Fatalf("Validate error %q is not plain text", msg)
		}
		return
	}
	_ = cfg.PublicURL()
	_ = cfg.ConnectHint()
	_ = cfg.Policy.Flows()
}

// FuzzConfigFile loads whatever YAML file an operator could write.
func FuzzConfigFile(f *testing.F) {
	for _, s := range []string{
		"",
		"data_dir: /var/lib/attest\nssh:\n  listen: 0.0.0.0:22\n  max_auth_tries: 3\n  handshake_timeout: 10s\n",
		"delivery:\n  smtp_url: smtp://u:p@mail.example.com:587\n  smtp_from: attest@example.com\n",
		"policy:\n  strict: true\n  default_region: GB\n  governor_address_gap: 2m\n",
		"admins:\n  - ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDu6 ada\n",
		"http: {listen: ':8080', public_url: 'https://attest.example.com/'}\n",
		"unknown: 1\n",
		"ssh:\n  max_auth_tries: \"\x1b[31m\"\n",
		"a: &a [x, x]\nb: &b [*a, *a]\nc: &c [*b, *b]\nd: [*c, *c]\n",
		"log: {level: \"\\e]52;c;aGk=\\a\"}\n",
	} {
		f.Add([]byte(s))
	}
	dir := f.TempDir()
	path := filepath.Join(dir, "config.yaml")
	f.Fuzz(func(t *testing.T, data []byte) {
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		cfg, err := config.Load(path, []string{"ATTEST_DATA_DIR=" + dir})
		checkLoaded(t, cfg, err)
	})
}

// FuzzConfigEnv sets one known variable to anything, plus one more
// variable of any name. ATTEST_CONFIG and ATTEST_DATA_DIR are kept to a
// temporary directory: they name files to read.
func FuzzConfigEnv(f *testing.F) {
	for i, v := range config.Env {
		f.Add(uint8(i), "", "X=1")
		switch v.Name {
		case "ATTEST_METRICS", "ATTEST_STRICT":
			f.Add(uint8(i), "yes\x1b[2J", "")
		case "ATTEST_ADMIN_KEYS":
			f.Add(uint8(i), "ssh-ed25519 AAAA a;\n;ssh-rsa B b", "")
		case "ATTEST_SMTP_URL":
			f.Add(uint8(i), "smtp://u:p@host:587", "ATTEST_SMTP_FROM=a@b.c")
		case "ATTEST_PUBLIC_URL":
			f.Add(uint8(i), "javascript:alert(1)", "")
		}
	}
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, which uint8, value, extra string) {
		name := config.Env[int(which)%len(config.Env)].Name
		env := []string{"ATTEST_DATA_DIR=" + dir}
		for _, kv := range []string{name + "=" + value, extra} {
			if strings.HasPrefix(kv, "ATTEST_CONFIG=") || strings.HasPrefix(kv, "ATTEST_DATA_DIR=") {
				continue
			}
			env = append(env, kv)
		}
		cfg, err := config.Load("", env)
		checkLoaded(t, cfg, err)
	})
}

// A YAML error quotes the value it could not use, and a double-quoted
// YAML string can hold an escape sequence: found by FuzzConfigFile (the
// tab of testdata/fuzz/FuzzConfigFile/0873708b97d3f100 came through raw).
func TestConfigFileErrorIsPlainText(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(path, []byte("ssh:\n  max_auth_tries: \"\\e]52;c;aGk=\\a\\t\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := config.Load(path, []string{"ATTEST_DATA_DIR=" + dir})
	if err == nil {
		t.Fatal("a string for max_auth_tries loaded")
	}
	msg := err.Error()
	if inert.Lines(msg) != msg || !strings.Contains(msg, "`\\x1b]52;c;") {
		t.Fatalf("error %q", msg)
	}
	var te *yaml.TypeError
	if !errors.As(err, &te) {
		t.Fatalf("error %#v does not unwrap to the YAML error", err)
	}
}
