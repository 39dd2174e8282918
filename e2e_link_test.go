package main

// End-to-end tests of magic links with a real browser: the terminal (the
// OpenSSH client in tmux) asks for a sign-in link, the demo inbox shows
// the message, and headless Chromium, driven over the DevTools protocol
// by chromedp, opens the link and presses its button. They reuse the
// helpers of e2e_test.go and e2e_ops_test.go, and need chromium on the
// PATH besides ssh and tmux; .ci/run installs all three.

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// startMagicE2E is startE2E with the HTTP listener on a free port too, and
// the base of links the server printed ("  links:    http://…").
// startE2E leaves the HTTP listener on its default port and discards what
// the server prints after the SSH port, and the links need both.
func startMagicE2E(t *testing.T) (e *e2e, links string) {
	t.Helper()
	needTools(t)
	dir := t.TempDir()
	e = &e2e{t: t, dir: dir, dataDir: filepath.Join(dir, "data"), tmuxSock: filepath.Join(dir, "tmux.sock")}
	e.server = exec.Command(binary, "--data-dir", e.dataDir, "--ssh-listen", "127.0.0.1:0", "--http-listen", "127.0.0.1:0")
	e.server.Env = append(os.Environ(), "ATTEST_LOG_LEVEL=warn")
	stdout, err := e.server.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	e.server.Stderr = &e.stderr
	if err := e.server.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.stop)
	portRE := regexp.MustCompile(`ssh -p (\d+) localhost`)
	linksRE := regexp.MustCompile(`^\s*links:\s+(http://127\.0\.0\.1:\d+)\s*$`)
	sc := bufio.NewScanner(stdout)
	for (e.port == "" || links == "") && sc.Scan() {
		if m := portRE.FindStringSubmatch(sc.Text()); m != nil {
			e.port = m[1]
		}
		if m := linksRE.FindStringSubmatch(sc.Text()); m != nil {
			links = m[1]
		}
	}
	if e.port == "" || links == "" {
		t.Fatalf("the server did not say where it listens (ssh %q, links %q); stderr:\n%s", e.port, links, e.stderr.String())
	}
	go func() { _, _ = bufio.NewReader(stdout).WriteTo(devNull{}) }()
	return e, links
}

// newBrowser starts headless Chromium with a fresh profile and returns its
// context; every tab opened from it is a tab of this browser. The flags
// keep it from reaching out on its own: the test machine's network refuses
// everything but localhost, and a browser that tries its background
// connections only gets slower.
func newBrowser(t *testing.T) context.Context {
	t.Helper()
	exe, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatalf("chromium is needed for the magic-link end-to-end tests (./test.sh installs it): %v", err)
	}
	// Made before the browser's cleanup is registered, so it is removed
	// after Chromium has exited (cleanups run last first).
	profile := t.TempDir()
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(exe),
		chromedp.UserDataDir(profile),
		chromedp.Headless,
		chromedp.NoSandbox, // the tests run as root
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
	)
	browser, cancelBrowser := chromedp.NewContext(alloc, chromedp.WithErrorf(t.Logf))
	t.Cleanup(func() {
		cancelBrowser()
		cancelAlloc()
	})
	// The first run starts the browser; it must have no deadline, which
	// would stop the browser with it.
	if err := chromedp.Do(browser); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return browser
}

// tab is one browser tab.
type tab struct {
	t   *testing.T
	ctx context.Context
}

func newTab(t *testing.T, browser context.Context) *tab {
	t.Helper()
	ctx, cancel := chromedp.NewContext(browser)
	t.Cleanup(cancel)
	if err := chromedp.Do(ctx); err != nil { // opens the tab, without a deadline
		t.Fatalf("open a tab: %v", err)
	}
	return &tab{t: t, ctx: ctx}
}

// open loads a URL (a GET, as a person or a mail scanner would) and
// returns the page's heading.
func (tb *tab) open(url string) string {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, 15*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.Navigate(url)); err != nil {
		tb.t.Fatalf("open %s: %v", url, err)
	}
	return tb.heading()
}

// heading is the page's h1.
func (tb *tab) heading() string {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, 15*time.Second)
	defer cancel()
	h1, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("h1")))
	if err != nil {
		tb.t.Fatalf("read the page's heading: %v", err)
	}
	return strings.TrimSpace(h1)
}

// text is what the page says.
func (tb *tab) text() string {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, 15*time.Second)
	defer cancel()
	body, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body ? document.body.innerText : ""`))
	if err != nil {
		tb.t.Fatalf("read the page: %v", err)
	}
	return body
}

// button returns the page's button's text.
func (tb *tab) button() string {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, 15*time.Second)
	defer cancel()
	text, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("form button")))
	if err != nil {
		tb.t.Fatalf("read the page's button: %v", err)
	}
	return strings.TrimSpace(text)
}

// typeInto types text into the page's field named name.
func (tb *tab) typeInto(name, text string) {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, 15*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.SendKeys(chromedp.CSS(`input[name="`+name+`"]`), text)); err != nil {
		tb.t.Fatalf("type into %s: %v", name, err)
	}
}

// press presses the page's button and waits for the page it leads to,
// whose heading it returns.
func (tb *tab) press() string {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, 15*time.Second)
	defer cancel()
	before, err := chromedp.Run(ctx, chromedp.Location())
	if err != nil {
		tb.t.Fatalf("read the location: %v", err)
	}
	// Mark the page, so the wait below knows the answer's page from it
	// (the form posts to the same URL).
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`window.__pressed = true`)); err != nil {
		tb.t.Fatalf("mark the page: %v", err)
	}
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS("form button"))); err != nil {
		tb.t.Fatalf("press the button: %v", err)
	}
	for {
		// Until the answer's page has loaded, the evaluation may fail
		// (the old page is going away) or still see the old page.
		answered, err := chromedp.Run(ctx, chromedp.Evaluate[bool](
			`!window.__pressed && document.readyState === "complete" && !!document.querySelector("h1")`))
		if err == nil && answered {
			break
		}
		select {
		case <-ctx.Done():
			tb.t.Fatalf("no answer to pressing the button on %s: %v", before, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
	return tb.heading()
}

var (
	// linkURLRE is a magic link in the inbox.
	linkURLRE = regexp.MustCompile(`http://127\.0\.0\.1:\d+/link/[a-z2-7]{26}`)
	// screenCheckRE is the check on the waiting screen: what the link's
	// page asks for.
	screenCheckRE = regexp.MustCompile(`Check\s+([A-Z2-9]{4}) · only this terminal shows it`)
)

// joined captures a window with the lines the terminal wrapped joined
// again: the inbox prints a message's lines as they are, wider than 80.
func (e *e2e) joined(window string) string {
	out, _ := exec.Command("tmux", "-S", e.tmuxSock, "capture-pane", "-p", "-J", "-t", "e2e:"+window).Output()
	return string(out)
}

// linkIn waits for the inbox window to show the n-th link (from 1).
func (e *e2e) linkIn(inbox string, n int) string {
	e.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		s := e.joined(inbox)
		if found := linkURLRE.FindAllString(s, -1); len(found) >= n {
			return found[n-1]
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("no link number %d in the inbox:\n%s", n, s)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// askForLink opens the inbox and a terminal for a new key, and asks for
// a sign-in link on the sign-in screen. It returns the terminal's key, the
// check the terminal shows and the link from the inbox.
func (e *e2e) askForLink(links, addr string) (key, check, url string) {
	e.t.Helper()
	e.window("inbox", e.key("watcher"), "inbox")
	e.waitFor("inbox", "demo inbox", 10*time.Second)
	key = e.key("visitor")
	e.window("term", key, "visitor")
	e.waitFor("term", "anonymous visitor", 10*time.Second)
	e.keys("term", "s")
	e.waitFor("term", "ctrl+l", 5*time.Second)
	e.keys("term", addr)
	e.tmux("send-keys", "-t", "e2e:term", "C-l")
	screen := e.waitFor("term", "moves on by itself", 5*time.Second)
	m := screenCheckRE.FindStringSubmatch(screen)
	if m == nil || !strings.Contains(screen, strings.Join(strings.Split(m[1], ""), " ")) {
		e.t.Fatalf("the terminal shows no check for the link's page:\n%s", screen)
	}
	check = m[1]
	url = e.linkIn("inbox", 1)
	if !strings.HasPrefix(url, links+"/link/") {
		e.t.Fatalf("the link %s does not start with the server's links base %s", url, links)
	}
	// The inbox wraps a message's long lines under their indent: read its
	// words as one run. It holds nothing the page asks for.
	if inbox := strings.Join(strings.Fields(e.joined("inbox")), " "); strings.Contains(inbox, check) || !strings.Contains(inbox, "type the 4 characters") {
		e.t.Fatalf("the message gives the check %s away, or does not say to type it:\n%s", check, inbox)
	}
	return key, check, url
}

// The terminal asks for a link; the browser opens it, the person types
// the check the terminal shows and presses the button; the terminal moves
// on to signed in within seconds. Pressing again, or opening the link
// again, says it was already used.
func TestE2EMagicLinkSignsInTheTerminal(t *testing.T) {
	e, links := startMagicE2E(t)
	browser := newBrowser(t)
	key, check, url := e.askForLink(links, "grace@example.com")

	first, second := newTab(t, browser), newTab(t, browser)
	for _, tb := range []*tab{first, second} {
		if h := tb.open(url); h != "Sign in your terminal to attest?" {
			t.Fatalf("the page's heading is %q", h)
		}
		if body := tb.text(); strings.Contains(body, check) || !strings.Contains(body, "never type characters that someone else tells you") {
			t.Fatalf("the page gives the check %s away, or does not warn:\n%s", check, body)
		}
	}
	if b := first.button(); b != "Sign in" {
		t.Fatalf("the page's button says %q", b)
	}
	first.typeInto("check", strings.ToLower(check))
	second.typeInto("check", check)

	pressed := time.Now()
	if h := first.press(); h != "Signed in" {
		t.Fatalf("after pressing, the page says %q:\n%s\nserver stderr:\n%s", h, first.text(), e.stderr.String())
	}
	e.waitFor("term", "Signed in with the link as grace@example.com.", 3*time.Second)
	t.Logf("the terminal moved on %s after the button was pressed (the page's answer included)", time.Since(pressed).Round(time.Millisecond))
	e.waitFor("term", "signed in as grace@example.com · via link", 3*time.Second)

	// The second tab still shows the button: pressing it uses nothing.
	if h := second.press(); h != "Link already used" {
		t.Fatalf("a second press says %q:\n%s", h, second.text())
	}
	if body := second.text(); !strings.Contains(body, "This link was already used.") {
		t.Fatalf("a second press says:\n%s", body)
	}
	// Opening it again says so too.
	if h := first.open(url); h != "Link already used" {
		t.Fatalf("a second visit says %q:\n%s", h, first.text())
	}
	out, err := e.command(key, "whoami")
	if err != nil || !strings.Contains(out, "grace@example.com") {
		t.Fatalf("whoami after the link: %v\n%s", err, out)
	}
}

// Opening the link (a GET, as mail scanners do) uses nothing: the
// terminal keeps waiting, and a press afterwards still signs it in.
func TestE2EMagicLinkOpeningUsesNothing(t *testing.T) {
	e, links := startMagicE2E(t)
	browser := newBrowser(t)
	key, check, url := e.askForLink(links, "grace@example.com")

	scanner := newTab(t, browser)
	for range 2 {
		if h := scanner.open(url); h != "Sign in your terminal to attest?" {
			t.Fatalf("the page's heading is %q", h)
		}
	}
	// Longer than the screens' periodic re-read (2 s): a used link would
	// have moved the terminal by now.
	deadline := time.Now().Add(3 * time.Second)
	for time.Now().Before(deadline) {
		if s := e.screen("term"); !strings.Contains(s, "moves on by itself") || strings.Contains(s, "signed in as") {
			t.Fatalf("opening the link moved the terminal:\n%s", s)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if out, err := e.command(key, "whoami"); err != nil || strings.Contains(out, "grace@example.com") {
		t.Fatalf("opening the link signed the device in: %v\n%s", err, out)
	}

	person := newTab(t, browser)
	person.open(url)
	person.typeInto("check", check)
	if h := person.press(); h != "Signed in" {
		t.Fatalf("after pressing, the page says %q:\n%s\nserver stderr:\n%s", h, person.text(), e.stderr.String())
	}
	e.waitFor("term", "Signed in with the link as grace@example.com.", 3*time.Second)
}

// The device-code phishing the check stops, end to end: Mallory's
// terminal asks for a sign-in link to Vic's address and waits; Vic opens
// the message in Chromium. A press without the check (the browser will not
// send the empty field, so as a client that skips the form's rule would)
// changes nothing; Vic's guess ends the link; Mallory's terminal says so
// and stays signed out.
func TestE2EMagicLinkPressedByTheVictim(t *testing.T) {
	e, links := startMagicE2E(t)
	browser := newBrowser(t)
	mallory, check, url := e.askForLink(links, "vic@example.com")

	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(""))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(string(body), `name="check"`) {
		t.Fatalf("a press without the check: %d\n%s", res.StatusCode, body)
	}

	vic := newTab(t, browser)
	if h := vic.open(url); h != "Sign in your terminal to attest?" {
		t.Fatalf("the page's heading is %q", h)
	}
	guess := "AAAA"
	if check == guess {
		guess = "BBBB"
	}
	vic.typeInto("check", guess)
	if h := vic.press(); h != "Link ended" {
		t.Fatalf("after a wrong check, the page says %q:\n%s", h, vic.text())
	}
	if body := vic.text(); !strings.Contains(body, "nobody was signed in by it") {
		t.Fatalf("the ended link's page says:\n%s", body)
	}
	again := newTab(t, browser)
	if h := again.open(url); h != "Link ended" {
		t.Fatalf("the link opened again says %q", h)
	}
	// Mallory's screen hears the link ended, and stays signed out (for
	// longer than the screens' periodic re-read, 2 s).
	e.waitFor("term", "A wrong answer on the link's page ended it", 3*time.Second)
	deadline := time.Now().Add(3 * time.Second)
	for time.Now().Before(deadline) {
		if s := e.screen("term"); !strings.Contains(s, "Sign-in link sent to") || strings.Contains(s, "signed in as") {
			t.Fatalf("the victim's press moved Mallory's terminal:\n%s", s)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if out, err := e.command(mallory, "whoami"); err != nil || strings.Contains(out, "vic@example.com") || !strings.Contains(out, "account:    no") {
		t.Fatalf("Mallory's device after the victim's press: %v\n%s", err, out)
	}
}
