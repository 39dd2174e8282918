package address

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"strings"
	"testing"
)

var (
	testKey  = bytes.Repeat([]byte{0x5a}, 32)
	otherKey = bytes.Repeat([]byte{0xa5}, 32)
)

func mustHasher(t testing.TB, key []byte) *Hasher {
	t.Helper()
	h, err := NewHasher(key)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// mustParse parses an input given as "region|text" for phones or plain text
// for emails.
func mustParse(t testing.TB, in string) Address {
	t.Helper()
	region, s, ok := strings.Cut(in, "|")
	if !ok {
		region, s = "", in
	}
	a, err := Parse(s, region)
	if err != nil {
		t.Fatalf("Parse(%q, %q): %v", s, region, err)
	}
	return a
}

// Every spelling of one address must land in one governor bucket (security
// reference, check 8).
func TestHashSameBucket(t *testing.T) {
	h := mustHasher(t, testKey)
	groups := [][]string{
		{"bob@example.com", "BOB@EXAMPLE.COM", "Bob@Example.Com", "  bob@example.com\n",
			"ｂｏｂ＠ｅｘａｍｐｌｅ．ｃｏｍ", "\u3000ＢＯＢ＠example.com ", "bob\ufe6bexample.com", "bob@example\u3002com"},
		{"josé@bücher.de", "JOSÉ@BÜCHER.DE", "jose\u0301@xn--bcher-kva.de", "josé@XN--BCHER-KVA.DE", "ＪＯＳＥ\u0301@bücher.de"},
		{"kate@example.com", "\u212aate@example.com", "KATE@example.com"},
		{"|+1 (202) 555-0143", "|+12025550143", "US|202-555-0143", "US|(202) 555 0143", "US|1 202 555 0143",
			"US|011 1 202 555 0143", "|+1.202.555.0143", "|＋１ ２０２ ５５５ ０１４３", "|+١ ٢٠٢ ٥٥٥ ٠١٤٣",
			"|\u200e+1 202 555 0143\u200e", "GB|+1 202 555 0143", "CA|202 555 0143"},
		{"GB|07400 123456", "|+44 7400 123456", "|+44 (0)7400 123456", "GB|00447400123456", "US|00447400123456",
			"FR|+447400123456", "|+44-7400-123-456"},
	}
	for _, g := range groups {
		first := mustParse(t, g[0])
		want := h.Hash(first)
		for _, in := range g[1:] {
			a := mustParse(t, in)
			if a != first {
				t.Errorf("%q parses to %#v, %q to %#v", g[0], first, in, a)
			}
			if got := h.Hash(a); got != want {
				t.Errorf("%q hashes to %s, %q to %s", g[0], want, in, got)
			}
		}
	}
}

// Different addresses, including ones a provider might deliver to one
// mailbox, must not share a bucket: folding them is provider-specific.
func TestHashDifferentBuckets(t *testing.T) {
	h := mustHasher(t, testKey)
	pairs := [][2]string{
		{"bob@example.com", "bob+tag@example.com"},
		{"bob@gmail.com", "b.o.b@gmail.com"},
		{"bob@example.com", "bob@example.co"},
		{"bob@example.com", "bob@sub.example.com"},
		{"bob@example.com", "b\u043eb@example.com"}, // Cyrillic о: another mailbox
		{"a@strasse.de", "a@straße.de"},             // non-transitional IDNA
		{"|+1 202 555 0143", "|+1 202 555 0144"},
		{"FR|06 12 34 56 78", "NL|06 12345678"}, // same digits, other countries
		{"GB|020 7946 0018", "US|+44 20 7946 0019"},
	}
	for _, p := range pairs {
		a, b := mustParse(t, p[0]), mustParse(t, p[1])
		if a == b || h.Hash(a) == h.Hash(b) {
			t.Errorf("%q and %q share a key: %#v, %#v", p[0], p[1], a, b)
		}
	}
	// The kind is part of the key.
	if h.Hash(Address{Email, "x"}) == h.Hash(Address{Phone, "x"}) {
		t.Error("kinds share a key")
	}
	// The NUL separator keeps kind and value apart.
	if h.Hash(Address{"ab", "c"}) == h.Hash(Address{"a", "bc"}) {
		t.Error("kind/value boundary is ambiguous")
	}
}

func TestHashIsKeyed(t *testing.T) {
	h := mustHasher(t, testKey)
	a := mustParse(t, "bob@example.com")
	got := h.Hash(a)

	if len(got) != 64 || strings.ContainsRune(got, 0) || strings.Trim(got, "0123456789abcdef") != "" {
		t.Fatalf("hash %q is not 64 lower-case hex characters", got)
	}
	if got != h.Hash(a) {
		t.Error("hash is not deterministic")
	}
	// No stored key may equal a plain SHA-256 of the address, in any of the
	// obvious encodings and inputs (security reference, rule 4).
	for _, in := range []string{a.Value, a.String(), string(a.Kind) + "\x00" + a.Value} {
		sum := sha256.Sum256([]byte(in))
		for _, enc := range []string{
			hex.EncodeToString(sum[:]),
			base64.StdEncoding.EncodeToString(sum[:]),
			base64.RawURLEncoding.EncodeToString(sum[:]),
		} {
			if got == enc {
				t.Errorf("hash equals unkeyed SHA-256 of %q", in)
			}
		}
	}
	if other := mustHasher(t, otherKey).Hash(a); other == got {
		t.Error("a different key gives the same hash")
	}
}

func TestHasherCopiesKey(t *testing.T) {
	key := bytes.Clone(testKey)
	h := mustHasher(t, key)
	a := Address{Email, "bob@example.com"}
	before := h.Hash(a)
	key[0] ^= 1
	if h.Hash(a) != before {
		t.Error("changing the caller's key slice changed the hasher")
	}
}

func TestNewHasherKeyLength(t *testing.T) {
	for _, n := range []int{0, 16, 31} {
		if _, err := NewHasher(make([]byte, n)); err == nil {
			t.Errorf("NewHasher accepted a %d-byte key", n)
		}
	}
	for _, n := range []int{32, 64} {
		if _, err := NewHasher(make([]byte, n)); err != nil {
			t.Errorf("NewHasher(%d bytes): %v", n, err)
		}
	}
}

func TestHashPanicsOnBugs(t *testing.T) {
	h := mustHasher(t, testKey)
	for _, a := range []Address{{}, {Kind: Email}, {Value: "x"}, {Email, "a\x00b"}, {"e\x00", "x"}} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("Hash(%#v) did not panic", a)
				}
			}()
			h.Hash(a)
		}()
	}
}
