package ratelimit

import (
	"fmt"
	"testing"
	"time"
)

var t0 = time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)

func TestBurstThenRefill(t *testing.T) {
	k := New(6*time.Second, 3, 100)
	for i := range 3 {
		if ok, _ := k.Allow("dev", t0); !ok {
			t.Fatalf("try %d of the burst refused", i+1)
		}
	}
	ok, next := k.Allow("dev", t0)
	if ok || !next.Equal(t0.Add(6*time.Second)) {
		t.Fatalf("fourth try: %t, next %v; want refused until +6s", ok, next)
	}
	// A refusal takes no token: the next one is still due at +6s.
	if ok, next := k.Allow("dev", t0.Add(5*time.Second)); ok || !next.Equal(t0.Add(6*time.Second)) {
		t.Fatalf("at +5s: %t, next %v", ok, next)
	}
	if ok, _ := k.Allow("dev", t0.Add(6*time.Second)); !ok {
		t.Fatal("refused at +6s, when a token was due")
	}
	// Another key has its own bucket.
	if ok, _ := k.Allow("other", t0); !ok {
		t.Fatal("another key was refused")
	}
}

func TestNoLimit(t *testing.T) {
	k := New(time.Hour, -1, 1)
	for range 100 {
		if ok, _ := k.Allow("dev", t0); !ok {
			t.Fatal("a negative burst limited")
		}
	}
	if k.Len() != 0 {
		t.Fatal("no limit should remember nothing")
	}
}

func TestKeysBounded(t *testing.T) {
	k := New(time.Minute, 2, 100)
	for i := range 1000 {
		k.Allow(fmt.Sprint(i), t0)
		if n := k.Len(); n > 100 {
			t.Fatalf("%d keys remembered after %d, more than 100", n, i+1)
		}
	}
	// Buckets that refilled are forgotten first; one still empty is kept
	// while there is room.
	k = New(time.Minute, 1, 4)
	k.Allow("busy", t0.Add(time.Hour))
	for i := range 3 {
		k.Allow(fmt.Sprint("idle", i), t0)
	}
	k.Allow("new", t0.Add(time.Hour)) // the idle ones are full again by now
	if ok, _ := k.Allow("busy", t0.Add(time.Hour)); ok {
		t.Fatal("making room forgot a bucket that was still empty")
	}
}
