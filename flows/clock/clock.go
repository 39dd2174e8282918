// Package clock gives the flows their notion of now, so that tests (and
// demos built with the test clock) can move time instead of waiting for it.
package clock

import (
	"sync"
	"time"
)

// Clock tells the time.
type Clock interface {
	Now() time.Time
}

// System is the real clock.
type System struct{}

// Now returns the current time in UTC.
func (System) Now() time.Time { return time.Now().UTC() }

// Fake is a clock that moves only when told to. It is safe for concurrent
// use. The zero value starts at the Unix epoch; use NewFake for a sensible
// start.
type Fake struct {
	mu  sync.Mutex
	now time.Time
}

// NewFake returns a fake clock set to t.
func NewFake(t time.Time) *Fake { return &Fake{now: t.UTC()} }

// Now returns the fake time.
func (f *Fake) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

// Advance moves the clock forward by d and returns the new time.
func (f *Fake) Advance(d time.Duration) time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.now = f.now.Add(d)
	return f.now
}

// Set moves the clock to t.
func (f *Fake) Set(t time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.now = t.UTC()
}

// Offset is a clock running at the speed of another, shifted by a settable
// amount. A demo or an end-to-end test uses it to jump a live server past
// an expiry while everything else keeps ticking.
type Offset struct {
	Base  Clock
	mu    sync.Mutex
	shift time.Duration
}

// Now returns the base time plus the shift.
func (o *Offset) Now() time.Time {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.Base.Now().Add(o.shift)
}

// Advance adds d to the shift and returns the new time.
func (o *Offset) Advance(d time.Duration) time.Time {
	o.mu.Lock()
	o.shift += d
	o.mu.Unlock()
	return o.Now()
}
