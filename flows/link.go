package flows

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/attest-dev/attest/flows/message"
	"github.com/attest-dev/attest/store"
)

// Linking a new device: on the new device the person asks to link it and
// is shown a short code that lives one minute; on a device already signed
// in (and stepped up) they enter and approve it. The new device's key is
// then remembered for the account and the new device is signed in, with
// no code sent anywhere.

// linkAlphabet leaves out letters and digits people confuse (0/O, 1/I/L).
const linkAlphabet = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"

// DeviceLink is a link request shown on the new device.
type DeviceLink struct {
	Code    string // "K7QX-M2PA"
	Expires time.Time
}

// linkTicket is the ticket of a link code: a MAC of it, so the ledger can
// find the request from the code without holding the code.
func (s *Service) linkTicket(code string) string {
	m := hmac.New(sha256.New, s.codeKey)
	m.Write([]byte("device-link\x00" + code))
	return "l_" + b32.EncodeToString(m.Sum(nil)[:16])
}

// ParseLinkCode reads a device-link code as typed: any case, with or
// without the dash or spaces. It reports whether the input can be a code,
// so a screen can check it as it is typed.
func ParseLinkCode(in string) (string, bool) {
	c := strings.ToUpper(strings.NewReplacer("-", "", " ", "").Replace(strings.TrimSpace(in)))
	if len(c) != 8 || strings.Trim(c, linkAlphabet) != "" {
		return "", false
	}
	return c, true
}

// RequestDeviceLink starts linking this device to an account.
func (s *Service) RequestDeviceLink(ctx context.Context, dev Device) (DeviceLink, error) {
	if dev.Ephemeral {
		return DeviceLink{}, problem(ProblemInput, "This connection has no SSH key, so there is nothing to link; connect with a key.")
	}
	raw := make([]byte, 8)
	code := make([]byte, 0, 8)
	for len(code) < 8 {
		if _, err := io.ReadFull(s.rand, raw); err != nil {
			return DeviceLink{}, fmt.Errorf("read randomness: %w", err)
		}
		for _, b := range raw {
			// Reject the tail of the byte range so every letter is
			// equally likely (256 is not a multiple of 31).
			if int(b) < 256-256%len(linkAlphabet) && len(code) < 8 {
				code = append(code, linkAlphabet[int(b)%len(linkAlphabet)])
			}
		}
	}
	now := s.clock.Now()
	link := DeviceLink{Code: string(code[:4]) + "-" + string(code[4:]), Expires: now.Add(s.policy.DeviceLinkTTL)}
	ticket := s.linkTicket(string(code))
	err := s.update("request device link", func(tx store.Tx) error {
		if b, ok, err := s.deviceBinding(tx, dev.Tag); err != nil {
			return err
		} else if ok {
			if account, err := isAccount(tx, b.User); err != nil {
				return err
			} else if account {
				return problem(ProblemSignedIn, "This device is already signed in to an account.")
			}
		}
		_, err := tx.Append(store.Fact{Time: now, Kind: KindLinkRequested, Device: dev.Tag, Ticket: ticket,
			Body: mustJSON(linkRequestedBody{Expires: link.Expires})})
		return err
	})
	if err != nil {
		return DeviceLink{}, err
	}
	return link, nil
}

// ApproveDeviceLink approves, on a signed-in and stepped-up device, the
// link code shown on a new device: the new device's key is remembered for
// the account and the new device is signed in.
func (s *Service) ApproveDeviceLink(ctx context.Context, dev Device, input string) (string, error) {
	code, ok := ParseLinkCode(input)
	if !ok {
		return "", problem(ProblemInput, "a link code is 8 letters and digits, like K7QX-M2PA")
	}
	ticket := s.linkTicket(code)
	// The new device's key must be sealed outside the transaction; find
	// which device the code belongs to first.
	var newDevice string
	if err := s.ledger.View(func(r store.Reader) error {
		return r.Facts(store.ByTicket, ticket, store.Window{Kinds: []string{KindLinkRequested}, Limit: 1},
			func(f store.Fact) bool { newDevice = f.Device; return false })
	}); err != nil {
		return "", err
	}
	if newDevice == "" {
		return "", problem(ProblemNoCode, "No device is waiting with that code. Link codes last one minute: ask for a new one on the new device.")
	}
	a, hash := s.keyAddress(newDevice)
	sealed, err := s.sealer.seal(s.rand, string(a.Kind)+":"+a.Value, hash)
	if err != nil {
		return "", err
	}
	now := s.clock.Now()
	var msgs []message.Message
	var touched []string
	err = s.update("approve device link", func(tx store.Tx) error {
		msgs, touched = nil, nil
		var req store.Fact
		approved := false
		err := tx.Facts(store.ByTicket, ticket, store.Window{Kinds: []string{KindLinkRequested, KindLinkApproved}},
			func(f store.Fact) bool {
				if f.Kind == KindLinkApproved {
					approved = true
					return false
				}
				req = f
				return true
			})
		if err != nil {
			return err
		}
		if approved {
			return problem(ProblemCodeUsed, "That link code was already approved.")
		}
		var body linkRequestedBody
		if err := req.Decode(&body); err != nil {
			return err
		}
		switch {
		case !now.Before(body.Expires):
			return problem(ProblemCodeUsed, fmt.Sprintf("That link code expired at %s. Ask for a new one on the new device.", When(body.Expires, now)))
		case req.Device == dev.Tag:
			return problem(ProblemInput, "That code was shown on this very device: enter it on a device that is already signed in.")
		}
		// The code is live: now the approving device must be stepped up
		// (a dead code is refused first, so nobody steps up for nothing).
		user, err := s.requireStepUp(tx, dev, now, "approve a new device")
		if err != nil {
			return err
		}
		claims, err := readClaims(tx, hash, time.Time{})
		if err != nil {
			return err
		}
		if o := ownerOf(claims); o != nil && o.User != user {
			return problem(ProblemSupport, "The new device's key is remembered for another account. Sign in there and forget it first, or contact support.")
		}
		if _, err := tx.Append(store.Fact{Time: now, Kind: KindLinkApproved, User: user, Device: req.Device, Ticket: ticket,
			Body: mustJSON(linkApprovedBody{By: dev.Tag})}); err != nil {
			return err
		}
		if err := confirmClaim(tx, now, user, hash, claims, claimSource{Kind: string(a.Kind), Sealed: sealed, Masked: a.Masked()}, "device-link", ticket); err != nil {
			return err
		}
		var ignored Entered
		if touched, err = s.switchTo(tx, now, Device{Tag: req.Device}, user, "device-link", ticket, &ignored); err != nil {
			return err
		}
		change, err := lastFact(tx, store.ByTicket, ticket, KindLinkApproved)
		if err != nil {
			return err
		}
		msgs, err = s.notify(tx, now, user, change, "", fmt.Sprintf("A new device (SSH key %s) was linked", shortKey(req.Device)))
		return err
	})
	if err != nil {
		return "", err
	}
	s.bus.publish(touched, []string{newDevice, dev.Tag})
	s.send(msgs, dev.Tag)
	return newDevice, nil
}
