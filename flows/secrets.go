package flows

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base32"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
)

// b32 renders random ids: lower case, no padding, no characters that need
// escaping anywhere.
var b32 = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// codeMAC is what the ledger keeps of a code: a MAC bound to the ticket,
// so a stored value can neither reveal the code nor be moved to another
// ticket.
func codeMAC(key []byte, ticket, code string) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(ticket))
	m.Write([]byte{0})
	m.Write([]byte(code))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// codeMatches compares a guess against a stored MAC in constant time.
func codeMatches(key []byte, ticket, guess, mac string) bool {
	want, err := base64.RawURLEncoding.DecodeString(mac)
	if err != nil {
		return false
	}
	m := hmac.New(sha256.New, key)
	m.Write([]byte(ticket))
	m.Write([]byte{0})
	m.Write([]byte(guess))
	return hmac.Equal(m.Sum(nil), want)
}

// sealer encrypts addresses for the ledger (AES-256-GCM). The address hash
// is the additional data, so a sealed value cannot be moved onto another
// address's facts.
type sealer struct{ aead cipher.AEAD }

func newSealer(key []byte) (*sealer, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("flows: sealing cipher: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("flows: sealing cipher: %w", err)
	}
	return &sealer{aead: aead}, nil
}

// seal encrypts plaintext with a nonce read from rand. It is called before
// a ledger transaction, never inside one, because the randomness must not
// be drawn again if the transaction's function runs twice.
func (s *sealer) seal(rand io.Reader, plaintext, hash string) (string, error) {
	nonce := make([]byte, s.aead.NonceSize())
	if _, err := io.ReadFull(rand, nonce); err != nil {
		return "", fmt.Errorf("read randomness: %w", err)
	}
	out := s.aead.Seal(nonce, nonce, []byte(plaintext), []byte(hash))
	return base64.RawURLEncoding.EncodeToString(out), nil
}

func (s *sealer) open(sealed, hash string) (string, error) {
	raw, err := base64.RawURLEncoding.DecodeString(sealed)
	if err != nil || len(raw) < s.aead.NonceSize() {
		return "", errors.New("flows: sealed address is malformed")
	}
	n := s.aead.NonceSize()
	pt, err := s.aead.Open(nil, raw[:n], raw[n:], []byte(hash))
	if err != nil {
		return "", fmt.Errorf("flows: open sealed address: %w", err)
	}
	return string(pt), nil
}
