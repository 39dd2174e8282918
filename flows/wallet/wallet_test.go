package wallet

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"
)

// vectors are made by real wallet libraries (ethers and @polkadot/keyring)
// by testdata/wallets/wallets.mjs; see the README to regenerate them.
type vectors struct {
	Ethereum []struct {
		PrivateKey string `json:"private_key"`
		PublicKey  string `json:"public_key"`
		Address    string `json:"address"`
		Message    string `json:"message"`
		Signature  string `json:"signature"`
	} `json:"ethereum"`
	Substrate []struct {
		Type      string `json:"type"`
		PublicKey string `json:"public_key"`
		Address   string `json:"address"`
		Message   string `json:"message"`
		Wrapped   bool   `json:"wrapped"`
		Signature string `json:"signature"`
	} `json:"substrate"`
}

func loadVectors(t *testing.T) vectors {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("..", "..", "testdata", "wallets", "vectors.json"))
	if err != nil {
		t.Fatal(err)
	}
	var v vectors
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatal(err)
	}
	if len(v.Ethereum) < 9 || len(v.Substrate) < 36 {
		t.Fatalf("vectors too few: %d ethereum, %d substrate", len(v.Ethereum), len(v.Substrate))
	}
	return v
}

func unhex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.TrimPrefix(s, "0x"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestEthersVectors(t *testing.T) {
	v := loadVectors(t)
	for i, x := range v.Ethereum {
		addr := unhex(t, x.Address)
		pub, err := secp256k1.ParsePubKey(unhex(t, x.PublicKey))
		if err != nil {
			t.Fatal(err)
		}
		if got := AddressOf(pub); hex.EncodeToString(got) != hex.EncodeToString(addr) {
			t.Errorf("%d: address of key %x, ethers says %x", i, got, addr)
		}
		if err := VerifyEthereum([]byte(x.Message), x.Signature, addr); err != nil {
			t.Errorf("%d: ethers' signature refused: %v", i, err)
		}
		// v as 0 or 1 (some wallets and hardware signers) is the same signature.
		sig := unhex(t, x.Signature)
		sig[64] -= 27
		if err := VerifyEthereum([]byte(x.Message), hex.EncodeToString(sig), addr); err != nil {
			t.Errorf("%d: v in {0,1} refused: %v", i, err)
		}
		// Another message: recovery gives another address.
		if err := VerifyEthereum([]byte(x.Message+" "), x.Signature, addr); !errors.Is(err, ErrNotSigner) {
			t.Errorf("%d: signature over another message: %v", i, err)
		}
		// Another key: the next vector's address.
		other := unhex(t, v.Ethereum[(i+3)%len(v.Ethereum)].Address)
		if err := VerifyEthereum([]byte(x.Message), x.Signature, other); !errors.Is(err, ErrNotSigner) {
			t.Errorf("%d: signature checked against another address: %v", i, err)
		}
		// The same signature with s flipped to the upper half (and v
		// flipped, so it still recovers the key) must be refused.
		sig = unhex(t, x.Signature)
		n := secp256k1.Params().N
		s := new(big.Int).SetBytes(sig[32:64])
		s.Sub(n, s).FillBytes(sig[32:64])
		sig[64] ^= 1
		if err := VerifyEthereum([]byte(x.Message), hex.EncodeToString(sig), addr); !errors.Is(err, ErrBadEncoding) {
			t.Errorf("%d: high-s signature: %v", i, err)
		}
	}
}

func TestEthereumBadEncodings(t *testing.T) {
	v := loadVectors(t)
	x := v.Ethereum[0]
	addr := unhex(t, x.Address)
	for name, sig := range map[string]string{
		"empty":        "",
		"not hex":      "0xzz" + x.Signature[4:],
		"short":        x.Signature[:len(x.Signature)-2],
		"contract":     x.Signature + strings.Repeat("00", 32),
		"v 37":         x.Signature[:len(x.Signature)-2] + "25",
		"huge":         strings.Repeat("ab", 5000),
		"r zero":       "0x" + strings.Repeat("00", 32) + x.Signature[66:],
		"odd length":   x.Signature + "0",
		"with newline": x.Signature[:40] + "\n" + x.Signature[40:],
	} {
		err := VerifyEthereum([]byte(x.Message), sig, addr)
		if !errors.Is(err, ErrBadEncoding) {
			t.Errorf("%s: got %v, want a bad encoding", name, err)
		}
	}
	if err := VerifyEthereum([]byte(x.Message), "  "+strings.ToUpper(x.Signature[2:])+"\n", addr); err != nil {
		t.Errorf("upper-case hex without 0x, with spaces around: %v", err)
	}
	err := VerifyEthereum([]byte(x.Message), x.Signature+strings.Repeat("00", 32), addr)
	if err == nil || !strings.Contains(err.Error(), "EIP-1271") {
		t.Errorf("a contract wallet's signature should be named as such: %v", err)
	}
}

func TestPolkadotVectors(t *testing.T) {
	v := loadVectors(t)
	seen := map[string]int{}
	for i, x := range v.Substrate {
		pub := unhex(t, x.PublicKey)
		scheme, err := VerifySubstrate([]byte(x.Message), x.Signature, pub)
		if err != nil {
			t.Errorf("%d (%s, wrapped %v): @polkadot/keyring's signature refused: %v", i, x.Type, x.Wrapped, err)
			continue
		}
		if string(scheme) != x.Type {
			t.Errorf("%d: checked as %s, made with %s", i, scheme, x.Type)
		}
		seen[x.Type]++
		if _, err := VerifySubstrate([]byte(x.Message+"."), x.Signature, pub); !errors.Is(err, ErrNotSigner) {
			t.Errorf("%d: over another message: %v", i, err)
		}
		other := unhex(t, v.Substrate[(i+13)%len(v.Substrate)].PublicKey)
		if _, err := VerifySubstrate([]byte(x.Message), x.Signature, other); !errors.Is(err, ErrNotSigner) {
			t.Errorf("%d: by another key: %v", i, err)
		}
		// A MultiSignature names the scheme in its first byte; the wrong
		// one is refused.
		prefix, wrong := "00", "01"
		if x.Type == "sr25519" {
			prefix, wrong = wrong, prefix
		}
		if _, err := VerifySubstrate([]byte(x.Message), "0x"+prefix+x.Signature[2:], pub); err != nil {
			t.Errorf("%d: as a MultiSignature: %v", i, err)
		}
		if _, err := VerifySubstrate([]byte(x.Message), "0x"+wrong+x.Signature[2:], pub); !errors.Is(err, ErrNotSigner) {
			t.Errorf("%d: as a MultiSignature of the other scheme: %v", i, err)
		}
	}
	if seen["ed25519"] == 0 || seen["sr25519"] == 0 {
		t.Fatalf("schemes checked: %v", seen)
	}
}

func TestSubstrateBadEncodings(t *testing.T) {
	v := loadVectors(t)
	x := v.Substrate[0]
	pub := unhex(t, x.PublicKey)
	for name, sig := range map[string]string{
		"empty":   "",
		"short":   x.Signature[:len(x.Signature)-2],
		"long":    x.Signature + "00",
		"not hex": "0xgg" + x.Signature[4:],
		"huge":    strings.Repeat("0", MaxSignatureLen+1),
	} {
		if _, err := VerifySubstrate([]byte(x.Message), sig, pub); !errors.Is(err, ErrBadEncoding) {
			t.Errorf("%s: got %v, want a bad encoding", name, err)
		}
	}
}
