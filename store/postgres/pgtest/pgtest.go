// Package pgtest starts a private PostgreSQL cluster for tests: initdb
// into a new directory, then the postgres server on a Unix socket there,
// listening on no TCP port. Nothing needs setting up by hand beyond
// Debian's postgresql package; when it is missing the tests that need it
// skip, except under CI=true, where they fail.
//
// One cluster serves a test binary (TestMain calls Main to stop it at the
// end); each test gets a database of its own from NewDatabase.
package pgtest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// Role is the unprivileged role the databases belong to, standing for the
// attest server's role.
const Role = "attest"

// Cluster is a running private cluster.
type Cluster struct {
	dir  string // holds data/, the socket and the log
	bin  string // the directory of initdb and postgres
	cred *syscall.Credential

	mu  sync.Mutex
	cmd *exec.Cmd
	ran chan struct{} // closed when cmd exits

	dbs atomic.Int64
}

var (
	once    sync.Once
	shared  *Cluster
	started error
)

// Start returns the test binary's cluster, starting it on first use. It
// skips tb when PostgreSQL is not installed, unless CI is "true".
func Start(tb testing.TB) *Cluster {
	tb.Helper()
	once.Do(func() { shared, started = start() })
	if started != nil {
		if errors.Is(started, errNotInstalled) && os.Getenv("CI") != "true" {
			tb.Skip(started)
		}
		tb.Fatalf("start a PostgreSQL cluster: %v", started)
	}
	return shared
}

// Main runs the tests and stops the cluster, if one was started.
func Main(m *testing.M) {
	code := m.Run()
	Stop()
	os.Exit(code)
}

// Stop stops the cluster, if one was started, and removes it; a TestMain
// that does more than Main calls it at the end.
func Stop() {
	if shared != nil {
		shared.stop()
		os.RemoveAll(shared.dir)
	}
}

var errNotInstalled = errors.New("PostgreSQL's initdb is not installed (apt-get install postgresql)")

// binDir finds the newest of Debian's /usr/lib/postgresql/<version>/bin,
// or else the directory of an initdb on PATH.
func binDir() (string, error) {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool {
		vi, _ := strconv.Atoi(filepath.Base(filepath.Dir(dirs[i])))
		vj, _ := strconv.Atoi(filepath.Base(filepath.Dir(dirs[j])))
		return vi > vj
	})
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "initdb")); err == nil {
			return d, nil
		}
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		return filepath.Dir(p), nil
	}
	return "", errNotInstalled
}

func start() (*Cluster, error) {
	bin, err := binDir()
	if err != nil {
		return nil, err
	}
	// A short path: a Unix socket's path has at most 107 bytes.
	dir, err := os.MkdirTemp("", "attest-pg-")
	if err != nil {
		return nil, err
	}
	c := &Cluster{dir: dir, bin: bin}
	if os.Geteuid() == 0 {
		// initdb refuses to run as root: the cluster belongs to Debian's
		// postgres user.
		u, err := user.Lookup("postgres")
		if err != nil {
			return nil, fmt.Errorf("running as root, and no postgres user to run the cluster as: %w", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		c.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
		if err := os.Chown(dir, uid, gid); err != nil {
			return nil, err
		}
	}
	initdb := exec.Command(filepath.Join(bin, "initdb"), "-D", c.data(), "-U", "postgres",
		"--auth=trust", "--encoding=UTF8", "--locale=C", "--no-instructions")
	initdb.SysProcAttr = &syscall.SysProcAttr{Credential: c.cred}
	if out, err := initdb.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("initdb: %w\n%s", err, out)
	}
	if err := c.Start(); err != nil {
		return nil, err
	}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, c.URL("postgres", "postgres"))
	if err != nil {
		return nil, err
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE ROLE "+Role+" LOGIN"); err != nil {
		return nil, fmt.Errorf("create role: %w", err)
	}
	return c, nil
}

func (c *Cluster) data() string { return filepath.Join(c.dir, "data") }

// Pid is the process id of the running postmaster (0 when stopped), for
// measuring the cluster's CPU (internal/cpuuse.Tree).
func (c *Cluster) Pid() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cmd == nil {
		return 0
	}
	return c.cmd.Process.Pid
}

// Dir is the directory the socket is in.
func (c *Cluster) Dir() string { return c.dir }

// Start starts the server on the cluster's data (again, after Stop) and
// waits until it accepts connections.
func (c *Cluster) Start() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cmd != nil {
		return errors.New("the cluster is running")
	}
	logf, err := os.OpenFile(filepath.Join(c.dir, "log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	cmd := exec.Command(filepath.Join(c.bin, "postgres"), "-D", c.data(), "-k", c.dir,
		"-c", "listen_addresses=", "-c", "max_connections=200", "-c", "shared_buffers=64MB",
		"-c", "fsync=on", "-c", "synchronous_commit=on")
	cmd.Stdout, cmd.Stderr = logf, logf
	// The server dies with the test binary, however that ends: the
	// signal is set after the change of user, so the kernel keeps it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: c.cred, Pdeathsig: syscall.SIGQUIT}
	ran := make(chan struct{})
	// Pdeathsig fires when the thread that started the child ends, so
	// that thread must live as long as the test binary.
	errc := make(chan error)
	go func() {
		runtime.LockOSThread()
		if err := cmd.Start(); err != nil {
			errc <- err
			return
		}
		errc <- nil
		cmd.Wait()
		logf.Close()
		close(ran)
		select {} // keep the thread
	}()
	if err := <-errc; err != nil {
		return fmt.Errorf("start postgres: %w", err)
	}
	c.cmd, c.ran = cmd, ran
	deadline := time.Now().Add(60 * time.Second)
	for {
		conn, err := pgx.Connect(context.Background(), c.URL("postgres", "postgres"))
		if err == nil {
			conn.Close(context.Background())
			return nil
		}
		select {
		case <-ran:
			log, _ := os.ReadFile(filepath.Join(c.dir, "log"))
			c.cmd = nil
			return fmt.Errorf("postgres exited: %s", log)
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("postgres did not accept connections within a minute: %w", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Stop shuts the server down the way pg_ctl stop -m fast does: sessions
// are cut, committed transactions are kept.
func (c *Cluster) Stop() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.stopLocked()
}

func (c *Cluster) stop() { c.Stop() }

func (c *Cluster) stopLocked() error {
	if c.cmd == nil {
		return nil
	}
	if err := c.cmd.Process.Signal(syscall.SIGINT); err != nil {
		return err
	}
	<-c.ran
	c.cmd = nil
	return nil
}

// URL is the connection URL of database db as role.
func (c *Cluster) URL(role, db string) string {
	return fmt.Sprintf("postgres://%s@/%s?host=%s&sslmode=disable", role, db, c.dir)
}

// NewDatabase creates an empty database owned by Role and returns its URL
// as Role.
func (c *Cluster) NewDatabase(tb testing.TB) string {
	tb.Helper()
	name := fmt.Sprintf("t%d", c.dbs.Add(1))
	c.Exec(tb, "postgres", "CREATE DATABASE "+name+" OWNER "+Role)
	return c.URL(Role, name)
}

// Exec runs sql as the superuser in database db.
func (c *Cluster) Exec(tb testing.TB, db, sql string, args ...any) {
	tb.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, c.URL("postgres", db))
	if err != nil {
		tb.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, sql, args...); err != nil {
		tb.Fatalf("%s: %v", sql, err)
	}
}

// Name is the database a URL names.
func Name(url string) string {
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		return ""
	}
	return cfg.Database
}
