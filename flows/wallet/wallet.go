// Package wallet checks the signatures wallets make over a text message:
// Ethereum's personal_sign (EIP-191, secp256k1, checked by recovering the
// signer's address) and Substrate's ed25519 and sr25519 signatures (as the
// polkadot.js extension's signRaw makes them, over the message wrapped in
// <Bytes>…</Bytes>, or over the bare message). It knows nothing of
// challenges or accounts: flows decides what a right signature does.
package wallet

import (
	"bytes"
	"crypto/ed25519"
	"encoding/hex"
	"errors"
	"strconv"
	"strings"

	schnorrkel "github.com/ChainSafe/go-schnorrkel"
	"github.com/decred/dcrd/dcrec/secp256k1/v4"
	"github.com/decred/dcrd/dcrec/secp256k1/v4/ecdsa"
	"golang.org/x/crypto/sha3"
)

// MaxSignatureLen bounds the text of a signature before it is decoded: a
// 65-byte signature in hex with 0x is 132 characters.
const MaxSignatureLen = 200

// ErrBadEncoding is matched (errors.Is) by every error that means the
// signature could not be read at all.
var ErrBadEncoding = errors.New("wallet: signature encoding")

// ErrNotSigner is matched by every error that means the signature is
// well-formed but is not the address's key's signature over the message.
var ErrNotSigner = errors.New("wallet: not the signer")

// Error says why a signature was refused, in words for the person who
// pasted it.
type Error struct {
	msg  string
	kind error // ErrBadEncoding or ErrNotSigner
}

func (e *Error) Error() string        { return e.msg }
func (e *Error) Is(target error) bool { return target == e.kind }

func badEncoding(msg string) error { return &Error{msg: msg, kind: ErrBadEncoding} }

// decodeHex reads a signature as pasted: hex, with or without 0x, with
// surrounding space.
func decodeHex(sig string) ([]byte, error) {
	sig = strings.TrimSpace(sig)
	if len(sig) > MaxSignatureLen {
		return nil, badEncoding("That is too long for a signature: paste the signature alone, in hex (0x…).")
	}
	sig = strings.TrimPrefix(strings.TrimPrefix(sig, "0x"), "0X")
	if sig == "" {
		return nil, badEncoding("Paste the signature, in hex (0x…).")
	}
	raw, err := hex.DecodeString(sig)
	if err != nil {
		return nil, badEncoding("A signature is hex digits (0x…); that is not: copy it again, whole.")
	}
	return raw, nil
}

// PersonalHash is the EIP-191 hash personal_sign signs: Keccak-256 of
// "\x19Ethereum Signed Message:\n", the message's length in bytes in
// decimal, and the message.
func PersonalHash(msg []byte) []byte {
	h := sha3.NewLegacyKeccak256()
	h.Write([]byte("\x19Ethereum Signed Message:\n" + strconv.Itoa(len(msg))))
	h.Write(msg)
	return h.Sum(nil)
}

// AddressOf is the 20-byte Ethereum address of a public key: the last 20
// bytes of Keccak-256 of its uncompressed X and Y.
func AddressOf(pub *secp256k1.PublicKey) []byte {
	h := sha3.NewLegacyKeccak256()
	h.Write(pub.SerializeUncompressed()[1:])
	return h.Sum(nil)[12:]
}

// VerifyEthereum checks a personal_sign signature (65 bytes r ‖ s ‖ v, v
// 27 or 28, or 0 or 1) over msg by the 20-byte address addr. Only low-s
// signatures are accepted, so one signature has one encoding. A contract
// wallet (EIP-1271) cannot be checked without the chain, and is refused.
func VerifyEthereum(msg []byte, sig string, addr []byte) error {
	raw, err := decodeHex(sig)
	if err != nil {
		return err
	}
	switch {
	case len(raw) > 65:
		return badEncoding("That signature is longer than a key's: it looks like a contract wallet's (EIP-1271 or ERC-6492), " +
			"which this server cannot check. Sign in with an account's own key (an externally owned account).")
	case len(raw) != 65:
		return badEncoding("An Ethereum signature is 65 bytes (130 hex digits after 0x); that one is " + strconv.Itoa(len(raw)) + ".")
	}
	v := raw[64]
	if v >= 27 {
		v -= 27
	}
	if v > 1 {
		return badEncoding("That signature's last byte (v) is " + strconv.Itoa(int(raw[64])) + "; personal_sign gives 27 or 28 (or 0 or 1).")
	}
	var s secp256k1.ModNScalar
	if overflow := s.SetByteSlice(raw[32:64]); overflow || s.IsOverHalfOrder() {
		return badEncoding("That signature's s is in the upper half of the curve order; wallets give the lower one (EIP-2). Sign again with a wallet.")
	}
	compact := make([]byte, 65)
	compact[0] = 27 + v // decred's recovery code for an uncompressed key
	copy(compact[1:], raw[:64])
	pub, _, err := ecdsa.RecoverCompact(compact, PersonalHash(msg))
	if err != nil {
		return badEncoding("That is not a valid secp256k1 signature: copy it again, whole.")
	}
	if !bytes.Equal(AddressOf(pub), addr) {
		return &Error{kind: ErrNotSigner, msg: "That signature is not by this address over this challenge's message: " +
			"sign the message shown, whole, with the account it names. (A contract wallet, EIP-1271, cannot sign in here.)"}
	}
	return nil
}

// Scheme is the signature scheme a Substrate signature was checked with.
type Scheme string

// The Substrate schemes.
const (
	Ed25519 Scheme = "ed25519"
	Sr25519 Scheme = "sr25519"
)

// sr25519 signatures in Substrate are made in this signing context.
var substrateContext = []byte("substrate")

// VerifySubstrate checks an ed25519 or sr25519 signature over msg by the
// 32-byte public key pub. It accepts the signature over the message
// wrapped in <Bytes>…</Bytes> (what polkadot.js's signRaw signs) or over
// the bare message, and a 65-byte MultiSignature whose first byte names
// the scheme (0 ed25519, 1 sr25519). An SS58 address does not say which
// scheme its key is for, so both are tried.
func VerifySubstrate(msg []byte, sig string, pub []byte) (Scheme, error) {
	raw, err := decodeHex(sig)
	if err != nil {
		return "", err
	}
	if len(pub) != 32 {
		return "", errors.New("wallet: a Substrate public key has 32 bytes")
	}
	schemes := []Scheme{Sr25519, Ed25519}
	switch {
	case len(raw) == 65 && raw[0] == 0:
		schemes, raw = []Scheme{Ed25519}, raw[1:]
	case len(raw) == 65 && raw[0] == 1:
		schemes, raw = []Scheme{Sr25519}, raw[1:]
	case len(raw) != 64:
		return "", badEncoding("An ed25519 or sr25519 signature is 64 bytes (128 hex digits after 0x); that one is " + strconv.Itoa(len(raw)) + ".")
	}
	wrapped := append(append([]byte("<Bytes>"), msg...), "</Bytes>"...)
	for _, scheme := range schemes {
		for _, m := range [][]byte{wrapped, msg} {
			if verifyScheme(scheme, m, raw, pub) {
				return scheme, nil
			}
		}
	}
	return "", &Error{kind: ErrNotSigner, msg: "That signature is not by this address's key over this challenge's message: " +
		"sign the message shown, whole, with the account it names (ed25519 or sr25519)."}
}

func verifyScheme(scheme Scheme, msg, sig, pub []byte) bool {
	switch scheme {
	case Ed25519:
		return ed25519.Verify(ed25519.PublicKey(pub), msg, sig)
	case Sr25519:
		var pk schnorrkel.PublicKey
		if err := pk.Decode([32]byte(pub)); err != nil {
			return false
		}
		var s schnorrkel.Signature
		if err := s.Decode([64]byte(sig)); err != nil {
			return false // not marked as schnorrkel: an ed25519 signature
		}
		ok, err := pk.Verify(&s, schnorrkel.NewSigningContext(substrateContext, msg))
		return err == nil && ok
	}
	return false
}
