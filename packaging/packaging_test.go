// Package packaging holds what the deb and rpm packages install besides
// the binary (see .goreleaser.yaml); its tests check those files against
// each other, against attest's configuration, and with systemd's own
// tools.
package packaging

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/attest-dev/attest/server/config"
)

// unit reads attest.service into directive → values (a directive may
// repeat, as SystemCallFilter does).
func unit(t *testing.T) map[string][]string {
	t.Helper()
	raw, err := os.ReadFile("attest.service")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]string{}
	sc := bufio.NewScanner(bytes.NewReader(raw))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' || line[0] == '[' {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			t.Fatalf("attest.service: %q is not key=value", line)
		}
		out[k] = append(out[k], v)
	}
	return out
}

// nfpm is the part of .goreleaser.yaml the packages come from.
type nfpm struct {
	Formats  []string `yaml:"formats"`
	Bindir   string   `yaml:"bindir"`
	Contents []struct {
		Src      string `yaml:"src"`
		Dst      string `yaml:"dst"`
		Type     string `yaml:"type"`
		FileInfo struct {
			Mode  int    `yaml:"mode"`
			Owner string `yaml:"owner"`
			Group string `yaml:"group"`
		} `yaml:"file_info"`
	} `yaml:"contents"`
	Scripts map[string]string `yaml:"scripts"`
}

func packages(t *testing.T) nfpm {
	t.Helper()
	raw, err := os.ReadFile("../.goreleaser.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var cfg struct {
		Nfpms []nfpm `yaml:"nfpms"`
	}
	if err := yaml.Unmarshal(raw, &cfg); err != nil {
		t.Fatal(err)
	}
	if len(cfg.Nfpms) != 1 {
		t.Fatalf("%d nfpms entries, want 1", len(cfg.Nfpms))
	}
	return cfg.Nfpms[0]
}

// The unit runs attest as its own user, in its state directory, with the
// sandbox the README promises and no capability at all.
func TestUnitSandbox(t *testing.T) {
	u := unit(t)
	for k, want := range map[string]string{
		"User": "attest", "Group": "attest",
		"StateDirectory": "attest", "StateDirectoryMode": "0700",
		"NoNewPrivileges": "yes", "ProtectSystem": "strict", "ProtectHome": "yes",
		"PrivateTmp": "yes", "PrivateDevices": "yes",
		"RestrictAddressFamilies": "AF_INET AF_INET6 AF_UNIX",
		"CapabilityBoundingSet":   "", "AmbientCapabilities": "",
		"SystemCallArchitectures": "native",
	} {
		if got, ok := u[k]; !ok || got[len(got)-1] != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	if !slices.Contains(u["SystemCallFilter"], "@system-service") {
		t.Errorf("SystemCallFilter %q lacks @system-service", u["SystemCallFilter"])
	}
}

// Every file the unit names is one the package installs: the binary in
// bindir, the configuration at the path ExecStart gives.
func TestUnitMatchesThePackage(t *testing.T) {
	u, p := unit(t), packages(t)
	argv := strings.Fields(u["ExecStart"][0])
	if argv[0] != p.Bindir+"/attest" {
		t.Errorf("ExecStart runs %s; the package installs %s/attest", argv[0], p.Bindir)
	}
	i := slices.Index(argv, "--config")
	if i < 0 || i+1 >= len(argv) {
		t.Fatalf("ExecStart %q names no --config", argv)
	}
	dsts := map[string]bool{}
	for _, c := range p.Contents {
		dsts[c.Dst] = true
		switch c.Dst {
		case argv[i+1]:
			if c.Type != "config|noreplace" || c.FileInfo.Mode != 0o640 || c.FileInfo.Group != "attest" {
				t.Errorf("the configuration is %q mode %o group %q: want config|noreplace, 0640, group attest (it may hold passwords)",
					c.Type, c.FileInfo.Mode, c.FileInfo.Group)
			}
		}
		if c.Src != "" {
			if _, err := os.Stat(filepath.Join("..", c.Src)); err != nil {
				t.Errorf("the package installs %s, which is missing: %v", c.Src, err)
			}
		}
	}
	for _, want := range []string{argv[i+1], "/usr/lib/systemd/system/attest.service", "/usr/lib/sysusers.d/attest.conf"} {
		if !dsts[want] {
			t.Errorf("the package does not install %s", want)
		}
	}
	if !slices.Equal(p.Formats, []string{"deb", "rpm"}) {
		t.Errorf("formats %q, want deb and rpm", p.Formats)
	}
	for _, when := range []string{"preinstall", "postinstall", "preremove", "postremove"} {
		path := filepath.Join("..", p.Scripts[when])
		st, err := os.Stat(path)
		if err != nil || st.Mode()&0o111 == 0 {
			t.Errorf("%s script %s: %v (mode %v)", when, p.Scripts[when], err, st)
			continue
		}
		if out, err := exec2("sh", "-n", path); err != nil {
			t.Errorf("%s script does not parse: %v\n%s", when, err, out)
		}
	}
}

// The default configuration loads and validates as the service runs it,
// keeps its data where the unit's StateDirectory is, and listens on the
// loopback interface only until the operator says otherwise.
func TestDefaultConfiguration(t *testing.T) {
	cfg, err := config.Load("config.yaml", nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	if state := unit(t)["StateDirectory"][0]; cfg.DataDir != "/var/lib/"+state {
		t.Errorf("data_dir %s, but the unit's state directory is /var/lib/%s", cfg.DataDir, state)
	}
	for name, addr := range map[string]string{"ssh": cfg.SSH.Listen, "http": cfg.HTTP.Listen, "metrics": cfg.HTTP.MetricsListen} {
		if !strings.HasPrefix(addr, "127.0.0.1:") {
			t.Errorf("%s listens on %s by default, want the loopback interface", name, addr)
		}
	}
}

// need finds a tool on PATH; without it the test skips, except under
// CI=true, where it fails.
func need(t *testing.T, tool string) {
	t.Helper()
	if _, err := exec.LookPath(tool); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is not installed (the systemd package has it; ./test.sh installs it)", tool)
		}
		t.Skipf("%s is not installed (apt-get install systemd)", tool)
	}
}

func exec2(name string, args ...string) (string, error) {
	out, err := exec.Command(name, args...).CombinedOutput()
	return string(out), err
}

// systemd-analyze verify finds nothing to say about the unit: no unknown
// directive, no bad value, an executable ExecStart. It runs in a root of
// its own holding the system's units (for the targets the unit names),
// the unit where the package puts it, and an executable at the binary's
// path: verify checks that ExecStart names one, not what it does.
func TestUnitVerifies(t *testing.T) {
	need(t, "systemd-analyze")
	root := t.TempDir()
	units := filepath.Join(root, "usr/lib/systemd/system")
	var system string
	for _, dir := range []string{"/usr/lib/systemd/system", "/lib/systemd/system"} {
		if _, err := os.Stat(filepath.Join(dir, "multi-user.target")); err == nil {
			system = dir
			break
		}
	}
	if system == "" {
		t.Fatal("systemd-analyze is installed but the system's units are not")
	}
	if err := os.CopyFS(units, os.DirFS(system)); err != nil {
		t.Fatal(err)
	}
	copyFile(t, "attest.service", filepath.Join(units, "attest.service"), 0o644)
	bin := filepath.Join(root, packages(t).Bindir, "attest")
	if err := os.MkdirAll(filepath.Dir(bin), 0o755); err != nil {
		t.Fatal(err)
	}
	copyFile(t, "/bin/true", bin, 0o755)

	out, err := exec2("systemd-analyze", "verify", "--man=no", "--root="+root, "attest.service")
	if err != nil || strings.TrimSpace(out) != "" {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}
}

// systemd's own rating of the sandbox: at most 2.0 of 10 ("OK"; 1.4 when
// this was written).
func TestUnitExposure(t *testing.T) {
	need(t, "systemd-analyze")
	out, err := exec2("systemd-analyze", "security", "--offline=true", "--threshold=20", "attest.service")
	if err != nil {
		t.Fatalf("systemd-analyze security: %v\n%s", err, out)
	}
	if !strings.Contains(out, "Overall exposure level for attest.service") {
		t.Fatalf("no rating in:\n%s", out)
	}
}

func copyFile(t *testing.T, from, to string, mode os.FileMode) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, mode); err != nil {
		t.Fatal(err)
	}
}
