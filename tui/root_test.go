package tui

import (
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"

	"github.com/attest-dev/attest/flows"
	"github.com/attest-dev/attest/flows/address"
)

func TestWindowTooSmallAndBack(t *testing.T) {
	e := newEnv(t)
	tr := e.open(laptop, "")
	tr.waitFor("Sirius")

	tr.send(tea.WindowSizeMsg{Width: 40, Height: 10})
	screen := tr.waitFor("window too small (need at least 50x15,", "have 40x10)")
	tr.golden("small", screen)

	// Keys do nothing there but quit.
	tr.typeText("s")
	tr.send(tea.WindowSizeMsg{Width: 50, Height: 15})
	screen = tr.waitFor("Stars")
	if strings.Contains(screen, "Email address") {
		t.Fatal("a key pressed in a too-small window acted")
	}
	tr.golden("minimum", screen)

	tr.send(tea.WindowSizeMsg{Width: 80, Height: 24})
	screen = tr.waitFor("Antares")
	tr.golden("back", screen)
	for i, l := range strings.Split(screen, "\n") {
		if w := len([]rune(l)); w > 80 {
			t.Errorf("line %d is %d wide: %q", i, w, l)
		}
	}
	if n := len(strings.Split(screen, "\n")); n != 24 {
		t.Errorf("the screen has %d lines, want 24", n)
	}
}

// Every screen fits the window at the minimum size and at 80x24.
func TestLayoutsHold(t *testing.T) {
	e := newEnv(t)
	twoDevices(e)
	sent := flows.LinkSent{Label: "K7QX", Purpose: flows.PurposeSignIn, Channel: "email", To: grace,
		Expires: start.Add(flows.LinkTTL), NextAt: start.Add(time.Minute)}
	for _, size := range [][2]int{{minWidth, minHeight}, {80, 24}, {132, 43}} {
		r := New(Session{Service: e.svc, Device: laptop, User: "grace"}).(*root)
		r.Update(tea.WindowSizeMsg{Width: size[0], Height: size[1]})
		screens := []screen{newHome(r.c), newSignIn(r.c), newDevices(r.c), newAccount(r.c),
			newStepUp(r.c, "unlink +1 415-555-2671"), newHistory(r.c), newApprove(r.c), newLink(r.c),
			newSplit(r.c, flows.Split{Address: "+1 •••-•••-2671", Kind: address.Phone}),
			newMagicLink(r.c, grace, sent), newPending(r.c, grace, flows.Login{Pending: true, To: grace, Link: &sent}),
			newPending(r.c, grace, flows.Login{Pending: true, To: grace}), newSetPassword(r.c)}
		for _, s := range screens {
			r.stack = []screen{s}
			r.notice = "You were signed out from another device."
			r.help.ShowAll = size[0] == minWidth // the tallest help, in the smallest window
			r.layout()
			ls := strings.Split(plain(r.View().Content), "\n")
			if len(ls) != size[1] {
				t.Errorf("%s at %dx%d: %d lines", s.Title(), size[0], size[1], len(ls))
			}
			for i, l := range ls {
				if w := len([]rune(l)); w > size[0] {
					t.Errorf("%s at %dx%d: line %d is %d wide: %q", s.Title(), size[0], size[1], i, w, l)
				}
			}
		}
		r.live.stop()
	}
}

func TestQTypesInAFieldAndQuitsFromHome(t *testing.T) {
	e := newEnv(t)
	tr := e.open(laptop, "")
	tr.typeText("n")
	tr.waitFor("1 to 32 characters")
	tr.typeText("q?")
	tr.waitFor("Nickname  > q?")
	tr.press(tea.KeyEscape)
	tr.waitFor("none yet")
	tr.typeText("q")
	r := tr.finish()
	if !r.live.stopped() {
		t.Fatal("quitting left the watch running")
	}
	if r.c.ctx.Err() == nil {
		t.Fatal("quitting left the session's context open")
	}
}

func TestCtrlCQuitsWhileTyping(t *testing.T) {
	e := newEnv(t)
	tr := e.open(laptop, "")
	tr.typeText("s")
	tr.waitFor("Email address")
	tr.typeText("q")
	tr.waitFor("> q")
	tr.ctrl('c')
	if r := tr.finish(); !r.live.stopped() {
		t.Fatal("ctrl+c left the watch running")
	}
}

func TestFullHelp(t *testing.T) {
	e := newEnv(t)
	tr := e.open(laptop, "")
	tr.typeText("?")
	screen := tr.waitFor("? less")
	tr.golden("help", screen)
	tr.typeText("?")
	tr.waitFor("? more")
}

// A watch that is not renewed stops by itself, and its waiting command
// returns: a session that ended without telling the model leaks nothing.
func TestWatchLapses(t *testing.T) {
	e := newEnv(t)
	l := watch(e.svc, laptop.Tag, time.Millisecond)
	got := make(chan tea.Msg, 1)
	go func() { got <- l.wait()() }()
	select {
	case msg := <-got:
		if msg != nil {
			t.Fatalf("a lapsed watch returned %T", msg)
		}
	case <-time.After(patience):
		t.Fatal("the waiting command outlived its lease")
	}
	if !l.stopped() || l.renew() {
		t.Fatal("the lapsed watch still counts as running")
	}
}

func TestWatchPokes(t *testing.T) {
	e := newEnv(t)
	twoDevices(e)
	v, _ := e.svc.Visit(ctx, laptop)
	l := watch(e.svc, laptop.Tag, time.Minute)
	defer l.stop()
	l.setUser(v.User)
	e.stepUp(phone) // before the watch, whose pokes it would cause
	if err := e.svc.SignOutEverywhere(ctx, phone, false); err != nil {
		t.Fatal(err)
	}
	if msg := l.wait()(); msg != (pokeMsg{}) {
		t.Fatalf("got %T, want a poke", msg)
	}
}
