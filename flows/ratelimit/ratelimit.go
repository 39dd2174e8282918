// Package ratelimit keeps token buckets by key (a device, a source
// network) in memory, with a bound on how many keys it remembers. The
// caller passes the time, so a test clock drives it and nothing here reads
// the wall clock.
package ratelimit

import (
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Keyed is a set of token buckets, one per key, each holding burst tokens
// and refilled with one every every. It is safe for concurrent use.
type Keyed struct {
	every   time.Duration
	burst   int
	maxKeys int

	mu      sync.Mutex
	buckets map[string]*rate.Limiter
}

// New returns buckets of burst tokens refilled one per every, remembering
// at most maxKeys keys. burst < 0 means no limit: Allow always says yes.
func New(every time.Duration, burst, maxKeys int) *Keyed {
	return &Keyed{every: every, burst: burst, maxKeys: max(maxKeys, 1), buckets: map[string]*rate.Limiter{}}
}

// Allow takes one token from key's bucket at now. When the bucket is
// empty it takes nothing and returns when the next token will be there.
func (k *Keyed) Allow(key string, now time.Time) (ok bool, next time.Time) {
	if k.burst < 0 {
		return true, time.Time{}
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	b := k.buckets[key]
	if b == nil {
		k.makeRoom(now)
		b = rate.NewLimiter(rate.Every(k.every), k.burst)
		k.buckets[key] = b
	}
	r := b.ReserveN(now, 1)
	if !r.OK() {
		return false, time.Time{} // a burst of 0: never
	}
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return false, now.Add(d)
	}
	return true, time.Time{}
}

// makeRoom keeps the map within maxKeys before a key is added. Full
// buckets are forgotten first: a full bucket is what a new key gets, so
// forgetting it loses nothing. If that frees too little (more than
// maxKeys keys all used within a refill period), arbitrary keys are
// forgotten until a quarter of the room is free: memory stays bounded, at
// the price of a fresh bucket for some of them. Both sweeps are linear,
// and each is followed by at least maxKeys/4 additions, so the cost per
// Allow stays constant on average.
func (k *Keyed) makeRoom(now time.Time) {
	if len(k.buckets) < k.maxKeys {
		return
	}
	for key, b := range k.buckets {
		if b.TokensAt(now) >= float64(k.burst) {
			delete(k.buckets, key)
		}
	}
	for key := range k.buckets {
		if len(k.buckets) <= k.maxKeys-max(k.maxKeys/4, 1) {
			break
		}
		delete(k.buckets, key)
	}
}

// Len is how many keys are remembered (for tests).
func (k *Keyed) Len() int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return len(k.buckets)
}
