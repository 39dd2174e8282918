// Package clock gives the flows their notion of now, and a way to wait
// for a moment of it, so that tests (and demos built with the test clock)
// can move time instead of waiting for it.
package clock

import (
	"sync"
	"time"
)

// Clock tells the time and wakes whoever waits for a moment of it.
//
// Every wait for a moment the flows decided (a link's expiry, a code's)
// goes through At, never through a timer of the time package: a timer
// set from a fake clock's reading runs on real time, so moving the fake
// clock past the moment would not end the wait.
type Clock interface {
	Now() time.Time
	// At calls f in its own goroutine once the clock reads t or later (at
	// once when it already does). stop cancels the call; it reports
	// whether it did so before f was started.
	At(t time.Time, f func()) (stop func() bool)
}

// Wait returns a channel that is closed once c reads t or later, and a
// function that releases the wait early (call it when done waiting).
func Wait(c Clock, t time.Time) (<-chan struct{}, func()) {
	ch := make(chan struct{})
	stop := c.At(t, func() { close(ch) })
	return ch, func() { stop() }
}

// System is the real clock.
type System struct{}

// Now returns the current time in UTC.
func (System) Now() time.Time { return time.Now().UTC() }

// At calls f at t, by a timer of the time package.
func (System) At(t time.Time, f func()) func() bool {
	return time.AfterFunc(time.Until(t), f).Stop
}

// waiter is one call of At on a clock that moves by itself or by being
// told to.
type waiter struct {
	t    time.Time
	f    func()
	done bool        // fired or stopped
	gen  int         // which arming of the base clock is current (Offset)
	stop func() bool // the current arming's stop (Offset)
}

// Fake is a clock that moves only when told to. It is safe for concurrent
// use. The zero value starts at the Unix epoch; use NewFake for a sensible
// start.
type Fake struct {
	mu      sync.Mutex
	now     time.Time
	waiters map[*waiter]struct{}
}

// NewFake returns a fake clock set to t.
func NewFake(t time.Time) *Fake { return &Fake{now: t.UTC()} }

// Now returns the fake time.
func (f *Fake) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

// At calls fn once the fake clock is moved to t or later.
func (f *Fake) At(t time.Time, fn func()) func() bool {
	w := &waiter{t: t, f: fn}
	f.mu.Lock()
	if f.now.Before(t) {
		if f.waiters == nil {
			f.waiters = map[*waiter]struct{}{}
		}
		f.waiters[w] = struct{}{}
	} else {
		w.done = true
		go fn()
	}
	f.mu.Unlock()
	return func() bool {
		f.mu.Lock()
		defer f.mu.Unlock()
		if w.done {
			return false
		}
		w.done = true
		delete(f.waiters, w)
		return true
	}
}

// Advance moves the clock forward by d and returns the new time, waking
// every waiter whose moment has come.
func (f *Fake) Advance(d time.Duration) time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.now = f.now.Add(d)
	f.wake()
	return f.now
}

// Set moves the clock to t, waking every waiter whose moment has come.
func (f *Fake) Set(t time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.now = t.UTC()
	f.wake()
}

// wake starts the waiters that are due. Called with f.mu held; each runs
// in its own goroutine, so a waiter that reads the clock cannot deadlock.
func (f *Fake) wake() {
	for w := range f.waiters {
		if !f.now.Before(w.t) {
			w.done = true
			delete(f.waiters, w)
			go w.f()
		}
	}
}

// Offset is a clock running at the speed of another, shifted by a settable
// amount. A demo or an end-to-end test uses it to jump a live server past
// an expiry while everything else keeps ticking.
type Offset struct {
	Base    Clock
	mu      sync.Mutex
	shift   time.Duration
	waiters map[*waiter]struct{}
}

// Now returns the base time plus the shift.
func (o *Offset) Now() time.Time {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.Base.Now().Add(o.shift)
}

// At calls f once the shifted clock reads t: it waits on the base clock
// for t minus the shift, and waits again whenever the shift changes.
func (o *Offset) At(t time.Time, f func()) func() bool {
	w := &waiter{t: t, f: f}
	o.mu.Lock()
	if o.waiters == nil {
		o.waiters = map[*waiter]struct{}{}
	}
	o.waiters[w] = struct{}{}
	o.arm(w)
	o.mu.Unlock()
	return func() bool {
		o.mu.Lock()
		defer o.mu.Unlock()
		if w.done {
			return false
		}
		w.done = true
		delete(o.waiters, w)
		w.stop()
		return true
	}
}

// arm waits on the base clock for the moment the shifted clock reads w.t.
// Called with o.mu held.
func (o *Offset) arm(w *waiter) {
	w.gen++
	gen := w.gen
	w.stop = o.Base.At(w.t.Add(-o.shift), func() { o.ring(w, gen) })
}

// ring is the base clock's call for one arming of w: stale armings do
// nothing; a current one fires w, or arms again if the shift moved back.
func (o *Offset) ring(w *waiter, gen int) {
	o.mu.Lock()
	if w.done || gen != w.gen {
		o.mu.Unlock()
		return
	}
	if o.Base.Now().Add(o.shift).Before(w.t) {
		o.arm(w)
		o.mu.Unlock()
		return
	}
	w.done = true
	delete(o.waiters, w)
	o.mu.Unlock()
	w.f()
}

// Advance adds d to the shift and returns the new time. Waiters whose
// moment the jump reached or passed wake at once.
func (o *Offset) Advance(d time.Duration) time.Time {
	o.mu.Lock()
	o.shift += d
	for w := range o.waiters {
		w.stop()
		o.arm(w)
	}
	o.mu.Unlock()
	return o.Now()
}
