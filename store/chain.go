package store

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
)

// Every implementation hashes the same bytes, so that a chain copied from
// one ledger into another (attest migrate) verifies unchanged.

// Encode returns a fact's stored encoding: its JSON, whose SHA-256 is the
// next fact's Prev.
func Encode(f *Fact) ([]byte, error) {
	return json.Marshal(f)
}

// Link returns the Prev value of the fact that follows the fact whose
// stored encoding is enc.
func Link(enc []byte) string {
	sum := sha256.Sum256(enc)
	return hex.EncodeToString(sum[:])
}

// CanonicalBody returns body as encoding/json stores a RawMessage
// (compacted, with <, >, &, U+2028 and U+2029 escaped), so that the fact
// Append returns is the fact a later read decodes.
func CanonicalBody(body json.RawMessage) (json.RawMessage, error) {
	if len(body) == 0 {
		return nil, nil
	}
	if !bytes.ContainsAny(body, " \t\r\n<>&\u2028\u2029") {
		return bytes.Clone(body), nil
	}
	var compact bytes.Buffer
	if err := json.Compact(&compact, body); err != nil {
		return nil, fmt.Errorf("%w: body: %v", ErrInvalidFact, err)
	}
	var escaped bytes.Buffer
	json.HTMLEscape(&escaped, compact.Bytes())
	return escaped.Bytes(), nil
}
