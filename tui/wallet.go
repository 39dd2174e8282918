package tui

import (
	"context"
	"fmt"
	"strings"

	"charm.land/bubbles/v2/key"
	"charm.land/bubbles/v2/textinput"
	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"

	"github.com/attest-dev/attest/flows"
	"github.com/attest-dev/attest/flows/address"
	"github.com/attest-dev/attest/flows/wallet"
	"github.com/attest-dev/attest/internal/inert"
)

// walletSign shows a wallet challenge's message and takes its signature:
// the seed's "sign(prompt, data=<challenge>)" step, done in the person's
// own wallet. The message is drawn line for line as it is, never
// wrapped, so that it copies cleanly; when the window is too narrow for
// its longest line it says so rather than show a broken copy.
type walletSign struct {
	c        *common
	ch       flows.Challenge
	input    textinput.Model
	problem  string
	checking bool
	usedUp   bool // expired, used or out of tries: only a new challenge helps

	width, height int
}

// challengeMsg is the result of asking for a wallet challenge.
type challengeMsg struct {
	ch  flows.Challenge
	err error
}

func (m challengeMsg) failure() error { return m.err }

func newWalletSign(c *common, ch flows.Challenge) *walletSign {
	s := &walletSign{c: c, ch: ch}
	s.input = newField(wallet.MaxSignatureLen)
	s.input.Placeholder = "0x… the signature"
	s.restyle()
	return s
}

func (s *walletSign) restyle()      { s.input.SetStyles(s.c.st.input) }
func (s *walletSign) Init() tea.Cmd { return s.input.Focus() }
func (s *walletSign) Title() string { return "sign with your wallet" }
func (s *walletSign) Focused() bool { return true }

func (s *walletSign) SetSize(width, height int) {
	s.width, s.height = width, height
	s.input.SetWidth(max(width-4, 10))
}

func (s *walletSign) Keys() helpKeys {
	k := s.c.keys
	b := []key.Binding{with(k.Submit, "enter", "check the signature"), k.Back}
	return helpKeys{short: b, full: [][]key.Binding{b}}
}

func (s *walletSign) Update(msg tea.Msg) tea.Cmd {
	switch msg := msg.(type) {
	case tea.KeyPressMsg:
		switch k := s.c.keys; {
		case key.Matches(msg, k.Back):
			s.c.back()
			return nil
		case key.Matches(msg, k.Submit):
			return s.submit()
		}
	case enteredMsg:
		s.checking = false
		if msg.err != nil {
			s.problem = problemText(msg.err)
			if p, ok := flows.AsProblem(msg.err); ok && (p.Code == flows.ProblemCodeUsed || p.Code == flows.ProblemNoCode) {
				s.usedUp = true
			}
			s.input.Reset()
			return nil
		}
		if msg.entered.Purpose == flows.PurposeConfirm {
			s.c.back()
			s.c.tell("Added " + inert.String(s.ch.Address) + ": it can now sign you in to this account.")
		}
		return nil // a sign-in or a step-up: the root moves the session on
	}
	m := typedOnly(msg)
	if m == nil {
		return nil
	}
	var cmd tea.Cmd
	s.input, cmd = s.input.Update(m)
	return cmd
}

func (s *walletSign) submit() tea.Cmd {
	if s.checking {
		return nil
	}
	sig := strings.TrimSpace(s.input.Value())
	if sig == "" {
		s.problem = "Paste the signature first."
		return nil
	}
	s.checking, s.problem = true, ""
	what := ""
	if s.ch.Purpose == flows.PurposeConfirm {
		what = "add " + inert.String(s.ch.Address)
	}
	return s.c.protected(what, func(ctx context.Context, svc *flows.Service, dev flows.Device) tea.Msg {
		e, err := svc.SubmitSignature(ctx, dev, sig)
		return enteredMsg{entered: e, err: err}
	})
}

// command is the command that prints a challenge like this one's with
// --json, for a script.
func (s *walletSign) command() string {
	switch s.ch.Purpose {
	case flows.PurposeStepUp:
		return "stepup --wallet --json"
	case flows.PurposeConfirm:
		return "address add ADDRESS --json"
	}
	return "signin ADDRESS --json"
}

// howToSign names the wallet call that signs the message.
func howToSign(k address.Kind) string {
	if k == address.Ethereum {
		return "personal_sign (MetaMask, or Foundry's cast wallet sign)"
	}
	return "signRaw (the polkadot.js extension), ed25519 or sr25519"
}

func (s *walletSign) View() string {
	st := s.c.st
	// The field comes first and the message last, so that the message is
	// one unbroken block at the bottom, easy to select.
	top := wrap("Sign the message below with "+howToSign(s.ch.Kind)+", and paste the signature here. "+
		"It works once, on this device, until "+flows.When(s.ch.Expires, s.c.now())+".", s.width) + "\n\n" +
		st.label.Render("Signature") + "\n" + s.input.View() + "\n"
	switch {
	case s.problem != "" && s.usedUp:
		again := " Press esc and ask again for a new message."
		if s.ch.Purpose == flows.PurposeStepUp {
			again = " Press ctrl+w for a new message."
		}
		top += st.bad.Render(wrap("✗ "+s.problem+again, s.width))
	case s.problem != "":
		top += st.bad.Render(wrap("✗ "+s.problem, s.width))
	case s.checking:
		top += st.faint.Render("checking the signature…")
	default:
		top += st.faint.Render(wrap("In a script, ssh HOST "+s.command()+" gives the exact message.", s.width))
	}
	msg := inert.Lines(s.ch.Message)
	lines := strings.Split(msg, "\n")
	widest := 0
	for _, line := range lines {
		widest = max(widest, ansi.StringWidth(line))
	}
	tall := strings.Count(top, "\n") + 2 + len(lines)
	if s.width > 0 && (widest > s.width || tall > s.height) {
		return top + "\n\n" + st.bad.Render(wrap(fmt.Sprintf("The message needs a window of at least %d columns and %d lines to be copied whole (this one shows %dx%d). "+
			"Enlarge it, or run: ssh HOST %s", widest, tall, s.width, s.height, s.command()), s.width))
	}
	// Unstyled and unwrapped: what is copied is what is signed.
	return top + "\n\n" + msg
}
