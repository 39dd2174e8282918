package flows

import (
	"testing"
	"time"
)

// RFC 6238, appendix B, for SHA-1: the 8-digit values' last six digits
// are the 6-digit codes (both are the same number modulo a power of ten).
func TestRFC6238Vectors(t *testing.T) {
	secret := "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ" // base32 of "12345678901234567890"
	for _, v := range []struct {
		unix int64
		code string
	}{
		{59, "94287082"},
		{1111111109, "07081804"},
		{1111111111, "14050471"},
		{1234567890, "89005924"},
		{2000000000, "69279037"},
		{20000000000, "65353130"},
	} {
		got, err := totpCode(secret, totpStep(time.Unix(v.unix, 0)))
		if err != nil {
			t.Fatal(err)
		}
		if got != v.code[2:] {
			t.Errorf("T=%d: got %s, want %s", v.unix, got, v.code[2:])
		}
	}
}
