package server_test

import (
	"strings"
	"testing"

	gossh "golang.org/x/crypto/ssh"
)

// The command line a client sends is split by commands.Split: an
// unbalanced quote is refused with exit 2 (Wish's own splitter dropped
// what followed it), and so is a line over the bound (Wish's splitter
// took a minute of CPU for a 256 KB word, here, and was called three
// times per session).
func TestCommandLineOverSSH(t *testing.T) {
	ts := startServer(t, nil)
	key := newKey(t)
	for _, tt := range []struct {
		cmd, want string
	}{
		{`code "A-1234`, "attest: unbalanced quote"},
		{"nickname " + strings.Repeat("x", 200<<10), "attest: the command line is too long"},
	} {
		out, errOut, code := run(t, ts.addr, key, tt.cmd)
		if code != 2 || !strings.HasPrefix(errOut, tt.want) || out != "" {
			t.Errorf("%.30q: exit %d, stdout %q, stderr %q; want exit 2 and %q", tt.cmd, code, out, errOut, tt.want)
		}
	}
	if _, errOut, code := run(t, ts.addr, key, `nickname "Ada L"`); code != 0 {
		t.Errorf("a quoted argument: exit %d, %q", code, errOut)
	}
	// The inbox takes the same splitter.
	c, err := dial(t, ts.addr, "inbox", gossh.PublicKeys(key))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, errOut, code := runOn(t, c, `--follow '`); code != 2 || !strings.Contains(errOut, "unbalanced quote") {
		t.Errorf("inbox with a lone quote: exit %d, %q", code, errOut)
	}
	// The word follow, as someone writes whose ssh refused --follow,
	// says how to get it past ssh.
	c2, err := dial(t, ts.addr, "inbox", gossh.PublicKeys(key))
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	if _, errOut, code := runOn(t, c2, `follow`); code != 2 || errOut != "attest: inbox takes --follow, not follow; write -- before it, or ssh reads it as its own option: ssh [-p PORT] inbox@HOST -- --follow\n" {
		t.Errorf("inbox follow: exit %d, %q", code, errOut)
	}
}
