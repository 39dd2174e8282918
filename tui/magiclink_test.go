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
	linkRE  = regexp.MustCompile(`https://attest\.test/link/([a-z2-7]{26})`)
	labelRE = regexp.MustCompile(`terminal session ([A-Z0-9]{4})`)
)

// link returns the token and session label of the n-th link message (from
// 1) sent to an address, waiting for its delivery.
func (e *env) link(to string, n int) (token, label string) {
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
			label := labelRE.FindStringSubmatch(m.Text)
			if label == nil {
				e.t.Fatalf("the link message names no session:\n%s", m.Text)
			}
			return linkRE.FindStringSubmatch(m.Text)[1], label[1]
		}
		select {
		case <-arrived:
		case <-deadline:
			e.t.Fatalf("no link number %d arrived for %s", n, to)
		}
	}
}

// confirmLink presses the link's button, as the page does.
func (e *env) confirmLink(token string) flows.LinkInfo {
	e.t.Helper()
	info, err := e.svc.ConfirmLink(ctx, token)
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

// The sign-in screen sends a link; the screen shows the label the link's
// page shows, and moves on by itself when the button is pressed.
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
	token, label := e.link(grace, 1)
	if !strings.Contains(screen, "terminal session "+label+".") || !strings.Contains(screen, spaced(label)) ||
		!strings.Contains(screen, "sign-in link · "+label) {
		t.Fatalf("the screen does not show the link's label %s:\n%s", label, screen)
	}
	// Opening the link (the page's GET) uses nothing.
	if info, err := e.svc.PeekLink(ctx, token); err != nil || info.State != flows.LinkLive || info.Label != label {
		t.Fatalf("peek: %+v, %v", info, err)
	}
	tr.settle()
	if s := tr.screen(); !strings.Contains(s, "moves on by itself") {
		t.Fatalf("peeking moved the screen:\n%s", s)
	}

	e.confirmLink(token)
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
	tr.waitFor("New link  can be sent at 09:01:00 UTC (in 1m)")
	old, oldLabel := e.link(grace, 1)

	e.clock.Advance(flows.LinkTTL)
	tr.send(tickMsg{n: -1})
	screen = tr.waitFor("This link has expired", "Expires   expired 09:05:00 UTC (now)", "ctrl+r new link")
	tr.golden("expired", screen)
	if info, _ := e.svc.ConfirmLink(ctx, old); info.State != flows.LinkExpired {
		t.Fatalf("the lapsed link is %s, want expired", info.State)
	}

	tr.ctrl('r')
	token, label := e.link(grace, 2)
	screen = tr.waitFor("Sent a new link, for terminal session "+label+".", "Expires   09:10:00 UTC (in 5m)")
	tr.golden("resent", screen)
	if label == oldLabel && strings.Contains(screen, spaced(oldLabel)) && token == old {
		t.Fatal("the new link is the old one")
	}
	e.confirmLink(token)
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
	toLink(tr, grace)
	tr.press(tea.KeyEscape)
	tr.waitFor("Email address")
	tr.press(tea.KeyEscape)
	tr.waitFor("anonymous visitor")
	token, _ := e.link(grace, 1)
	e.confirmLink(token)
	tr.waitFor("Signed in with the link as grace@example.com.", "signed in as grace@example.com · via link")
}

// A session that has ended is not watching: its link does nothing.
func TestMagicLinkNeedsTheSession(t *testing.T) {
	e := newEnv(t)
	tr := e.open(laptop, "")
	toLink(tr, grace)
	token, _ := e.link(grace, 1)
	tr.typeText("q")
	if r := tr.finish(); !r.live.stopped() {
		t.Fatal("quitting left the watch running")
	}
	info, err := e.svc.ConfirmLink(ctx, token)
	if err != nil || info.State != flows.LinkGone {
		t.Fatalf("the link of an ended session: %+v, %v", info, err)
	}
	if v, _ := e.svc.Visit(ctx, laptop); v.Account {
		t.Fatal("the link signed in a session that had ended")
	}
}
