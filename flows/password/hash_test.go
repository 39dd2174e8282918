package password

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/argon2"
)

// fast are the cheapest parameters NewHasher accepts, so tests run many
// real derivations; DefaultParams are exercised by the benchmarks.
var fast = Params{Memory: MinMemory, Time: MinTime, Threads: 1, SaltLen: 16, KeyLen: 32}

func newHasher(t testing.TB, p Params, concurrency int) *Hasher {
	t.Helper()
	h, err := NewHasher(p, concurrency)
	if err != nil {
		t.Fatalf("NewHasher: %v", err)
	}
	return h
}

// refVector was made by the reference implementation (phc-winner-argon2,
// Debian package argon2 0~20171227):
//
//	printf 'correct horse battery staple' | argon2 'attest-salt-0123' -id -t 2 -k 19456 -p 1 -l 32 -e
const (
	refPassword = "correct horse battery staple"
	refSalt     = "attest-salt-0123"
	refVector   = "$argon2id$v=19$m=19456,t=2,p=1$YXR0ZXN0LXNhbHQtMDEyMw$n3MLFQYG5iqhPbSaiWYcfKjHMNeE5phtk5EWiw/jLR0"
)

func TestHashMatchesReferenceImplementation(t *testing.T) {
	h := newHasher(t, fast, 2)
	got, err := h.Hash(context.Background(), strings.NewReader(refSalt), refPassword)
	if err != nil {
		t.Fatal(err)
	}
	if got != refVector {
		t.Fatalf("Hash = %s\nwant   %s", got, refVector)
	}
	ok, err := h.Verify(context.Background(), refPassword, refVector)
	if err != nil || !ok {
		t.Fatalf("Verify(reference vector) = %v, %v; want true, nil", ok, err)
	}
}

func TestHashFormatAndRoundTrip(t *testing.T) {
	h := newHasher(t, fast, 2)
	ctx := context.Background()
	phc, err := h.Hash(ctx, rand.Reader, "tangerine orbit lantern")
	if err != nil {
		t.Fatal(err)
	}
	format := regexp.MustCompile(`^\$argon2id\$v=19\$m=19456,t=2,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$`)
	if !format.MatchString(phc) {
		t.Fatalf("PHC string %q does not have the argon2id format", phc)
	}
	again, err := h.Hash(ctx, rand.Reader, "tangerine orbit lantern")
	if err != nil {
		t.Fatal(err)
	}
	if again == phc {
		t.Fatal("two hashes of one password are equal: the salt is not random")
	}
	for _, c := range []struct {
		password string
		want     bool
	}{
		{"tangerine orbit lantern", true},
		{"tangerine orbit lanterN", false},
		{"tangerine orbit lantern ", false},
		{"", false},
		// NFKC: full-width letters are the same password.
		{"ｔａｎｇｅｒｉｎｅ ｏｒｂｉｔ ｌａｎｔｅｒｎ", true},
	} {
		ok, err := h.Verify(ctx, c.password, phc)
		if err != nil {
			t.Fatalf("Verify(%q): %v", c.password, err)
		}
		if ok != c.want {
			t.Errorf("Verify(%q) = %v, want %v", c.password, ok, c.want)
		}
	}
}

func TestHashSaltReadFailure(t *testing.T) {
	h := newHasher(t, fast, 2)
	_, err := h.Hash(context.Background(), strings.NewReader("short"), "tangerine orbit lantern")
	if err == nil || !strings.Contains(err.Error(), "read salt") {
		t.Fatalf("Hash with a failing reader: err = %v, want a salt error", err)
	}
}

func TestHashRefusesOverlongPassword(t *testing.T) {
	h := newHasher(t, fast, 2)
	_, err := h.Hash(context.Background(), rand.Reader, strings.Repeat("x", maxPasswordBytes+1))
	if !errors.Is(err, ErrTooLong) {
		t.Fatalf("err = %v, want ErrTooLong", err)
	}
}

func TestVerifyMalformed(t *testing.T) {
	h := newHasher(t, fast, 2)
	h.derive = func([]byte, []byte, uint32, uint32, uint8, uint32) []byte {
		t.Error("derived a key for a malformed hash")
		return nil
	}
	salt := "YXR0ZXN0LXNhbHQtMDEyMw"
	key := "n3MLFQYG5iqhPbSaiWYcfKjHMNeE5phtk5EWiw/jLR0"
	for name, phc := range map[string]string{
		"empty":            "",
		"garbage":          "hunter2",
		"argon2i":          "$argon2i$v=19$m=19456,t=2,p=1$" + salt + "$" + key,
		"old version":      "$argon2id$v=16$m=19456,t=2,p=1$" + salt + "$" + key,
		"no version":       "$argon2id$m=19456,t=2,p=1$" + salt + "$" + key,
		"no hash":          "$argon2id$v=19$m=19456,t=2,p=1$" + salt,
		"extra field":      "$argon2id$v=19$m=19456,t=2,p=1$" + salt + "$" + key + "$x",
		"params reordered": "$argon2id$v=19$t=2,m=19456,p=1$" + salt + "$" + key,
		"keyid param":      "$argon2id$v=19$m=19456,t=2,p=1,keyid=abc$" + salt + "$" + key,
		"leading zero":     "$argon2id$v=19$m=019456,t=2,p=1$" + salt + "$" + key,
		"negative":         "$argon2id$v=19$m=-1,t=2,p=1$" + salt + "$" + key,
		"not a number":     "$argon2id$v=19$m=lots,t=2,p=1$" + salt + "$" + key,
		"t zero":           "$argon2id$v=19$m=19456,t=0,p=1$" + salt + "$" + key,
		"p zero":           "$argon2id$v=19$m=19456,t=2,p=0$" + salt + "$" + key,
		"hostile p":        "$argon2id$v=19$m=19456,t=2,p=255$" + salt + "$" + key,
		"hostile t":        "$argon2id$v=19$m=19456,t=4294967295,p=1$" + salt + "$" + key,
		"overflow m":       "$argon2id$v=19$m=4294967296,t=2,p=1$" + salt + "$" + key,
		"padded salt":      "$argon2id$v=19$m=19456,t=2,p=1$" + salt + "==$" + key,
		"bad base64":       "$argon2id$v=19$m=19456,t=2,p=1$" + salt + "$" + key[:40] + "*!?",
		"url base64":       "$argon2id$v=19$m=19456,t=2,p=1$" + salt + "$" + strings.ReplaceAll(key, "/", "_"),
		// The last character carries 2 unused bits; strict decoding
		// refuses a tampered one that sets them.
		"tampered tail": "$argon2id$v=19$m=19456,t=2,p=1$" + salt + "$" + key[:42] + "1",
		"short salt":    "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$" + key,
		"short hash":    "$argon2id$v=19$m=19456,t=2,p=1$" + salt + "$c2hvcnQ",
		"huge salt":     "$argon2id$v=19$m=19456,t=2,p=1$" + strings.Repeat("A", 1<<20) + "$" + key,
	} {
		ok, err := h.Verify(context.Background(), refPassword, phc)
		if ok || !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: Verify = %v, %v; want false and ErrMalformed", name, ok, err)
		}
		if err != nil && strings.Contains(err.Error(), salt) {
			t.Errorf("%s: the error quotes the stored hash: %v", name, err)
		}
	}
}

func TestVerifyTamperedHashIsFalse(t *testing.T) {
	// A change that still parses is a different hash: false, not an error.
	h := newHasher(t, fast, 2)
	tampered := strings.Replace(refVector, "$n3ML", "$n3MM", 1)
	ok, err := h.Verify(context.Background(), refPassword, tampered)
	if ok || err != nil {
		t.Fatalf("Verify(tampered) = %v, %v; want false, nil", ok, err)
	}
}

func TestVerifyHostileMemoryAllocatesNothing(t *testing.T) {
	h := newHasher(t, fast, 2)
	called := false
	h.derive = func([]byte, []byte, uint32, uint32, uint8, uint32) []byte { called = true; return nil }
	hostile := "$argon2id$v=19$m=4194304,t=2,p=1$YXR0ZXN0LXNhbHQtMDEyMw$n3MLFQYG5iqhPbSaiWYcfKjHMNeE5phtk5EWiw/jLR0"
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	ok, err := h.Verify(context.Background(), refPassword, hostile)
	runtime.ReadMemStats(&after)
	if ok || !errors.Is(err, ErrMalformed) {
		t.Fatalf("Verify(m=4194304) = %v, %v; want false and ErrMalformed", ok, err)
	}
	if called {
		t.Fatal("derived a key with hostile parameters")
	}
	if grew := after.TotalAlloc - before.TotalAlloc; grew > 1<<20 {
		t.Fatalf("Verify allocated %d bytes for a hostile hash", grew)
	}
}

func TestVerifyAcceptsOtherParameters(t *testing.T) {
	// Hashes made under older or stronger settings keep verifying: the
	// parameters come from the string.
	h := newHasher(t, fast, 2)
	for _, p := range []Params{
		{Memory: 8192, Time: 3, Threads: 1, SaltLen: 8, KeyLen: 16}, // weaker than any we make
		{Memory: 32768, Time: 2, Threads: 2, SaltLen: 32, KeyLen: 64},
	} {
		salt := bytes.Repeat([]byte{7}, int(p.SaltLen))
		phc := encode(p, salt, argon2.IDKey([]byte(refPassword), salt, p.Time, p.Memory, p.Threads, p.KeyLen))
		ok, err := h.Verify(context.Background(), refPassword, phc)
		if err != nil || !ok {
			t.Errorf("Verify(%+v) = %v, %v; want true", p, ok, err)
		}
	}
}

func TestNeedsRehash(t *testing.T) {
	cur := fast
	cur.Memory = 2 * MinMemory
	h := newHasher(t, cur, 2)
	phcWith := func(p Params) string {
		return encode(p, make([]byte, p.SaltLen), make([]byte, p.KeyLen))
	}
	with := func(f func(*Params)) Params { p := cur; f(&p); return p }
	for name, c := range map[string]struct {
		phc  string
		want bool
	}{
		"current":       {phcWith(cur), false},
		"less memory":   {phcWith(with(func(p *Params) { p.Memory = MinMemory })), true},
		"fewer passes":  {phcWith(with(func(p *Params) { p.Time = 1 })), true},
		"shorter salt":  {phcWith(with(func(p *Params) { p.SaltLen = 8 })), true},
		"shorter key":   {phcWith(with(func(p *Params) { p.KeyLen = 16 })), true},
		"other lanes":   {phcWith(with(func(p *Params) { p.Threads = 2 })), true},
		"more memory":   {phcWith(with(func(p *Params) { p.Memory = 4 * MinMemory })), false},
		"more passes":   {phcWith(with(func(p *Params) { p.Time = 3 })), false},
		"unparseable":   {"not a hash", true},
		"fresh hash ok": {mustHash(t, h), false},
	} {
		if got := h.NeedsRehash(c.phc); got != c.want {
			t.Errorf("%s: NeedsRehash = %v, want %v", name, got, c.want)
		}
	}
}

func mustHash(t *testing.T, h *Hasher) string {
	t.Helper()
	phc, err := h.Hash(context.Background(), rand.Reader, "tangerine orbit lantern")
	if err != nil {
		t.Fatal(err)
	}
	return phc
}

func TestNewHasherEnforcesMinimums(t *testing.T) {
	with := func(f func(*Params)) Params { p := fast; f(&p); return p }
	for name, p := range map[string]Params{
		"memory below 19 MiB": with(func(p *Params) { p.Memory = MinMemory - 1 }),
		"one pass":            with(func(p *Params) { p.Time = 1 }),
		"two lanes":           with(func(p *Params) { p.Threads = 2 }),
		"no lanes":            with(func(p *Params) { p.Threads = 0 }),
		"short salt":          with(func(p *Params) { p.SaltLen = 15 }),
		"short key":           with(func(p *Params) { p.KeyLen = 31 }),
		"memory too big":      with(func(p *Params) { p.Memory = MaxMemory + 1 }),
		"zero value":          {},
	} {
		if _, err := NewHasher(p, 2); err == nil {
			t.Errorf("%s: NewHasher accepted %+v", name, p)
		}
	}
	if _, err := NewHasher(fast, 0); err == nil {
		t.Error("NewHasher accepted concurrency 0")
	}
	if _, err := NewHasher(DefaultParams(), 2); err != nil {
		t.Errorf("NewHasher(DefaultParams()): %v", err)
	}
}

// TestConcurrencyCap starts 100 hashes at once and counts, around the
// derivation, how many run together. The derivation is real argon2id at
// 1 MiB rather than 19 MiB, so that 100 of them take well under a second
// even under -race; the cap does not care how long each one takes.
func TestConcurrencyCap(t *testing.T) {
	h := newHasher(t, fast, 2)
	var inFlight, most atomic.Int32
	h.derive = func(pw, salt []byte, _, _ uint32, threads uint8, keyLen uint32) []byte {
		n := inFlight.Add(1)
		for {
			m := most.Load()
			if n <= m || most.CompareAndSwap(m, n) {
				break
			}
		}
		defer inFlight.Add(-1)
		// Yield, so that with only two cores the other 98 callers get to
		// run now: if the cap leaked, they would enter here too.
		for range 10 {
			runtime.Gosched()
		}
		return argon2.IDKey(pw, salt, 1, 1024, threads, keyLen)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	for range 100 {
		wg.Go(func() {
			if _, err := h.Hash(context.Background(), rand.Reader, "tangerine orbit lantern"); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if m := most.Load(); m != 2 {
		t.Fatalf("at most %d derivations ran at once; want the cap, 2", m)
	}
}

// blockingHasher returns a hasher whose derivations announce themselves on
// entered and wait for release to close.
func blockingHasher(t *testing.T) (h *Hasher, entered chan struct{}, release chan struct{}, queued chan struct{}) {
	h = newHasher(t, fast, 2)
	entered, release, queued = make(chan struct{}, 10), make(chan struct{}), make(chan struct{}, 10)
	h.derive = func(_, _ []byte, _, _ uint32, _ uint8, keyLen uint32) []byte {
		entered <- struct{}{}
		<-release
		return make([]byte, keyLen)
	}
	h.waiting = func() { queued <- struct{}{} }
	return h, entered, release, queued
}

// within fails the test if ch yields nothing in d. It bounds how long a
// broken implementation can hang the test; it never waits on purpose.
func within[T any](t *testing.T, ch <-chan T, d time.Duration, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(d):
		t.Fatalf("timed out waiting for %s", what)
		panic("unreachable")
	}
}

func TestCancelWhileWaitingForSlot(t *testing.T) {
	h, entered, release, queued := blockingHasher(t)
	holders := make(chan error, 2)
	for range 2 {
		go func() {
			_, err := h.Hash(context.Background(), rand.Reader, "tangerine orbit lantern")
			holders <- err
		}()
	}
	for range 2 {
		within(t, entered, 10*time.Second, "a derivation to start")
	}
	// Both slots are held and both derivations run at once: the cap is
	// two, not one.
	ctx, cancel := context.WithCancel(context.Background())
	waiter := make(chan error, 1)
	go func() {
		_, err := h.Verify(ctx, refPassword, refVector)
		waiter <- err
	}()
	for range 3 {
		within(t, queued, 10*time.Second, "the third caller to queue")
	}
	cancel()
	err := within(t, waiter, 10*time.Second, "the cancelled caller to return")
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled Verify: err = %v, want context.Canceled", err)
	}
	select {
	case <-entered:
		t.Fatal("the cancelled caller derived a key")
	default:
	}
	close(release)
	for range 2 {
		if err := within(t, holders, 10*time.Second, "the slot holders to finish"); err != nil {
			t.Errorf("slot holder: %v", err)
		}
	}
}

func TestCancelledContextTakesNoFreeSlot(t *testing.T) {
	h, entered, _, _ := blockingHasher(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := h.Hash(ctx, rand.Reader, "tangerine orbit lantern"); !errors.Is(err, context.Canceled) {
		t.Fatalf("Hash with a cancelled context: err = %v, want context.Canceled", err)
	}
	select {
	case <-entered:
		t.Fatal("derived a key for a cancelled caller")
	default:
	}
}

func TestVerifyNothingDoesVerifyWork(t *testing.T) {
	p := fast
	p.Time = 3
	h := newHasher(t, p, 2)
	var got []Params
	derive := h.derive
	h.derive = func(pw, salt []byte, time, memory uint32, threads uint8, keyLen uint32) []byte {
		got = append(got, Params{Memory: memory, Time: time, Threads: threads, SaltLen: uint32(len(salt)), KeyLen: keyLen})
		return derive(pw, salt, time, memory, threads, keyLen)
	}
	h.VerifyNothing(context.Background(), "tangerine orbit lantern")
	if len(got) != 1 || got[0] != p {
		t.Fatalf("VerifyNothing derived %+v, want one derivation with %+v", got, p)
	}
	if h.NeedsRehash(h.dummy) {
		t.Fatal("the dummy hash does not use the current parameters")
	}
}

// BenchmarkVerify times one Verify with DefaultParams; acceptance check 12
// wants 50–500 ms. Run: go test -run '^$' -bench Verify ./flows/password/
func BenchmarkVerify(b *testing.B) {
	h := newHasher(b, DefaultParams(), 2)
	phc, err := h.Hash(context.Background(), rand.Reader, refPassword)
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if ok, err := h.Verify(context.Background(), refPassword, phc); !ok || err != nil {
			b.Fatalf("Verify = %v, %v", ok, err)
		}
	}
	b.ReportMetric(float64(b.Elapsed())/float64(time.Millisecond)/float64(b.N), "ms/op")
}

// BenchmarkVerifyNothing should cost about what BenchmarkVerify does.
func BenchmarkVerifyNothing(b *testing.B) {
	h := newHasher(b, DefaultParams(), 2)
	for b.Loop() {
		h.VerifyNothing(context.Background(), refPassword)
	}
	b.ReportMetric(float64(b.Elapsed())/float64(time.Millisecond)/float64(b.N), "ms/op")
}

// BenchmarkHashParallel measures the throughput of the production setup,
// DefaultParams with concurrency 2, under more callers than slots.
func BenchmarkHashParallel(b *testing.B) {
	h := newHasher(b, DefaultParams(), 2)
	b.SetParallelism(4)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := h.Hash(context.Background(), rand.Reader, refPassword); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "hashes/s")
}
