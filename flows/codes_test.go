package flows_test

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/attest-dev/attest/flows"
)

// "the second code they get is code B; the third code they get is 6
// digits, not 4" (with three addresses, so the governor stays out of it).
func TestCodesAreLetteredAndLengthen(t *testing.T) {
	h := newHarness(t, flows.Policy{})
	dev := device("laptop")
	want := []struct {
		letter string
		digits int
	}{{"A", 4}, {"B", 4}, {"C", 6}, {"D", 6}}
	for i, w := range want {
		iss, code := h.request(dev, fmt.Sprintf("user%d@example.com", i))
		if iss.Letter != w.letter || iss.Digits != w.digits || len(code) != w.digits {
			t.Fatalf("code %d: letter %s, %d digits (%q); want %s, %d", i+1, iss.Letter, iss.Digits, code, w.letter, w.digits)
		}
	}
	// The lettering restarts a day later.
	h.clock.Advance(24*time.Hour + time.Second)
	if iss, _ := h.request(dev, "later@example.com"); iss.Letter != "A" || iss.Digits != 4 {
		t.Fatalf("next day: %+v", iss)
	}
}

func TestLetters(t *testing.T) {
	for n, want := range map[int]string{0: "A", 1: "B", 25: "Z", 26: "AA", 27: "AB", 51: "AZ", 52: "BA"} {
		if got := flows.Letter(n); got != want {
			t.Errorf("Letter(%d) = %s, want %s", n, got, want)
		}
	}
}

// A code's length says nothing about its address: a stranger's fresh
// device gets the same answer whether the address is unknown, owned, or
// was sent a code a minute ago. The device's own codes decide.
func TestFirstCodeDigitsRevealNothing(t *testing.T) {
	ask := func(t *testing.T, owned, recent bool) []int {
		h := newHarness(t, flows.Policy{})
		victim := "victim@example.com"
		if owned {
			h.signIn(device("owner"), victim)
			h.clock.Advance(48 * time.Hour)
		}
		if recent { // someone's new device asks, as the owner would
			h.request(device("owners-phone"), victim)
		}
		h.clock.Advance(time.Hour) // past the governor's gap and hourly limit
		var digits []int
		for i := range 3 {
			iss, code := h.request(device(fmt.Sprint("stranger", i)), victim)
			if len(code) != iss.Digits {
				t.Fatalf("issued %d digits, sent %q", iss.Digits, code)
			}
			digits = append(digits, iss.Digits)
			h.clock.Advance(20 * time.Minute)
		}
		return digits
	}
	for _, c := range []struct{ owned, recent bool }{{false, false}, {false, true}, {true, false}, {true, true}} {
		t.Run(fmt.Sprintf("owned=%v,recent=%v", c.owned, c.recent), func(t *testing.T) {
			if got := ask(t, c.owned, c.recent); fmt.Sprint(got) != "[4 4 4]" {
				t.Fatalf("strangers' first codes: %v digits, want [4 4 4]", got)
			}
		})
	}

	// The device alone: its third code in a day is 6 digits, to a new
	// address too, and its first code the next day is 4 again.
	h := newHarness(t, flows.Policy{})
	dev := device("d")
	var got []int
	for i, addr := range []string{"a@example.com", "b@example.com", "c@example.com"} {
		iss, _ := h.request(dev, addr)
		got = append(got, iss.Digits)
		if i < 2 && iss.Tries != 3 || i == 2 && iss.Tries != 5 {
			t.Errorf("code %s: %d digits, %d tries", iss.Letter, iss.Digits, iss.Tries)
		}
	}
	h.clock.Advance(24*time.Hour + time.Second)
	iss, _ := h.request(dev, "c@example.com")
	if got = append(got, iss.Digits); fmt.Sprint(got) != "[4 4 6 4]" {
		t.Fatalf("one device's codes: %v digits, want [4 4 6 4]", got)
	}
}

func TestStrictPolicyMakesEveryCodeSixDigits(t *testing.T) {
	h := newHarness(t, flows.Policy{Strict: true})
	iss, code := h.request(device("d"), "grace@example.com")
	if iss.Digits != 6 || len(code) != 6 || iss.Tries != 5 {
		t.Fatalf("strict: %+v %q", iss, code)
	}
}

// Security check 2: K wrong guesses, then the right code, is rejected and
// the code is used up.
func TestWrongTriesUseUpACode(t *testing.T) {
	for _, c := range []struct {
		strict bool
		tries  int
	}{{false, 3}, {true, 5}} {
		t.Run(fmt.Sprintf("%d-tries", c.tries), func(t *testing.T) {
			h := newHarness(t, flows.Policy{Strict: c.strict})
			dev := device("d")
			iss, code := h.request(dev, "grace@example.com")
			for i := range c.tries {
				_, err := h.svc.EnterCode(ctx, dev, "", wrong(code))
				p := wantProblem(t, err, flows.ProblemWrongCode)
				left := c.tries - i - 1
				if left > 0 && !strings.Contains(p.Msg, fmt.Sprintf("%d ", left)) {
					t.Fatalf("try %d: %q does not say %d left", i+1, p.Msg, left)
				}
			}
			_, err := h.svc.EnterCode(ctx, dev, iss.Letter, code)
			wantProblem(t, err, flows.ProblemCodeUsed)
			if h.visit(dev).Account {
				t.Fatal("a used-up code signed in")
			}
		})
	}
}

// A malformed code changes nothing and costs no try.
func TestMalformedCodeCostsNothing(t *testing.T) {
	h := newHarness(t, flows.Policy{})
	dev := device("d")
	iss, code := h.request(dev, "grace@example.com")
	before := h.head()
	for _, in := range []string{"", "12a4", "1234567", "Z 1234", "\x1b[2J"} {
		_, err := h.svc.EnterCode(ctx, dev, "", in)
		if err == nil {
			t.Fatalf("%q accepted", in)
		}
	}
	// Right length matters too, but a person who typed 6 digits for a
	// 4-digit code just gets told.
	_, err := h.svc.EnterCode(ctx, dev, "", "123456")
	p := wantProblem(t, err, flows.ProblemInput)
	if !strings.Contains(p.Msg, "4 digits") {
		t.Fatalf("message %q", p.Msg)
	}
	if h.head() != before {
		t.Fatal("malformed input was recorded")
	}
	// The letter can be given in front of the code, in any case.
	if _, err := h.svc.EnterCode(ctx, dev, "", strings.ToLower(iss.Letter)+"-"+code); err != nil {
		t.Fatal(err)
	}
}

// Security check 3: ten wrong guesses spread over new codes, and the
// eleventh attempt waits, even with a brand-new code; only a success
// clears the count.
func TestCumulativeFailuresBackOff(t *testing.T) {
	// A short governor gap, so a brand-new code can be asked for while
	// the back-off runs.
	h := newHarness(t, flows.Policy{Strict: true, Governor: flows.Governor{AddressGap: time.Second}})
	dev := device("d")
	addr := "grace@example.com"
	fails := 0
	var code string
	for fails < 10 {
		h.clock.Advance(time.Hour) // the governor allows a new code
		_, code = h.request(dev, addr)
		for range 2 { // two wrong per code, spread over five codes
			_, err := h.svc.EnterCode(ctx, dev, "", wrong(code))
			wantProblem(t, err, flows.ProblemWrongCode)
			fails++
		}
	}
	// Even the right code of a brand-new code waits now.
	lastFailure := h.clock.Now()
	h.clock.Advance(time.Second)
	_, code = h.request(dev, addr)
	_, err := h.svc.EnterCode(ctx, dev, "", code)
	p := wantProblem(t, err, flows.ProblemBackoff)
	if wait := p.RetryAt.Sub(lastFailure); wait != 30*time.Second {
		t.Fatalf("back-off of %s after the tenth failure, want 30s", wait)
	}
	// After the wait, the right code works and clears the count.
	h.clock.Set(p.RetryAt)
	if _, err := h.svc.EnterCode(ctx, dev, "", code); err != nil {
		t.Fatalf("after the back-off: %v", err)
	}
}

func TestBackOffDoublesUpToAnHour(t *testing.T) {
	h := newHarness(t, flows.Policy{Strict: true, Governor: flows.Governor{AddressPerDay: -1}})
	dev := device("d")
	addr := "grace@example.com"
	var waits []time.Duration
	for i := range 30 {
		h.clock.Advance(2 * time.Hour) // past any back-off and the governor
		_, code := h.request(dev, addr)
		_, err := h.svc.EnterCode(ctx, dev, "", wrong(code))
		p := wantProblem(t, err, flows.ProblemWrongCode)
		if i+1 >= 10 {
			// The failure that reaches the threshold says when to return.
			if !strings.Contains(p.Msg, "Too many wrong codes") {
				t.Fatalf("failure %d: %q", i+1, p.Msg)
			}
			_, err := h.svc.EnterCode(ctx, dev, "", wrong(code))
			bp := wantProblem(t, err, flows.ProblemBackoff)
			waits = append(waits, bp.RetryAt.Sub(h.clock.Now()))
		}
	}
	if waits[0] != 30*time.Second || waits[1] != time.Minute || waits[2] != 2*time.Minute {
		t.Fatalf("waits start %v", waits[:3])
	}
	for _, w := range waits {
		if w > time.Hour {
			t.Fatalf("a wait of %s exceeds the hour", w)
		}
	}
	if waits[len(waits)-1] != time.Hour {
		t.Fatalf("waits end at %s, want 1h", waits[len(waits)-1])
	}
}

// Security check 5: a code at 10:00 + 1 s is refused; at 10:00 - 1 s it
// works.
func TestCodeExpiry(t *testing.T) {
	for _, c := range []struct {
		after time.Duration
		ok    bool
	}{{10*time.Minute - time.Second, true}, {10*time.Minute + time.Second, false}, {10 * time.Minute, false}} {
		h := newHarness(t, flows.Policy{})
		dev := device("d")
		_, code := h.request(dev, "grace@example.com")
		h.clock.Advance(c.after)
		_, err := h.svc.EnterCode(ctx, dev, "", code)
		if c.ok && err != nil {
			t.Errorf("at +%s: %v", c.after, err)
		}
		if !c.ok {
			p := wantProblem(t, err, flows.ProblemCodeUsed)
			if !strings.Contains(p.Msg, "expired") {
				t.Errorf("at +%s: %q", c.after, p.Msg)
			}
		}
	}
}

// Security check 6: 50 parallel submissions of the right code give
// exactly one success, and a replay after it fails.
func TestCodeIsSingleUseUnderARace(t *testing.T) {
	h := newHarness(t, flows.Policy{})
	dev := device("d")
	_, code := h.request(dev, "grace@example.com")
	var wg sync.WaitGroup
	var mu sync.Mutex
	ok, used := 0, 0
	for range 50 {
		wg.Go(func() {
			_, err := h.svc.EnterCode(ctx, dev, "", code)
			mu.Lock()
			defer mu.Unlock()
			if err == nil {
				ok++
			} else if p, isP := flows.AsProblem(err); isP && p.Code == flows.ProblemCodeUsed {
				used++
			} else {
				t.Errorf("unexpected: %v", err)
			}
		})
	}
	wg.Wait()
	if ok != 1 || used != 49 {
		t.Fatalf("%d successes and %d refusals, want 1 and 49", ok, used)
	}
	if n := len(h.facts(flows.KindCodeAccepted)); n != 1 {
		t.Fatalf("%d acceptances recorded", n)
	}
	_, err := h.svc.EnterCode(ctx, dev, "", code)
	wantProblem(t, err, flows.ProblemCodeUsed)
}

// "Only the newest live code for an address and device is accepted."
func TestOnlyNewestCodeCounts(t *testing.T) {
	h := newHarness(t, flows.Policy{})
	dev := device("d")
	first, code1 := h.request(dev, "grace@example.com")
	h.clock.Advance(time.Minute)
	second, code2 := h.request(dev, "grace@example.com")
	if first.Letter != "A" || second.Letter != "B" {
		t.Fatalf("letters %s %s", first.Letter, second.Letter)
	}
	_, err := h.svc.EnterCode(ctx, dev, "A", code1)
	p := wantProblem(t, err, flows.ProblemCodeUsed)
	if !strings.Contains(p.Msg, "newer") {
		t.Fatalf("message %q", p.Msg)
	}
	if _, err := h.svc.EnterCode(ctx, dev, "B", code2); err != nil {
		t.Fatal(err)
	}
}

// A code is bound to the device that asked: another device cannot use it.
func TestCodeIsBoundToItsDevice(t *testing.T) {
	h := newHarness(t, flows.Policy{})
	_, code := h.request(device("asker"), "grace@example.com")
	_, err := h.svc.EnterCode(ctx, device("thief"), "A", code)
	wantProblem(t, err, flows.ProblemNoCode)
	if h.visit(device("thief")).Account {
		t.Fatal("a code worked on another device")
	}
}

// A failed delivery is recorded with its reason, and a new code can be
// asked for once the governor allows.
func TestFailedDeliveryIsRecorded(t *testing.T) {
	h := newHarness(t, flows.Policy{})
	h.bag.fail = fmt.Errorf("mailbox unavailable")
	iss, err := h.svc.RequestSignIn(ctx, device("d"), "grace@example.com")
	if err != nil {
		t.Fatal(err)
	}
	h.svc.Wait()
	d, err := h.svc.DeliveryOf(iss.Ticket)
	if err != nil || d.State != "failed" || d.Reason != "mailbox unavailable" {
		t.Fatalf("delivery %+v, %v", d, err)
	}
	if len(h.facts(flows.KindMessageFailed)) != 1 {
		t.Fatal("no failure fact")
	}
}

// Once an address is in back-off, its codes are 6 digits, whoever asks,
// until a right code ends the run; then 4 again.
func TestBackoffMakesCodesLong(t *testing.T) {
	h := newHarness(t, flows.Policy{})
	victim := "victim@example.com"
	h.signIn(device("owner"), victim)
	h.clock.Advance(time.Hour)
	failed := 0
	for i := 0; failed < 10; i++ {
		dev := device(fmt.Sprint("attacker", i))
		iss, _ := h.request(dev, victim)
		if iss.Digits != 4 {
			t.Fatalf("after %d wrong codes a fresh device got %d digits", failed, iss.Digits)
		}
		for range iss.Tries {
			if failed == 10 {
				break
			}
			_, err := h.svc.EnterCode(ctx, dev, iss.Letter, wrong(h.codeOf(iss)))
			if p, _ := flows.AsProblem(err); p == nil || (p.Code != flows.ProblemWrongCode && p.Code != flows.ProblemCodeUsed) {
				t.Fatalf("wrong code %d: %v", failed+1, err)
			}
			failed++
		}
		h.clock.Advance(15 * time.Minute) // past the governor's gap and hourly limit
	}
	iss, _ := h.request(device("late"), victim)
	if iss.Digits != 6 {
		t.Fatalf("in back-off, a fresh device got %d digits", iss.Digits)
	}
	// The owner's next device signs in with that 6-digit code, which ends
	// the run.
	h.clock.Advance(time.Hour)
	owner2 := device("owners-tablet")
	iss, code := h.request(owner2, victim)
	if _, err := h.svc.EnterCode(ctx, owner2, iss.Letter, code); err != nil {
		t.Fatalf("the owner's right code: %v", err)
	}
	h.clock.Advance(time.Hour)
	if iss, _ := h.request(device("after"), victim); iss.Digits != 4 {
		t.Fatalf("after a right code, a fresh device got %d digits", iss.Digits)
	}
}

// An attacker who cycles devices against one address, guessing every
// code to its last try, gets few guesses at 4-digit codes in a week:
// those before the back-off starts, whether the codes are asked for one
// by one or all at once.
func TestCyclingDevicesGetFewShortCodes(t *testing.T) {
	for _, burst := range []bool{false, true} {
		t.Run(fmt.Sprintf("burst=%v", burst), func(t *testing.T) {
			h := newHarness(t, flows.Policy{})
			victim := "victim@example.com"
			short, long, n := 0, 0, 0
			end := h.clock.Now().Add(7 * 24 * time.Hour)
			for h.clock.Now().Before(end) {
				var batch []flows.Issued
				var devs []flows.Device
				for len(batch) == 0 || burst && len(batch) < 5 {
					dev := device(fmt.Sprint("attacker", n))
					n++
					iss, err := h.svc.RequestSignIn(ctx, dev, victim)
					if err != nil {
						wantProblem(t, err, flows.ProblemThrottled)
						h.clock.Advance(time.Minute)
						if !burst || len(batch) == 0 {
							continue
						}
						break
					}
					batch, devs = append(batch, iss), append(devs, dev)
					if burst {
						h.clock.Advance(time.Minute)
					}
				}
				for i, iss := range batch {
					for range iss.Tries {
						_, err := h.svc.EnterCode(ctx, devs[i], iss.Letter, wrong(h.codeOf(iss)))
						p, _ := flows.AsProblem(err)
						if p == nil {
							t.Fatal("a wrong code was accepted")
						}
						if p.Code == flows.ProblemBackoff {
							if p.RetryAt.Before(iss.Expires) {
								h.clock.Set(p.RetryAt)
								continue
							}
							break
						}
						if iss.Digits == 4 {
							short++
						} else {
							long++
						}
						if p.Code == flows.ProblemCodeUsed {
							break
						}
					}
				}
				h.clock.Advance(time.Minute)
			}
			t.Logf("a week of cycling devices: %d guesses at 4-digit codes, %d at 6-digit", short, long)
			if short > 15 {
				t.Fatalf("%d guesses at 4-digit codes in a week, want at most 15", short)
			}
		})
	}
}
