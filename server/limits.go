package server

import (
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"sync"
	"time"

	"github.com/attest-dev/attest/flows/clock"
)

// admissionPolicy is how many connections may wait in the handshake
// before authenticating, like OpenSSH's MaxStartups and PerSource*
// settings (see config.SSH for each).
type admissionPolicy struct {
	dropStart, dropRate, full, headroom int // rate in percent
	perSource, per48, perSourceTotal    int
}

// The penalty for a source whose connections stall before
// authenticating (OpenSSH's PerSourcePenalties grace-exceeded): each
// stalled connection adds stallPenalty; the source is refused once it has
// accrued penaltyMin, until its penalty runs out, and never for more than
// penaltyMax at a time. Without it an attacker's reconnects keep the
// pool full. At most maxPenalised sources are remembered; beyond that
// new ones go unpunished rather than evicting older ones.
const (
	stallPenalty = 10 * time.Second
	penaltyMin   = 15 * time.Second
	penaltyMax   = 10 * time.Minute
	maxPenalised = 65536
)

// source is where a connection comes from, as admission counts it: one
// IPv4 address or one IPv6 /64 (one host usually owns a whole /64), and
// for IPv6 the /48 around it (a site) for a second, looser cap.
type source struct {
	host  string
	net48 string // "" for IPv4
}

// sourceOf groups a remote address. An IPv4 address mapped into IPv6 is
// the IPv4 address.
func sourceOf(addr net.Addr) source {
	ap, err := netip.ParseAddrPort(addr.String())
	if err != nil {
		return source{host: addr.String()} // not IP: one source per address
	}
	ip := ap.Addr().Unmap().WithZone("")
	if ip.Is4() {
		return source{host: ip.String()}
	}
	p64, _ := ip.Prefix(64)
	p48, _ := ip.Prefix(48)
	return source{host: p64.String(), net48: p48.String()}
}

// admission decides, before the handshake starts, whether a new
// connection may wait in it. A connection holds an unauthenticated slot
// from accept until its first successful authentication, and a source
// slot until it closes.
type admission struct {
	policy admissionPolicy
	clock  clock.Clock
	random io.Reader // for the early drop

	mu        sync.Mutex
	waiting   int            // connections not yet authenticated
	waitingBy map[string]int // by source
	waitingIn map[string]int // by IPv6 /48
	open      map[string]int // all connections, by source
	penalties map[string]*penalty
}

type penalty struct {
	until  time.Time
	active bool // accrued penaltyMin: the source is refused until until
}

func newAdmission(p admissionPolicy, clk clock.Clock, random io.Reader) *admission {
	return &admission{
		policy: p, clock: clk, random: random,
		waitingBy: map[string]int{}, waitingIn: map[string]int{}, open: map[string]int{},
		penalties: map[string]*penalty{},
	}
}

// Why a connection is refused, also the metric's label.
const (
	refusedPenalised    = "source penalised for stalled connections"
	refusedSourceOpen   = "too many connections from this source"
	refusedSourceWait   = "too many unauthenticated connections from this source"
	refusedNetworkWait  = "too many unauthenticated connections from this /48"
	refusedFull         = "too many unauthenticated connections"
	refusedEarlyDropped = "dropped early: many unauthenticated connections"
)

// admit takes slots for a new connection from src, or says why not.
func (a *admission) admit(src source) (ok bool, reason string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	p := a.policy
	now := a.clock.Now()
	if pen := a.penalties[src.host]; pen != nil {
		if !now.Before(pen.until) {
			delete(a.penalties, src.host)
		} else if pen.active {
			return false, refusedPenalised
		}
	}
	switch {
	case a.open[src.host] >= p.perSourceTotal:
		return false, refusedSourceOpen
	case a.waitingBy[src.host] >= p.perSource:
		return false, refusedSourceWait
	case src.net48 != "" && a.waitingIn[src.net48] >= p.per48:
		return false, refusedNetworkWait
	}
	if a.waitingBy[src.host] == 0 {
		// A source with nothing waiting is not dropped at random, and may
		// use the headroom: a few sources that hold the pool do not lock
		// out everyone else.
		if a.waiting >= p.full+p.headroom {
			return false, refusedFull
		}
	} else {
		chance := dropChance(a.waiting, min(p.dropStart, p.full), p.dropRate, p.full)
		if chance >= 1 {
			return false, refusedFull
		}
		if chance > 0 && a.draw() < chance {
			return false, refusedEarlyDropped
		}
	}
	a.waiting++
	a.waitingBy[src.host]++
	if src.net48 != "" {
		a.waitingIn[src.net48]++
	}
	a.open[src.host]++
	return true, ""
}

// dropChance is the probability of refusing a connection when `waiting`
// connections are already waiting: none below start, rate percent at
// start, rising linearly to certain at full.
func dropChance(waiting, start, rate, full int) float64 {
	switch {
	case waiting >= full:
		return 1
	case waiting < start:
		return 0
	}
	r := float64(rate) / 100
	return r + (1-r)*float64(waiting-start)/float64(full-start)
}

// draw is a uniform number in [0, 1). Should the source of randomness
// fail, it says 0: the connection is dropped, which is the safe side.
func (a *admission) draw() float64 {
	var b [8]byte
	if _, err := io.ReadFull(a.random, b[:]); err != nil {
		return 0
	}
	return float64(binary.BigEndian.Uint64(b[:])>>11) / (1 << 53)
}

// authenticated frees the unauthenticated slot of a connection from src.
func (a *admission) authenticated(src source) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.unwait(src)
}

func (a *admission) unwait(src source) {
	a.waiting--
	decrement(a.waitingBy, src.host)
	if src.net48 != "" {
		decrement(a.waitingIn, src.net48)
	}
}

// closed frees a connection's slots. A connection that stalled before
// authenticating earns its source a penalty.
func (a *admission) closed(src source, authenticated, stalled bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if !authenticated {
		a.unwait(src)
		if stalled {
			a.penalise(src)
		}
	}
	decrement(a.open, src.host)
}

func (a *admission) penalise(src source) {
	now := a.clock.Now()
	pen := a.penalties[src.host]
	if pen == nil || !now.Before(pen.until) {
		if pen == nil && len(a.penalties) >= maxPenalised {
			a.dropExpiredPenalties(now)
			if len(a.penalties) >= maxPenalised {
				return
			}
		}
		pen = &penalty{until: now}
		a.penalties[src.host] = pen
	}
	pen.until = pen.until.Add(stallPenalty)
	if pen.until.After(now.Add(penaltyMax)) {
		pen.until = now.Add(penaltyMax)
	}
	if pen.until.Sub(now) >= penaltyMin {
		pen.active = true
	}
}

func (a *admission) dropExpiredPenalties(now time.Time) {
	for k, pen := range a.penalties {
		if !now.Before(pen.until) {
			delete(a.penalties, k)
		}
	}
}

// unauthenticated reports the connections waiting, in total and from
// src (for tests and metrics).
func (a *admission) unauthenticated(src source) (total, fromSource int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.waiting, a.waitingBy[src.host]
}

func decrement(m map[string]int, k string) {
	if m[k]--; m[k] <= 0 {
		delete(m, k)
	}
}

// admittedConn is an admitted connection. It releases its slots exactly
// once, when it closes; it holds the handshake to the key-exchange
// deadline until authentication begins; and it notices a stall (a read
// that ran into a deadline before authentication).
type admittedConn struct {
	net.Conn
	adm *admission
	src source

	mu          sync.Mutex
	kexDeadline time.Time // zero once key exchange is done
	asked       time.Time // the deadline the SSH library last set
	auth        bool
	stalled     bool
	done        bool
}

func newAdmittedConn(c net.Conn, adm *admission, src source, kexTimeout time.Duration) *admittedConn {
	ac := &admittedConn{Conn: c, adm: adm, src: src, kexDeadline: time.Now().Add(kexTimeout)}
	_ = c.SetDeadline(ac.kexDeadline)
	return ac
}

// SetDeadline is how the SSH library bounds the handshake and idleness;
// until key exchange is done the earlier key-exchange deadline wins.
func (c *admittedConn) SetDeadline(t time.Time) error {
	c.mu.Lock()
	c.asked = t
	t = c.effective(t)
	c.mu.Unlock()
	return c.Conn.SetDeadline(t) // unwrapped, like Read's
}

func (c *admittedConn) effective(t time.Time) time.Time {
	if !c.kexDeadline.IsZero() && (t.IsZero() || c.kexDeadline.Before(t)) {
		return c.kexDeadline
	}
	return t
}

// keyExchangeDone lifts the key-exchange deadline: the client has sent
// its first authentication request.
func (c *admittedConn) keyExchangeDone() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.kexDeadline.IsZero() {
		return
	}
	c.kexDeadline = time.Time{}
	_ = c.Conn.SetDeadline(c.asked)
}

func (c *admittedConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	if err != nil && errors.Is(err, os.ErrDeadlineExceeded) {
		c.mu.Lock()
		if !c.auth {
			c.stalled = true
		}
		c.mu.Unlock()
	}
	return n, err // unwrapped: the SSH library reads it as its own connection's
}

// markAuthenticated moves the connection out of the unauthenticated pool.
func (c *admittedConn) markAuthenticated() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.auth || c.done {
		return
	}
	c.auth = true
	c.adm.authenticated(c.src)
}

func (c *admittedConn) Close() error {
	c.mu.Lock()
	if !c.done {
		c.done = true
		c.adm.closed(c.src, c.auth, c.stalled)
	}
	c.mu.Unlock()
	return c.Conn.Close()
}
