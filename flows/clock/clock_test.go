package clock

import (
	"testing"
	"time"
)

var start = time.Date(2026, 11, 21, 9, 0, 0, 0, time.UTC)

// patience bounds how long a test waits for a goroutine that should run
// at once; no test waits it out when things work.
const patience = 10 * time.Second

func fired(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// pendingFake and pendingOffset count the waiters not yet fired or
// stopped. Firing is decided under the clock's lock, so a count read after
// a move is exact, with no need to give a wrongly started waiter time.
func pendingFake(f *Fake) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.waiters)
}

func pendingOffset(o *Offset) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.waiters)
}

func within(t *testing.T, what string, ch <-chan struct{}) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(patience):
		t.Fatalf("%s: the wait did not end", what)
	}
}

// TestFakeWakesWaiters: a fake clock wakes a waiter when it is moved to
// the moment, not before, and not at all once the wait is released.
func TestFakeWakesWaiters(t *testing.T) {
	f := NewFake(start)
	ch, stop := Wait(f, start.Add(time.Minute))
	defer stop()
	stopped, release := Wait(f, start.Add(time.Minute))
	release()

	if n := pendingFake(f); n != 1 {
		t.Fatalf("%d waiters pending after one of two was released", n)
	}
	f.Advance(59 * time.Second)
	if pendingFake(f) != 1 || fired(ch) {
		t.Fatal("the wait ended a second early")
	}
	f.Advance(time.Second)
	within(t, "at the moment", ch)
	if fired(stopped) {
		t.Fatal("a released wait ended")
	}

	past, stop2 := Wait(f, start)
	defer stop2()
	within(t, "a moment already past", past)

	later, stop3 := Wait(f, start.Add(time.Hour))
	defer stop3()
	f.Set(start.Add(2 * time.Hour))
	within(t, "after Set", later)
}

func TestFakeStopReports(t *testing.T) {
	f := NewFake(start)
	stop := f.At(start.Add(time.Second), func() {})
	if !stop() {
		t.Fatal("stopping a pending call reported false")
	}
	if stop() {
		t.Fatal("stopping twice reported true")
	}
	done := make(chan struct{})
	stop = f.At(start.Add(time.Second), func() { close(done) })
	f.Advance(time.Second)
	within(t, "fired", done)
	if stop() {
		t.Fatal("stopping a call that ran reported true")
	}
}

// TestOffsetJumps: an offset clock over a fake base wakes a waiter when
// its shift jumps past the moment, and when the base gets there, but not
// when a negative shift took the moment further away.
func TestOffsetJumps(t *testing.T) {
	base := NewFake(start)
	o := &Offset{Base: base}

	jump, stop := Wait(o, start.Add(5*time.Minute))
	defer stop()
	o.Advance(5 * time.Minute)
	within(t, "a jump to the moment", jump)

	// Now the shift is 5 min; a moment 10 min from now.
	walk, stop2 := Wait(o, o.Now().Add(10*time.Minute))
	defer stop2()
	o.Advance(-3 * time.Minute) // 13 min away now
	base.Advance(10 * time.Minute)
	if pendingOffset(o) != 1 || fired(walk) {
		t.Fatal("the wait ended although the shift moved the moment away")
	}
	base.Advance(3 * time.Minute)
	within(t, "the base walking to the moment", walk)

	gone, release := Wait(o, o.Now().Add(time.Minute))
	release()
	o.Advance(time.Hour)
	if pendingOffset(o) != 0 || fired(gone) {
		t.Fatal("a released wait ended")
	}
}

// TestOffsetOverSystem: the test build's clock (real time plus a shift)
// ends a wait an hour away at once when advanced by an hour.
func TestOffsetOverSystem(t *testing.T) {
	o := &Offset{Base: System{}}
	ch, stop := Wait(o, o.Now().Add(time.Hour))
	defer stop()
	o.Advance(time.Hour)
	within(t, "advanced an hour", ch)
}

func TestSystemWaits(t *testing.T) {
	ch, stop := Wait(System{}, time.Now().Add(time.Millisecond))
	defer stop()
	within(t, "a millisecond away", ch)
}
