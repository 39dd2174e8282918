package tui

import (
	"context"
	"time"

	tea "charm.land/bubbletea/v2"

	"github.com/attest-dev/attest/flows"
	"github.com/attest-dev/attest/internal/inert"
)

// screen is one page of the session: home, sign in, code, account,
// devices. Screens are pointers and change in place; the root holds them
// in a stack and sends each message to the one on top.
type screen interface {
	Init() tea.Cmd
	Update(msg tea.Msg) tea.Cmd
	// View renders the screen into the body's size, as set by SetSize.
	View() string
	SetSize(width, height int)
	// Title names the screen in the title bar.
	Title() string
	// Keys lists the screen's own keys for the help bar; the root adds
	// help, back and quit.
	Keys() helpKeys
	// Focused reports that a text field or a question has the keyboard:
	// every key but ctrl+c goes to the screen, so q types a q.
	Focused() bool
}

// common is what every screen of one session shares. It belongs to the
// event loop: commands run on other goroutines, so a command copies what it
// needs (the service, the device, strings) and never touches common.
type common struct {
	ctx     context.Context
	svc     *flows.Service
	dev     flows.Device
	sshUser string
	inbox   string  // how to watch the demo inbox; "" without one
	keys    *keyMap // the shared keys
	st      *styles

	// visitor is what the device is, as last read or written.
	visitor flows.Visitor

	// Writes in flight, and how many were ever started: a read started
	// before a write landed may show the state before it, so the root only
	// applies reads that began with no write in flight and no write since.
	writes, writeSeq int

	routes []route

	// onTop is the screen on top of the stack (the root's): a write
	// remembers which screen started it, so that a step-up can resume it
	// there.
	onTop func() screen

	// wake is how soon the frame being drawn changes by itself, as the
	// drawing found (see now and redrawIn); 0: never.
	wake time.Duration

	// confirming keeps the code screens of addresses this session asked
	// to confirm, by address, so that coming back to one shows its code
	// (with its tries) instead of asking for another.
	confirming map[string]*code
}

// now is the service's clock, for what a screen draws. Reading it says
// that the drawing shows time moving (a countdown in seconds, "expired",
// a key that works again at a moment), so the root draws again a second
// later; a frame that never reads it is drawn only when something
// happens.
func (c *common) now() time.Time {
	c.redrawIn(tickEvery)
	return c.svc.Now()
}

// redrawIn says that what is being drawn changes by itself within d.
func (c *common) redrawIn(d time.Duration) {
	if c.wake == 0 || d < c.wake {
		c.wake = d
	}
}

// route is a change to the screen stack, asked for by a screen during its
// Update and carried out by the root right after it, in order.
type route struct {
	push   screen // push this screen
	back   bool   // pop the top screen
	popTo  screen // pop down to this screen
	home   bool   // drop everything and show home
	tell   bool   // show notice above whatever is on top
	notice string // with home or tell: the news to show
	out    bool   // the news is of a sign-out (see root.setVisitor)
}

func (c *common) push(s screen)      { c.routes = append(c.routes, route{push: s}) }
func (c *common) back()              { c.routes = append(c.routes, route{back: true}) }
func (c *common) popTo(s screen)     { c.routes = append(c.routes, route{popTo: s}) }
func (c *common) home(notice string) { c.routes = append(c.routes, route{home: true, notice: notice}) }

// homeOut is home with news of a sign-out.
func (c *common) homeOut(notice string) {
	c.routes = append(c.routes, route{home: true, notice: notice, out: true})
}
func (c *common) tell(notice string) { c.routes = append(c.routes, route{tell: true, notice: notice}) }

// writeFn is a flow that changes the ledger, run off the event loop.
type writeFn func(ctx context.Context, svc *flows.Service, dev flows.Device) tea.Msg

// write runs a flow that changes the ledger and returns its result as a
// message; the root counts it as a write in flight until it lands.
func (c *common) write(fn writeFn) tea.Cmd { return c.protected("", fn) }

// protected is write for a protected action, named by what (“unlink
// +1 415-555-2671”) for the step-up screen. When the flows answer that the
// action needs a step-up, the root asks for one and then runs fn again
// for the screen that started it (see root.wrote).
func (c *common) protected(what string, fn writeFn) tea.Cmd {
	var from screen
	if c.onTop != nil {
		from = c.onTop()
	}
	return c.writeFrom(from, what, fn)
}

func (c *common) writeFrom(from screen, what string, fn writeFn) tea.Cmd {
	c.writes++
	c.writeSeq++
	ctx, svc, dev := c.ctx, c.svc, c.dev
	seq := c.writeSeq
	return func() tea.Msg { return wroteMsg{msg: fn(ctx, svc, dev), redo: fn, from: from, what: what, seq: seq} }
}

// read re-reads what the device is.
func (c *common) read() tea.Cmd {
	ctx, svc, dev := c.ctx, c.svc, c.dev
	msg := visitedMsg{seq: c.writeSeq, clean: c.writes == 0}
	return func() tea.Msg {
		msg.v, msg.err = svc.Visit(ctx, dev)
		return msg
	}
}

// signedIn reports whether the device acts as an account.
func (c *common) signedIn() bool { return c.visitor.Account }

// Messages the root handles for every screen.
type (
	// pokeMsg: the flows' bus says this device or its user changed.
	pokeMsg struct{}
	// rewatchMsg starts the wait for the next poke (see rewatch).
	rewatchMsg struct{}
	// checkMsg re-reads the visitor when its state lapses by itself.
	checkMsg struct{ n int }
	// tickMsg draws again when the time a frame shows moves on.
	tickMsg struct{ n int }
	// visitedMsg is a re-read of the visitor.
	visitedMsg struct {
		v     flows.Visitor
		err   error
		seq   int
		clean bool
	}
	// wroteMsg wraps the result of a write (see common.write), with what
	// the root needs to run it again after a step-up.
	wroteMsg struct {
		msg  tea.Msg
		redo writeFn
		from screen // the screen that started it
		what string // a protected action, for the step-up screen
		seq  int    // common.writeSeq when it started
	}
	// refreshMsg asks the top screen to read its own data again.
	refreshMsg struct{}
)

// rewatch has the root start waiting for the next poke.
func rewatch() tea.Msg { return rewatchMsg{} }

// visitorResult is a write result that says what the device is now.
type visitorResult interface {
	result() (flows.Visitor, bool)
}

// failedResult is a write result that can be a refusal; the root looks
// for one that asks for a step-up.
type failedResult interface {
	failure() error
}

// needsStepUp reports whether err is the flows' "step up first".
func needsStepUp(err error) bool {
	p, ok := flows.AsProblem(err)
	return ok && p.Code == flows.ProblemStepUp
}

// problemText is what a screen shows for a failed flow: a Problem's
// message, written to be shown, or the error for anything else. Both are
// made inert.
func problemText(err error) string {
	if p, ok := flows.AsProblem(err); ok {
		return inert.String(p.Msg)
	}
	return "Something went wrong: " + inert.String(err.Error())
}
