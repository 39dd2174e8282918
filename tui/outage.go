package tui

import (
	"time"

	tea "charm.land/bubbletea/v2"

	"github.com/attest-dev/attest/flows"
)

// When the ledger's database cannot be reached (a PostgreSQL restart, say),
// a read or a write of the session fails with flows.ProblemUnavailable.
// The root then shows a banner above every screen and asks the ledger
// again by itself, sooner at first and then every few seconds, on the
// service's clock; the first answer, the root's own or one of these,
// takes the banner away and has the screen read its data again. Nobody
// has to press a key for the screen to come back.

// outageText is the banner shown while the ledger cannot be reached.
const outageText = "The ledger is unavailable, retrying…"

// The retry schedule: the first try after outageFirst, then twice as long
// each time, never more than outageMax apart.
const (
	outageFirst = 500 * time.Millisecond
	outageMax   = 4 * time.Second
)

// outage is the root's view of the ledger's health.
type outage struct {
	down    bool
	wait    time.Duration // before the next try
	probing bool          // a try is scheduled or running
	gen     int           // the current outage; a try of an earlier one is stale
	tries   int           // tries made in this outage (tests read it)
}

type (
	// probedMsg is the answer to one try while the ledger was down.
	probedMsg struct {
		gen int
		err error
	}
)

// unavailable reports whether err says the ledger is out of reach.
func unavailable(err error) bool {
	p, ok := flows.AsProblem(err)
	return ok && p.Code == flows.ProblemUnavailable
}

// watchLedger looks at every message the root gets for news of the
// ledger's health: a failure that says it is out of reach starts the
// outage, an answer ends it. It handles its own tries' answers and then
// reports handled.
func (r *root) watchLedger(msg tea.Msg) (cmd tea.Cmd, handled bool) {
	switch m := msg.(type) {
	case probedMsg:
		if m.gen != r.outage.gen || !r.outage.down {
			return nil, true
		}
		r.outage.probing = false
		if m.err != nil {
			if unavailable(m.err) {
				return r.probe(), true
			}
			// Any other answer is the ledger answering.
		}
		return r.ledgerBack(), true
	case visitedMsg:
		switch {
		case unavailable(m.err):
			return r.ledgerLost(), false
		case m.err == nil && r.outage.down:
			return r.ledgerBack(), false
		}
	case wroteMsg:
		if f, ok := m.msg.(failedResult); ok && unavailable(f.failure()) {
			return r.ledgerLost(), false
		}
	}
	return nil, false
}

// ledgerLost starts the outage (once) and its tries.
func (r *root) ledgerLost() tea.Cmd {
	if r.outage.down {
		return nil
	}
	r.outage = outage{down: true, wait: outageFirst, gen: r.outage.gen + 1}
	return r.probe()
}

// ledgerBack ends the outage: the banner goes, and the root and the
// screen on top read again what they showed.
func (r *root) ledgerBack() tea.Cmd {
	r.outage.down, r.outage.probing = false, false
	return tea.Batch(r.c.read(), r.top().Update(refreshMsg{}))
}

// probe schedules the next try on the service's clock, and the wait after
// it. The try is a read of the device, as the root does on every check.
func (r *root) probe() tea.Cmd {
	if r.outage.probing {
		return nil
	}
	r.outage.probing = true
	r.outage.tries++
	at := r.c.svc.Now().Add(r.outage.wait)
	r.outage.wait = min(2*r.outage.wait, outageMax)
	ctx, svc, dev, gen := r.c.ctx, r.c.svc, r.c.dev, r.outage.gen
	return func() tea.Msg {
		reached, release := svc.Reached(at)
		defer release()
		select {
		case <-reached:
		case <-ctx.Done():
			return nil
		}
		_, err := svc.Visit(ctx, dev)
		if ctx.Err() != nil {
			return nil
		}
		return probedMsg{gen: gen, err: err}
	}
}

// shownNotice is what the frame shows above the screen: the banner while
// the ledger is out of reach, and the root's news.
func (r *root) shownNotice() string {
	if !r.outage.down {
		return r.notice
	}
	if r.notice == "" {
		return outageText
	}
	return outageText + "\n" + r.notice
}

// resumeProbe starts the tries of an outage the session started in.
func (r *root) resumeProbe() tea.Cmd {
	if !r.outage.down {
		return nil
	}
	return r.probe()
}

// startedDown is called by New when its first read failed: the session
// starts in an outage, and Init starts the tries.
func (r *root) startedDown(err error) bool {
	if !unavailable(err) {
		return false
	}
	r.outage = outage{down: true, wait: outageFirst, gen: 1}
	return true
}
