package commands

import (
	"encoding/hex"
	"strings"
	"testing"
	"time"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"
	"github.com/decred/dcrd/dcrec/secp256k1/v4/ecdsa"

	"github.com/attest-dev/attest/flows/address"
	"github.com/attest-dev/attest/flows/wallet"
)

// testWallet is an Ethereum key; its signatures are personal_sign's
// (the end-to-end test signs with ethers itself).
type testWallet struct{ k *secp256k1.PrivateKey }

func newTestWallet(seed byte) testWallet {
	var b [32]byte
	b[0], b[31] = 0x11, seed
	return testWallet{secp256k1.PrivKeyFromBytes(b[:])}
}

func (w testWallet) address() string { return address.EIP55(wallet.AddressOf(w.k.PubKey())) }

func (w testWallet) sign(msg string) string {
	c := ecdsa.SignCompact(w.k, wallet.PersonalHash([]byte(msg)), false)
	return "0x" + hex.EncodeToString(append(c[1:], c[0]))
}

func TestWalletCommands(t *testing.T) {
	w := newWorld(t)
	dev := device("ada")
	key := newTestWallet(1)

	// Human output: the message with its lines as they are, and how.
	r := w.ok(dev, "signin", strings.ToLower(key.address()))
	mustContain(t, "signin", r.stdout, "Sign this message with the Ethereum wallet "+key.address(),
		"\n\n127.0.0.1:23235 wants you to sign in with your Ethereum account:\n"+key.address()+"\n\nSign in to attest.\n\nURI: ",
		"\nChain ID: 1\nNonce: ", "personal_sign", "signature 0x")

	// A script takes the message from --json.
	ch := w.ok(dev, "signin", key.address(), "--json").object(t)
	hasFields(t, "signin --json", ch, "message", "expires", "address", "kind", "purpose")
	if ch["kind"] != "ethereum" || ch["purpose"] != "signin" || ch["address"] != key.address() || ch["expires"] != "2026-11-21T09:05:00Z" {
		t.Fatalf("challenge %v", ch)
	}
	msg := ch["message"].(string)

	// A wrong signature: exit 1, a clear message, not signed in.
	r = w.run(dev, "signature", newTestWallet(2).sign(msg))
	if r.status != 1 || !strings.Contains(r.stderr, "not by this address") {
		t.Fatalf("wrong signature: %d %q", r.status, r.stderr)
	}
	out := w.ok(dev, "signature", key.sign(msg), "--json").object(t)
	if out["signed_up"] != true || out["purpose"] != "signin" {
		t.Fatalf("signature: %v", out)
	}
	mustContain(t, "whoami", w.ok(dev, "whoami").stdout, key.address())
	mustContain(t, "addresses", w.ok(dev, "addresses").stdout, "ethereum", key.address(), "confirmed")

	// A second wallet, added with the sign-up's step-up.
	other := newTestWallet(3)
	add := w.ok(dev, "address", "add", other.address(), "--json").object(t)
	if add["purpose"] != "confirm" {
		t.Fatalf("address add: %v", add)
	}
	r = w.ok(dev, "signature", other.sign(add["message"].(string)))
	mustContain(t, "signature", r.stdout, "Signature accepted: "+other.address()+" is confirmed")

	// Step-up with a wallet once the first hour is over.
	w.clock.Advance(61 * time.Minute)
	r = w.run(dev, "address", "add", newTestWallet(4).address())
	if r.status != 1 || !strings.Contains(r.stderr, "step up") {
		t.Fatalf("add without step-up: %d %q", r.status, r.stderr)
	}
	r = w.run(dev, "stepup", other.address())
	if r.status != 2 {
		t.Fatalf("stepup ADDRESS without --wallet: %d %q", r.status, r.stderr)
	}
	su := w.ok(dev, "stepup", "--wallet", other.address(), "--json").object(t)
	if su["purpose"] != "stepup" || !strings.Contains(su["message"].(string), "Approve protected changes") {
		t.Fatalf("stepup --wallet: %v", su)
	}
	r = w.ok(dev, "signature", other.sign(su["message"].(string)))
	mustContain(t, "signature", r.stdout, "Stepped up")
	// Replayed: refused.
	r = w.run(dev, "signature", other.sign(su["message"].(string)))
	if r.status != 1 || !strings.Contains(r.stderr, "already been signed") {
		t.Fatalf("replay: %d %q", r.status, r.stderr)
	}
}

func TestWalletCommandRefusals(t *testing.T) {
	w := newWorld(t)
	dev := device("ada")
	for in, want := range map[string]string{
		"0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAeD":       "the checksum does not match; check the address",
		"5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQZ": "checksum",
	} {
		r := w.run(dev, "signin", in)
		if r.status != 1 || !strings.Contains(r.stderr, want) {
			t.Errorf("signin %s: %d %q", in, r.status, r.stderr)
		}
	}
	r := w.run(dev, "signin", "--link", newTestWallet(1).address())
	if r.status != 1 || !strings.Contains(r.stderr, "wallet address") {
		t.Errorf("signin --link WALLET: %d %q", r.status, r.stderr)
	}
	r = w.run(dev, "signature", "0x00")
	if r.status != 1 || !strings.Contains(r.stderr, "no wallet challenge") {
		t.Errorf("signature without challenge: %d %q", r.status, r.stderr)
	}
}
