package server

import (
	"net"
	"sync"
)

// limiter caps connections before they are admitted: unauthenticated
// ones in total and per source address (so a flood of half-open
// handshakes from one place cannot lock everyone else out), and all
// connections per source address. A connection holds an unauthenticated
// slot from accept until its first successful authentication.
type limiter struct {
	maxPre, maxPrePerIP, maxPerIP int

	mu      sync.Mutex
	pre     int
	preByIP map[string]int
	byIP    map[string]int
}

func newLimiter(maxPre, maxPrePerIP, maxPerIP int) *limiter {
	return &limiter{
		maxPre: maxPre, maxPrePerIP: maxPrePerIP, maxPerIP: maxPerIP,
		preByIP: map[string]int{}, byIP: map[string]int{},
	}
}

// admit takes slots for a new connection from ip, or says why not.
func (l *limiter) admit(ip string) (ok bool, reason string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case l.pre >= l.maxPre:
		return false, "too many unauthenticated connections"
	case l.preByIP[ip] >= l.maxPrePerIP:
		return false, "too many unauthenticated connections from this address"
	case l.byIP[ip] >= l.maxPerIP:
		return false, "too many connections from this address"
	}
	l.pre++
	l.preByIP[ip]++
	l.byIP[ip]++
	return true, ""
}

func (l *limiter) authenticated(ip string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.pre--
	if l.preByIP[ip]--; l.preByIP[ip] <= 0 {
		delete(l.preByIP, ip)
	}
}

func (l *limiter) closed(ip string, wasAuthenticated bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !wasAuthenticated {
		l.pre--
		if l.preByIP[ip]--; l.preByIP[ip] <= 0 {
			delete(l.preByIP, ip)
		}
	}
	if l.byIP[ip]--; l.byIP[ip] <= 0 {
		delete(l.byIP, ip)
	}
}

// unauthenticated reports the current number of unauthenticated
// connections, in total and from ip (for tests and metrics).
func (l *limiter) unauthenticated(ip string) (total, fromIP int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.pre, l.preByIP[ip]
}

// limitedConn releases its limiter slots exactly once, when it closes.
type limitedConn struct {
	net.Conn
	lim  *limiter
	ip   string
	mu   sync.Mutex
	auth bool
	done bool
}

// markAuthenticated moves the connection from the unauthenticated pool.
func (c *limitedConn) markAuthenticated() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.auth || c.done {
		return
	}
	c.auth = true
	c.lim.authenticated(c.ip)
}

func (c *limitedConn) Close() error {
	c.mu.Lock()
	if !c.done {
		c.done = true
		c.lim.closed(c.ip, c.auth)
	}
	c.mu.Unlock()
	return c.Conn.Close()
}

// sourceIP is the host part of a remote address; IPv6 addresses are cut
// to their /64, since one host usually owns a whole /64.
func sourceIP(addr net.Addr) string {
	host, _, err := net.SplitHostPort(addr.String())
	if err != nil {
		return addr.String()
	}
	ip := net.ParseIP(host)
	if ip == nil || ip.To4() != nil {
		return host
	}
	return ip.Mask(net.CIDRMask(64, 128)).String() + "/64"
}
