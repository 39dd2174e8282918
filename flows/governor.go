package flows

import (
	"fmt"
	"strings"
	"time"

	"github.com/attest-dev/attest/flows/address"
	"github.com/attest-dev/attest/flows/message"
	"github.com/attest-dev/attest/store"
)

// The governor answers "the system messaged this address hash this long
// ago, this many times" (the notes' words), and from that, when the next
// message may go. It looks only at hashes and at facts of messages sent:
// never at whether an account exists, so its answer (and the time it takes
// to give it) cannot reveal one.

// channelKinds are the facts that count against each channel's global cap.
var channelKinds = map[message.Channel][]string{
	message.Email: {KindCodeEmailed, KindLinkEmailed},
	message.SMS:   {KindCodeTexted, KindLinkTexted},
}

// Governor rules: which limit decided a time, as recorded in the facts
// (message.held's rule) so that the ledger can say why.
const (
	RuleAddressGap  = "address_gap"      // one message a minute to one address
	RuleAddressHour = "address_per_hour" // so many an hour to one address
	RuleAddressDay  = "address_per_day"  // so many a day to one address
	RuleDeviceHour  = "device_per_hour"  // so many an hour caused by one device
	RuleSourceHour  = "source_per_hour"  // so many an hour asked from one source network
	RuleChannelHour = "channel_per_hour" // the global cap of a channel
)

// ask is one message the governor is asked about.
type ask struct {
	hash   string // the address's keyed hash
	device string // the device that asks
	// source is sourceID of the network the request came from; "" when
	// unknown (in-process callers), which no per-source limit counts.
	source string
	ch     message.Channel
	// stepUp is a signed-in device's step-up code to its own account's
	// address: the server-wide cap spares it (see govern).
	stepUp bool
}

// sourceID names a source network in the ledger: its keyed hash, so the
// ledger can count a network's messages without holding the network.
func (s *Service) sourceID(source string) string {
	if source == "" {
		return ""
	}
	return "net:" + s.hasher.Hash(address.Address{Kind: "net", Value: source})
}

// govern returns the earliest time the message a may go (a time not after
// now means "now"), and the rule that set it ("" when nothing holds a
// message back). With sending, it answers as if one more message went now:
// when the one after it may go, which the fact of the message records
// before it is appended.
func (s *Service) govern(r store.Reader, now time.Time, a ask, sending bool) (time.Time, string, error) {
	g := s.policy.Governor
	next, rule := now, ""
	later := func(t time.Time, why string) {
		if t.After(next) {
			next, rule = t, why
		}
	}

	// Newest first, over the longest window any address rule looks at.
	var times []time.Time
	err := r.Entries(store.ByAddress, a.hash, store.Window{Since: now.Add(-24 * time.Hour), Kinds: governedKinds, Reverse: true},
		func(e store.Entry) bool { times = append(times, e.Time); return true })
	if err != nil {
		return time.Time{}, "", fmt.Errorf("governor: read address: %w", err)
	}
	if sending {
		times = append([]time.Time{now}, times...)
	}
	if len(times) > 0 && g.AddressGap > 0 {
		later(times[0].Add(g.AddressGap), RuleAddressGap)
	}
	if n := g.AddressPerHour; n > 0 {
		inHour := 0
		for _, t := range times {
			if t.After(now.Add(-time.Hour)) {
				inHour++
			}
		}
		if inHour >= n {
			// The n-th newest message must leave the hour before another fits.
			later(times[n-1].Add(time.Hour), RuleAddressHour)
		}
	}
	if n := g.AddressPerDay; n > 0 && len(times) >= n {
		later(times[n-1].Add(24*time.Hour), RuleAddressDay)
	}

	// The device's and the source network's hourly counts: the n-th
	// newest of their messages must leave the hour before another fits.
	hourly := func(n int, ix store.Index, id string, kinds []string, why string) error {
		if n <= 0 || id == "" {
			return nil
		}
		t := now // with one allowed, the message being sent fills the hour
		if !sending || n > 1 {
			m := n
			if sending {
				m-- // the message being sent is the newest
			}
			var err error
			if t, err = nthNewest(r, ix, id, kinds, now.Add(-time.Hour), m); err != nil {
				return err
			}
		}
		if !t.IsZero() {
			later(t.Add(time.Hour), why)
		}
		return nil
	}
	if err := hourly(g.DevicePerHour, store.ByDevice, a.device, governedKinds, RuleDeviceHour); err != nil {
		return time.Time{}, "", fmt.Errorf("governor: read device: %w", err)
	}
	if err := hourly(g.SourcePerHour, store.ByAddress, a.source, sourceKinds, RuleSourceHour); err != nil {
		return time.Time{}, "", fmt.Errorf("governor: read source: %w", err)
	}

	limit := g.EmailPerHour
	if a.ch == message.SMS {
		limit = g.SMSPerHour
	}
	// A signed-in device's step-up code goes to its own account's
	// confirmed address and answers no stranger's question; the cap that
	// a stranger can fill must not lock an account's owner out of its own
	// protected changes. Step-ups still count toward the cap, and every
	// other limit above holds them.
	if limit > 0 && !a.stepUp {
		// The global cap reads the kind index; each channel's kinds are
		// scanned separately and their newest entries merged.
		var all []time.Time
		for _, k := range channelKinds[a.ch] {
			err := r.Entries(store.ByKind, k, store.Window{Since: now.Add(-time.Hour), Reverse: true, Limit: limit},
				func(e store.Entry) bool { all = append(all, e.Time); return true })
			if err != nil {
				return time.Time{}, "", fmt.Errorf("governor: read %s: %w", k, err)
			}
		}
		if sending {
			all = append(all, now)
		}
		if len(all) >= limit {
			sortNewestFirst(all)
			later(all[limit-1].Add(time.Hour), RuleChannelHour)
		}
	}
	return next, rule, nil
}

// warnCapReached logs at WARN that a channel's server-wide hourly cap
// held a message back: once per clock hour and channel, not per request,
// so an attacker filling the cap cannot fill the log too.
func (s *Service) warnCapReached(ch message.Channel) {
	now := s.clock.Now()
	window := now.Truncate(time.Hour)
	s.capMu.Lock()
	if s.capWarned == nil {
		s.capWarned = map[message.Channel]time.Time{}
	}
	first := !s.capWarned[ch].Equal(window)
	s.capWarned[ch] = window
	s.capMu.Unlock()
	if first {
		limit := s.policy.Governor.EmailPerHour
		if ch == message.SMS {
			limit = s.policy.Governor.SMSPerHour
		}
		s.log.Warn("the server-wide hourly cap is reached: messages are held back for everyone (logged once an hour)",
			"channel", ch, "cap_per_hour", limit)
	}
}

// sourceKinds are the facts the per-source limit counts.
var sourceKinds = []string{KindMessageSource}

// noteSource records that a governed message went out at the request of
// a source network, for the per-source limit.
func noteSource(tx store.Tx, now time.Time, source, ticket string) error {
	if source == "" {
		return nil
	}
	_, err := tx.Append(store.Fact{Time: now, Kind: KindMessageSource, Address: source, Ticket: ticket})
	return err
}

// nthNewest returns the time of the n-th newest entry of id since since,
// or the zero time when there are fewer than n.
func nthNewest(r store.Reader, ix store.Index, id string, kinds []string, since time.Time, n int) (time.Time, error) {
	var t time.Time
	i := 0
	err := r.Entries(ix, id, store.Window{Since: since, Kinds: kinds, Reverse: true, Limit: n},
		func(e store.Entry) bool {
			i++
			if i == n {
				t = e.Time
			}
			return true
		})
	return t, err
}

func sortNewestFirst(ts []time.Time) {
	for i := 1; i < len(ts); i++ {
		for j := i; j > 0 && ts[j].After(ts[j-1]); j-- {
			ts[j], ts[j-1] = ts[j-1], ts[j]
		}
	}
}

// throttled is the governor's answer to someone who asked too soon. It is
// the same for every address, known or not, and says when to come back and
// which limit holds: the rules about one address, one device and one
// network, or the server's hourly cap for everyone. what names the message
// held back: "code" or "link".
func (s *Service) throttled(now, next time.Time, what, rule string, ch message.Channel) *Problem {
	g := s.policy.Governor
	msg := fmt.Sprintf("Next %s at %s.", what, When(next, now))
	switch rule {
	case RuleChannelHour:
		limit, noun := g.EmailPerHour, "emails"
		if ch == message.SMS {
			limit, noun = g.SMSPerHour, "text messages"
		}
		msg += fmt.Sprintf(" This server's hourly limit is reached: it sends at most %d %s an hour to everyone together.", limit, noun)
	case RuleSourceHour:
		msg += fmt.Sprintf(" Requests from one network get at most %d messages an hour.", g.SourcePerHour)
	default:
		var per []string
		if g.AddressGap > 0 {
			per = append(per, "one "+what+" every "+shortDuration(g.AddressGap))
		}
		if g.AddressPerHour > 0 {
			per = append(per, fmt.Sprintf("%d an hour", g.AddressPerHour))
		}
		if g.AddressPerDay > 0 {
			per = append(per, fmt.Sprintf("%d a day", g.AddressPerDay))
		}
		if len(per) > 0 {
			msg += " To keep inboxes quiet, one address gets at most " + strings.Join(per, ", ") + "."
		}
		if g.DevicePerHour > 0 {
			msg += fmt.Sprintf(" One device asks for at most %d messages an hour.", g.DevicePerHour)
		}
	}
	return &Problem{Code: ProblemThrottled, RetryAt: next, Msg: msg}
}

// When renders a time for a person: the clock time in UTC and how far
// away it is ("12:04:31 UTC (in 45s)").
func When(t, now time.Time) string {
	d := t.Sub(now).Round(time.Second)
	switch {
	case d > 0:
		return fmt.Sprintf("%s UTC (in %s)", t.UTC().Format("15:04:05"), shortDuration(d))
	case d < 0:
		return fmt.Sprintf("%s UTC (%s ago)", t.UTC().Format("15:04:05"), shortDuration(-d))
	}
	return t.UTC().Format("15:04:05") + " UTC (now)"
}

// shortDuration renders a duration the way people write it: "45s",
// "4m30s", "1h", "1h5m", and from two days on "29d23h".
func shortDuration(d time.Duration) string {
	d = d.Round(time.Second)
	if d >= 48*time.Hour {
		days, h := int(d/(24*time.Hour)), int(d%(24*time.Hour)/time.Hour)
		if h == 0 {
			return fmt.Sprintf("%dd", days)
		}
		return fmt.Sprintf("%dd%dh", days, h)
	}
	h, m, sec := int(d/time.Hour), int(d%time.Hour/time.Minute), int(d%time.Minute/time.Second)
	out := ""
	if h > 0 {
		out += fmt.Sprintf("%dh", h)
	}
	if m > 0 {
		out += fmt.Sprintf("%dm", m)
	}
	if sec > 0 && h == 0 {
		out += fmt.Sprintf("%ds", sec)
	}
	if out == "" {
		out = "0s"
	}
	return out
}
