package tui

import (
	"context"
	"fmt"
	"go/token"
	"reflect"
	"time"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/colorprofile"

	"github.com/attest-dev/attest/flows"
	"github.com/attest-dev/attest/internal/freshstack"
)

const (
	// Below this the screens cannot be laid out; the root says so instead.
	minWidth, minHeight = 50, 15
	// margin is the blank columns left and right of everything.
	margin = 2

	tickEvery = time.Second // a countdown in seconds
)

// root is the session's model: it owns the screen stack, the title and
// help bars, the live watch and the timers, and routes every message to
// the screen on top.
//
// An idle screen costs nothing: nothing polls. The root reads the
// visitor again when the flows' bus pokes it (this device or its user
// changed, on this server or another), and when the visitor's state
// lapses by itself (checkMsg at the moment it does). It draws again when
// a message changed something, or when time moves what the frame shows
// (tickMsg, only while a countdown is in sight, and only as often as its
// text changes: see common.now and redrawIn).
type root struct {
	c      *common
	cancel context.CancelFunc
	live   *live
	// showAll: the help bar shows every key (? toggles it).
	showAll bool
	stack   []screen
	notice  string // news shown above the screen until the next move
	// noticeOut: the notice is news of a sign-out, which a sign-in
	// since makes wrong.
	noticeOut bool

	width, height int
	dark          bool
	profile       colorprofile.Profile

	// The pending tick (real time) and check (the service's clock), if
	// any; see plan.
	tickN, checkN   int
	tickAt, checkAt time.Time
	frame           string        // the frame as last drawn
	drawn           bool          // frame is up to date
	helpBar         string        // as layout drew it
	title           titleMemo     // the title bar as last laid out
	wake            time.Duration // how soon frame changes by itself (0: never)
	quitting        bool

	// then is a protected action waiting for a step-up (see wrote).
	then *continuation

	outage outage // the ledger out of reach (outage.go)
}

// continuation is a protected action the flows refused for want of a
// step-up. The root pushed the step-up screen; when its code is right, the
// root pops back to the screen that started the action, as it was (the
// question answered, the field with its text), and runs the action again
// for it. If the person leaves the step-up screen instead, that screen
// gets the refusal, as if there had been no detour.
type continuation struct {
	from    screen  // the screen that started the action
	stepUp  screen  // the step-up screen pushed for it
	redo    writeFn // the action
	what    string
	refusal tea.Msg // the result that asked for the step-up
}

func (r *root) Init() tea.Cmd {
	return tea.Batch(
		tea.RequestBackgroundColor,
		r.live.next(),
		r.resumeProbe(),
		r.top().Init(),
		r.plan(),
	)
}

func (r *root) top() screen { return r.stack[len(r.stack)-1] }

// plan draws the frame and arranges to be woken when it changes by
// itself: a tick when the time it shows moves on (tea.Tick, real time,
// as Bubble Tea draws), a check when the visitor's state lapses (on the
// service's clock, which decides the lapse). A timer already set for that
// moment or sooner stays; one set for later is replaced, and its message
// is then stale.
func (r *root) plan() tea.Cmd {
	if !r.drawn {
		r.draw()
	}
	var cmds []tea.Cmd
	if wake := r.wake; wake > 0 {
		if at := time.Now().Add(wake); r.tickAt.IsZero() || at.Before(r.tickAt) {
			r.tickN++
			r.tickAt = at
			n := r.tickN
			cmds = append(cmds, tea.Tick(wake, func(time.Time) tea.Msg { return tickMsg{n: n} }))
		}
	}
	if at, ok := r.lapse(); ok && (r.checkAt.IsZero() || at.Before(r.checkAt)) {
		r.checkN++
		r.checkAt = at
		n, ctx, svc := r.checkN, r.c.ctx, r.c.svc
		cmds = append(cmds, func() tea.Msg {
			reached, release := svc.Reached(at)
			defer release()
			select {
			case <-reached:
				return checkMsg{n: n}
			case <-ctx.Done():
				return nil
			}
		})
	}
	return tea.Batch(cmds...)
}

// lapse is when the visitor's state next changes by itself, with nobody
// writing: a sign-in that ends unless the device is used, a first factor
// that stops waiting for its second.
func (r *root) lapse() (at time.Time, ok bool) {
	v, now := r.c.visitor, r.c.svc.Now()
	due := func(t time.Time) {
		if t.After(now) && (!ok || t.Before(at)) {
			at, ok = t, true
		}
	}
	if v.Account {
		due(v.Until)
	}
	if v.Waiting != nil {
		due(v.Waiting.Until)
	}
	return at.Add(time.Millisecond), ok // just past the moment, not on it
}

func (r *root) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	if r.quitting {
		return r, nil
	}
	if _, ok := msg.(rewatchMsg); ok {
		// The wait for the next poke, alone: a command in a batch costs a
		// second goroutine, waiting for the batch, for as long as it waits.
		return r, r.live.wait()
	}
	if r.changesNothing(msg) {
		return r, nil
	}
	var cmd tea.Cmd
	freshstack.Run(func() { cmd = r.update(msg) })
	return r, cmd
}

// update is Update for a message that may change what the screens show.
func (r *root) update(msg tea.Msg) tea.Cmd {
	r.drawn = false
	var cmds []tea.Cmd
	ledger, handled := r.watchLedger(msg) // outage.go
	if handled {
		r.layout()
		return ledger
	}
	cmds = append(cmds, ledger)
	switch msg := msg.(type) {
	case tea.WindowSizeMsg:
		r.width, r.height = msg.Width, msg.Height
	case tea.BackgroundColorMsg:
		r.dark = msg.IsDark()
		r.restyle()
	case tea.ColorProfileMsg:
		r.profile = msg.Profile
		r.restyle()
	case tea.KeyPressMsg:
		cmds = append(cmds, r.key(msg))
	case pokeMsg:
		cmds = append(cmds, r.live.next(), r.c.read(), r.top().Update(refreshMsg{}))
	case checkMsg:
		if msg.n == r.checkN {
			r.checkAt = time.Time{}
		}
		cmds = append(cmds, r.c.read(), r.top().Update(refreshMsg{}))
	case tickMsg:
		if msg.n == r.tickN {
			r.tickAt = time.Time{}
		}
		cmds = append(cmds, r.top().Update(msg))
	case visitedMsg:
		r.visited(msg)
		if w, ok := r.top().(linkWaiter); ok { // still waiting: was the link ended instead?
			cmds = append(cmds, w.poked())
		}
	case wroteMsg:
		cmds = append(cmds, r.wrote(msg))
	default:
		cmds = append(cmds, r.top().Update(msg))
	}
	if r.quitting {
		return tea.Quit
	}
	cmds = append(cmds, r.route())
	r.layout()
	cmds = append(cmds, r.plan())
	return tea.Batch(cmds...)
}

// changesNothing reports a message that no screen acts on, or that says
// what the root already knows: the frame stays as drawn. A session gets
// several as it opens (its environment, its size and colour profile once
// more, the terminal's answers about its keyboard and background), and
// drawing the whole frame again for each was most of the garbage an open
// screen left behind.
func (r *root) changesNothing(msg tea.Msg) bool {
	switch m := msg.(type) {
	case tea.EnvMsg, tea.KeyboardEnhancementsMsg, tea.ModeReportMsg:
		return true
	case tea.WindowSizeMsg:
		return m.Width == r.width && m.Height == r.height
	case tea.ColorProfileMsg:
		return m.Profile == r.profile
	case tea.BackgroundColorMsg:
		return m.IsDark() == r.dark
	}
	// Bubble Tea's own unexported messages are requests it has carried
	// out already (ask the terminal for its background colour, print a
	// line); it passes them on, but no screen can name one.
	t := reflect.TypeOf(msg)
	return t != nil && t.PkgPath() == teaPackage && !token.IsExported(t.Name())
}

// teaPackage is Bubble Tea's import path, as reflect gives it.
var teaPackage = reflect.TypeOf(tea.KeyPressMsg{}).PkgPath()

// key handles the keys every screen shares, then hands the rest to the top
// screen. A focused text field gets every key but ctrl+c.
func (r *root) key(msg tea.KeyPressMsg) tea.Cmd {
	k := r.c.keys
	if key.Matches(msg, k.ForceQuit) {
		r.quit()
		return nil
	}
	top := r.top()
	if r.tooSmall() { // nothing to act on in sight: only q, as ever
		if key.Matches(msg, k.Quit) && !top.Focused() {
			r.quit()
		}
		return nil
	}
	if top.Focused() {
		if msg.String() == "ctrl+g" { // the ledger's key that types nothing
			r.openLedger()
			return nil
		}
		return top.Update(msg)
	}
	switch {
	case key.Matches(msg, k.Quit):
		r.quit()
		return nil
	case key.Matches(msg, k.Help):
		r.showAll = !r.showAll
		return nil
	case key.Matches(msg, k.Back) && len(r.stack) > 1:
		r.c.back()
		return nil
	case key.Matches(msg, k.Back) && r.notice != "":
		r.notice = ""
		return nil
	case key.Matches(msg, k.Ledger):
		r.openLedger()
		return nil
	}
	return top.Update(msg)
}

// openLedger shows the ledger panel over whatever is on top (unless it
// is the panel already); Esc comes back.
func (r *root) openLedger() {
	if _, open := r.top().(*ledger); !open {
		r.c.push(newLedger(r.c))
	}
}

// watch starts the live watch, or takes over the one the caller relays
// (nil: none). It stops when the session's context ends
// (the server ends it with the session, however that ends) or when the
// person quits.
func (r *root) watch(relayed *flows.Watcher) *live {
	l := watch(r.c.svc, r.c.dev.Tag, relayed)
	context.AfterFunc(r.c.ctx, l.stop)
	return l
}

// quit ends the session: the watch stops and the waiting command returns.
func (r *root) quit() {
	r.quitting = true
	r.live.stop()
	r.cancel()
}

// visited applies a re-read of the visitor. A device that was signed in to
// an account and no longer is was signed out from elsewhere: it drops to
// the signed-out home and says so.
func (r *root) visited(msg visitedMsg) {
	if msg.err != nil || !msg.clean || msg.seq != r.c.writeSeq || r.c.writes > 0 {
		return // stale: a write started since, and its own read follows
	}
	was := r.c.visitor
	r.setVisitor(msg.v)
	switch {
	case msg.v.Waiting != nil && (was.Waiting == nil || !was.Waiting.Until.Equal(msg.v.Waiting.Until)):
		// A link's button was pressed, or another device approved this
		// one, for an account with an authenticator app.
		r.awaitSecondFactor()
	case was.Account && !msg.v.Account:
		// By a sign-out everywhere, or a password change that signed out
		// every other device: the screen cannot tell which.
		r.c.homeOut("You were signed out from another device.")
	case !was.Account && msg.v.Account && msg.v.Method == methodDeviceLink:
		// Another device approved this one's link code.
		r.c.home("This device is now linked to your account.")
	case msg.v.Account && msg.v.Method == methodLink && (!was.Account || was.User != msg.v.User):
		// A sign-in link's button was pressed in a browser. The screen
		// that waited for it knows what it was for; a session that left
		// it is signed in all the same (the link names this session),
		// even one that signed in to another account meanwhile (the
		// flows switch it).
		note := "Signed in with the link as " + displayName(msg.v) + "."
		if w, ok := r.top().(linkWaiter); ok {
			note = w.linked(msg.v)
		}
		r.c.home(note)
	}
}

// How a device signed in, as Visitor.Method says.
const (
	methodDeviceLink = "device-link" // another device approved it
	methodLink       = "link"        // a sign-in link's button was pressed
	methodPassword   = "password"    // the one-stage login with a password
)

// linkWaiter is a screen that waits for a link to be used, and says what
// it did.
type linkWaiter interface {
	linked(v flows.Visitor) string
	// poked is the screen's own look after a poke that did not sign the
	// session in: a wrong check on the link's page pokes it too.
	poked() tea.Cmd
}

// wrote applies the result of a write, then lets the top screen see it.
// Signing in and signing out change the whole session, so the root moves
// to home for them whichever screen is on top. A protected action refused
// for want of a step-up takes a detour through the step-up screen (see
// continuation) and its refusal is only shown if the person turns back.
func (r *root) wrote(w wroteMsg) tea.Cmd {
	r.c.writes--
	msg := w.msg
	// Only the newest write's result says what the device is now: writes
	// in flight together land in any order, and an older one's visitor
	// would take back what a newer one did (a second star), until the
	// read after the last of them.
	if res, ok := msg.(visitorResult); ok && w.seq == r.c.writeSeq {
		if v, ok := res.result(); ok {
			r.setVisitor(v)
		}
	}
	var cmds []tea.Cmd
	if f, ok := msg.(failedResult); ok && needsStepUp(f.failure()) && r.then == nil && w.from != nil && w.from == r.top() {
		s := stepUpScreen(r.c, w.what)
		r.then = &continuation{from: w.from, stepUp: s, redo: w.redo, what: w.what, refusal: msg}
		r.c.push(s)
	} else {
		switch m := msg.(type) {
		case enteredMsg:
			if m.err == nil {
				cmds = append(cmds, r.entered(m.entered))
			}
		case loginMsg:
			if m.err == nil && m.login.SignedIn {
				r.c.home(welcome(flows.Entered{Visitor: m.login.Visitor, Merged: m.login.Merged}))
			} else if m.err == nil && m.login.Visitor.Waiting != nil {
				r.awaitSecondFactor()
				return r.c.read()
			}
		case secondFactorMsg:
			if m.err == nil {
				note := welcome(m.entered)
				if m.recovery {
					note += fmt.Sprintf(" A recovery code was used: %d left.", m.left)
				}
				r.c.home(note)
			}
		case steppedUpMsg:
			if m.err == nil {
				cmds = append(cmds, r.steppedUp(m.until))
			}
		case signedOutMsg:
			if m.err == nil {
				r.c.homeOut(m.notice())
			}
		}
		cmds = append(cmds, r.top().Update(msg))
	}
	if r.c.writes == 0 {
		cmds = append(cmds, r.c.read())
	}
	return tea.Batch(cmds...)
}

// entered routes the session after a right code (or a key). A sign-in
// that allows a split goes home like any other, and home offers it (m).
// A confirmation is the code screen's own business: it knows which
// address it was for.
func (r *root) entered(e flows.Entered) tea.Cmd {
	switch {
	case e.Purpose == flows.PurposeStepUp:
		return r.steppedUp(e.StepUpUntil)
	case e.Purpose == flows.PurposeConfirm:
	case e.Visitor.Waiting != nil:
		r.awaitSecondFactor()
	default:
		r.c.home(welcome(e))
	}
	return nil
}

// steppedUp leaves the step-up screen. With an action waiting for it, the
// root returns to the screen that started the action and runs it again.
func (r *root) steppedUp(until time.Time) tea.Cmd {
	note := "Stepped up on this device until " + flows.When(until, r.c.svc.Now()) + "."
	t := r.then
	r.then = nil
	if t == nil || t.stepUp != r.top() || !r.inStack(t.from) {
		r.c.back()
		r.c.tell(note)
		return nil
	}
	r.c.popTo(t.from)
	r.c.tell(note)
	return r.c.writeFrom(t.from, t.what, t.redo)
}

func (r *root) inStack(s screen) bool {
	for _, x := range r.stack {
		if x == s {
			return true
		}
	}
	return false
}

// left is called for each screen popped off the stack: leaving the
// step-up screen before its code was right gives the action's screen the
// refusal it was spared.
func (r *root) left(popped screen) tea.Cmd {
	if l, ok := popped.(leaver); ok {
		l.leave()
	}
	t := r.then
	if t == nil || popped != t.stepUp {
		return nil
	}
	r.then = nil
	if r.top() != t.from {
		return nil
	}
	return t.from.Update(t.refusal)
}

func (r *root) setVisitor(v flows.Visitor) {
	was := r.c.visitor
	if v.User != was.User {
		r.live.setUser(v.User)
	}
	// News of a state that is gone would sit above one that says
	// otherwise ("You signed out" above "signed in as"). A sign-in's own
	// news may come before the read that shows it (a provider's, a
	// link's), so only a sign-out's news goes at a sign-in, and any news
	// at a sign-out (whose own news is routed after this).
	if (r.noticeOut && v.Account) || (!r.noticeOut && was.Account && !v.Account) {
		r.notice = ""
	}
	r.c.visitor = v
}

// route carries out the stack changes the screens asked for.
func (r *root) route() tea.Cmd {
	var cmds []tea.Cmd
	for _, rt := range r.c.routes {
		switch {
		case rt.push != nil:
			r.stack = append(r.stack, rt.push)
			r.notice = ""
			cmds = append(cmds, rt.push.Init())
		case rt.back:
			if len(r.stack) > 1 {
				popped := r.top()
				r.stack = r.stack[:len(r.stack)-1]
				cmds = append(cmds, r.left(popped))
			}
			r.notice = ""
			cmds = append(cmds, r.top().Update(refreshMsg{}))
		case rt.popTo != nil:
			for len(r.stack) > 1 && r.top() != rt.popTo {
				popped := r.top()
				r.stack = r.stack[:len(r.stack)-1]
				cmds = append(cmds, r.left(popped))
			}
			r.notice = ""
			cmds = append(cmds, r.top().Update(refreshMsg{}))
		case rt.home:
			for _, x := range r.stack {
				if l, ok := x.(leaver); ok {
					l.leave()
				}
			}
			h := newHome(r.c)
			r.stack = []screen{h}
			r.notice, r.noticeOut = rt.notice, rt.out
			r.then = nil
			cmds = append(cmds, h.Init())
		case rt.tell:
			r.notice, r.noticeOut = rt.notice, false
		}
	}
	r.c.routes = r.c.routes[:0]
	return tea.Batch(cmds...)
}

func (r *root) restyle() {
	r.c.st = lookFor(r.dark, r.profile)
	for _, s := range r.stack {
		if rs, ok := s.(interface{ restyle() }); ok {
			rs.restyle()
		}
	}
}
