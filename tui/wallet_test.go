package tui

import (
	"encoding/hex"
	"strings"
	"testing"

	tea "charm.land/bubbletea/v2"
	"github.com/decred/dcrd/dcrec/secp256k1/v4"
	"github.com/decred/dcrd/dcrec/secp256k1/v4/ecdsa"

	"github.com/attest-dev/attest/flows/address"
	"github.com/attest-dev/attest/flows/wallet"
)

// personalSign signs msg as an Ethereum wallet's personal_sign does.
func personalSign(k *secp256k1.PrivateKey, msg string) string {
	c := ecdsa.SignCompact(k, wallet.PersonalHash([]byte(msg)), false)
	return "0x" + hex.EncodeToString(append(c[1:], c[0]))
}

// messageOnScreen is the wallet message as the screen shows it: the block
// from its first line to the end of the body, less the margin. It is what
// a person selecting it in their terminal would copy.
func messageOnScreen(t *testing.T, screen string) string {
	t.Helper()
	lines := strings.Split(screen, "\n")
	for i, l := range lines {
		if !strings.Contains(l, "wants you to sign in with your") {
			continue
		}
		var out []string
		for _, m := range lines[i:] {
			if strings.HasPrefix(m, "  Expiration Time: ") {
				return strings.Join(append(out, strings.TrimPrefix(m, "  ")), "\n")
			}
			out = append(out, strings.TrimPrefix(m, "  "))
		}
	}
	t.Fatalf("no message on the screen:\n%s", screen)
	return ""
}

func TestWalletSignInOnTheScreens(t *testing.T) {
	e := newEnv(t)
	tr := e.open(laptop, "")
	var seed [32]byte
	seed[31] = 9
	key := secp256k1.PrivKeyFromBytes(seed[:])
	addr := address.EIP55(wallet.AddressOf(key.PubKey()))

	tr.typeText("s")
	tr.waitFor("Email address")
	tr.typeText(strings.ToLower(addr))
	tr.waitFor("show the message to sign with this wallet")
	tr.press(tea.KeyEnter)
	screen := tr.waitFor("Signature", "Expiration Time: ")
	msg := messageOnScreen(t, screen)
	if !strings.HasPrefix(msg, "attest.test wants you to sign in with your Ethereum account:\n"+addr+"\n\nSign in to attest.\n\nURI: https://attest.test\n") ||
		strings.Count(msg, "\n") != 10 {
		t.Fatalf("the message on the screen:\n%s", msg)
	}

	// A signature of something else: refused, and said why.
	other := secp256k1.PrivKeyFromBytes(append(make([]byte, 31), 10))
	tr.send(tea.PasteMsg{Content: personalSign(other, msg)})
	tr.press(tea.KeyEnter)
	tr.waitFor("✗ That signature is not by this address")

	// The right one, pasted: signed up, home.
	tr.send(tea.PasteMsg{Content: personalSign(key, msg)})
	tr.press(tea.KeyEnter)
	tr.waitFor("Welcome — your account is ready")
	v, err := e.svc.Visit(ctx, laptop)
	if err != nil || !v.Account || v.Method != "wallet" {
		t.Fatalf("not signed in by the wallet: %+v, %v", v, err)
	}
}

func TestWalletMessageNeedsRoom(t *testing.T) {
	e := newEnv(t)
	tr := e.open(laptop, "")
	tr.typeText("s")
	tr.waitFor("Email address")
	tr.typeText("5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY")
	tr.press(tea.KeyEnter)
	tr.waitFor("wants you to sign in with your Substrate account:", "signRaw")
	// Narrower than the message's widest line: no cut copy, a way out.
	tr.send(tea.WindowSizeMsg{Width: 60, Height: 24})
	screen := tr.waitFor("The message needs a window of at least", "--json")
	if strings.Contains(screen, "wants you to sign in") {
		t.Fatalf("a cut message is shown:\n%s", screen)
	}
	tr.send(tea.WindowSizeMsg{Width: 80, Height: 24})
	tr.waitFor("wants you to sign in with your Substrate account:")
}
