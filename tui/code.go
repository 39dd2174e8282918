package tui

import (
	"context"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"charm.land/bubbles/v2/key"
	"charm.land/bubbles/v2/textinput"
	tea "charm.land/bubbletea/v2"

	"github.com/attest-dev/attest/flows"
	"github.com/attest-dev/attest/internal/english"
	"github.com/attest-dev/attest/internal/inert"
)

// code waits for the one-time code that went to an address: the notes'
// second stage. It shows which code (by letter), how long it lives, how
// many wrong tries it survives, how its delivery went and when another
// can be sent.
type code struct {
	c     *common
	iss   flows.Issued
	input textinput.Model

	tries    int            // wrong tries left, as far as this screen knows
	usedUp   bool           // expired, used or out of tries: only a new code helps
	retryAt  time.Time      // a back-off: no code can be tried before then
	delivery flows.Delivery // how the message fared
	problem  string         // the last refusal
	checking bool

	nextAt     time.Time // when a new code can be asked for
	resending  bool
	resendNote string

	width, height int
}

// Messages of the code screen.
type (
	enteredMsg struct {
		entered flows.Entered
		err     error
	}
	deliveryMsg struct {
		ticket string
		d      flows.Delivery
		err    error
	}
)

func (m enteredMsg) result() (flows.Visitor, bool) {
	// A split choice is still open: nothing about the device changed.
	return m.entered.Visitor, m.err == nil && m.entered.Split == nil
}
func (m enteredMsg) failure() error   { return m.err }
func (m requestedMsg) failure() error { return m.err }

func newCode(c *common, iss flows.Issued) *code {
	s := &code{c: c}
	s.input = newField(16)
	s.restyle()
	s.issued(iss)
	return s
}

// issued starts over with a (new) code.
func (s *code) issued(iss flows.Issued) {
	s.iss, s.tries, s.nextAt = iss, iss.Tries, iss.NextAt
	s.usedUp, s.retryAt, s.problem = false, time.Time{}, ""
	s.delivery = flows.Delivery{State: "pending"}
	s.input.Reset()
	s.input.Placeholder = fmt.Sprintf("%d digits", iss.Digits)
}

func (s *code) restyle()      { s.input.SetStyles(s.c.st.input) }
func (s *code) Init() tea.Cmd { return tea.Batch(s.input.Focus(), s.readDelivery()) }
func (s *code) Title() string { return "code " + s.iss.Letter }
func (s *code) Focused() bool { return true }

func (s *code) SetSize(width, height int) {
	s.width, s.height = width, height
	s.input.SetWidth(20)
}

func (s *code) canResend() bool { return !s.resending && !s.c.now().Before(s.nextAt) }

func (s *code) Keys() helpKeys {
	k := s.c.keys
	resend := k.Resend
	resend.SetEnabled(s.canResend()) // hidden from help until the governor allows it
	b := []key.Binding{with(k.Submit, "enter", "check"), resend, k.Back}
	return helpKeys{short: b, full: [][]key.Binding{b}}
}

func (s *code) Update(msg tea.Msg) tea.Cmd {
	switch msg := msg.(type) {
	case tea.KeyPressMsg:
		switch k := s.c.keys; {
		case key.Matches(msg, k.Back):
			s.c.back()
			return nil
		case key.Matches(msg, k.Submit):
			return s.submit()
		case key.Matches(msg, k.Resend):
			return s.resend()
		}
	case enteredMsg:
		s.checking = false
		if msg.err != nil {
			s.refused(msg.err)
			return nil
		}
		if msg.entered.Purpose == flows.PurposeConfirm {
			delete(s.c.confirming, s.iss.To)
			s.c.back()
			s.c.tell(fmt.Sprintf("Confirmed %s: it can now sign you in to this account and receive its codes.", inert.Address(s.iss.To)))
		}
		return nil // a sign-in or a step-up: the root moves the session on
	case requestedMsg:
		s.resending = false
		if msg.err != nil {
			if p, ok := flows.AsProblem(msg.err); ok && !p.RetryAt.IsZero() {
				s.nextAt = p.RetryAt
			}
			s.resendNote = problemText(msg.err)
			return nil
		}
		old := s.iss.Letter
		s.issued(msg.iss)
		s.resendNote = fmt.Sprintf("Code %s sent; code %s no longer works.", msg.iss.Letter, old)
		return s.readDelivery()
	case deliveryMsg:
		if msg.ticket == s.iss.Ticket && msg.err == nil {
			s.delivery = msg.d
		}
		return nil
	case tickMsg, refreshMsg:
		if s.delivery.State == "pending" {
			return s.readDelivery()
		}
		return nil
	}
	m := typedOnly(msg)
	if m == nil {
		return nil
	}
	var cmd tea.Cmd
	s.input, cmd = s.input.Update(m)
	return cmd
}

// refused shows why a code was not accepted, and keeps count of the tries.
func (s *code) refused(err error) {
	s.problem = problemText(err)
	p, ok := flows.AsProblem(err)
	if !ok {
		return
	}
	switch p.Code {
	case flows.ProblemWrongCode:
		s.tries = max(s.tries-1, 0)
		s.usedUp = s.tries == 0
		s.input.Reset()
	case flows.ProblemCodeUsed, flows.ProblemNoCode:
		s.usedUp = true
		s.input.Reset()
	case flows.ProblemBackoff:
		s.retryAt = p.RetryAt
	}
}

func (s *code) submit() tea.Cmd {
	if s.checking {
		return nil
	}
	typed := strings.TrimSpace(s.input.Value())
	if typed == "" {
		s.problem = fmt.Sprintf("Type the %d digits of code %s first.", s.iss.Digits, s.iss.Letter)
		return nil
	}
	s.checking, s.problem = true, ""
	letter := s.iss.Letter
	what := ""
	if s.iss.Purpose == flows.PurposeConfirm {
		what = "confirm " + inert.Address(s.iss.To)
	}
	return s.c.protected(what, func(ctx context.Context, svc *flows.Service, dev flows.Device) tea.Msg {
		e, err := svc.EnterCode(ctx, dev, letter, typed)
		return enteredMsg{entered: e, err: err}
	})
}

// resend asks for a new code to the same address for the same purpose,
// as the first one was asked for. The governor may still say no; its
// answer says until when.
func (s *code) resend() tea.Cmd {
	if !s.canResend() {
		return nil
	}
	s.resending, s.resendNote = true, ""
	to := s.iss.To
	switch s.iss.Purpose {
	case flows.PurposeConfirm:
		return s.c.protected("send a new code to "+inert.Address(to), func(ctx context.Context, svc *flows.Service, dev flows.Device) tea.Msg {
			iss, err := svc.ConfirmAddress(ctx, dev, to)
			return requestedMsg{iss: iss, err: err}
		})
	case flows.PurposeStepUp:
		return s.c.write(func(ctx context.Context, svc *flows.Service, dev flows.Device) tea.Msg {
			iss, err := svc.RequestStepUp(ctx, dev)
			return requestedMsg{iss: iss, err: err}
		})
	}
	return s.c.write(func(ctx context.Context, svc *flows.Service, dev flows.Device) tea.Msg {
		iss, err := svc.RequestSignIn(ctx, dev, to)
		return requestedMsg{iss: iss, err: err}
	})
}

func (s *code) readDelivery() tea.Cmd {
	svc, ticket := s.c.svc, s.iss.Ticket
	return func() tea.Msg {
		d, err := svc.DeliveryOf(ticket)
		return deliveryMsg{ticket: ticket, d: d, err: err}
	}
}

func (s *code) View() string {
	st := s.c.st
	now := s.c.now()
	iss := s.iss
	f := fields{st: st, width: s.width}

	if iss.Purpose == flows.PurposeConfirm {
		f.add("For", "confirming this "+channelNoun(iss.Channel)+" on your account")
	}
	f.add("Letter", fmt.Sprintf("%s · the message says “attest code %s”", iss.Letter, iss.Letter))
	f.add("Digits", fmt.Sprint(iss.Digits))
	if iss.LinkCheck != "" { // the message's link asks for it: only this terminal shows it
		f.add("Link asks", iss.LinkCheck+" · if you open the link in the same message instead")
	}
	if now.Before(iss.Expires) {
		f.add("Expires", flows.When(iss.Expires, now))
	} else {
		f.add("Expires", st.bad.Render("expired "+flows.When(iss.Expires, now)))
	}
	switch {
	case s.usedUp || s.tries == 0:
		f.add("Tries left", st.bad.Render("none: ask for a new code"))
	default:
		f.add("Tries left", fmt.Sprint(s.tries))
	}
	if s.retryAt.After(now) {
		f.add("Next try", st.warn.Render(flows.When(s.retryAt, now)))
	}
	switch s.delivery.State {
	case "sent":
		f.add("Delivery", st.ok.Render("sent"))
	case "failed":
		f.add("Delivery", st.bad.Render("failed: "+inert.String(s.delivery.Reason)))
	default:
		f.add("Delivery", st.warn.Render("waiting to be sent"))
	}
	switch {
	case s.resending:
		f.add("New code", st.faint.Render("asking…"))
	case s.canResend():
		f.add("New code", st.key.Render("ctrl+r")+" sends one; this code then stops working")
	default:
		f.add("New code", st.faint.Render("can be sent at "+flows.When(s.nextAt, now)))
	}
	if s.resendNote != "" {
		f.add("", st.faint.Render(s.resendNote))
	}

	var status string
	switch {
	case s.checking:
		status = st.faint.Render("checking…")
	case s.problem != "":
		status = st.bad.Render(wrap("✗ "+s.problem, s.width))
	default:
		status = st.faint.Render("enter checks the code")
	}
	heading := fmt.Sprintf("Code %s sent to %s", iss.Letter, inert.Address(iss.To))
	if iss.Channel != "" {
		heading += " by " + string(iss.Channel)
	}
	return st.heading.Render(wrap(heading, s.width)) + "\n\n" + f.String() + "\n\n" +
		st.label.Render("Code "+iss.Letter) + "  " + s.input.View() + "\n\n" + status
}

// welcome is the news on signing in: a new account, or what came along
// from the anonymous visit into the account that already existed.
func welcome(e flows.Entered) string {
	if e.SignedUp {
		return "Welcome — your account is ready"
	}
	msg := "Signed in as " + displayName(e.Visitor) + "."
	m := e.Merged
	if m == nil {
		return msg
	}
	var moved []string
	if len(m.Stars) > 0 {
		moved = append(moved, english.Count(len(m.Stars), "star", "stars"))
	}
	if m.NicknameTaken {
		moved = append(moved, "your nickname")
	}
	var news []string
	if len(moved) > 0 {
		news = append(news, strings.Join(moved, " and ")+" came with you")
	}
	if m.VisitorNickname != "" && !m.NicknameTaken && m.VisitorNickname != e.Visitor.Nickname {
		news = append(news, fmt.Sprintf("your nickname '%s' was kept in the record; the account's '%s' stays",
			inert.String(m.VisitorNickname), inert.String(e.Visitor.Nickname)))
	}
	if len(news) == 0 {
		return msg
	}
	return msg + " " + capitalize(strings.Join(news, "; ")) + "."
}

func capitalize(s string) string {
	r, n := utf8.DecodeRuneInString(s)
	return string(unicode.ToUpper(r)) + s[n:]
}
