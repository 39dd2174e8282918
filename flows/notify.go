package flows

import (
	"crypto/sha256"
	"fmt"
	"strconv"
	"time"

	"github.com/attest-dev/attest/flows/message"
	"github.com/attest-dev/attest/store"
)

// Every change to how an account signs in is told to the account's other
// confirmed addresses, so a person learns at once when someone else
// changed their account. A notice names the change and when, never a
// secret, and masks the address it is about.

// notify records a notice to every confirmed address of user except
// skip, about the change recorded as fact, and returns the messages to
// send after the commit. Tickets derive from the change's sequence
// number, so the function can run twice without minting anything.
func (s *Service) notify(tx store.Tx, now time.Time, user string, change store.Fact, skip, what string) ([]message.Message, error) {
	addrs, err := s.reachable(tx, user)
	if err != nil {
		return nil, err
	}
	return s.notifyList(tx, now, user, change, addrs, skip, what)
}

// notifyList is notify for a given list of addresses.
func (s *Service) notifyList(tx store.Tx, now time.Time, user string, change store.Fact, addrs []reachableAddress, skip, what string) ([]message.Message, error) {
	var out []message.Message
	for _, a := range addrs {
		if a.hash == skip {
			continue
		}
		sum := sha256.Sum256([]byte(strconv.FormatUint(change.Seq, 10) + "\x00" + a.hash))
		ticket := "n_" + b32.EncodeToString(sum[:16])
		if _, err := tx.Append(store.Fact{Time: now, Kind: KindNoticeQueued, User: user, Address: a.hash, Ticket: ticket,
			Body: mustJSON(noticeBody{About: change.Kind, Masked: a.addr.Masked()})}); err != nil {
			return nil, err
		}
		m := message.Message{ID: ticket, Channel: channelOf(a.addr), To: a.addr.Value, Created: now}
		at := now.UTC().Format("2006-01-02 15:04 UTC")
		if m.Channel == message.SMS {
			m.Text = fmt.Sprintf("attest: %s on your account at %s. Not you? Sign in and review your devices.", what, at)
		} else {
			m.Subject = "Your attest account changed"
			m.Text = fmt.Sprintf("%s on your attest account at %s.\n\nIf that was you, there is nothing to do. If it was not, sign in, review your devices and addresses, and sign out everywhere.\n",
				capital(what), at)
		}
		out = append(out, m)
	}
	return out, nil
}

// send dispatches messages decided by a committed transaction.
func (s *Service) send(msgs []message.Message, device string) {
	for _, m := range msgs {
		s.dispatch(m, device)
	}
}
