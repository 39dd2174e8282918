package main

import (
	"strings"
	"testing"
	"time"
)

// Seed 001's "update details, then verify the email by link", with the
// OpenSSH client and Chromium: adding an email sends one message with a
// code and a link; pressing the link's button confirms the address.
func TestE2EAddedEmailConfirmedByLink(t *testing.T) {
	e, links := startMagicE2E(t)
	browser := newBrowser(t)
	key := e.key("grace")
	e.must(key, "signin", "grace@example.com")
	e.must(key, "code", "A-"+e.anyCode("A", 1)) // signed up: stepped up for an hour
	out := e.must(key, "address", "add", "work@example.com")
	if !strings.Contains(out, "work@example.com") {
		t.Fatalf("address add: %s", out)
	}
	var msg string
	deadline := time.Now().Add(10 * time.Second)
	for msg == "" {
		for _, text := range e.inboxTexts() {
			if strings.Contains(text, "Code B: ") {
				msg = text
			}
		}
		if msg == "" && time.Now().After(deadline) {
			t.Fatalf("no message to the added address:\n%s", strings.Join(e.inboxTexts(), "\n"))
		}
		time.Sleep(50 * time.Millisecond)
	}
	url := linkURLRE.FindString(msg)
	if url == "" || !strings.HasPrefix(url, links+"/link/") {
		t.Fatalf("the message has no link beside its code:\n%s", msg)
	}
	page := newTab(t, browser)
	if h := page.open(url); h != "Confirm this address on your attest account?" {
		t.Fatalf("the page says %q:\n%s", h, page.text())
	}
	if b := page.button(); b != "Confirm the address" {
		t.Fatalf("the button says %q", b)
	}
	if h := page.press(); h != "Address confirmed" {
		t.Fatalf("after pressing, the page says %q:\n%s\nserver stderr:\n%s", h, page.text(), e.stderr.String())
	}
	if out := e.must(key, "addresses", "--json"); !strings.Contains(out, `"address":"work@example.com"`) || !strings.Contains(out, `"method":"link"`) {
		t.Fatalf("addresses after the link:\n%s", out)
	}
	if h := page.open(url); h != "Link already used" {
		t.Fatalf("the link opened again says %q", h)
	}
}
