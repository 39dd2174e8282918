package main

import (
	"regexp"
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
	check := linkCheckRE.FindStringSubmatch(out)
	if !strings.Contains(out, "work@example.com") || check == nil {
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
	if strings.Contains(msg, check[1]) || strings.Contains(page.text(), check[1]) {
		t.Fatalf("the check %s is in the message or on the page", check[1])
	}
	page.typeInto("check", strings.ToLower(check[1]))
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

// linkCheckRE finds the check `address add` shows for an email's link.
var linkCheckRE = regexp.MustCompile(`its page asks for ([A-Z0-9]{4}),`)

// The pre-account-takeover the link's check stops, end to end: Mallory
// adds Vic's email to Mallory's account; Vic opens the link and presses
// its button with a guess. The link ends, the address stays unconfirmed,
// and Vic's sign-in with it makes Vic an account of Vic's own.
func TestE2EAddressLinkPressedByTheVictim(t *testing.T) {
	e, _ := startMagicE2E(t)
	browser := newBrowser(t)
	mallory := e.key("mallory")
	e.must(mallory, "signin", "mallory@example.com")
	e.must(mallory, "code", "A-"+e.anyCode("A", 1))
	out := e.must(mallory, "address", "add", "vic@example.com")
	check := linkCheckRE.FindStringSubmatch(out)
	if check == nil {
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
	page := newTab(t, browser)
	if h := page.open(linkURLRE.FindString(msg)); h != "Confirm this address on your attest account?" {
		t.Fatalf("the page says %q", h)
	}
	guess := "AAAA"
	if check[1] == guess {
		guess = "BBBB"
	}
	page.typeInto("check", guess)
	if h := page.press(); h != "Link ended" {
		t.Fatalf("after a wrong check, the page says %q:\n%s", h, page.text())
	}
	if out := e.must(mallory, "addresses", "--json"); !strings.Contains(out, `"address":"vic@example.com","confirmed":false`) {
		t.Fatalf("the victim's address after the press:\n%s", out)
	}
}
