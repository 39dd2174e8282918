package address

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mr-tron/base58"
)

// The examples published with EIP-55 (all caps, all lower, and mixed).
var eip55Examples = []string{
	"0x52908400098527886E0F7030069857D2E4169EE7",
	"0x8617E340B3D01FA5F11F306F4090FD50E238070D",
	"0xde709f2102306220921060314715629080e2fb77",
	"0x27b1fdb04752bbc536007a920d24acb045561c26",
	"0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed",
	"0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359",
	"0xdbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB",
	"0xD1220A0cf47c7B9Be7A2E6BA89F429762e7b9aDb",
}

func TestEIP55Examples(t *testing.T) {
	for _, want := range eip55Examples {
		raw, err := hex.DecodeString(want[2:])
		if err != nil {
			t.Fatal(err)
		}
		if got := EIP55(raw); got != want {
			t.Errorf("EIP55(%x) = %s, want %s", raw, got, want)
		}
		// Accepted in any case, shown with its checksum.
		for _, in := range []string{want, strings.ToLower(want), "0x" + strings.ToUpper(want[2:]), " " + want + "\n"} {
			a, err := Parse(in, "")
			if err != nil {
				t.Errorf("Parse(%q): %v", in, err)
				continue
			}
			if a.Kind != Ethereum || a.Value != want || a.Display() != want {
				t.Errorf("Parse(%q) = %+v, want %s", in, a, want)
			}
		}
	}
}

func TestEthereumWrongChecksum(t *testing.T) {
	// One letter's case flipped in each mixed-case example.
	for _, ok := range eip55Examples[4:] {
		b := []byte(ok)
		for i := 2; i < len(b); i++ {
			if c := b[i]; c >= 'a' && c <= 'f' {
				b[i] = c - 'a' + 'A'
				break
			}
		}
		_, err := Parse(string(b), "")
		if err == nil || err.Error() != "the checksum does not match; check the address" || !errors.Is(err, ErrInvalid) {
			t.Errorf("Parse(%s): %v", b, err)
		}
	}
}

func TestEthereumMalformed(t *testing.T) {
	for in, want := range map[string]string{
		"0x52908400098527886E0F7030069857D2E4169EE":   "40 hex digits",
		"0x52908400098527886E0F7030069857D2E4169EE7a": "40 hex digits",
		"0x52908400098527886E0F7030069857D2E4169EEg":  "hex digits",
		"0x":         "40 hex digits",
		"0x\x1b[31m": "40 hex digits",
	} {
		_, err := ParseWallet(in)
		if err == nil || !strings.Contains(err.Error(), want) || !errors.Is(err, ErrInvalid) {
			t.Errorf("ParseWallet(%q): %v, want it to say %q", in, err, want)
		}
		if err != nil && strings.ContainsRune(err.Error(), 0x1b) {
			t.Errorf("ParseWallet(%q): error carries an escape: %q", in, err)
		}
	}
}

// SS58 examples from the Substrate and Polkadot documentation: the dev
// account Alice's sr25519 key on the generic network (42), Polkadot (0)
// and Kusama (2).
func TestSS58DocExamples(t *testing.T) {
	alice := "d43593c715fdd31c61141abd04a99fd6822c8558854ccde39a5684e7a56da27d"
	for in, prefix := range map[string]uint16{
		"5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY": 42,
		"15oF4uVJwmo4TdGW7VfQxNLavjCXviqxT9S1MgbjMNHr6Sp5": 0,
		"HNZata7iMYWmk5RvZRTiAsSDhV8366zq2YGb3tLH5Upf74F":  2,
	} {
		a, err := Parse(in, "")
		if err != nil {
			t.Fatalf("Parse(%s): %v", in, err)
		}
		if a.Kind != SS58 || a.Value != in || a.Display() != in {
			t.Errorf("Parse(%s) = %+v", in, a)
		}
		p, key, err := SS58Key(a)
		if err != nil || p != prefix || hex.EncodeToString(key) != alice {
			t.Errorf("SS58Key(%s) = %d, %x, %v", in, p, key, err)
		}
		if enc, err := EncodeSS58(prefix, key); err != nil || enc != in {
			t.Errorf("EncodeSS58(%d, alice) = %s, %v", prefix, enc, err)
		}
	}
}

// TestSS58Vectors checks addresses @polkadot/util-crypto made, with one-
// and two-byte network prefixes.
func TestSS58Vectors(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("..", "..", "testdata", "wallets", "vectors.json"))
	if err != nil {
		t.Fatal(err)
	}
	var v struct {
		SS58 []struct {
			PublicKey string `json:"public_key"`
			Prefix    uint16 `json:"prefix"`
			Address   string `json:"address"`
		} `json:"ss58"`
	}
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatal(err)
	}
	if len(v.SS58) < 14 {
		t.Fatalf("only %d SS58 vectors", len(v.SS58))
	}
	for _, x := range v.SS58 {
		a, err := ParseSS58(x.Address)
		if err != nil {
			t.Errorf("ParseSS58(%s) (prefix %d): %v", x.Address, x.Prefix, err)
			continue
		}
		p, key, err := SS58Key(a)
		if err != nil || p != x.Prefix || "0x"+hex.EncodeToString(key) != x.PublicKey {
			t.Errorf("SS58Key(%s) = %d, %x, %v; want %d, %s", x.Address, p, key, err, x.Prefix, x.PublicKey)
		}
		if enc, err := EncodeSS58(x.Prefix, key); err != nil || enc != x.Address {
			t.Errorf("EncodeSS58(%d) = %s, %v; want %s", x.Prefix, enc, err, x.Address)
		}
	}
}

func TestSS58Malformed(t *testing.T) {
	good := "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY"
	for in, want := range map[string]string{
		good[:len(good)-1] + "Z":           "checksum",
		good[:len(good)-1] + "0":           "base58",
		"5GrwvaEF5zXb26Fz9rcQpDWS57CtERHp": "", // too short to look like a wallet: read as an email without @
		good + "abc":                       "bytes long",
		base58.Encode(append([]byte{0x80}, make([]byte, 35)...)): "reserved network prefix",
		"1" + good[1:] + "1111":                                  "bytes long",
	} {
		_, err := Parse(in, "")
		if err == nil || !errors.Is(err, ErrInvalid) || (want != "" && !strings.Contains(err.Error(), want)) {
			t.Errorf("Parse(%q): %v, want it to say %q", in, err, want)
		}
	}
}

func TestLooksLikeWallet(t *testing.T) {
	for in, want := range map[string]bool{
		"0x52908400098527886E0F7030069857D2E4169EE7": true,
		"0Xabc": true,
		"5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY": true,
		"ada@example.com": false,
		"+44 7700 900123": false,
		"07700900123":     false,
		"averyveryverylongemailaddresswithnoatsignatall": true, // 46 letters: the SS58 parser says what is wrong
	} {
		if got := LooksLikeWallet(in); got != want {
			t.Errorf("LooksLikeWallet(%q) = %v", in, got)
		}
	}
}
