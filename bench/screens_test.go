package bench

// What an open screen costs (issue 14), attest's against the baseline's
// (baseline_test.go), side by side in one run. Each server runs in a
// child process of the test binary, so that its CPU time and resident
// memory, read from /proc, are its own and not its clients'; the clients
// are golang.org/x/crypto/ssh sessions with a terminal in this process.
//
//	go test -run '^$' -bench Screens -benchtime 1x ./bench/
//
// For each window size both servers run at once, each in its own
// process:
//   - open: server CPU to open a screen (connect, authenticate, terminal,
//     shell, first frame), opening `screens` of them 8 at a time, the
//     baseline's first;
//   - rss: the server's resident memory per open idle screen (after
//     less before, over `screens`);
//   - idle: the server's CPU per idle screen, the median of windows that
//     alternate between the two (idleFor in all for each), so that other
//     load on the machine falls on both alike;
//   - at 80x24, keys: `typing` screens of each type 10 keys a second each
//     (1,000 a second in all) for typeFor, the baseline's first, while the
//     other's stay open. key-cpu is the server's CPU per key less what its
//     open screens cost idle; p99 is from each key's scheduled moment to
//     the first output after it (a key late because the last one was slow
//     counts from when it should have gone).
//
// Each figure is reported for both (base-*, attest-*) and as the ratio
// attest/baseline (*-x), the form of the goals.

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	gossh "golang.org/x/crypto/ssh"

	"github.com/attest-dev/attest/flows/clock"
	"github.com/attest-dev/attest/server"
	"github.com/attest-dev/attest/server/config"
)

const (
	// serveEnv makes this test binary a server instead of running tests:
	// "attest" or "baseline". serveDirEnv is its data directory.
	serveEnv    = "ATTEST_BENCH_SERVE"
	serveDirEnv = "ATTEST_BENCH_SERVE_DIR"
	// profileEnv, when set to a directory, has each server write its CPU
	// profile (ROLE.cpu) and, as it ends, its heap profile (ROLE.heap)
	// there, while the screens are open and idle:
	// ATTEST_BENCH_PROFILE=/tmp/p go test -run '^$' -bench Screens/80x24 ...
	profileEnv = "ATTEST_BENCH_PROFILE"

	screens  = 200 // open for the idle and memory figures
	typing   = 100 // of them, typing for the keystroke figures
	keysPerS = 1000
	idleFor  = 10 * time.Second
	typeFor  = 10 * time.Second
	settle   = 2 * time.Second // after opening or closing, before measuring
	openers  = 8               // screens opened at once

	// clockTicks is the kernel's USER_HZ, the unit of /proc's CPU times
	// (100 on every Linux architecture Go runs on).
	clockTicks = 100
)

// serveChild serves as the child process asked for by serveEnv, and exits;
// it returns only in a process that is not a child (TestMain calls it
// first).
func serveChild() {
	role := os.Getenv(serveEnv)
	if role == "" {
		return
	}
	if err := serveRole(role, os.Getenv(serveDirEnv)); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Exit(0)
}

func serveRole(role, dir string) error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	if prof := os.Getenv(profileEnv); prof != "" {
		end, err := profile(filepath.Join(prof, role))
		if err != nil {
			return err
		}
		defer end()
	}
	fmt.Println(ln.Addr().String()) // the parent waits for this line
	switch role {
	case "baseline":
		return serveBaseline(ctx, ln, dir)
	case "attest":
		return serveAttest(ctx, ln, dir)
	}
	return fmt.Errorf("%s=%q: want attest or baseline", serveEnv, role)
}

// profile starts a CPU profile at base.cpu, and writes the heap profile
// at base.heap on each SIGUSR1 (the benchmark sends one while its
// screens are open and idle); the function it returns stops the CPU
// profile.
func profile(base string) (end func(), err error) {
	// Every allocation of 4 KiB is sampled, not one in 512 KiB: a screen
	// holds a few hundred KiB, and its small parts would not show.
	runtime.MemProfileRate = 4 << 10
	cpu, err := os.Create(base + ".cpu")
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(cpu); err != nil {
		return nil, err
	}
	usr1 := make(chan os.Signal, 1)
	signal.Notify(usr1, syscall.SIGUSR1)
	go func() {
		for range usr1 {
			// The heap profile is of the last collection: one now makes
			// it the open screens', not those of a moment while opening.
			runtime.GC()
			for name, debug := range map[string]int{"heap": 0, "goroutine": 1} {
				if f, err := os.Create(base + "." + name); err == nil {
					pprof.Lookup(name).WriteTo(f, debug)
					f.Close()
				}
			}
			if f, err := os.Create(base + ".mem"); err == nil {
				writeMemClasses(f)
				f.Close()
			}
		}
	}()
	return func() {
		signal.Stop(usr1)
		pprof.StopCPUProfile()
		cpu.Close()
	}, nil
}

// writeMemClasses writes where the runtime's memory is, by class.
func writeMemClasses(w io.Writer) {
	var samples []metrics.Sample
	for _, d := range metrics.All() {
		if strings.HasPrefix(d.Name, "/memory/classes/") {
			samples = append(samples, metrics.Sample{Name: d.Name})
		}
	}
	metrics.Read(samples)
	for _, s := range samples {
		fmt.Fprintf(w, "%s %d\n", s.Name, s.Value.Uint64())
	}
}

// serveAttest is the real server, as `attest serve` runs it on a bbolt
// ledger in dir, with the connection caps raised for screens from one
// address (they would rightly refuse a flood from 127.0.0.1).
func serveAttest(ctx context.Context, ln net.Listener, dir string) error {
	cfg := config.Default()
	cfg.DataDir = dir
	cfg.SSH.Listen = ln.Addr().String()
	caps := 2 * screens
	cfg.SSH.MaxUnauthenticated, cfg.SSH.MaxUnauthenticatedPerIP, cfg.SSH.MaxConnectionsPerIP = caps, caps, caps
	cfg.SSH.UnauthenticatedDropStart = caps
	if err := cfg.Validate(); err != nil {
		return err
	}
	app, err := server.Open(cfg, clock.System{}, nil)
	if err != nil {
		return err
	}
	srv, err := server.New(cfg, server.Deps{Service: app.Service, Ledger: app.Ledger, Inbox: app.Inbox})
	if err != nil {
		return errors.Join(err, app.Close())
	}
	return errors.Join(srv.Serve(ctx, ln), app.Close())
}

// served is a server in a child process.
type served struct {
	role string
	addr string
	cmd  *exec.Cmd
	done chan error
}

// startServed starts role ("attest" or "baseline") in a child process and
// waits until it listens.
func startServed(tb testing.TB, role string) *served {
	tb.Helper()
	dir := tb.TempDir()
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), serveEnv+"="+role, serveDirEnv+"="+dir)
	logf, err := os.Create(filepath.Join(dir, "log"))
	if err != nil {
		tb.Fatal(err)
	}
	cmd.Stderr = logf
	out, err := cmd.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	s := &served{role: role, cmd: cmd, done: make(chan error, 1)}
	addr := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(out).ReadString('\n')
		addr <- strings.TrimSpace(line)
		io.Copy(io.Discard, out)
		s.done <- cmd.Wait()
	}()
	tb.Cleanup(func() {
		s.cmd.Process.Signal(syscall.SIGTERM)
		if err := <-s.done; err != nil {
			log, _ := os.ReadFile(logf.Name())
			tb.Errorf("the %s server: %v\n%s", role, err, log)
		}
		logf.Close()
	})
	select {
	case s.addr = <-addr:
	case <-time.After(time.Minute): // bounds a failure only
	}
	if s.addr == "" {
		log, _ := os.ReadFile(logf.Name())
		tb.Fatalf("the %s server did not start:\n%s", role, log)
	}
	return s
}

// cpu is the CPU time the server has used so far, user and system.
func (s *served) cpu() (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", s.cmd.Process.Pid))
	if err != nil {
		return 0, err
	}
	// The name in parentheses may hold spaces: count fields after it.
	// utime and stime are fields 14 and 15, so 12 and 13 after ") ".
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc stat %q", b)
	}
	var ticks int64
	for _, x := range f[11:13] {
		n, err := strconv.ParseInt(x, 10, 64)
		if err != nil {
			return 0, err
		}
		ticks += n
	}
	return time.Duration(ticks) * time.Second / clockTicks, nil
}

// rss is the server's resident memory in KiB.
func (s *served) rss() (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", s.cmd.Process.Pid))
	if err != nil {
		return 0, err
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			return strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		}
	}
	return 0, errors.New("no VmRSS in /proc status")
}

// ready is what each server shows once its screen is up.
func (s *served) ready() string {
	if s.role == "baseline" {
		return baselineReady
	}
	return "starred" // the home screen's "0 of 10 starred"
}

// term is one SSH session with a terminal, whose output a goroutine reads
// continuously into chunks.
type term struct {
	client *gossh.Client
	sess   *gossh.Session
	stdin  io.WriteCloser
	chunks chan chunk
}

// openTerm opens a screen of width x height on s and waits for it to be up.
func (s *served) openTerm(width, height int) (*term, error) {
	signer, err := newSigner()
	if err != nil {
		return nil, err
	}
	c, err := gossh.Dial("tcp", s.addr, &gossh.ClientConfig{
		User:            "bench",
		Auth:            []gossh.AuthMethod{gossh.PublicKeys(signer)},
		HostKeyCallback: gossh.InsecureIgnoreHostKey(),
		Timeout:         time.Minute,
	})
	if err != nil {
		return nil, fmt.Errorf("dial: %w", err)
	}
	t := &term{client: c, chunks: make(chan chunk, 256)}
	if err := t.start(width, height); err != nil {
		c.Close()
		return nil, err
	}
	if _, err := t.await(s.ready()); err != nil {
		t.close()
		return nil, err
	}
	return t, nil
}

func (t *term) start(width, height int) error {
	var err error
	if t.sess, err = t.client.NewSession(); err != nil {
		return fmt.Errorf("session: %w", err)
	}
	if err := t.sess.RequestPty("xterm-256color", height, width, gossh.TerminalModes{}); err != nil {
		return fmt.Errorf("pty: %w", err)
	}
	if t.stdin, err = t.sess.StdinPipe(); err != nil {
		return err
	}
	out, err := t.sess.StdoutPipe()
	if err != nil {
		return err
	}
	if err := t.sess.Shell(); err != nil {
		return fmt.Errorf("shell: %w", err)
	}
	go func() {
		defer close(t.chunks)
		buf := make([]byte, 8*1024)
		for {
			n, err := out.Read(buf)
			if n > 0 {
				t.chunks <- chunk{at: time.Now(), b: slices.Clone(buf[:n])}
			}
			if err != nil {
				return
			}
		}
	}()
	return nil
}

func (t *term) close() {
	t.sess.Close()
	t.client.Close()
	for range t.chunks { // the reader ends with the connection
	}
}

// await reads the output until it contains marker and returns when the
// read that completed it arrived. The limit bounds a failure only.
func (t *term) await(marker string) (time.Time, error) {
	var seen []byte
	limit := time.NewTimer(30 * time.Second)
	defer limit.Stop()
	for {
		select {
		case c, ok := <-t.chunks:
			if !ok {
				return time.Time{}, fmt.Errorf("the session ended waiting for %q; it showed %q", marker, seen)
			}
			seen = append(seen, c.b...)
			if strings.Contains(string(seen), marker) {
				return c.at, nil
			}
		case <-limit.C:
			return time.Time{}, fmt.Errorf("no %q within 30s; the screen showed %q", marker, seen)
		}
	}
}

// walkKey is the k-th key of a screen's walk: j nine times down the
// catalogue, k nine times back up, so that every key moves attest's
// cursor (and counts on the baseline's).
func walkKey(k int) string {
	if k%18 < 9 {
		return "j"
	}
	return "k"
}

// typeOn has each of terms type at rate keys a second (in all, spread
// evenly) for d, and returns each key's latency, sorted, from the moment
// it was due to the first output after it.
func typeOn(terms []*term, rate int, d time.Duration) ([]time.Duration, error) {
	every := time.Duration(len(terms)) * time.Second / time.Duration(rate)
	start := time.Now().Add(100 * time.Millisecond)
	end := start.Add(d)
	lat := make([][]time.Duration, len(terms))
	errs := make([]error, len(terms))
	var wg sync.WaitGroup
	for i, t := range terms {
		wg.Go(func() {
			first := start.Add(every * time.Duration(i) / time.Duration(len(terms)))
			for k := 0; ; k++ {
				due := first.Add(every * time.Duration(k))
				if due.After(end) {
					return
				}
				time.Sleep(time.Until(due))
				for drained := false; !drained; { // output from before the key is not its frame
					select {
					case <-t.chunks:
					default:
						drained = true
					}
				}
				if _, err := io.WriteString(t.stdin, walkKey(k)); err != nil {
					errs[i] = fmt.Errorf("screen %d key %d: %w", i, k, err)
					return
				}
				select {
				case c, ok := <-t.chunks:
					if !ok {
						errs[i] = fmt.Errorf("screen %d ended at key %d", i, k)
						return
					}
					lat[i] = append(lat[i], c.at.Sub(due))
				case <-time.After(30 * time.Second): // bounds a failure only
					errs[i] = fmt.Errorf("screen %d: no frame for key %d within 30s", i, k)
					return
				}
			}
		})
	}
	wg.Wait()
	all := slices.Concat(lat...)
	slices.Sort(all)
	return all, errors.Join(errs...)
}

// openTerms opens n screens on s, openers at a time.
func (s *served) openTerms(n, width, height int) ([]*term, error) {
	terms := make([]*term, n)
	_, _, err := load(n, openers, func(i int) error {
		var err error
		terms[i], err = s.openTerm(width, height)
		return err
	})
	if err != nil {
		for _, t := range terms {
			if t != nil {
				t.close()
			}
		}
		return nil, err
	}
	return terms, nil
}

// figures is what one server's screens cost.
type figures struct {
	open    time.Duration // CPU to open a screen
	rssKB   float64       // resident memory per idle screen
	idle    float64       // CPU seconds per second per idle screen (median window)
	key     time.Duration // CPU per key, less the idle screens' share
	p50     time.Duration // key to frame
	p99     time.Duration
	keys    int
	withKey bool
}

// side is one server under measurement and its open screens.
type side struct {
	s     *served
	terms []*term
	f     figures
	idles []float64 // per idle window
}

func (sd *side) close() {
	for _, t := range sd.terms {
		t.close()
	}
	sd.terms = nil
}

// open warms the server up with a few screens, then opens `screens` of
// them and notes the CPU it took and the memory they hold.
func (sd *side) open(width, height int) error {
	// What every server sets up on its first session (and the page cache
	// of its binary) is not counted per screen.
	warm, err := sd.s.openTerms(openers, width, height)
	if err != nil {
		return fmt.Errorf("warming up: %w", err)
	}
	for _, t := range warm {
		t.close()
	}
	time.Sleep(settle)
	rss0, err := sd.s.rss()
	if err != nil {
		return err
	}
	cpu0, err := sd.s.cpu()
	if err != nil {
		return err
	}
	if sd.terms, err = sd.s.openTerms(screens, width, height); err != nil {
		return fmt.Errorf("opening: %w", err)
	}
	cpu1, err := sd.s.cpu()
	if err != nil {
		return err
	}
	sd.f.open = (cpu1 - cpu0) / screens
	time.Sleep(settle)
	rss1, err := sd.s.rss()
	if err != nil {
		return err
	}
	sd.f.rssKB = float64(rss1-rss0) / screens
	if os.Getenv(profileEnv) != "" {
		sd.s.cmd.Process.Signal(syscall.SIGUSR1)
	}
	return nil
}

// idleWindow measures the server's CPU per idle screen over d.
func (sd *side) idleWindow(d time.Duration) error {
	c0, err := sd.s.cpu()
	if err != nil {
		return err
	}
	t := time.Now()
	time.Sleep(d)
	c1, err := sd.s.cpu()
	if err != nil {
		return err
	}
	sd.idles = append(sd.idles, (c1-c0).Seconds()/time.Since(t).Seconds()/float64(len(sd.terms)))
	return nil
}

// keep closes all but n of the screens.
func (sd *side) keep(n int) {
	for _, t := range sd.terms[n:] {
		t.close()
	}
	sd.terms = sd.terms[:n]
}

// typeKeys types on the screens and notes the CPU per key and the
// latencies.
func (sd *side) typeKeys() error {
	c0, err := sd.s.cpu()
	if err != nil {
		return err
	}
	t := time.Now()
	lat, err := typeOn(sd.terms, keysPerS, typeFor)
	if err != nil {
		return err
	}
	took := time.Since(t)
	c1, err := sd.s.cpu()
	if err != nil {
		return err
	}
	idleShare := time.Duration(sd.f.idle * typing * float64(took))
	sd.f.keys, sd.f.withKey = len(lat), true
	sd.f.key = (c1 - c0 - idleShare) / time.Duration(len(lat))
	sd.f.p50, sd.f.p99 = percentile(lat, 50), percentile(lat, 99)
	return nil
}

// idleRounds and idleWindow: the idle CPU is measured in windows that
// alternate between the two servers, both with their screens open, so
// that the rest of the machine's load falls on both alike; each figure is
// the median of its windows.
const (
	idleRounds = 5
	idleSlice  = idleFor / idleRounds
)

// measureScreens measures the baseline's screens and attest's side by
// side: each opens its screens in turn, then the idle windows alternate,
// then each types in turn.
func measureScreens(tb testing.TB, width, height int, withKeys bool) (base, att figures, err error) {
	sides := []*side{{s: startServed(tb, "baseline")}, {s: startServed(tb, "attest")}}
	defer func() {
		for _, sd := range sides {
			sd.close()
		}
	}()
	for _, sd := range sides {
		if err := sd.open(width, height); err != nil {
			return base, att, fmt.Errorf("%s: %w", sd.s.role, err)
		}
	}
	for i := range idleRounds {
		for j := range sides {
			sd := sides[(i+j)%2] // each goes first in turn
			if err := sd.idleWindow(idleSlice); err != nil {
				return base, att, err
			}
		}
	}
	for _, sd := range sides {
		slices.Sort(sd.idles)
		sd.f.idle = sd.idles[len(sd.idles)/2]
	}
	if withKeys {
		// Each types while the other's screens stay open, idle.
		for _, sd := range sides {
			sd.keep(typing)
		}
		time.Sleep(settle)
		for _, sd := range sides {
			if err := sd.typeKeys(); err != nil {
				return base, att, fmt.Errorf("%s: %w", sd.s.role, err)
			}
		}
	}
	return sides[0].f, sides[1].f, nil
}

// BenchmarkScreens: attest's screens against the baseline's, at 80x24
// (every figure) and 200x60 (open, memory, idle); see the top of this
// file. One run measures once, whatever b.N; -count repeats it.
func BenchmarkScreens(b *testing.B) {
	for _, size := range []struct{ w, h int }{{80, 24}, {200, 60}} {
		b.Run(fmt.Sprintf("%dx%d", size.w, size.h), func(b *testing.B) {
			keys := size.w == 80
			base, att, err := measureScreens(b, size.w, size.h, keys)
			if err != nil {
				b.Fatal(err)
			}
			ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
			b.ReportMetric(0, "ns/op")
			b.ReportMetric(ms(base.open), "base-open-ms")
			b.ReportMetric(ms(att.open), "attest-open-ms")
			b.ReportMetric(float64(att.open)/float64(base.open), "open-x")
			b.ReportMetric(base.rssKB, "base-rss-KB")
			b.ReportMetric(att.rssKB, "attest-rss-KB")
			b.ReportMetric(att.rssKB/base.rssKB, "rss-x")
			b.ReportMetric(1e6*base.idle, "base-idle-µs/s")
			b.ReportMetric(1e6*att.idle, "attest-idle-µs/s")
			b.ReportMetric(att.idle/base.idle, "idle-x")
			if keys {
				b.ReportMetric(ms(base.key), "base-key-cpu-ms")
				b.ReportMetric(ms(att.key), "attest-key-cpu-ms")
				b.ReportMetric(float64(att.key)/float64(base.key), "key-cpu-x")
				b.ReportMetric(ms(base.p99), "base-key-p99-ms")
				b.ReportMetric(ms(att.p99), "attest-key-p99-ms")
				b.ReportMetric(float64(att.p99)/float64(base.p99), "key-p99-x")
			}
			b.Logf("%dx%d: baseline %+v", size.w, size.h, base)
			b.Logf("%dx%d: attest   %+v", size.w, size.h, att)
		})
	}
}

// The harness works, briefly: each server starts in its child process,
// reports CPU and memory, opens screens that come up, and every key
// typed on them draws a frame.
func TestScreensHarness(t *testing.T) {
	for _, role := range []string{"baseline", "attest"} {
		s := startServed(t, role)
		terms, err := s.openTerms(2, 80, 24)
		if err != nil {
			t.Fatalf("%s: %v", role, err)
		}
		lat, err := typeOn(terms, 20, 500*time.Millisecond)
		for _, t := range terms {
			t.close()
		}
		if err != nil {
			t.Fatalf("%s: %v", role, err)
		}
		if len(lat) < 10 || lat[0] <= 0 {
			t.Fatalf("%s: %d keys with latencies %v; want 10 at least, all drawn", role, len(lat), lat)
		}
		cpu, err := s.cpu()
		if err != nil || cpu <= 0 {
			t.Fatalf("%s: cpu %v, %v", role, cpu, err)
		}
		if rss, err := s.rss(); err != nil || rss < 1024 {
			t.Fatalf("%s: rss %d KiB, %v", role, rss, err)
		}
	}
}
