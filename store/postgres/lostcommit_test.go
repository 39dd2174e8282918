package postgres

import (
	"bytes"
	"context"
	"io"
	"net"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/attest-dev/attest/store"
	"github.com/attest-dev/attest/store/postgres/pgtest"
	"github.com/attest-dev/attest/store/storetest"
)

// cutter stands between the ledger and the test cluster on a Unix socket
// of its own. Armed, it drops the database's next answer that it
// committed, and the connection, and then refuses connections until
// released: the ledger has made a commit it never hears of, and cannot
// ask.
type cutter struct {
	ln       net.Listener
	upstream string
	armed    atomic.Bool
	cut      chan struct{} // closed once the answer was dropped
	refused  chan struct{} // gets a value for each refused connection
	mu       sync.Mutex
	refusing bool
}

func newCutter(t *testing.T, upstream string) *cutter {
	dir := t.TempDir()
	ln, err := net.Listen("unix", filepath.Join(dir, ".s.PGSQL.5432"))
	if err != nil {
		t.Fatal(err)
	}
	c := &cutter{ln: ln, upstream: upstream, cut: make(chan struct{}), refused: make(chan struct{}, 1024)}
	t.Cleanup(func() { ln.Close() })
	go c.serve()
	return c
}

func (c *cutter) dir() string { return filepath.Dir(c.ln.Addr().String()) }

func (c *cutter) release() {
	c.mu.Lock()
	c.refusing = false
	c.mu.Unlock()
}

func (c *cutter) serve() {
	for {
		client, err := c.ln.Accept()
		if err != nil {
			return
		}
		c.mu.Lock()
		refusing := c.refusing
		c.mu.Unlock()
		if refusing {
			client.Close()
			c.refused <- struct{}{}
			continue
		}
		server, err := net.Dial("unix", c.upstream)
		if err != nil {
			client.Close()
			continue
		}
		go c.pipe(client, server)
	}
}

func (c *cutter) pipe(client, server net.Conn) {
	defer client.Close()
	defer server.Close()
	go func() {
		io.Copy(server, client)
		server.Close()
	}()
	buf := make([]byte, 64<<10)
	for {
		n, err := server.Read(buf)
		// The database says COMMIT once it has committed: that answer,
		// and the connection, are what the ledger loses.
		if n > 0 && c.armed.Load() && bytes.Contains(buf[:n], []byte("COMMIT\x00")) && c.armed.CompareAndSwap(true, false) {
			c.mu.Lock()
			c.refusing = true
			c.mu.Unlock()
			close(c.cut)
			return
		}
		if n > 0 {
			if _, werr := client.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// TestLostCommitAnswerMakesOnce: the database commits a batch and the
// answer is lost with the connection, and for a while the database cannot
// be asked. The update is acknowledged once the ledger can tell that its
// commit landed, and its fact is in the ledger once, not made again.
func TestLostCommitAnswerMakesOnce(t *testing.T) {
	c := pgtest.Start(t)
	url := c.NewDatabase(t)
	cut := newCutter(t, filepath.Join(c.Dir(), ".s.PGSQL.5432"))
	proxied := c.URL(pgtest.Role, pgtest.Name(url))
	proxied = proxied[:len(proxied)-len("?host="+c.Dir()+"&sslmode=disable")] + "?host=" + cut.dir() + "&sslmode=disable"
	l, err := Open(context.Background(), proxied, Options{RetryFor: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()

	// The function runs once ahead of the append lock (on a snapshot,
	// its effects dropped) and once under it: runs under the lock are
	// those after the ledger's hook.
	var runs, ahead atomic.Int64
	l.aheadDone = func() { ahead.Store(runs.Load()) }
	cut.armed.Store(true)
	done := make(chan error, 1)
	go func() {
		done <- l.Update(func(tx store.Tx) error {
			runs.Add(1)
			_, err := tx.Append(store.Fact{Time: storetest.T0, Kind: "k", User: "once"})
			return err
		})
	}()
	select {
	case <-cut.cut:
	case err := <-done:
		t.Fatalf("the update returned before its commit's answer was cut: %v", err)
	case <-time.After(time.Minute):
		t.Fatal("the commit never went through the cutter")
	}
	// The ledger tries to find out, and is refused a few times.
	for range 3 {
		select {
		case <-cut.refused:
		case <-time.After(time.Minute):
			t.Fatal("the ledger did not try to reach the database again")
		}
	}
	cut.release()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("the update whose commit landed: %v", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("the update did not return once the database could be reached")
	}
	all := storetest.View(t, l, func(r store.Reader) ([]store.Fact, error) { return storetest.AllOf(r, 0) })
	if len(all) != 1 || all[0].User != "once" {
		t.Errorf("the ledger holds %+v, want the one fact, once", all)
	}
	if n := runs.Load() - ahead.Load(); n != 1 {
		t.Errorf("the function ran %d times under the lock; its commit had landed, so once", n)
	}
	storetest.Verify(t, l)
}
