package tui

import (
	"regexp"
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"

	"github.com/attest-dev/attest/flows"
	"github.com/attest-dev/attest/flows/message"
)

var (
	linkRE = regexp.MustCompile(`https://attest\.test/link/([a-z2-7]{26})`)
	// checkBoxRE is a link's check as the screens write it, big.
	checkBoxRE = regexp.MustCompile(`│  ([A-Z2-9]) ([A-Z2-9]) ([A-Z2-9]) ([A-Z2-9])  │`)
)

// checkOn is the link check a screen shows in its box: what the person
// types on the link's page.
func checkOn(t *testing.T, screen string) string {
	t.Helper()
	m := checkBoxRE.FindStringSubmatch(screen)
	if m == nil {
		t.Fatalf("the screen shows no link check:\n%s", screen)
	}
	return strings.Join(m[1:], "")
}

// link returns the token of the n-th link message (from 1) sent to an
// address, waiting for its delivery. The message names nothing that its
// page asks for.
func (e *env) link(to string, n int) (token string) {
	e.t.Helper()
	deadline := time.After(patience)
	for {
		e.bag.mu.Lock()
		var found []message.Message
		for _, m := range e.bag.msgs {
			if m.To == to && linkRE.MatchString(m.Text) {
				found = append(found, m)
			}
		}
		arrived := e.bag.arrived
		e.bag.mu.Unlock()
		if len(found) >= n {
			m := found[n-1]
			if strings.Contains(m.Text, "terminal session") || checkBoxRE.MatchString(m.Text) {
				e.t.Fatalf("the link message names its terminal:\n%s", m.Text)
			}
			return linkRE.FindStringSubmatch(m.Text)[1]
		}
		select {
		case <-arrived:
		case <-deadline:
			e.t.Fatalf("no link number %d arrived for %s", n, to)
		}
	}
}

// confirmLink types the check the terminal showed on the link's page and
// presses its button, as the person does.
func (e *env) confirmLink(token, check string) flows.LinkInfo {
	e.t.Helper()
	if strings.Contains(e.linkMessage(token), check) {
		e.t.Fatalf("the message holds the check %s", check)
	}
	info, err := e.svc.ConfirmLinkChecked(ctx, token, check)
	if err != nil {
		e.t.Fatalf("confirm the link: %v", err)
	}
	return info
}

// toLink goes from home to the link's waiting screen for an address.
func toLink(tr *term, addr string) string {
	tr.t.Helper()
	tr.typeText("s")
	tr.waitFor("Email address")
	tr.typeText(addr)
	tr.ctrl('l')
	return tr.waitFor("Sign-in link sent to "+addr, "moves on by itself")
}

// The sign-in screen sends a link; the screen shows the check the link's
// page asks for, and moves on by itself when the button is pressed.
func TestMagicLinkSignsInTheWaitingSession(t *testing.T) {
	e := newEnv(t)
	tr := e.open(laptop, "")
	tr.typeText("s")
	tr.waitFor("Email address")
	tr.typeText(grace)
	screen := tr.waitFor("ctrl+l  send a sign-in link", "> grace@example.com")
	tr.golden("signin", screen)
	tr.ctrl('l')
	screen = tr.waitFor("Sign-in link sent to "+grace, "moves on by itself")
	tr.golden("waiting", screen)
	token := e.link(grace, 1)
	check := checkOn(t, screen)
	if !strings.Contains(screen, "Check     "+check+" · only this terminal shows it") {
		t.Fatalf("the screen does not show the link's check %s:\n%s", check, screen)
	}
	// Opening the link (the page's GET) uses nothing.
	if info, err := e.svc.PeekLink(ctx, token); err != nil || info.State != flows.LinkLive {
		t.Fatalf("peek: %+v, %v", info, err)
	}
	tr.settle()
	if s := tr.screen(); !strings.Contains(s, "moves on by itself") {
		t.Fatalf("peeking moved the screen:\n%s", s)
	}

	e.confirmLink(token, check)
	screen = tr.waitFor("Signed in with the link as grace@example.com.", "signed in as grace@example.com · via link")
	tr.golden("home", screen)
	if info, _ := e.svc.PeekLink(ctx, token); info.State != flows.LinkUsed {
		t.Fatalf("the link is %s after use, want used", info.State)
	}
}

// A link that lapses says so, and another can be sent once the governor
// allows it (a minute after the last, to one address).
func TestMagicLinkExpires(t *testing.T) {
	e := newEnv(t)
	tr := e.open(laptop, "")
	screen := toLink(tr, grace)
	if strings.Contains(screen, "ctrl+r new link") {
		t.Fatalf("the help offers a new link before the governor allows it:\n%s", screen)
	}
	oldCheck := checkOn(t, tr.waitFor("New link  can be sent at 09:01:00 UTC (in 1m)"))
	old := e.link(grace, 1)

	e.clock.Advance(flows.LinkTTL)
	tr.send(tickMsg{n: -1})
	screen = tr.waitFor("This link has expired", "Expires   expired 09:05:00 UTC (now)", "ctrl+r new link")
	tr.golden("expired", screen)
	if info, _ := e.svc.ConfirmLinkChecked(ctx, old, oldCheck); info.State != flows.LinkExpired {
		t.Fatalf("the lapsed link is %s, want expired", info.State)
	}

	tr.ctrl('r')
	token := e.link(grace, 2)
	screen = tr.waitFor("Sent a new link: its page asks for ", "Expires   09:10:00 UTC (in 5m)")
	tr.golden("resent", screen)
	check := checkOn(t, screen)
	if token == old || !strings.Contains(screen, "its page asks for "+check+".") {
		t.Fatalf("the new link is the old one, or its check %s is not the one shown:\n%s", check, screen)
	}
	e.confirmLink(token, check)
	tr.waitFor("Signed in with the link as grace@example.com.")
}

// The governor holds a link back like a code, and the sign-in screen says
// until when.
func TestMagicLinkThrottled(t *testing.T) {
	e := newEnv(t)
	if _, err := e.svc.RequestSignIn(ctx, phone, grace); err != nil {
		t.Fatal(err)
	}
	tr := e.open(laptop, "")
	tr.typeText("s")
	tr.waitFor("Email address")
	tr.typeText(grace)
	tr.ctrl('l')
	tr.waitFor("✗ Next link at 09:01:00 UTC (in 1m).", "> grace@example.com")
}

// Leaving the waiting screen does not stop the link: it names the session,
// which is still there, and the session moves on wherever it is.
func TestMagicLinkAfterLeavingTheScreen(t *testing.T) {
	e := newEnv(t)
	tr := e.open(laptop, "")
	check := checkOn(t, toLink(tr, grace))
	tr.press(tea.KeyEscape)
	tr.waitFor("Email address")
	tr.press(tea.KeyEscape)
	tr.waitFor("anonymous visitor")
	token := e.link(grace, 1)
	e.confirmLink(token, check)
	tr.waitFor("Signed in with the link as grace@example.com.", "signed in as grace@example.com · via link")
}

// A session that has ended is not watching: its link does nothing.
func TestMagicLinkNeedsTheSession(t *testing.T) {
	e := newEnv(t)
	tr := e.open(laptop, "")
	check := checkOn(t, toLink(tr, grace))
	token := e.link(grace, 1)
	tr.typeText("q")
	if r := tr.finish(); !r.live.stopped() {
		t.Fatal("quitting left the watch running")
	}
	info, err := e.svc.ConfirmLinkChecked(ctx, token, check)
	if err != nil || info.State != flows.LinkGone {
		t.Fatalf("the link of an ended session: %+v, %v", info, err)
	}
	if v, _ := e.svc.Visit(ctx, laptop); v.Account {
		t.Fatal("the link signed in a session that had ended")
	}
}

// linkMessage is the text of the message that carries a link's token.
func (e *env) linkMessage(token string) string {
	e.t.Helper()
	e.bag.mu.Lock()
	defer e.bag.mu.Unlock()
	for _, m := range e.bag.msgs {
		if strings.Contains(m.Text, "/link/"+token) {
			return m.Text
		}
	}
	e.t.Fatalf("no message carries the link %s", token)
	return ""
}

// The victim presses, without the check, a link the attacker's terminal
// asked for: the attacker's screen stays where it was, signed out; a
// wrong check ends the link, the screen says so, and the right check does
// nothing after it.
func TestMagicLinkPressedWithoutTheCheck(t *testing.T) {
	e := newEnv(t)
	tr := e.open(laptop, "")
	check := checkOn(t, toLink(tr, grace))
	token := e.link(grace, 1)
	if _, err := e.svc.ConfirmLinkChecked(ctx, token, ""); err == nil {
		t.Fatal("a press without the check was accepted")
	}
	wrong := "AAAA"
	if check == wrong {
		wrong = "BBBB"
	}
	if info, err := e.svc.ConfirmLinkChecked(ctx, token, wrong); err != nil || info.State != flows.LinkEnded {
		t.Fatalf("a wrong check: %+v, %v", info, err)
	}
	if info, _ := e.svc.ConfirmLinkChecked(ctx, token, check); info.State != flows.LinkEnded {
		t.Fatalf("the right check after a wrong one: %+v", info)
	}
	// The wrong check pokes the waiting screen, which says what happened
	// and stays, signed out.
	screen := tr.waitFor("✗ A wrong answer on the link's page ended it, and nobody was signed in by", "Sign-in link sent to "+grace)
	if strings.Contains(screen, "Signed in") || strings.Contains(screen, "signed in as") {
		t.Fatalf("the screen moved on:\n%s", screen)
	}
	if v, _ := e.svc.Visit(ctx, laptop); v.Account {
		t.Fatal("the session was signed in")
	}
}
