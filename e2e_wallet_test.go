package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Wallet sign-in end to end: the challenge comes over the OpenSSH client,
// the signature from real wallet libraries (ethers, @polkadot/keyring)
// through testdata/wallets/wallets.mjs, and the answer goes back over ssh.

// walletsDir holds the signing script and its npm packages.
var walletsDir = filepath.Join("testdata", "wallets")

func needWallets(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("node"); err != nil {
		t.Fatalf("node is needed to sign wallet challenges (./test.sh installs it): %v", err)
	}
	if _, err := os.Stat(filepath.Join(walletsDir, "node_modules", "ethers")); err != nil {
		t.Fatalf("the wallet libraries are not installed: run `npm ci` in %s (./test.sh does): %v", walletsDir, err)
	}
}

// wallet runs the signing script: `address KIND SEED` or `sign KIND SEED
// [bytes]` with the message on standard input.
func wallet(t *testing.T, stdin string, args ...string) string {
	t.Helper()
	cmd := exec.Command("node", append([]string{"wallets.mjs"}, args...)...)
	cmd.Dir = walletsDir
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.Output()
	if err != nil {
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		t.Fatalf("node wallets.mjs %s: %v\n%s", strings.Join(args, " "), err, stderr)
	}
	return strings.TrimSpace(string(out))
}

const walletSeed = "0x4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318"

// A script signs in with an Ethereum wallet: challenge, ethers' signature,
// whoami; then the same signature again is refused.
func TestE2EWalletSignInByCommand(t *testing.T) {
	needWallets(t)
	e := startE2E(t)
	key := e.key("desk")
	addr := wallet(t, "", "address", "ethereum", walletSeed)

	out, err := e.command(key, "signin", strings.ToLower(addr), "--json")
	if err != nil {
		t.Fatalf("signin: %v\n%s", err, out)
	}
	var ch struct {
		Message string `json:"message"`
		Expires string `json:"expires"`
		Address string `json:"address"`
	}
	if err := json.Unmarshal([]byte(out), &ch); err != nil {
		t.Fatalf("signin --json: %v\n%s", err, out)
	}
	if ch.Address != addr || !strings.Contains(ch.Message, "wants you to sign in with your Ethereum account:\n"+addr+"\n") || ch.Expires == "" {
		t.Fatalf("challenge %+v", ch)
	}
	sig := wallet(t, ch.Message, "sign", "ethereum", walletSeed)

	// Another device cannot use this device's challenge.
	if out, err := e.command(e.key("other"), "signature", sig); err == nil || !strings.Contains(out, "no wallet challenge") {
		t.Fatalf("signature from another device: %v\n%s", err, out)
	}
	out, err = e.command(key, "signature", sig)
	if err != nil || !strings.Contains(out, "Signed up") {
		t.Fatalf("signature: %v\n%s", err, out)
	}
	out, err = e.command(key, "whoami")
	if err != nil || !strings.Contains(out, addr) {
		t.Fatalf("whoami: %v\n%s", err, out)
	}
	if out, err := e.command(key, "signature", sig); err == nil || !strings.Contains(out, "already been signed") {
		t.Fatalf("a replayed signature: %v\n%s", err, out)
	}
}

// A person signs in on the screens with an sr25519 (polkadot.js) wallet:
// the message is copied off the terminal as tmux shows it, signed as the
// extension's signRaw signs (<Bytes>…</Bytes>), and typed back.
func TestE2EWalletSignInOnTheScreens(t *testing.T) {
	needWallets(t)
	e := startE2E(t)
	key := e.key("laptop")
	addr := wallet(t, "", "address", "sr25519", walletSeed)

	e.window("w", key, "visitor")
	e.waitFor("w", "anonymous visitor", 10*time.Second)
	e.keys("w", "s")
	e.waitFor("w", "Email address", 5*time.Second)
	e.keys("w", addr)
	e.waitFor("w", "show the message to sign with this wallet", 5*time.Second)
	e.keys("w", "Enter")
	screen := e.waitFor("w", "Expiration Time: ", 5*time.Second)

	// What a person selects on the screen: from the first line of the
	// message to its last, less the screen's margin.
	var lines []string
	in := false
	for _, l := range strings.Split(screen, "\n") {
		l = strings.TrimRight(strings.TrimPrefix(l, "  "), " ")
		in = in || strings.Contains(l, "wants you to sign in with your Substrate account:")
		if in {
			lines = append(lines, l)
		}
		if in && strings.HasPrefix(l, "Expiration Time: ") {
			break
		}
	}
	msg := strings.Join(lines, "\n")
	if len(lines) != 10 || lines[1] != addr {
		t.Fatalf("the message on the screen:\n%s", screen)
	}
	sig := wallet(t, msg, "sign", "sr25519", walletSeed, "bytes")
	e.keys("w", sig, "Enter")
	e.waitFor("w", "your account is ready", 5*time.Second)
	out, err := e.command(key, "whoami")
	if err != nil || !strings.Contains(out, addr) {
		t.Fatalf("whoami: %v\n%s", err, out)
	}
}
