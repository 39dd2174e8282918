package server

import (
	"bytes"
	"encoding/binary"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/attest-dev/attest/flows/clock"
)

func TestSourceGrouping(t *testing.T) {
	tcp := func(s string) net.Addr { return net.TCPAddrFromAddrPort(mustAddrPort(t, s)) }
	for _, c := range []struct {
		addr string
		want source
	}{
		{"192.0.2.7:22", source{host: "192.0.2.7"}},
		{"[::ffff:192.0.2.7]:22", source{host: "192.0.2.7"}},
		{"[2001:db8:1:2:aaaa::1]:22", source{host: "2001:db8:1:2::/64", net48: "2001:db8:1::/48"}},
		{"[2001:db8:1:2:ffff:ffff:ffff:ffff]:9", source{host: "2001:db8:1:2::/64", net48: "2001:db8:1::/48"}},
		{"[2001:db8:1:3::1]:22", source{host: "2001:db8:1:3::/64", net48: "2001:db8:1::/48"}},
		{"[2001:db8:2:2::1]:22", source{host: "2001:db8:2:2::/64", net48: "2001:db8:2::/48"}},
		{"[fe80::1%eth0]:22", source{host: "fe80::/64", net48: "fe80::/48"}},
	} {
		if got := sourceOf(tcp(c.addr)); got != c.want {
			t.Errorf("sourceOf(%s) = %+v, want %+v", c.addr, got, c.want)
		}
	}
	if got := sourceOf(&net.UnixAddr{Name: "@", Net: "unix"}); got.host != "@" || got.net48 != "" {
		t.Errorf("a non-IP address: %+v", got)
	}
}

func mustAddrPort(t *testing.T, s string) netip.AddrPort {
	t.Helper()
	ap, err := netip.ParseAddrPort(s)
	if err != nil {
		t.Fatal(err)
	}
	return ap
}

func TestDropChance(t *testing.T) {
	for _, c := range []struct {
		waiting int
		want    float64
	}{{0, 0}, {9, 0}, {10, 0.3}, {35, 0.65}, {59, 0.986}, {60, 1}, {99, 1}} {
		if got := dropChance(c.waiting, 10, 30, 60); got < c.want-1e-9 || got > c.want+1e-9 {
			t.Errorf("dropChance(%d of 10:30:60) = %v, want %v", c.waiting, got, c.want)
		}
	}
	if dropChance(5, 5, 30, 5) != 1 {
		t.Error("start at full: no room")
	}
}

// draws is a source of randomness that yields the given uniform numbers.
func draws(xs ...float64) *bytes.Reader {
	var b []byte
	for _, x := range xs {
		b = binary.BigEndian.AppendUint64(b, uint64(x*(1<<53))<<11)
	}
	return bytes.NewReader(b)
}

func testPolicy() admissionPolicy {
	return admissionPolicy{dropStart: 2, dropRate: 50, full: 6, headroom: 2, perSource: 10, per48: 10, perSourceTotal: 20}
}

func ip4(last byte) source { return source{host: net.IPv4(10, 0, 0, last).String()} }

// Beyond the start, a source that already has a connection waiting is
// dropped at random, more often as the pool fills, always at full; a
// source with none waiting is not dropped at random and has headroom
// above full.
func TestEarlyDrop(t *testing.T) {
	// 2 waiting (start): chance 0.5; 3: 0.625; 4: 0.75.
	a := newAdmission(testPolicy(), clock.NewFake(time.Unix(0, 0)), draws(0.49, 0.51, 0.7, 0.74, 0.9))
	busy := ip4(1)
	admitN(t, a, busy, 2)
	if ok, why := a.admit(busy); ok || why != refusedEarlyDropped {
		t.Fatalf("at the start, a draw of 0.49 against 0.5: %v %q", ok, why)
	}
	admitN(t, a, busy, 2) // 0.51 against 0.5, then 0.7 against 0.625
	if ok, why := a.admit(busy); ok || why != refusedEarlyDropped {
		t.Fatalf("4 waiting, a draw of 0.74 against 0.75: %v %q", ok, why)
	}
	admitN(t, a, busy, 1) // 0.9 against 0.75
	admitN(t, a, ip4(2), 1)
	if ok, why := a.admit(busy); ok || why != refusedFull {
		t.Fatalf("at full, a busy source: %v %q", ok, why)
	}
	// Fresh sources: no draw (none is left to read), up to full+headroom.
	admitN(t, a, ip4(3), 1)
	admitN(t, a, ip4(5), 1)
	if ok, why := a.admit(ip4(4)); ok || why != refusedFull {
		t.Fatalf("beyond the headroom: %v %q", ok, why)
	}
	if total, from := a.unauthenticated(busy); total != 8 || from != 5 {
		t.Fatalf("waiting %d, %d from the busy source", total, from)
	}
	// Authenticating frees the slot, closing frees the source's.
	a.authenticated(busy)
	admitN(t, a, ip4(4), 1)
	a.closed(busy, true, false)
	if total, from := a.unauthenticated(busy); total != 8 || from != 4 {
		t.Fatalf("after an authentication: waiting %d, %d from the busy source", total, from)
	}
}

func admitN(t *testing.T, a *admission, src source, n int) {
	t.Helper()
	for i := range n {
		if ok, why := a.admit(src); !ok {
			t.Fatalf("connection %d from %s refused: %s", i+1, src.host, why)
		}
	}
}

func TestPerSourceCaps(t *testing.T) {
	p := testPolicy()
	p.full, p.perSource, p.per48, p.perSourceTotal = 100, 2, 3, 4
	p.dropStart = 100
	a := newAdmission(p, clock.NewFake(time.Unix(0, 0)), draws())
	v6 := func(s string) source {
		return sourceOf(net.TCPAddrFromAddrPort(mustAddrPort(t, "["+s+"]:22")))
	}
	// Two /64s in one /48: the /48 cap binds at 3, before the per-/64 caps.
	admitN(t, a, v6("2001:db8:1:1::1"), 2)
	if ok, why := a.admit(v6("2001:db8:1:1::2")); ok || why != refusedSourceWait {
		t.Fatalf("a third from one /64: %v %q", ok, why)
	}
	admitN(t, a, v6("2001:db8:1:2::1"), 1)
	if ok, why := a.admit(v6("2001:db8:1:3::1")); ok || why != refusedNetworkWait {
		t.Fatalf("a fourth from one /48: %v %q", ok, why)
	}
	admitN(t, a, v6("2001:db8:2:1::1"), 1) // another /48
	// Authenticated connections leave the waiting caps but count in the
	// source's total.
	src := v6("2001:db8:1:1::1")
	a.authenticated(src)
	a.authenticated(src)
	admitN(t, a, src, 2)
	if ok, why := a.admit(src); ok || why != refusedSourceOpen {
		t.Fatalf("a fifth connection from one source: %v %q", ok, why)
	}
}

// A source whose connections stall is refused once it has accrued the
// minimum penalty, until the penalty runs out; penalties accrue up to a
// cap.
func TestStallPenalty(t *testing.T) {
	clk := clock.NewFake(time.Unix(1000, 0))
	p := testPolicy()
	p.full, p.dropStart = 100, 100
	a := newAdmission(p, clk, draws())
	bad, good := ip4(1), ip4(2)
	admitN(t, a, bad, 2)
	a.closed(bad, false, true) // 10 s: below the 15 s minimum
	admitN(t, a, bad, 1)
	a.closed(bad, false, true) // 20 s
	if ok, why := a.admit(bad); ok || why != refusedPenalised {
		t.Fatalf("after two stalls: %v %q", ok, why)
	}
	admitN(t, a, good, 1)
	clk.Advance(19 * time.Second)
	if ok, _ := a.admit(bad); ok {
		t.Fatal("admitted before the penalty ran out")
	}
	clk.Advance(time.Second)
	admitN(t, a, bad, 1) // served its time: the slate is clean
	a.closed(bad, false, false)
	a.closed(bad, false, true) // one stall on a clean slate: not yet refused
	admitN(t, a, bad, 1)

	// A flood of stalls is capped at 10 minutes.
	for range 200 {
		stall(a, ip4(3))
	}
	clk.Advance(penaltyMax - time.Second)
	if ok, _ := a.admit(ip4(3)); ok {
		t.Fatal("the capped penalty ended early")
	}
	clk.Advance(time.Second)
	admitN(t, a, ip4(3), 1)
}

// The table of penalised sources is bounded: past it, new sources go
// unpunished (expired entries are dropped first).
func TestPenaltyTableIsBounded(t *testing.T) {
	clk := clock.NewFake(time.Unix(1000, 0))
	a := newAdmission(testPolicy(), clk, draws())
	for i := range maxPenalised + 10 {
		src := source{host: net.IPv4(10, byte(i>>16), byte(i>>8), byte(i)).String()}
		stall(a, src)
	}
	if len(a.penalties) != maxPenalised {
		t.Fatalf("%d sources remembered, want %d", len(a.penalties), maxPenalised)
	}
	clk.Advance(stallPenalty)
	stall(a, source{host: "192.0.2.1"})
	if len(a.penalties) != 1 {
		t.Fatalf("expired penalties were kept: %d", len(a.penalties))
	}
}

// stall records one stalled connection from src, as closing one would.
func stall(a *admission, src source) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.penalise(src)
}
