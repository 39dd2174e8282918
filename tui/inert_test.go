package tui

import (
	"image/color"
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/colorprofile"

	"github.com/attest-dev/attest/flows"
)

func TestTypedOnlyDropsInvisibles(t *testing.T) {
	if m := typedOnly(tea.KeyPressMsg{Code: '\u202e', Text: "\u202e"}); m != nil {
		t.Fatalf("an RTL override would be typed: %#v", m)
	}
	m := typedOnly(tea.PasteMsg{Content: "ad\u202ea\x1b[2J"}).(tea.PasteMsg)
	if m.Content != "ada[2J" {
		t.Fatalf("paste became %q", m.Content)
	}
}

// The SSH user name is whatever the client sent: it renders escaped.
func TestUserNameRendersInert(t *testing.T) {
	e := newEnv(t)
	e.signIn(laptop, grace)
	user := "\x1b]52;c;aGk=\x07\x1b[2Jgrace\u202e"
	tr := e.open(laptop, user)
	tr.typeText("a") // the account screen shows it, with this device's key
	shown := tr.waitFor(`\x1b]52;c;aGk=\x07\x1b[2Jgrace\u202e`)
	tr.golden("account", shown)

	r := New(Session{Service: e.svc, Device: laptop, User: user}).(*root)
	defer r.live.stop()
	r.stack = []screen{newAccount(r.c)}
	r.layout()
	raw := r.View().Content
	if !strings.Contains(raw, "from your ssh client") {
		t.Fatalf("the account screen does not show the SSH user name:\n%s", raw)
	}
	for _, bad := range []string{"\x1b]52", "\x1b[2J", "\x07", "\u202e"} {
		if strings.Contains(raw, bad) {
			t.Errorf("the screen carries %q as it is", bad)
		}
	}
}

// Nicknames with escape sequences never reach the ledger (the flows refuse
// them), but the screens would show one inert all the same: every path
// that shows a nickname or an address goes through inert.
func TestViewsUseInert(t *testing.T) {
	e := newEnv(t)
	twoDevices(e)
	r := New(Session{Service: e.svc, Device: laptop}).(*root)
	defer r.live.stop()
	evil := "\x1b[2Jev\u202eil"
	r.c.visitor.Nickname = evil
	r.c.visitor.Addresses[0].Display = evil + "@example.com"
	code := newCode(r.c, flows.Issued{Letter: "A", Digits: 4, To: evil, Tries: 3})
	dev := newDevices(r.c)
	dev.Update(devicesMsg{list: []flows.DeviceInfo{{Tag: evil, Method: evil, Current: true}}})
	sign := newSignIn(r.c)
	sign.problem = problemText(&flows.Problem{Msg: evil})
	for _, s := range []screen{newHome(r.c), newAccount(r.c), code, dev, sign} {
		r.stack = []screen{s}
		r.layout()
		raw := r.View().Content
		if strings.Contains(raw, "\x1b[2J") || strings.Contains(raw, "\u202e") {
			t.Errorf("%s shows untrusted text as it is", s.Title())
		}
		if !strings.Contains(plain(raw), `\x1b[2Jev\u202eil`) {
			t.Errorf("%s does not show the escaped text:\n%s", s.Title(), plain(raw))
		}
	}
	if got := welcome(flows.Entered{Visitor: flows.Visitor{Nickname: evil}, Merged: &flows.Merge{VisitorNickname: evil + "2"}}); strings.Contains(got, "\x1b") {
		t.Errorf("welcome shows %q", got)
	}
}

func TestWelcome(t *testing.T) {
	cases := []struct {
		e    flows.Entered
		want string
	}{
		{flows.Entered{SignedUp: true}, "Welcome — your account is ready"},
		{flows.Entered{Visitor: flows.Visitor{Nickname: "Ada"}}, "Signed in as Ada."},
		{flows.Entered{Visitor: flows.Visitor{Nickname: "Grace"},
			Merged: &flows.Merge{Stars: []string{"vega", "rigel"}, VisitorNickname: "Grace", NicknameTaken: true}},
			"Signed in as Grace. 2 stars and your nickname came with you."},
		{flows.Entered{Visitor: flows.Visitor{Nickname: "Ada"},
			Merged: &flows.Merge{Stars: []string{"vega"}, VisitorNickname: "Grace"}},
			"Signed in as Ada. 1 star came with you; your nickname 'Grace' was kept in the record; the account's 'Ada' stays."},
		{flows.Entered{Visitor: flows.Visitor{Nickname: "Ada"},
			Merged: &flows.Merge{VisitorNickname: "Grace"}},
			"Signed in as Ada. Your nickname 'Grace' was kept in the record; the account's 'Ada' stays."},
	}
	for _, c := range cases {
		if got := welcome(c.e); got != c.want {
			t.Errorf("welcome = %q\n want %q", got, c.want)
		}
	}
}

// An anonymous visitor with a nickname and stars signs in to an account
// that exists: the screen says what came along.
func TestSignInMergesVisit(t *testing.T) {
	e := newEnv(t)
	e.signIn(phone, grace)
	if _, err := e.svc.SetNickname(ctx, phone, "Ada"); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(time.Hour)
	tr := e.open(laptop, "")
	tr.typeText("n")
	tr.typeText("Grace")
	tr.press(tea.KeyEnter)
	tr.waitFor("Nickname  Grace")
	tr.typeText(" ")
	tr.waitFor("1 of 10 starred")
	tr.waitGone("saving")
	toCode(tr, grace)
	tr.typeText(e.code(grace, "A"))
	tr.press(tea.KeyEnter)
	screen := tr.waitFor("Signed in as Ada. 1 star came with you; your nickname 'Grace' was kept")
	tr.golden("home", screen)
}

// Colours follow what the terminal reports: none without colour (NO_COLOR
// gives the ASCII profile), light or dark palettes by the background.
func TestColourFollowsTheTerminal(t *testing.T) {
	e := newEnv(t)
	r := New(Session{Service: e.svc, Device: laptop}).(*root)
	defer r.live.stop()
	r.Update(tea.ColorProfileMsg{Profile: colorprofile.TrueColor})
	dark := r.View().Content
	if !strings.Contains(dark, "38;2;") {
		t.Fatal("no colour in a true-colour terminal")
	}
	r.Update(tea.BackgroundColorMsg{Color: color.White})
	if light := r.View().Content; light == dark || r.dark {
		t.Fatal("a light background changed nothing")
	}
	r.Update(tea.ColorProfileMsg{Profile: colorprofile.ASCII})
	if plainView := r.View().Content; strings.Contains(plainView, "38;") || strings.Contains(plainView, "48;") {
		t.Fatalf("colour without a colour profile: %q", plainView)
	}
}
