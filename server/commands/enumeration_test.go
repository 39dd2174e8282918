package commands

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/attest-dev/attest/flows"
)

// Nothing a command prints, nor its exit status, tells a stranger whether
// an address has an account (ASVS 5.0 6.3.8). knownAddr has an account
// with a password and no message for over a day; unknownAddr is new to
// the server; both have the same length.
const (
	knownAddr   = "grace@example.com"
	unknownAddr = "grape@example.com"
)

// linkCheckRE finds the check a magic link's page asks for, which is
// random per link.
var linkCheckRE = regexp.MustCompile(`(Its page asks for |type |shows |"check":")[A-Z2-9]{4}\b`)

// same is a result with what differs by design taken out: the address
// itself and random checks.
func same(r result, addr string) string {
	norm := func(s string) string {
		return linkCheckRE.ReplaceAllString(strings.ReplaceAll(s, addr, "ADDRESS"), "${1}CHECK")
	}
	return fmt.Sprintf("status %d\nstdout %q\nstderr %q", r.status, norm(r.stdout), norm(r.stderr))
}

func enumerationWorld(t *testing.T) *world {
	w := newWorld(t)
	desk := device("desk")
	w.signUp(desk, knownAddr, "Grace")
	w.okAs(pw(goodPassword), desk, "password", "set")
	w.clock.Advance(25 * time.Hour)
	w.svc.Wait()
	return w
}

// alikeCommand runs args (ADDRESS standing for the address) for each
// address from a new device and compares the results.
func (w *world) alikeCommand(what string, stdin as, args ...string) {
	w.t.Helper()
	var got []string
	for _, addr := range []string{knownAddr, unknownAddr} {
		a := slices.Clone(args)
		for i := range a {
			a[i] = strings.ReplaceAll(a[i], "ADDRESS", addr)
		}
		got = append(got, same(w.runAs(stdin, device(what+" to "+addr), a...), addr))
	}
	if got[0] != got[1] {
		w.t.Errorf("%s: an address with an account gets\n%s\nand one without\n%s", what, got[0], got[1])
	}
}

// alikeWaiting is alikeCommand for a command that waits: what it prints
// before it waits, and how it ends when the connection does.
func (w *world) alikeWaiting(what string, args ...string) {
	w.t.Helper()
	var got []string
	for _, addr := range []string{knownAddr, unknownAddr} {
		a := slices.Clone(args)
		for i := range a {
			a[i] = strings.ReplaceAll(a[i], "ADDRESS", addr)
		}
		ctx, cancel := context.WithCancel(context.Background())
		run := w.startAs(ctx, as{}, device(what+" to "+addr), a...)
		if run.stdout.waitFor(regexp.MustCompile(`\n`)) == nil {
			w.t.Fatalf("%s to %s: %q", what, addr, run.stdout.String())
		}
		cancel()
		status := <-run.status
		got = append(got, same(result{status: status, stdout: run.stdout.String(), stderr: run.stderr.String()}, addr))
	}
	if got[0] != got[1] {
		w.t.Errorf("%s: an address with an account gets\n%s\nand one without\n%s", what, got[0], got[1])
	}
}

func TestCommandsDoNotEnumerate(t *testing.T) {
	w := enumerationWorld(t)
	w.alikeCommand("signin", as{}, "signin", "ADDRESS")
	w.clock.Advance(2 * time.Minute)
	w.alikeWaiting("signin --link --json", "signin", "--link", "--json", "ADDRESS")
	w.clock.Advance(2 * time.Minute)
	w.alikeCommand("login", pw(otherPassword), "login", "ADDRESS", "--no-wait")
	w.clock.Advance(2 * time.Minute)
	w.alikeCommand("login --json", pw(otherPassword), "login", "ADDRESS", "--no-wait", "--json")
	w.alikeCommand("login, held back", pw(otherPassword), "login", "ADDRESS", "--no-wait")
	w.alikeCommand("login, a weak password", pw("password1234567"), "login", "ADDRESS")
	w.alikeCommand("login --json, a weak password", pw("password1234567"), "login", "ADDRESS", "--json")
	w.clock.Advance(2 * time.Minute)
	w.alikeCommand("resend", pw(otherPassword), "resend", "ADDRESS", "--no-wait")
	w.alikeCommand("resend --json, held back", pw(otherPassword), "resend", "ADDRESS", "--no-wait", "--json")
	// Seven tries that did not sign in so far; three more reach the
	// back-off.
	for i := range 3 {
		w.alikeCommand(fmt.Sprint("login, try ", 8+i), pw(fmt.Sprint(otherPassword, i)), "login", "ADDRESS", "--no-wait")
	}
	w.alikeCommand("login, backed off", pw(goodPassword), "login", "ADDRESS", "--json")
	w.alikeCommand("resend, backed off", pw(goodPassword), "resend", "ADDRESS")
}

// A login that waits ends alike too: the same words while it waits, and
// when the link expires unpressed, the same refusal and exit status.
func TestWaitingLoginDoesNotEnumerate(t *testing.T) {
	w := enumerationWorld(t)
	var runs []*running
	for _, addr := range []string{knownAddr, unknownAddr} {
		run := w.startAs(context.Background(), pw(otherPassword), device("waiting for "+addr), "login", addr)
		if run.stdout.waitFor(waitingRE) == nil {
			t.Fatalf("login %s: %q", addr, run.stdout.String())
		}
		runs = append(runs, run)
	}
	w.clock.Advance(flows.LinkTTL + time.Second)
	var got []string
	for i, addr := range []string{knownAddr, unknownAddr} {
		w.ok(device("waiting for "+addr), "signin", fmt.Sprintf("poke%d@example.com", i)) // anything on the device pokes it
		status := <-runs[i].status
		got = append(got, same(result{status: status, stdout: runs[i].stdout.String(), stderr: runs[i].stderr.String()}, addr))
	}
	if got[0] != got[1] || !strings.HasPrefix(got[0], "status 1\n") {
		t.Errorf("a waiting login to an address with an account ends\n%s\nand to one without\n%s", got[0], got[1])
	}
}
