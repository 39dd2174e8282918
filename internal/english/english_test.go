package english

import "testing"

func TestPluralAndCount(t *testing.T) {
	for _, c := range []struct {
		n             int
		plural, count string
	}{{0, "tries", "0 tries"}, {1, "try", "1 try"}, {2, "tries", "2 tries"}, {-1, "tries", "-1 tries"}} {
		if got := Plural(c.n, "try", "tries"); got != c.plural {
			t.Errorf("Plural(%d) = %q, want %q", c.n, got, c.plural)
		}
		if got := Count(c.n, "try", "tries"); got != c.count {
			t.Errorf("Count(%d) = %q, want %q", c.n, got, c.count)
		}
	}
}
