package tui

import (
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"

	"github.com/attest-dev/attest/flows"
)

// twoDevices signs the laptop in, then, five minutes later, the phone.
func twoDevices(e *env) {
	e.signIn(laptop, grace)
	e.clock.Advance(5 * time.Minute)
	e.signIn(phone, grace)
	e.clock.Advance(2 * time.Minute)
}

func TestDevicesTwo(t *testing.T) {
	e := newEnv(t)
	twoDevices(e)
	tr := e.open(laptop, "")
	tr.waitFor("signed in as grace@example.com")
	tr.typeText("d")
	screen := tr.waitFor("this device", "SHA256:Zx81kLmN…kH2Q")
	tr.golden("devices", screen)
}

func TestSignOutEverywhereConfirmation(t *testing.T) {
	e := newEnv(t)
	twoDevices(e)
	tr := e.open(laptop, "")
	tr.typeText("d")
	tr.waitFor("this device")
	tr.typeText("e")
	screen := tr.waitFor("Sign out every device of this account? y/N")
	tr.golden("confirm", screen)

	// Anything but y says no, even q: the question has the keyboard.
	tr.typeText("q")
	tr.waitGone("y/N")
	if v, _ := e.svc.Visit(ctx, phone); !v.Account {
		t.Fatal("saying no signed the phone out")
	}

	tr.typeText("e")
	tr.waitFor("y/N")
	tr.typeText("y")
	screen = tr.waitFor("You signed out everywhere", "anonymous visitor")
	tr.golden("home", screen)
	for _, dev := range []flows.Device{laptop, phone} {
		if v, _ := e.svc.Visit(ctx, dev); v.Account {
			t.Fatalf("%s is still signed in", dev.Tag)
		}
	}
}

func TestSignOutThisDevice(t *testing.T) {
	e := newEnv(t)
	twoDevices(e)
	tr := e.open(laptop, "")
	tr.typeText("d")
	tr.waitFor("this device")
	tr.typeText("o")
	tr.waitFor("Sign out of this device? y/N")
	tr.typeText("n")
	tr.waitGone("y/N")
	if v, _ := e.svc.Visit(ctx, laptop); !v.Account {
		t.Fatal("saying no signed the laptop out")
	}
	tr.typeText("o")
	tr.waitFor("Sign out of this device? y/N")
	tr.typeText("y")
	tr.waitFor("You signed out of this device.", "anonymous visitor")
	if v, _ := e.svc.Visit(ctx, phone); !v.Account {
		t.Fatal("signing out the laptop signed out the phone")
	}
}

// o on home asks first, like sign out everywhere; anything but y says no
// (even q, which would otherwise quit).
func TestSignOutAsksOnHome(t *testing.T) {
	e := newEnv(t)
	e.signIn(laptop, grace)
	tr := e.open(laptop, "")
	tr.waitFor("signed in as grace@example.com")
	tr.typeText("o")
	screen := tr.waitFor("Sign out of this device? y/N", "any other key no")
	tr.golden("question", screen)
	tr.typeText("q")
	tr.waitGone("y/N")
	if v, _ := e.svc.Visit(ctx, laptop); !v.Account {
		t.Fatal("q at the question signed the device out")
	}
	tr.typeText("o")
	tr.waitFor("y/N")
	tr.typeText("y")
	tr.waitFor("You signed out of this device.", "anonymous visitor")
	if v, _ := e.svc.Visit(ctx, laptop); v.Account {
		t.Fatal("y did not sign the device out")
	}
}

// A banner about the state before goes when the state changes: signed in
// again from another terminal of the same device, the home screen no
// longer says "You signed out" above "signed in as".
func TestStaleNoticeGoesWithTheState(t *testing.T) {
	e := newEnv(t)
	e.signIn(laptop, grace)
	tr := e.open(laptop, "")
	tr.typeText("o")
	tr.waitFor("y/N")
	tr.typeText("y")
	tr.waitFor("You signed out of this device.", "anonymous visitor")
	e.clock.Advance(time.Minute) // the governor's gap
	e.signIn(laptop, grace)      // `ssh host signin` and `code` in another terminal
	screen := tr.waitFor("signed in as grace@example.com")
	if strings.Contains(screen, "You signed out") {
		t.Fatalf("the sign-out banner stayed above the signed-in state:\n%s", screen)
	}
}

// Another device signs out everywhere: the poke reaches this session and
// it drops to the signed-out home with no key pressed.
func TestLiveDropOnSignOutEverywhere(t *testing.T) {
	e := newEnv(t)
	twoDevices(e)
	tr := e.open(laptop, "")
	tr.typeText("a") // wherever it is, it goes home
	tr.waitFor("Addresses", "grace@example.com")

	e.stepUp(phone)
	if err := e.svc.SignOutEverywhere(ctx, phone, false); err != nil {
		t.Fatal(err)
	}
	screen := tr.waitFor("You were signed out from another device.", "anonymous visitor")
	tr.golden("home", screen)
}

// What another device of the account changes shows here at once, with
// no key pressed and nothing polling: every write pokes the screens of
// the users and devices it touched.
func TestChangesElsewhereAppear(t *testing.T) {
	e := newEnv(t)
	twoDevices(e)
	tr := e.open(laptop, "")
	tr.waitFor("signed in as", "0 of 10 starred")
	if _, err := e.svc.Star(ctx, phone, "vega"); err != nil {
		t.Fatal(err)
	}
	tr.waitFor("1 of 10 starred")
	if _, err := e.svc.SetNickname(ctx, phone, "Grace"); err != nil {
		t.Fatal(err)
	}
	tr.waitFor("signed in as Grace")
}

func TestAccount(t *testing.T) {
	e := newEnv(t)
	twoDevices(e)
	if _, err := e.svc.SetNickname(ctx, laptop, "Grace"); err != nil {
		t.Fatal(err)
	}
	for _, it := range []string{"vega", "sirius"} {
		if _, err := e.svc.Star(ctx, laptop, it); err != nil {
			t.Fatal(err)
		}
	}
	tr := e.open(laptop, "")
	tr.typeText("a")
	screen := tr.waitFor("Addresses", "confirmed by code")
	tr.golden("account", screen)
	tr.typeText("?")
	screen = tr.waitFor("less", "h history", "x   unlink / forget key")
	tr.golden("help", screen)
	tr.typeText("?")
	tr.waitFor("? more")
	tr.press(tea.KeyEscape)
	if s := tr.waitFor("signed in as Grace · via code"); strings.Contains(s, "Addresses") {
		t.Fatal("esc did not go back")
	}
}

// A device unused for 30 days leaves the devices screen, and an open
// screen on it drops to signed out at its next check, with no key press.
func TestDevicesLapse(t *testing.T) {
	e := newEnv(t)
	twoDevices(e)
	e.clock.Advance(29 * 24 * time.Hour)
	if err := e.svc.Touch(ctx, phone); err != nil {
		t.Fatal(err)
	}
	lap := e.open(laptop, "")
	lap.waitFor("signed in as grace@example.com")
	e.clock.Advance(24 * time.Hour)

	tr := e.open(phone, "")
	tr.typeText("d")
	screen := tr.waitFor("this device", "in 29d")
	if strings.Contains(screen, "q8XkP2mV") {
		t.Fatalf("the lapsed laptop is still listed:\n%s", screen)
	}
	lap.waitFor("anonymous visitor")
}
