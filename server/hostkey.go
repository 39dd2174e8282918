package server

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"

	gossh "golang.org/x/crypto/ssh"
)

// ensureHostKey creates the SSH host key at path (ed25519, in OpenSSH's
// format, with path.pub beside it) unless one is there. Servers sharing one
// key file (ATTEST_HOST_KEY_FILE) may start at once on a fresh machine: one
// key is made, whole, and every server serves it, where Wish's own
// generation (look, then write) could let each write and serve its own.
func ensureHostKey(path string) error {
	if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
		return nil // there, or Wish reports why it cannot be read
	}
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return fmt.Errorf("generate host key: %w", err)
	}
	block, err := gossh.MarshalPrivateKey(priv, "")
	if err != nil {
		return fmt.Errorf("generate host key: %w", err)
	}
	won, err := placeOnce(path, pem.EncodeToMemory(block))
	if err != nil {
		return fmt.Errorf("write host key: %w", err)
	}
	if !won {
		return nil
	}
	sshPub, err := gossh.NewPublicKey(pub)
	if err != nil {
		return fmt.Errorf("generate host key: %w", err)
	}
	// The public half is for the operator (ssh-keygen -lf), not the server.
	if err := os.WriteFile(path+".pub", gossh.MarshalAuthorizedKey(sshPub), 0o644); err != nil {
		return fmt.Errorf("write host key: %w", err)
	}
	return nil
}
