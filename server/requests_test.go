package server_test

import (
	"bytes"
	"strings"
	"testing"

	gossh "golang.org/x/crypto/ssh"
)

// A client may set a few environment variables, and no more: the rest are
// refused before the SSH library stores them, and the session still works.
func TestEnvironmentIsBounded(t *testing.T) {
	ts := startServer(t, nil)
	c, err := dial(t, ts.addr, "visitor", gossh.PublicKeys(newKey(t)))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	s, err := c.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	accepted := 0
	for i := range 2000 {
		if err := s.Setenv("VAR", strings.Repeat("x", i%64)); err == nil {
			accepted++
		}
	}
	if accepted == 0 || accepted > 32 {
		t.Fatalf("%d of 2000 variables accepted, want 1 to 32", accepted)
	}
	var out bytes.Buffer
	s.Stdout = &out
	if err := s.Run("whoami --json"); err != nil {
		t.Fatalf("whoami after the refused variables: %v", err)
	}
	if !strings.Contains(out.String(), `"device"`) {
		t.Fatalf("whoami printed %q", out.String())
	}
}
