package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"path/filepath"
	"strings"
	"testing"

	"github.com/attest-dev/attest/server"
)

// The control socket bounds a request by its line and by its arguments,
// and says why it refused; a request within both runs.
func TestControlRequestBounds(t *testing.T) {
	ts := startServer(t, nil)
	path := filepath.Join(t.TempDir(), "control.sock")
	ln, err := server.ListenControl(path)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- ts.srv.ServeControl(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve control: %v", err)
		}
	})
	run := func(args []string) (int, string, string) {
		t.Helper()
		var out, errb bytes.Buffer
		code, err := server.RunRemote(path, args, &out, &errb)
		if err != nil {
			t.Fatalf("run %d args: %v", len(args), err)
		}
		return code, out.String(), errb.String()
	}

	if code, out, _ := run([]string{"verify"}); code != 0 || out == "" {
		t.Fatalf("verify: exit %d, %q", code, out)
	}
	many := make([]string, 257)
	for i := range many {
		many[i] = "x"
	}
	many[0] = "verify"
	if code, out, errs := run(many); code != 2 || out != "" || errs != "attest: 257 arguments; a command takes at most 256\n" {
		t.Fatalf("257 arguments: exit %d, %q, %q", code, out, errs)
	}
	if code, _, errs := run(many[:256]); code == 0 || strings.Contains(errs, "at most 256") {
		t.Fatalf("256 arguments reached the command? exit %d, %q", code, errs)
	}

	raw := func(line string) string {
		t.Helper()
		c, err := net.Dial("unix", path)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if _, err := c.Write([]byte(line)); err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		_, _ = buf.ReadFrom(c)
		return buf.String()
	}
	long, _ := json.Marshal(map[string][]string{"args": {"verify", strings.Repeat("a", 70<<10)}})
	if got := raw(string(long) + "\n"); !strings.Contains(got, "attest: the command line is longer than 64 KiB\n") {
		t.Fatalf("an over-long line: %q", got)
	}
	if got := raw("not json\n"); !strings.Contains(got, `attest: the request is not a JSON line {"args": [...]}`) {
		t.Fatalf("a line that is not JSON: %q", got)
	}
}
