package server_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	gossh "golang.org/x/crypto/ssh"

	"github.com/attest-dev/attest/flows"
	"github.com/attest-dev/attest/flows/clock"
	"github.com/attest-dev/attest/server/config"
)

// screen is a client's view of one screen session over a real SSH
// connection: what it typed, and everything the server drew.
type screen struct {
	t     *testing.T
	raw   net.Conn
	conn  *gossh.Client
	sess  *gossh.Session
	stdin io.WriteCloser

	mu   sync.Mutex
	out  bytes.Buffer
	more chan struct{} // signalled when out grows
	done chan struct{} // closed when the output ends
}

// openScreen connects and asks for a terminal of cols x rows.
func openScreen(t *testing.T, addr string, key gossh.Signer, cols, rows int) *screen {
	t.Helper()
	return openScreenWith(t, addr, key, cols, rows, nil)
}

// openScreenWith runs beforeShell between the pty-req and the shell
// request.
func openScreenWith(t *testing.T, addr string, key gossh.Signer, cols, rows int, beforeShell func(*screen)) *screen {
	t.Helper()
	return openTerminal(t, addr, "visitor", key, cols, rows, beforeShell)
}

// openTerminal is openScreenWith as an SSH user of the caller's choice
// ("inbox" opens the demo inbox).
func openTerminal(t *testing.T, addr, user string, key gossh.Signer, cols, rows int, beforeShell func(*screen)) *screen {
	t.Helper()
	raw, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	c, chans, reqs, err := gossh.NewClientConn(raw, addr, &gossh.ClientConfig{
		User: user, Auth: []gossh.AuthMethod{gossh.PublicKeys(key)},
		HostKeyCallback: gossh.InsecureIgnoreHostKey(),
	})
	if err != nil {
		raw.Close()
		t.Fatal(err)
	}
	sc := &screen{t: t, raw: raw, conn: gossh.NewClient(c, chans, reqs), more: make(chan struct{}, 1), done: make(chan struct{})}
	if sc.sess, err = sc.conn.NewSession(); err != nil {
		t.Fatal(err)
	}
	if err := sc.sess.RequestPty("xterm-256color", rows, cols, gossh.TerminalModes{}); err != nil {
		t.Fatal(err)
	}
	if sc.stdin, err = sc.sess.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	out, err := sc.sess.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if beforeShell != nil {
		beforeShell(sc)
	}
	shell := make(chan error, 1)
	go func() { shell <- sc.sess.Shell() }()
	select {
	case err := <-shell:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(20 * time.Second): // bounds a failure only
		t.Fatal("the server never answered the shell request")
	}
	go func() {
		defer close(sc.done)
		buf := make([]byte, 32<<10)
		for {
			n, err := out.Read(buf)
			sc.mu.Lock()
			sc.out.Write(buf[:n])
			sc.mu.Unlock()
			select {
			case sc.more <- struct{}{}:
			default:
			}
			if err != nil {
				return
			}
		}
	}()
	return sc
}

// mark is where the output stands now; await looks only past it.
func (sc *screen) mark() int {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	return sc.out.Len()
}

// await waits until the output past from contains text. The limit only
// bounds a failure.
func (sc *screen) await(from int, text string) {
	sc.t.Helper()
	limit := time.NewTimer(20 * time.Second)
	defer limit.Stop()
	for {
		sc.mu.Lock()
		seen := bytes.Contains(sc.out.Bytes()[from:], []byte(text))
		sc.mu.Unlock()
		if seen {
			return
		}
		select {
		case <-sc.more:
		case <-sc.done:
			sc.mu.Lock()
			defer sc.mu.Unlock()
			if !bytes.Contains(sc.out.Bytes()[from:], []byte(text)) {
				sc.t.Fatalf("the session ended without showing %q", text)
			}
			return
		case <-limit.C:
			sc.t.Fatalf("the screen never showed %q", text)
		}
	}
}

func (sc *screen) windowChange(cols, rows, pixels int) {
	sc.t.Helper()
	req := struct{ Cols, Rows, Width, Height uint32 }{uint32(cols), uint32(rows), uint32(pixels), uint32(pixels)}
	if _, err := sc.sess.SendRequest("window-change", false, gossh.Marshal(&req)); err != nil {
		sc.t.Fatalf("window-change %dx%d: %v", cols, rows, err)
	}
}

// resizeTo changes the window and waits until the screen shows text.
//
// Bubble Tea erases and repaints everything on a resize, but its renderer
// may paint the old view once more before the model has taken the new
// size, and then draws the new view as a difference: only the cells that
// changed. So the text is awaited after a second window change of the
// same size (the pixel size differs, so it is not merged with the first),
// sent once the first has been drawn: its repaint is of the new view.
func (sc *screen) resizeTo(cols, rows int, text string) {
	sc.t.Helper()
	at := sc.mark()
	sc.windowChange(cols, rows, 0)
	sc.awaitOutput(at)
	at = sc.mark()
	sc.windowChange(cols, rows, 1)
	sc.await(at, text)
}

// awaitOutput waits until there is output past from.
func (sc *screen) awaitOutput(from int) {
	sc.t.Helper()
	limit := time.NewTimer(20 * time.Second)
	defer limit.Stop()
	for sc.mark() <= from {
		select {
		case <-sc.more:
		case <-sc.done:
			sc.t.Fatal("the session ended")
		case <-limit.C:
			sc.t.Fatal("the screen drew nothing")
		}
	}
}

// vanish drops the TCP connection without a word, as a client that
// crashed or lost its network does.
func (sc *screen) vanish() { sc.raw.Close() }

// homeMarker is on the first screen whatever the window's size.
const homeMarker = "starred"

// heapInUse is the live heap after a full collection.
func heapInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse
}

const mib = 1 << 20

// A client asking for an enormous terminal, at pty-req or at any window
// change, gets the screens at the server's largest size, at about the
// memory of a normal session. Before the bound, 20000x20000 ended the
// whole server with a fatal out-of-memory.
func TestHugeTerminalIsBounded(t *testing.T) {
	ts := startServer(t, nil)
	key := newKey(t)
	if _, errOut, code := run(t, ts.addr, key, "whoami"); code != 0 {
		t.Fatalf("whoami: %s", errOut)
	}
	noScreen := heapInUse()

	normal := openScreen(t, ts.addr, key, 80, 24)
	defer normal.vanish()
	normal.await(0, homeMarker)
	oneNormal := heapInUse()
	perNormal := int64(oneNormal) - int64(noScreen)

	// The bound itself, read off the screen: the "window too small" state
	// names the size the screens were given.
	narrow := openScreen(t, ts.addr, key, 65535, 10)
	narrow.await(0, "have 200x10")
	narrow.vanish()

	huge := openScreen(t, ts.addr, key, 65535, 65535)
	defer huge.vanish()
	huge.await(0, homeMarker)
	withHuge := heapInUse()

	// Window changes after a normal start: each huge one follows a short
	// one, whose "too small" answer shows the width's bound; the screen
	// coming back shows the huge one was taken.
	for _, size := range [][2]int{{65535, 65535}, {30000, 30000}, {1 << 31, 1 << 31}} {
		normal.resizeTo(70000, 12, "have 200x12")
		normal.resizeTo(size[0], size[1], homeMarker)
	}
	bothHuge := heapInUse()

	t.Logf("heap in use: %.1f MiB with no screen; a normal 80x24 screen %+.1f MiB; a 65535x65535 one %+.1f MiB; the normal one after huge window changes %+.1f MiB",
		float64(noScreen)/mib, float64(perNormal)/mib, (float64(withHuge)-float64(oneNormal))/mib, (float64(bothHuge)-float64(withHuge))/mib)
	const few = 5 * mib
	if extra := int64(withHuge) - int64(oneNormal) - perNormal; extra > few {
		t.Errorf("a 65535x65535 pty-req cost %.1f MiB more than a normal screen", float64(extra)/mib)
	}
	if extra := int64(bothHuge) - int64(withHuge); extra > few {
		t.Errorf("65535x65535 window changes cost %.1f MiB", float64(extra)/mib)
	}
}

// Zero sizes mean "unknown": the screens get 80x24 at the start, and a
// zero window change keeps the size they had.
func TestZeroTerminalSize(t *testing.T) {
	ts := startServer(t, nil)
	sc := openScreen(t, ts.addr, newKey(t), 0, 0)
	defer sc.vanish()
	sc.await(0, homeMarker)
	sc.resizeTo(40, 0, "have 40x24")
	sc.resizeTo(0, 12, "have 40x12")
}

// Window changes before the shell request are bounded too, and do not
// hang the session: the SSH library queued one and then blocked its
// request loop, so the shell request was never answered.
func TestWindowChangesBeforeTheShell(t *testing.T) {
	ts := startServer(t, nil)
	sc := openScreenWith(t, ts.addr, newKey(t), 80, 24, func(sc *screen) {
		sc.windowChange(65535, 65535, 0)
		sc.windowChange(30000, 30000, 0)
		sc.windowChange(70000, 12, 0)
	})
	defer sc.vanish()
	sc.await(0, "have 200x12")
}

// An idle screen has no goroutine of its own waiting for the flows'
// pokes or pumping its window changes: the loop that hands it its input
// hands it those too. A star added to its device elsewhere (as another
// session of the same key would) shows with no key pressed.
func TestIdleScreenWaitsInItsInputLoop(t *testing.T) {
	ts := startServer(t, nil)
	key := newKey(t)
	sc := openScreen(t, ts.addr, key, 80, 24)
	defer sc.vanish()
	sc.await(0, "0 of 10 starred")

	buf := make([]byte, 1<<20)
	stacks := string(buf[:runtime.Stack(buf, true)])
	for _, waiter := range []string{"tui.(*live).wait", "(*terminalSession).pump"} {
		if strings.Contains(stacks, waiter) {
			t.Errorf("a goroutine waits in %s:\n%s", waiter, summarizeStacks(stacks))
		}
	}

	dev := flows.KeyDevice(gossh.FingerprintSHA256(key.PublicKey()))
	from := sc.mark()
	if _, err := ts.app.Service.Star(context.Background(), dev, "vega"); err != nil {
		t.Fatal(err)
	}
	sc.awaitOutput(from) // nothing else draws on an idle home
	// A repaint shows the whole frame, not only the cells that changed.
	sc.resizeTo(100, 30, "1 of 10 starred")
}

// goroutinesSettle waits until the number of goroutines is at most want,
// or fails after a deadline that bounds a failure only.
func goroutinesSettle(t *testing.T, want int) int {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		n := runtime.NumGoroutine()
		if n <= want {
			return n
		}
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			buf = buf[:runtime.Stack(buf, true)]
			t.Fatalf("%d goroutines, want at most %d; stacks:\n%s", n, want, summarizeStacks(string(buf)))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// goroutinesSteady is the number of goroutines once it has not changed
// for a tenth of a second.
func goroutinesSteady() int {
	n, same := runtime.NumGoroutine(), 0
	for same < 5 {
		time.Sleep(20 * time.Millisecond)
		if m := runtime.NumGoroutine(); m == n {
			same++
		} else {
			n, same = m, 0
		}
	}
	return n
}

// summarizeStacks counts goroutines by their top frames, so a leak reads
// as one line with a count rather than pages of stacks.
func summarizeStacks(all string) string {
	count := map[string]int{}
	for _, g := range strings.Split(all, "\n\n") {
		lines := strings.Split(g, "\n")
		var frames []string
		for i := 1; i < len(lines) && len(frames) < 4; i += 2 {
			frames = append(frames, strings.TrimSpace(lines[i]))
		}
		count[strings.Join(frames, " <- ")]++
	}
	var b strings.Builder
	for k, n := range count {
		fmt.Fprintf(&b, "%4d  %s\n", n, k)
	}
	return b.String()
}

// No goroutine or memory outlives a screen session, however it ends: the
// client vanishes with keys still queued, mid-resize, right after asking
// for the screen (mid-render), or closes the session but keeps the
// connection. Bubble Tea's own input reader stayed blocked forever in the
// first case.
func TestAbandonedScreensLeaveNothing(t *testing.T) {
	ts := startServer(t, func(c *config.Config) {
		// All 100 come from 127.0.0.1, a quarter of them kept open.
		c.SSH.MaxConnectionsPerIP = 200
		c.SSH.MaxUnauthenticatedPerIP = c.SSH.MaxUnauthenticated
	})
	key := newKey(t)

	// A command first, so the server is surely accepting, then the count
	// once it holds still.
	if _, errOut, code := run(t, ts.addr, key, "whoami"); code != 0 {
		t.Fatalf("whoami: %s", errOut)
	}
	baseline := goroutinesSteady()
	// One screen first, so that what the server starts once, on first
	// use, counts in neither figure.
	warm := openScreen(t, ts.addr, key, 80, 24)
	warm.await(0, homeMarker)
	warm.vanish()
	<-warm.done
	goroutinesSettle(t, baseline)
	baseHeap := heapInUse()

	// Keys of every kind, an unfinished escape sequence and an unfinished
	// paste: the decoder holds on to the last two.
	typing := strings.Repeat("abc\x1b[A\x1b[B\t\r\x1b[1;5C\x7f", 400) + "\x1b[200~pasted" + "\x1b["

	var kept []*screen // closed the session, kept the connection
	for i := range 100 {
		sc := openScreen(t, ts.addr, key, 80, 24)
		switch i % 4 {
		case 0: // vanishes with input queued
			sc.await(0, homeMarker)
			go sc.stdin.Write([]byte(typing))
			sc.vanish()
		case 1: // vanishes mid-resize
			sc.await(0, homeMarker)
			for w := range 20 {
				if sc.sess.WindowChange(24+w, 80+w) != nil {
					break
				}
			}
			sc.vanish()
		case 2: // vanishes mid-render, with input queued before the first frame
			go sc.stdin.Write([]byte(typing))
			sc.vanish()
		case 3: // hangs up the session, keeps the connection
			sc.await(0, homeMarker)
			go sc.stdin.Write([]byte(typing))
			sc.sess.Close()
			kept = append(kept, sc)
		}
	}
	// The sessions closed on open connections end on their own; those
	// connections are then idle clients the server keeps until they leave.
	for _, sc := range kept {
		<-sc.done
	}
	for _, sc := range kept {
		sc.conn.Close()
	}
	n := goroutinesSettle(t, baseline)
	heap := heapInUse()
	t.Logf("goroutines: %d before, %d after 100 abandoned screens; heap %.1f -> %.1f MiB", baseline, n, float64(baseHeap)/mib, float64(heap)/mib)
	if heap > baseHeap+4*mib {
		t.Errorf("100 abandoned screens left the heap at %.1f MiB, from %.1f", float64(heap)/mib, float64(baseHeap)/mib)
	}
}

// In demo mode the first screen says where the codes go: the inbox, at
// the host and port this session connected to.
func TestHomeNamesTheDemoInbox(t *testing.T) {
	ts := startServer(t, nil)
	_, port, err := net.SplitHostPort(ts.addr)
	if err != nil {
		t.Fatal(err)
	}
	sc := openScreen(t, ts.addr, newKey(t), 200, 40)
	defer sc.vanish()
	sc.await(0, "ssh -p "+port+" inbox@localhost")
}

// The demo inbox on a terminal shows beside each message what the
// governor decided: when the next message to the address can go, and how
// many requests it held back before this one.
func TestInboxShowsTheGovernor(t *testing.T) {
	ts := startServer(t, nil)
	inbox := openTerminal(t, ts.addr, "inbox", newKey(t), 200, 40, nil)
	defer inbox.vanish()
	inbox.await(0, "attest demo inbox")
	asker := newKey(t)
	if _, errOut, code := run(t, ts.addr, asker, "signin ada@example.com"); code != 0 {
		t.Fatalf("signin: %s", errOut)
	}
	inbox.await(0, "governor: sent; the next to this address can go at 09:01:00 UTC (one message a minute to an address)")
	at := inbox.mark()
	for range 2 { // held back, each recorded
		if _, _, code := run(t, ts.addr, asker, "signin ada@example.com"); code == 0 {
			t.Fatal("a second code went out within the minute")
		}
	}
	ts.app.Clock.(*clock.Fake).Advance(time.Minute)
	if _, errOut, code := run(t, ts.addr, newKey(t), "signin ada@example.com"); code != 0 {
		t.Fatalf("signin after the minute: %s", errOut)
	}
	inbox.await(at, "the next to this address can go at 09:02:00 UTC (one message a minute to an address); 2 requests held back before it")
}

// A screen asks the terminal for the keyboard enhancements Bubble Tea
// asks for (modifyOtherKeys, and the kitty keyboard protocol's key
// disambiguation, pushed on the alternate screen's own stack, and a query
// of what the terminal supports), and gives them back before it leaves
// the alternate screen: ctrl+i is not tab, and the shell after it gets
// its keys as before.
func TestScreenKeyboardModes(t *testing.T) {
	ts := startServer(t, nil)
	sc := openScreen(t, ts.addr, newKey(t), 80, 24)
	sc.await(0, homeMarker)
	if _, err := sc.stdin.Write([]byte("q")); err != nil {
		t.Fatal(err)
	}
	<-sc.done
	sc.conn.Close()
	sc.mu.Lock()
	out := sc.out.String()
	sc.mu.Unlock()
	enter, leave := strings.Index(out, "\x1b[?1049h"), strings.LastIndex(out, "\x1b[?1049l")
	if enter < 0 || leave < enter {
		t.Fatalf("the screen did not enter and then leave the alternate screen: %q", out)
	}
	on := "\x1b[>4;2m" + "\x1b[>1u" + "\x1b[?u" // modifyOtherKeys 2, push kitty flags 1, query
	if i := strings.Index(out, on); i < enter || i > leave {
		t.Errorf("keyboard enhancements %q not asked for on the alternate screen: at %d, alternate screen %d to %d, in %q", on, i, enter, leave, out)
	}
	off := "\x1b[>4m" + "\x1b[<1u" // modifyOtherKeys reset, kitty flags popped
	if i := strings.LastIndex(out, off); i < enter || i > leave {
		t.Errorf("keyboard enhancements %q not given back before leaving the alternate screen: at %d, alternate screen %d to %d, in %q", off, i, enter, leave, out)
	}
	if strings.Count(out, "\x1b[>1u") != 1 || strings.Count(out, "\x1b[<1u") != 1 {
		t.Errorf("kitty keyboard flags pushed %d times and popped %d times; want once each", strings.Count(out, "\x1b[>1u"), strings.Count(out, "\x1b[<1u"))
	}
}
