package address

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
)

// MinKeyLen is the shortest key NewHasher accepts: 256 bits, the output
// size of SHA-256, so the key is never the weak point.
const MinKeyLen = 32

// Hasher turns an Address into the key the ledger and the governor use for
// it. The hash is keyed (HMAC-SHA256 with a server secret) because phone
// numbers (about 10^10 of them) and most email addresses can be enumerated:
// a plain SHA-256 would give every address back to anyone who read the
// ledger (security reference, rule 4 and check 8).
//
// A Hasher is safe for concurrent use.
type Hasher struct{ key []byte }

// NewHasher returns a Hasher with a copy of key, which must be at least
// MinKeyLen bytes of secret randomness. Changing the key changes every hash,
// which orphans every governor count and address index, so it must be kept
// for the life of the ledger.
func NewHasher(key []byte) (*Hasher, error) {
	if len(key) < MinKeyLen {
		return nil, fmt.Errorf("address: hash key is %d bytes; it must be at least %d", len(key), MinKeyLen)
	}
	return &Hasher{key: append([]byte(nil), key...)}, nil
}

// Hash returns the lower-case hex HMAC-SHA256 of kind, a NUL byte and the
// normalized value: 64 characters, no NUL, fit for an index key. The NUL
// separates kind from value unambiguously, since neither may contain one.
// Equal Addresses give equal hashes, and parsing makes every spelling of one
// address an equal Address.
//
// Hash panics if a is the zero Address or contains a NUL: only a bug can get
// there (parsers never return such values), and hashing it quietly would put
// unrelated inputs, or every failed parse, in one governor bucket.
func (h *Hasher) Hash(a Address) string {
	if a.Kind == "" || a.Value == "" {
		panic("address: Hash of an Address with no kind or no value")
	}
	if strings.IndexByte(string(a.Kind), 0) >= 0 || strings.IndexByte(a.Value, 0) >= 0 {
		panic("address: Hash of an Address containing NUL")
	}
	m := hmac.New(sha256.New, h.key)
	m.Write([]byte(a.Kind))
	m.Write([]byte{0})
	m.Write([]byte(a.Value))
	return hex.EncodeToString(m.Sum(nil))
}
