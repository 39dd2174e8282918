package main

import (
	"bufio"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"
)

// Issue 16, item 2: a registration's link works when it is pressed after
// the `login` command that asked for it has gone, by whoever has the check
// that command printed (its page asks for it). The account is confirmed,
// and the device is signed in when it next connects.
func TestE2ERegistrationLinkAfterTheCommandLeft(t *testing.T) {
	e, links := startMagicE2E(t)
	browser := newBrowser(t)
	key := e.key("ada")

	// login waits for the link; the person closes it (the ssh client ends).
	login := exec.Command("ssh", e.sshArgs(key, "visitor", "login", "ada@example.com")...)
	login.Stdin = strings.NewReader("correct horse battery staple\n")
	out, err := login.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := login.Start(); err != nil {
		t.Fatal(err)
	}
	waiting := make(chan string, 1)
	var check string // what the page asks for: the person read it in the terminal before closing it
	go func() {
		var seen strings.Builder
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			seen.WriteString(sc.Text() + "\n")
			if strings.Contains(sc.Text(), "Waiting for the link") {
				waiting <- seen.String()
				return
			}
		}
		waiting <- seen.String()
	}()
	select {
	case said := <-waiting:
		if !strings.Contains(said, "works even after you close this") || loginCheckRE.FindStringSubmatch(said) == nil {
			t.Fatalf("login said:\n%s", said)
		}
		check = loginCheckRE.FindStringSubmatch(said)[1]
	case <-time.After(15 * time.Second):
		t.Fatal("login did not start waiting")
	}
	_ = login.Process.Kill()
	_ = login.Wait()

	url := e.linkIn2(links)
	page := newTab(t, browser)
	if h := page.open(url); h != "Sign in your terminal to attest?" {
		t.Fatalf("the registration's page after login left: %q\n%s", h, page.text())
	}
	page.typeInto("check", check)
	if h := page.press(); h != "Address confirmed" {
		t.Fatalf("after pressing, the page says %q:\n%s\nserver stderr:\n%s", h, page.text(), e.stderr.String())
	}
	if body := page.text(); !strings.Contains(body, "connect again with the same key") {
		t.Fatalf("the page says:\n%s", body)
	}
	who, err := e.command(key, "whoami")
	if err != nil || !strings.Contains(who, "ada@example.com (confirmed)") || !strings.Contains(who, "account:    yes") {
		t.Fatalf("whoami when the device connects again: %v\n%s", err, who)
	}
}

// linkIn2 reads the newest link from the inbox as JSON lines.
func (e *e2e) linkIn2(links string) string {
	e.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		for _, text := range e.inboxTexts() {
			if u := linkURLRE.FindString(text); u != "" && strings.HasPrefix(u, links+"/link/") {
				return u
			}
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("no link in the inbox:\n%s", strings.Join(e.inboxTexts(), "\n"))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// loginCheckRE finds the check `login` prints for its link's page.
var loginCheckRE = regexp.MustCompile(`Its page asks for ([A-Z2-9]{4}),`)
