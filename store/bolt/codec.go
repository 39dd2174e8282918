package bolt

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"

	"github.com/attest-dev/attest/store"
)

// Bucket names. Index buckets are named after store.Index.String so that
// `bbolt buckets` on a ledger file reads naturally.
var (
	factsBucket  = []byte("facts")
	metaBucket   = []byte("meta")
	recentBucket = []byte("recent") // level 0 of the index, see tail.go

	headKey    = []byte("head")
	indexedKey = []byte("indexed") // the mark: last fact in the index buckets
	formatKey  = []byte("format")
)

// format is the on-disk layout version written into a new ledger; Open
// refuses any other so that a future layout change cannot be misread.
// Format 1 had no level 0: Open upgrades it in place by recording that
// every fact is in the index buckets.
const (
	format  = "2"
	format1 = "1"
)

// indexBuckets maps a store.Index to its bucket name; it is indexed by the
// Index value itself so lookups on the hot path are array reads.
var indexBuckets = func() [store.ByKind + 1][]byte {
	var names [store.ByKind + 1][]byte
	for _, ix := range store.Indexes {
		names[ix] = []byte(ix.String())
	}
	return names
}()

func validIndex(ix store.Index) bool {
	return ix >= store.ByUser && int(ix) < len(indexBuckets)
}

func seqKey(seq uint64) []byte {
	return binary.BigEndian.AppendUint64(make([]byte, 0, 8), seq)
}

// seqOf reads a facts key; 0, which no fact has, for a malformed one.
func seqOf(k []byte) uint64 {
	if len(k) != 8 {
		return 0
	}
	return binary.BigEndian.Uint64(k)
}

// indexKey appends an index bucket key to dst: the id's partition (see
// tail.go), the id, a NUL and the big-endian seq. Entries of one id are
// contiguous and in sequence order, and the NUL (which Validate keeps out
// of ids) stops "ab" and "abc" from interleaving.
func indexKey(dst []byte, id string, seq uint64) []byte {
	dst = append(dst, rangeOf(id))
	dst = append(dst, id...)
	dst = append(dst, 0)
	return binary.BigEndian.AppendUint64(dst, seq)
}

// parseIndexKey splits an index key into partition, id and seq; ok is
// false for a key that no fact could have produced.
func parseIndexKey(k []byte) (r byte, id []byte, seq uint64, ok bool) {
	if len(k) < 11 || k[len(k)-9] != 0 {
		return 0, nil, 0, false
	}
	return k[0], k[1 : len(k)-9], binary.BigEndian.Uint64(k[len(k)-8:]), true
}

// indexValue holds what Count and Entries need (time and kind) so that
// they never touch the facts bucket. One value serves every index of a
// fact; bbolt keeps a reference to it until commit, so it is never reused.
func indexValue(unixNano int64, kind string) []byte {
	v := make([]byte, 8, 8+len(kind))
	binary.BigEndian.PutUint64(v, uint64(unixNano))
	return append(v, kind...)
}

func parseIndexValue(v []byte) (unixNano int64, kind []byte, ok bool) {
	if len(v) < 8 {
		return 0, nil, false
	}
	return int64(binary.BigEndian.Uint64(v)), v[8:], true
}

// head is the ledger's newest fact, kept in the meta bucket so that Open
// reads it instead of replaying the chain.
type head struct {
	seq  uint64
	time int64    // unix nanoseconds, UTC
	hash [32]byte // SHA-256 of the newest fact's stored bytes; zero when empty
}

const headLen = 8 + 8 + sha256.Size

func (h head) encode() []byte {
	b := make([]byte, 0, headLen)
	b = binary.BigEndian.AppendUint64(b, h.seq)
	b = binary.BigEndian.AppendUint64(b, uint64(h.time))
	return append(b, h.hash[:]...)
}

func decodeHead(b []byte) (head, error) {
	if len(b) != headLen {
		return head{}, fmt.Errorf("head record has %d bytes, want %d", len(b), headLen)
	}
	h := head{seq: binary.BigEndian.Uint64(b), time: int64(binary.BigEndian.Uint64(b[8:]))}
	copy(h.hash[:], b[16:])
	return h, nil
}

// prev is the Prev value of the fact that follows h. The first fact's Prev
// is "": there is no genesis value to agree on.
func (h head) prev() string {
	if h.seq == 0 {
		return ""
	}
	return hex.EncodeToString(h.hash[:])
}

func encodeFact(f *store.Fact) ([]byte, error) {
	return store.Encode(f)
}

func decodeFact(b []byte) (store.Fact, error) {
	var f store.Fact
	if err := json.Unmarshal(b, &f); err != nil {
		return store.Fact{}, err
	}
	return f, nil
}
