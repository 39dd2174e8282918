package server

import (
	"bytes"
	"os"
	"path/filepath"
	"sync"
	"testing"

	gossh "golang.org/x/crypto/ssh"
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

// TestHostKeyCreatedOnceByServersStartingAtOnce: servers sharing one host
// key file started at once on a fresh machine all serve the same key.
func TestHostKeyCreatedOnceByServersStartingAtOnce(t *testing.T) {
	for range 20 {
		path := filepath.Join(t.TempDir(), "ssh_host_ed25519_key")
		errs := make([]error, 8)
		var wg sync.WaitGroup
		for i := range errs {
			wg.Go(func() { errs[i] = ensureHostKey(path) })
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Fatalf("server %d: %v", i, err)
			}
		}
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		key, err := gossh.ParsePrivateKey(b)
		if err != nil {
			t.Fatalf("the host key does not parse: %v", err)
		}
		pub, err := os.ReadFile(path + ".pub")
		if err != nil {
			t.Fatal(err)
		}
		if want := gossh.MarshalAuthorizedKey(key.PublicKey()); !bytes.Equal(pub, want) {
			t.Errorf("the .pub file %q is not the key's %q", pub, want)
		}
		if st, err := os.Stat(path); err != nil || st.Mode().Perm() != 0o600 {
			t.Fatalf("the host key file: %v, %v", st.Mode(), err)
		}
		// A second start keeps the key.
		if err := ensureHostKey(path); err != nil {
			t.Fatal(err)
		}
		if again, _ := os.ReadFile(path); !bytes.Equal(again, b) {
			t.Error("a second start replaced the host key")
		}
	}
}
