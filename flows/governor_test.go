package flows_test

import (
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/attest-dev/attest/flows"
	"github.com/attest-dev/attest/flows/message"
)

func throttledAt(t *testing.T, h *harness, dev flows.Device, addr string) *flows.Problem {
	t.Helper()
	_, err := h.svc.RequestSignIn(ctx, dev, addr)
	return wantProblem(t, err, flows.ProblemThrottled)
}

func TestGovernorGapBetweenCodes(t *testing.T) {
	h := newHarness(t, flows.Policy{})
	dev := device("d")
	iss, _ := h.request(dev, "grace@example.com")
	if !iss.NextAt.Equal(start.Add(time.Minute)) {
		t.Fatalf("next code at %s", iss.NextAt)
	}
	h.clock.Advance(30 * time.Second)
	p := throttledAt(t, h, dev, "grace@example.com")
	if !p.RetryAt.Equal(start.Add(time.Minute)) {
		t.Fatalf("retry at %s", p.RetryAt)
	}
	if !strings.HasPrefix(p.Msg, "Next code at 09:01:00 UTC (in 30s).") {
		t.Fatalf("message %q", p.Msg)
	}
	h.clock.Set(p.RetryAt)
	h.request(dev, "grace@example.com")
}

func TestGovernorHourlyAndDailyLimits(t *testing.T) {
	h := newHarness(t, flows.Policy{})
	addr := "grace@example.com"
	// Five codes a minute apart, from five devices, then the hour is full.
	for i := range 5 {
		h.request(device(fmt.Sprint("h", i)), addr)
		h.clock.Advance(time.Minute)
	}
	p := throttledAt(t, h, device("h5"), addr)
	if !p.RetryAt.Equal(start.Add(time.Hour)) {
		t.Fatalf("hourly limit lifts at %s, want %s", p.RetryAt, start.Add(time.Hour))
	}
	// Five more in the next hour make ten; the day is full until the
	// first of them is a day old.
	h.clock.Set(start.Add(time.Hour))
	for i := range 5 {
		h.request(device(fmt.Sprint("k", i)), addr)
		h.clock.Advance(time.Minute)
	}
	h.clock.Set(start.Add(3 * time.Hour))
	p = throttledAt(t, h, device("k5"), addr)
	if !p.RetryAt.Equal(start.Add(24 * time.Hour)) {
		t.Fatalf("daily limit lifts at %s", p.RetryAt)
	}
}

func TestGovernorDeviceLimit(t *testing.T) {
	h := newHarness(t, flows.Policy{})
	dev := device("spammer")
	for i := range 10 {
		h.request(dev, fmt.Sprintf("v%d@example.com", i))
	}
	p := throttledAt(t, h, dev, "v10@example.com")
	if !p.RetryAt.Equal(start.Add(time.Hour)) {
		t.Fatalf("device limit lifts at %s", p.RetryAt)
	}
	// Another device is not held back.
	h.request(device("other"), "v10@example.com")
}

func TestGovernorGlobalChannelCap(t *testing.T) {
	h := newHarness(t, flows.Policy{Governor: flows.Governor{EmailPerHour: 3}})
	for i := range 3 {
		h.request(device(fmt.Sprint("d", i)), fmt.Sprintf("u%d@example.com", i))
	}
	p := throttledAt(t, h, device("d3"), "u3@example.com")
	if !p.RetryAt.Equal(start.Add(time.Hour)) {
		t.Fatalf("global cap lifts at %s", p.RetryAt)
	}
}

// Variants of one address share one governor bucket.
func TestGovernorBucketsVariantsTogether(t *testing.T) {
	h := newHarness(t, flows.Policy{})
	h.request(device("a"), "grace@example.com")
	for i, v := range []string{" Grace@Example.COM ", "GRACE@EXAMPLE.COM", "ｇｒａｃｅ@example.com", "grace@EXAMPLE.com\t"} {
		throttledAt(t, h, device(fmt.Sprint("v", i)), v)
	}
}

// "an attacker enters a victim's email address many times to get the
// victim to be sent codes they don't need": 1,000 requests over a day
// from many devices deliver at most 10 messages, and the attacker sees
// the same answers whether or not the victim has an account.
func TestAttackerCannotFloodVictim(t *testing.T) {
	run := func(t *testing.T, hasAccount bool) []string {
		h := newHarness(t, flows.Policy{})
		victim := "victim@example.com"
		if hasAccount {
			h.signIn(device("victim"), victim)
			h.bag.mu.Lock()
			h.bag.msgs = nil
			h.bag.mu.Unlock()
			// Two days later, so the clock reads the same and the victim's own
			// code has left the governor's windows.
			h.clock.Set(start.Add(48 * time.Hour))
		}
		from := h.clock.Now()
		var answers []string
		for i := range 1000 {
			h.clock.Set(from.Add(time.Duration(i) * 24 * time.Hour / 1000))
			iss, err := h.svc.RequestSignIn(ctx, device(fmt.Sprint("attacker", i%50)), victim)
			if err != nil {
				p := wantProblem(t, err, flows.ProblemThrottled)
				answers = append(answers, p.Msg)
			} else {
				answers = append(answers, fmt.Sprintf("sent %d digits, next at %s", iss.Digits, iss.NextAt.Sub(h.clock.Now())))
			}
		}
		h.svc.Wait()
		if n := len(h.bag.to(victim)); n > 10 {
			t.Fatalf("the victim got %d messages in a day", n)
		}
		return answers
	}
	var withAccount, without []string
	t.Run("account", func(t *testing.T) { withAccount = run(t, true) })
	t.Run("no-account", func(t *testing.T) { without = run(t, false) })
	if !slices.Equal(withAccount, without) {
		for i := range withAccount {
			if withAccount[i] != without[i] {
				t.Fatalf("answer %d differs:\n account: %s\n none:    %s", i, withAccount[i], without[i])
			}
		}
	}
}

// Enumeration: identical text for a known and an unknown address, and
// median latencies that differ by less than 5 ms over 1,000 tries each.
func TestSignInDoesNotRevealAccounts(t *testing.T) {
	if testing.Short() {
		t.Skip("1,000 sign-ups")
	}
	h := newHarness(t, flows.Policy{Governor: flows.Governor{AddressGap: time.Nanosecond, AddressPerHour: -1, AddressPerDay: -1, DevicePerHour: -1, EmailPerHour: -1}})
	const n = 1000
	// The owners sign up 32 at a time: the ledger groups their commits.
	var g errgroup.Group
	g.SetLimit(32)
	for i := range n {
		g.Go(func() error {
			dev := device(fmt.Sprint("owner", i))
			iss, err := h.svc.RequestSignIn(ctx, dev, fmt.Sprintf("known%d@example.com", i))
			if err != nil {
				return err
			}
			code, err := codeIn(h.bag.waitFor(iss.Ticket), iss.Letter)
			if err != nil {
				return err
			}
			_, err = h.svc.EnterCode(ctx, dev, iss.Letter, code)
			return err
		})
	}
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}
	h.clock.Advance(48 * time.Hour) // the owners' codes are old news
	measure := func(prefix string) ([]time.Duration, []string) {
		var lat []time.Duration
		var texts []string
		for i := range n {
			dev := device(fmt.Sprint(prefix, "-asker", i))
			t0 := time.Now()
			iss, err := h.svc.RequestSignIn(ctx, dev, fmt.Sprintf("%s%d@example.com", prefix, i))
			lat = append(lat, time.Since(t0))
			if err != nil {
				t.Fatal(err)
			}
			texts = append(texts, fmt.Sprintf("%s %d %s", iss.Letter, iss.Digits, iss.Expires.Sub(h.clock.Now())))
		}
		slices.Sort(lat)
		return lat, texts
	}
	known, knownTexts := measure("known")
	unknown, unknownTexts := measure("unknown")
	if !slices.Equal(knownTexts, unknownTexts) {
		t.Fatal("the answers differ for known and unknown addresses")
	}
	h.svc.Wait()
	msgs := h.bag.to("known7@example.com")
	other := h.bag.to("unknown7@example.com")
	if len(msgs) != 2 || len(other) != 1 {
		t.Fatalf("messages: %d and %d", len(msgs), len(other))
	}
	if strip(msgs[1].Text) != strip(other[0].Text) || msgs[1].Subject != other[0].Subject {
		t.Fatalf("the messages differ:\n%s\n%s", msgs[1].Text, other[0].Text)
	}
	mk, mu := known[n/2], unknown[n/2]
	diff := mk - mu
	if diff < 0 {
		diff = -diff
	}
	t.Logf("median latency: known %s, unknown %s", mk, mu)
	if diff >= 5*time.Millisecond {
		t.Fatalf("median latencies differ by %s", diff)
	}
}

// strip removes the code digits from a message.
func strip(s string) string {
	return codeRE.ReplaceAllString(s, "Code X: NNNN")
}

// heldBacks records what the governor held back, as an Observer.
type heldBacks struct {
	mu   sync.Mutex
	seen []string
}

func (o *heldBacks) HeldBack(what string, ch message.Channel, rule string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.seen = append(o.seen, what+" by "+string(ch)+" ("+rule+")")
}

func (o *heldBacks) list() []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return slices.Clone(o.seen)
}

// A message the governor holds back leaves no fact, so metrics hear of it
// from the observer: once per answer, by channel, also when the flow
// answers in the same words as when the message went (login).
func TestGovernorTellsTheObserverWhatItHeldBack(t *testing.T) {
	h := newHarness(t, flows.Policy{})
	obs := &heldBacks{}
	h.observer = obs
	h.restart(flows.Policy{})
	dev := device("d")

	h.request(dev, "grace@example.com")
	h.request(dev, "+14155550100")
	if got := obs.list(); len(got) != 0 {
		t.Fatalf("codes that went are held back: %q", got)
	}
	before := h.head()
	throttledAt(t, h, dev, "grace@example.com")
	throttledAt(t, h, dev, "+14155550100")
	_, err := h.svc.RequestMagicLink(ctx, dev, "grace@example.com")
	wantProblem(t, err, flows.ProblemThrottled)
	// Login sends a link whatever the password; held back, it says the
	// same as when the link went.
	if _, err := h.svc.LoginOrRegister(ctx, dev, "grace@example.com", "correct horse battery staple"); err != nil {
		t.Fatalf("login: %v", err)
	}
	want := []string{"code by email (address_gap)", "code by sms (address_gap)", "link by email (address_gap)", "link by email (address_gap)"}
	if got := obs.list(); !slices.Equal(got, want) {
		t.Fatalf("held back %q, want %q", got, want)
	}
	if n := len(h.facts(flows.KindCodeEmailed, flows.KindCodeTexted, flows.KindLinkEmailed, flows.KindLinkTexted)); n != 2 {
		t.Fatalf("%d messages in the ledger, want the 2 that went (head %d to %d)", n, before, h.head())
	}
}

// from is a fresh device (a keyless connection, or a new key) from one
// source network: what an attacker can make as many of as it likes.
func from(source string, n int) flows.Device {
	// Named so that the device tag does not spell the network.
	d := device(fmt.Sprintf("conn-%s-%d", strings.ReplaceAll(source, ".", "_"), n))
	d.Source = source
	return d
}

// One network's requests cannot spend the whole server's messages: with
// a fresh device per request, its 31st message is held back by the
// per-source limit, and another network is not held back at all.
func TestGovernorSourceLimitSparesOtherSources(t *testing.T) {
	h := newHarness(t, flows.Policy{})
	for i := range 30 {
		h.request(from("198.51.100.7", i), fmt.Sprintf("victim%d@example.org", i))
	}
	p := throttledAt(t, h, from("198.51.100.7", 30), "victim30@example.org")
	if !p.RetryAt.Equal(start.Add(time.Hour)) {
		t.Fatalf("the source limit lifts at %s, want %s", p.RetryAt, start.Add(time.Hour))
	}
	if !strings.Contains(p.Msg, "Requests from one network get at most 30 messages an hour.") {
		t.Fatalf("refusal %q does not name the network's limit", p.Msg)
	}
	// A phone number from the same network: the limit counts every
	// channel together.
	throttledAt(t, h, from("198.51.100.7", 31), "+14155550100")
	// Another network, and the same network once the hour has passed.
	h.request(from("203.0.113.9", 0), "victim30@example.org")
	h.clock.Set(start.Add(time.Hour))
	h.request(from("198.51.100.7", 32), "victim31@example.org")

	// What the ledger holds of the network is a keyed hash, never the
	// network itself.
	facts := h.facts(flows.KindMessageSource)
	if len(facts) != 32 {
		t.Fatalf("%d message.source facts, want 32", len(facts))
	}
	if raw := string(h.stored()); strings.Contains(raw, "198.51.100.7") || strings.Contains(raw, "203.0.113.9") {
		t.Fatal("the ledger holds a source address in plaintext")
	}
}

// The server-wide cap is counted from the ledger, so a restart does not
// reset it; its refusal names the server-wide limit in the same words for
// an address with an account and one without; it is logged at WARN once
// an hour, not once a request.
func TestGovernorServerCapHoldsAcrossRestartAndSaysSo(t *testing.T) {
	var logs syncBuffer
	h := newHarness(t, flows.Policy{})
	h.logger = slog.New(slog.NewTextHandler(&logs, nil))
	policy := flows.Policy{Governor: flows.Governor{EmailPerHour: 3}}
	h.restart(policy)
	h.signIn(device("owner"), "owner@example.com") // 1 of 3
	h.clock.Set(start.Add(2 * time.Minute))
	for i := range 2 {
		h.request(from(fmt.Sprint("192.0.2.", i), 0), fmt.Sprintf("u%d@example.com", i))
	}
	h.restart(policy)
	h.clock.Advance(time.Minute)
	known := throttledAt(t, h, from("192.0.2.10", 0), "owner@example.com")
	unknown := throttledAt(t, h, from("192.0.2.11", 0), "nobody@example.com")
	if known.Msg != unknown.Msg || !known.RetryAt.Equal(unknown.RetryAt) {
		t.Fatalf("the refusals differ:\n%q\n%q", known.Msg, unknown.Msg)
	}
	want := "Next code at 10:00:00 UTC (in 57m). This server's hourly limit is reached: it sends at most 3 emails an hour to everyone together."
	if known.Msg != want {
		t.Fatalf("refusal %q, want %q", known.Msg, want)
	}
	// SMS has its own cap: a text still goes.
	h.request(from("192.0.2.12", 0), "+14155550100")
	if n := strings.Count(logs.String(), "server-wide hourly cap is reached"); n != 1 {
		t.Fatalf("%d warnings in the hour, want 1:\n%s", n, logs.String())
	}
	if !strings.Contains(logs.String(), "level=WARN") {
		t.Fatalf("not a warning:\n%s", logs.String())
	}
	// The next hour window warns again when the cap is reached again.
	h.clock.Set(start.Add(time.Hour + 5*time.Minute))
	for i := range 3 {
		h.request(from(fmt.Sprint("192.0.2.", 20+i), 0), fmt.Sprintf("w%d@example.com", i))
	}
	throttledAt(t, h, from("192.0.2.30", 0), "nobody@example.com")
	if n := strings.Count(logs.String(), "server-wide hourly cap is reached"); n != 2 {
		t.Fatalf("%d warnings over two hours, want 2:\n%s", n, logs.String())
	}
}

// A signed-in device's step-up code to its own account is not held back
// by the server-wide cap a stranger can fill; a sign-in code to the same
// address is.
func TestGovernorServerCapSparesStepUp(t *testing.T) {
	h := newHarness(t, flows.Policy{Governor: flows.Governor{EmailPerHour: 2}})
	dev := device("owner")
	h.signIn(dev, "owner@example.com")
	h.clock.Set(start.Add(2 * time.Hour)) // the sign-up's own step-up is over
	for i := range 2 {
		h.request(from(fmt.Sprint("192.0.2.", i), 0), fmt.Sprintf("u%d@example.com", i))
	}
	throttledAt(t, h, device("other"), "owner@example.com")
	h.stepUp(dev)
}

// syncBuffer is a bytes.Buffer safe for the logger's concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// "Eve asked 3 times for Ada's address within the gap": the next code to
// Ada says 3 requests were held back before it, not 1; from HeldRecords on,
// asking more records nothing more and the count says "or more".
func TestGovernorCountsEveryHeldRequest(t *testing.T) {
	h := newHarness(t, flows.Policy{})
	ada, eve := "ada@example.com", device("eve")
	h.request(device("ada"), ada)
	for range 3 {
		h.clock.Advance(10 * time.Second)
		throttledAt(t, h, eve, ada)
	}
	h.clock.Set(start.Add(time.Minute))
	iss, _ := h.request(device("ada"), ada)
	g, ok, err := h.svc.GovernedBy(ctx, iss.Ticket)
	if err != nil || !ok {
		t.Fatalf("governed: %v %v", ok, err)
	}
	if g.HeldBefore != 3 || g.Held() != "3 requests held back" {
		t.Fatalf("held before: %d (%q), want 3", g.HeldBefore, g.Held())
	}

	// Many more asks from many devices: the ledger keeps HeldRecords.
	before := len(h.facts(flows.KindMessageHeld))
	for i := range flows.HeldRecords + 15 {
		throttledAt(t, h, device(fmt.Sprint("eve", i%3)), ada)
	}
	if n := len(h.facts(flows.KindMessageHeld)) - before; n != flows.HeldRecords {
		t.Fatalf("%d held requests recorded, want %d", n, flows.HeldRecords)
	}
	h.clock.Set(start.Add(2 * time.Minute))
	iss, _ = h.request(device("ada"), ada)
	g, _, err = h.svc.GovernedBy(ctx, iss.Ticket)
	if err != nil || g.Held() != fmt.Sprintf("%d or more requests held back", flows.HeldRecords) {
		t.Fatalf("held before: %d (%q), %v", g.HeldBefore, g.Held(), err)
	}
}

// A network the governor holds back, asking with a fresh device and a
// fresh address each time, records at most HeldPerSourceHour of its
// requests in an hour: the answers stay the same, the ledger stops
// growing, and another network's held requests are still recorded.
func TestGovernorBoundsHeldRecordsPerSource(t *testing.T) {
	h := newHarness(t, flows.Policy{Governor: flows.Governor{SourcePerHour: 1}})
	h.request(from("192.0.2.1", 0), "first@example.com")
	before := len(h.facts(flows.KindMessageHeld))
	var first string
	for i := range flows.HeldPerSourceHour + 20 {
		h.clock.Advance(time.Second)
		p := throttledAt(t, h, from("192.0.2.1", i+1), fmt.Sprintf("fresh%d@example.com", i))
		if i == 0 {
			first = p.Msg[strings.Index(p.Msg, "."):]
		} else if got := p.Msg[strings.Index(p.Msg, "."):]; got != first {
			t.Fatalf("request %d was answered %q, the first %q", i, got, first)
		}
	}
	if n := len(h.facts(flows.KindMessageHeld)) - before; n != flows.HeldPerSourceHour {
		t.Fatalf("%d held requests recorded for one network, want %d", n, flows.HeldPerSourceHour)
	}
	h.request(from("198.51.100.1", 0), "other@example.com")
	throttledAt(t, h, from("198.51.100.1", 1), "another@example.com")
	if n := len(h.facts(flows.KindMessageHeld)) - before; n != flows.HeldPerSourceHour+1 {
		t.Fatalf("another network's held request: %d recorded, want %d", n, flows.HeldPerSourceHour+1)
	}
	// An hour on, the network's requests are recorded again.
	h.clock.Advance(time.Hour)
	h.request(from("192.0.2.1", 500), "later@example.com")
	throttledAt(t, h, from("192.0.2.1", 501), "later2@example.com")
	if n := len(h.facts(flows.KindMessageHeld)) - before; n != flows.HeldPerSourceHour+2 {
		t.Fatalf("an hour later: %d recorded, want %d", n, flows.HeldPerSourceHour+2)
	}
}
