package tui

import (
	"context"
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/colorprofile"

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

	// A very small window still shows the way out.
	tr.send(tea.WindowSizeMsg{Width: 20, Height: 5})
	tr.waitFor("too small (need", "q quits")

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
	sent := flows.LinkSent{Check: "K7QX", Purpose: flows.PurposeSignIn, Channel: "email", To: grace,
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
			r.showAll = size[0] == minWidth // the tallest help, in the smallest window
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

// The watch ends with the session's context, and its waiting command
// returns: a session that ended without telling the model (the client
// vanished) leaks nothing.
func TestWatchEndsWithTheSession(t *testing.T) {
	e := newEnv(t)
	sctx, end := context.WithCancel(ctx)
	r := New(Session{Service: e.svc, Device: laptop, Context: sctx}).(*root)
	got := make(chan tea.Msg, 1)
	go func() { got <- r.live.wait()() }()
	end()
	select {
	case msg := <-got:
		if msg != nil {
			t.Fatalf("a stopped watch returned %T", msg)
		}
	case <-time.After(patience):
		t.Fatal("the waiting command outlived its session")
	}
	if !r.live.stopped() {
		t.Fatal("the watch still counts as running")
	}
}

func TestWatchPokes(t *testing.T) {
	e := newEnv(t)
	twoDevices(e)
	v, _ := e.svc.Visit(ctx, laptop)
	l := watch(e.svc, laptop.Tag, nil)
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

// An idle home screen sets no timer: nothing on it moves with time.
// The step-up badge is drawn again when its text changes: at the minute
// boundary while it shows minutes, every second in its last minute. A
// screen that shows a countdown in seconds ticks every second.
func TestTicksOnlyWhenTheFrameMoves(t *testing.T) {
	e := newEnv(t)
	r := New(Session{Service: e.svc, Device: phone}).(*root)
	r.Init()
	r.Update(tea.WindowSizeMsg{Width: 80, Height: 24})
	if !r.tickAt.IsZero() || !r.checkAt.IsZero() {
		t.Fatalf("an anonymous home set timers: tick %v, check %v", r.tickAt, r.checkAt)
	}

	e.signIn(laptop, grace) // stepped up for an hour from now
	e.clock.Advance(18*time.Minute + 20*time.Second)
	r = New(Session{Service: e.svc, Device: laptop}).(*root)
	before := time.Now()
	r.Init() // plans the timers, as Bubble Tea's first call does
	if !strings.Contains(r.View().Content, "stepped up · 41m") {
		t.Fatalf("no badge:\n%s", r.View().Content)
	}
	// 41m40s left: the badge says 40m in 40 s.
	if d := r.tickAt.Sub(before); d < 40*time.Second || d > 41*time.Second {
		t.Fatalf("the badge's next tick in %v, want 40 s", d)
	}
	if want := e.svc.Now().Add(30 * 24 * time.Hour); r.checkAt.Before(e.svc.Now()) || r.checkAt.After(want) {
		t.Fatalf("the sign-in's lapse is checked at %v", r.checkAt)
	}

	// The account screen says how long ago things happened, to the
	// second: it ticks every second.
	before = time.Now()
	r.Update(tea.KeyPressMsg{Code: 'a', Text: "a"})
	after := time.Now()
	if !strings.Contains(r.View().Content, "Addresses") {
		t.Fatalf("no account screen:\n%s", r.View().Content)
	}
	if r.tickAt.Before(before.Add(tickEvery)) || r.tickAt.After(after.Add(tickEvery)) {
		t.Fatalf("the account screen's next tick in %v, want %v", r.tickAt.Sub(before), tickEvery)
	}
}

func TestCountdownChanges(t *testing.T) {
	for _, c := range []struct{ left, want time.Duration }{
		{41*time.Minute + 40*time.Second, 40*time.Second + 1},
		{time.Hour, 1},
		{time.Hour + 20*time.Second, 20*time.Second + 1},
		{2*time.Hour + 5*time.Minute, 5*time.Minute + 1},
		{time.Minute + 500*time.Millisecond, 500*time.Millisecond + 1},
		{9*time.Second + 300*time.Millisecond, 300 * time.Millisecond},
		{9 * time.Second, time.Second},
	} {
		if got := countdownChanges(c.left); got != c.want {
			t.Errorf("countdownChanges(%v) = %v, want %v", c.left, got, c.want)
		}
		if countdown(c.left) == countdown(c.left-countdownChanges(c.left)) {
			t.Errorf("countdown(%v) is %s still after %v", c.left, countdown(c.left), countdownChanges(c.left))
		}
		if d := countdownChanges(c.left) - 1; d > 0 && countdown(c.left) != countdown(c.left-d) {
			t.Errorf("countdown(%v) changed before %v", c.left, countdownChanges(c.left))
		}
	}
}

// What Bubble Tea tells a session as it opens, and that changes nothing
// (its environment, the size and the colour profile the root has, the
// latter as the server passed it in, the terminal's keyboard answer,
// Bubble Tea's own request for the background colour), draws no frame
// and allocates nothing; a new size draws one.
func TestNewsThatChangesNothingDrawsNothing(t *testing.T) {
	e := newEnv(t)
	r := New(Session{Service: e.svc, Device: phone, Profile: colorprofile.ANSI256}).(*root)
	r.Init()
	for _, msg := range []tea.Msg{
		tea.EnvMsg{"TERM=xterm-256color"},
		tea.WindowSizeMsg{Width: 80, Height: 24},
		tea.ColorProfileMsg{Profile: colorprofile.ANSI256},
		tea.KeyboardEnhancementsMsg{Flags: 1},
		tea.RequestBackgroundColor(),
	} {
		if n := testing.AllocsPerRun(10, func() { r.Update(msg) }); n > 0 {
			t.Errorf("%T %v: %v allocations, want none", msg, msg, n)
		}
	}
	resize := func() { r.Update(tea.WindowSizeMsg{Width: 100 + (r.width+1)%2, Height: 30}) }
	if n := testing.AllocsPerRun(10, resize); n < 100 {
		t.Errorf("a new size: %v allocations; it was not drawn", n)
	}
}
