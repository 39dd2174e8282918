package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"
)

// watchRecorder is a relay whose watch records come to the test instead
// of a database; hold, when set, runs inside each record.
type watchRecorder struct {
	*pokeRelay
	mu    sync.Mutex
	state map[string]bool
	calls map[string]int
	hold  func(device string, on bool) error
	moved chan struct{} // a record was made
}

func newWatchRecorder(t *testing.T, hold func(device string, on bool) error) *watchRecorder {
	w := &watchRecorder{state: map[string]bool{}, calls: map[string]int{}, hold: hold, moved: make(chan struct{}, 1)}
	w.pokeRelay = newPokeRelay(nil, slog.New(slog.DiscardHandler))
	w.retry = time.Millisecond
	w.setWatching = func(ctx context.Context, device string, on bool) error {
		w.mu.Lock()
		w.calls[device]++
		w.mu.Unlock()
		if w.hold != nil {
			if err := w.hold(device, on); err != nil {
				return err
			}
		}
		w.mu.Lock()
		w.state[device] = on
		w.mu.Unlock()
		select {
		case w.moved <- struct{}{}:
		default:
		}
		return nil
	}
	w.stopWatching = func(context.Context) error { return nil }
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { w.recordWatches(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return w
}

// until waits for the database's state to be want (10 s bound a failure
// only), and reports the difference when it is not.
func (w *watchRecorder) until(t *testing.T, want map[string]bool) {
	t.Helper()
	limit := time.NewTimer(10 * time.Second)
	defer limit.Stop()
	for {
		w.mu.Lock()
		missing, wrong := 0, ""
		for d, on := range want {
			got, ok := w.state[d]
			switch {
			case !ok:
				missing++
			case got != on && wrong == "":
				wrong = fmt.Sprintf("%s is %v, want %v", d, got, on)
			}
		}
		w.mu.Unlock()
		if missing == 0 && wrong == "" {
			return
		}
		select {
		case <-w.moved:
		case <-limit.C:
			t.Fatalf("the watches never reached the database: %d of %d missing; %s", missing, len(want), wrong)
		}
	}
}

// A database slow to record watches loses none of them: more wait than
// the old queue of 4,096 held, and a device's last wish is the one kept.
func TestWatchesWaitForASlowDatabase(t *testing.T) {
	release, started := make(chan struct{}), make(chan struct{})
	var first sync.Once
	w := newWatchRecorder(t, func(device string, on bool) error {
		first.Do(func() { close(started); <-release })
		return nil
	})
	w.Watched("first")
	<-started // held: what follows waits behind it
	want := map[string]bool{"first": true, "toggled": false}
	for i := range 10_000 {
		d := fmt.Sprintf("d%05d", i)
		w.Watched(d)
		want[d] = true
	}
	for range 3 {
		w.Watched("toggled")
		w.Unwatched("toggled")
	}
	close(release)
	w.until(t, want)
	w.mu.Lock()
	defer w.mu.Unlock()
	if n := w.calls["toggled"]; n != 1 {
		t.Errorf("a device wished on and off 3 times while the database was slow was recorded %d times, want once (its last wish)", n)
	}
}

// A watch the database refused is tried again, unless a newer wish for
// the device came meanwhile.
func TestWatchesRetryWhatTheDatabaseRefused(t *testing.T) {
	var w *watchRecorder
	var mu sync.Mutex
	refused := map[string]bool{}
	w = newWatchRecorder(t, func(device string, on bool) error {
		mu.Lock()
		defer mu.Unlock()
		if refused[device] {
			return nil
		}
		refused[device] = true
		if device == "superseded" {
			// The screen closes while its opening is being recorded.
			w.Unwatched("superseded")
		}
		return errors.New("the database is restarting")
	})
	w.Watched("refused")
	w.Watched("superseded")
	w.until(t, map[string]bool{"refused": true, "superseded": false})
}
