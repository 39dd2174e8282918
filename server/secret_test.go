package server

import (
	"bytes"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

// TestSecretCreatedOnceByServersStartingAtOnce: servers sharing one
// secret file (ATTEST_SECRET_FILE) started at once on a fresh machine all
// get the same secret, and the file is the owner's alone.
func TestSecretCreatedOnceByServersStartingAtOnce(t *testing.T) {
	for range 20 {
		path := filepath.Join(t.TempDir(), "secret")
		got := make([][]byte, 8)
		errs := make([]error, 8)
		var wg sync.WaitGroup
		for i := range got {
			wg.Go(func() { got[i], errs[i] = loadSecret(path) })
		}
		wg.Wait()
		for i := range got {
			if errs[i] != nil {
				t.Fatalf("server %d: %v", i, errs[i])
			}
			if len(got[i]) != 32 || !bytes.Equal(got[i], got[0]) {
				t.Fatalf("server %d got another secret", i)
			}
		}
		st, err := os.Stat(path)
		if err != nil || st.Mode().Perm() != 0o600 {
			t.Fatalf("the secret file: %v, %v", st.Mode(), err)
		}
		left, _ := filepath.Glob(filepath.Join(filepath.Dir(path), ".secret-*"))
		if len(left) != 0 {
			t.Errorf("left behind: %v", left)
		}
	}
}
