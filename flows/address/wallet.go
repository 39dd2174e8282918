package address

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/mr-tron/base58"
	"golang.org/x/crypto/blake2b"
	"golang.org/x/crypto/sha3"
)

// Wallet addresses (seed 001): an Ethereum address, the last 20 bytes of
// the Keccak-256 of a secp256k1 public key, and an SS58 address, a
// Substrate network prefix and an ed25519 or sr25519 public key with a
// checksum. They are proven by signing a challenge with the key, never by
// a message sent to them.

// LooksLikeWallet reports whether the sign-in field's input is meant as a
// wallet address: nothing but ASCII letters and digits, and either "0x" in
// front or 40 to 64 of them (an SS58 address is 47 to 49 base58
// characters; no email address or phone number looks like that).
func LooksLikeWallet(s string) bool {
	s = strings.TrimSpace(s)
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
			return false
		}
	}
	hex := len(s) >= 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')
	return hex || len(s) >= 40 && len(s) <= 64
}

// ParseWallet reads an Ethereum address ("0x" and 40 hex digits) or an SS58
// address.
func ParseWallet(s string) (Address, error) {
	t := strings.TrimSpace(s)
	if len(t) >= 2 && t[0] == '0' && (t[1] == 'x' || t[1] == 'X') {
		return ParseEthereum(s)
	}
	return ParseSS58(s)
}

// ParseEthereum reads an Ethereum address in any case. An address in all
// lower or all upper case carries no checksum; a mixed-case one must match
// its EIP-55 checksum, because a mixed case that does not is a typo (or a
// tampered address) that would otherwise name an account nobody holds.
// The value is the EIP-55 form.
func ParseEthereum(s string) (Address, error) {
	t := strings.TrimSpace(s)
	bad := func(msg string) (Address, error) { return Address{}, &Error{Kind: Ethereum, msg: msg} }
	if len(t) < 2 || t[0] != '0' || (t[1] != 'x' && t[1] != 'X') {
		return bad("an Ethereum address starts with 0x")
	}
	digits := t[2:]
	if len(digits) != 40 {
		return bad(fmt.Sprintf("an Ethereum address has 40 hex digits after 0x; %s has %d", quote(t), len(digits)))
	}
	raw, err := hex.DecodeString(digits)
	if err != nil {
		return bad(fmt.Sprintf("an Ethereum address is 0x and hex digits (0-9, a-f); %s is not", quote(t)))
	}
	sum := EIP55(raw)
	if strings.ToLower(digits) != digits && strings.ToUpper(digits) != digits && sum[2:] != digits {
		return bad("the checksum does not match; check the address")
	}
	return Address{Kind: Ethereum, Value: sum}, nil
}

// EIP55 is the checksummed form of a 20-byte Ethereum address: each hex
// letter is upper case when the matching nibble of the Keccak-256 of the
// lower-case hex is 8 or more.
func EIP55(addr []byte) string {
	lower := hex.EncodeToString(addr)
	h := sha3.NewLegacyKeccak256()
	h.Write([]byte(lower))
	sum := h.Sum(nil)
	out := []byte(lower)
	for i, c := range out {
		nibble := sum[i/2] >> 4
		if i%2 == 1 {
			nibble = sum[i/2] & 0x0f
		}
		if c >= 'a' && nibble >= 8 {
			out[i] = c - 'a' + 'A'
		}
	}
	return "0x" + string(out)
}

// EthereumAddress returns the 20 bytes of an Ethereum address.
func EthereumAddress(a Address) ([]byte, error) {
	if a.Kind != Ethereum || len(a.Value) != 42 {
		return nil, fmt.Errorf("address: %s is not an Ethereum address", a.Masked())
	}
	return hex.DecodeString(a.Value[2:])
}

// ss58Prefix is what the SS58 checksum hashes before the payload.
var ss58Prefix = []byte("SS58PRE")

// ParseSS58 reads an SS58 address of a 32-byte public key (ed25519 or
// sr25519) under any network prefix: base58 of the prefix (one byte for
// networks 0 to 63, two for 64 to 16383), the key and the first two bytes
// of BLAKE2b-512("SS58PRE" ‖ prefix ‖ key). The value is the address as
// typed: the same key under two networks is two addresses.
func ParseSS58(s string) (Address, error) {
	t := strings.TrimSpace(s)
	bad := func(msg string) (Address, error) { return Address{}, &Error{Kind: SS58, msg: msg} }
	if t == "" {
		return bad("enter an SS58 address")
	}
	if len(t) > 64 {
		return bad(fmt.Sprintf("%s is too long for an SS58 address", quote(t)))
	}
	if i := strings.IndexFunc(t, func(r rune) bool { return !strings.ContainsRune(base58Alphabet, r) }); i >= 0 {
		return bad(fmt.Sprintf("an SS58 address is base58, which has no %s (no 0, O, I or l); check the address", quote(string([]rune(t[i:])[0]))))
	}
	raw, err := base58.Decode(t)
	if err != nil {
		return bad("that is not valid base58; check the address")
	}
	if _, _, err := splitSS58(raw); err != nil {
		return bad(err.Error())
	}
	return Address{Kind: SS58, Value: t}, nil
}

const base58Alphabet = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"

// splitSS58 checks a decoded SS58 address and returns its network prefix
// and public key.
func splitSS58(raw []byte) (uint16, []byte, error) {
	if len(raw) == 0 {
		return 0, nil, fmt.Errorf("that is not an SS58 address")
	}
	var prefix uint16
	n := 1
	switch {
	case raw[0] < 64:
		prefix = uint16(raw[0])
	case raw[0] < 128:
		if len(raw) < 2 {
			return 0, nil, fmt.Errorf("that SS58 address is too short")
		}
		// Two bytes: the low six bits of the first and the top two of the
		// second make the low byte, the second's low six bits the high one.
		lo := (raw[0]&0x3f)<<2 | raw[1]>>6
		hi := raw[1] & 0x3f
		prefix, n = uint16(lo)|uint16(hi)<<8, 2
	default:
		return 0, nil, fmt.Errorf("that SS58 address has a reserved network prefix; check the address")
	}
	if len(raw) != n+32+2 {
		return 0, nil, fmt.Errorf("that SS58 address is %d bytes long; an address of an ed25519 or sr25519 key has %d", len(raw), n+32+2)
	}
	body, check := raw[:n+32], raw[n+32:]
	h, err := blake2b.New512(nil)
	if err != nil {
		return 0, nil, fmt.Errorf("address: blake2b: %w", err)
	}
	h.Write(ss58Prefix)
	h.Write(body)
	if !bytes.Equal(h.Sum(nil)[:2], check) {
		return 0, nil, fmt.Errorf("the SS58 checksum does not match; check the address")
	}
	return prefix, append([]byte(nil), raw[n:n+32]...), nil
}

// SS58Key returns the network prefix and the 32-byte public key of an SS58
// address.
func SS58Key(a Address) (uint16, []byte, error) {
	if a.Kind != SS58 {
		return 0, nil, fmt.Errorf("address: %s is not an SS58 address", a.Masked())
	}
	raw, err := base58.Decode(a.Value)
	if err != nil {
		return 0, nil, fmt.Errorf("address: decode SS58: %w", err)
	}
	return splitSS58(raw)
}

// EncodeSS58 is the SS58 address of a 32-byte public key on a network.
func EncodeSS58(prefix uint16, key []byte) (string, error) {
	if len(key) != 32 {
		return "", fmt.Errorf("address: an SS58 key has 32 bytes, not %d", len(key))
	}
	var body []byte
	switch {
	case prefix < 64:
		body = []byte{byte(prefix)}
	case prefix < 16384:
		body = []byte{byte(prefix&0xfc)>>2 | 0x40, byte(prefix>>8) | byte(prefix&0x03)<<6}
	default:
		return "", fmt.Errorf("address: SS58 network prefix %d is above 16383", prefix)
	}
	body = append(body, key...)
	h, err := blake2b.New512(nil)
	if err != nil {
		return "", fmt.Errorf("address: blake2b: %w", err)
	}
	h.Write(ss58Prefix)
	h.Write(body)
	return base58.Encode(append(body, h.Sum(nil)[:2]...)), nil
}
