package flows

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/attest-dev/attest/store"
)

// Recent is the newest facts about a device and the user it acts as, as a
// screen that shows the ledger needs them.
type Recent struct {
	Facts []store.Fact // newest first; a password's hash is left out
	// Masked is the masked form of every address the facts name, by
	// address hash: most facts about an address hold only its hash.
	Masked map[string]string
}

// maskedKinds are the facts whose body holds the masked form of their
// address (body.masked).
var maskedKinds = []string{KindAddressAdded, KindCodeEmailed, KindCodeTexted, KindLinkEmailed, KindLinkTexted, KindMessageHeld}

// RecentFacts returns at most limit of the newest facts about the device
// and the user it acts as (every one for a limit of 0), with the masked
// form of their addresses.
func (s *Service) RecentFacts(ctx context.Context, dev Device, limit int) (Recent, error) {
	out := Recent{Masked: map[string]string{}}
	if err := ctx.Err(); err != nil {
		return out, err
	}
	err := s.ledger.View(func(r store.Reader) error {
		var err error
		if out.Facts, err = s.ownFacts(r, dev, store.Window{Reverse: true, Limit: limit}); err != nil {
			return err
		}
		if limit > 0 && len(out.Facts) > limit {
			out.Facts = out.Facts[:limit]
		}
		for _, f := range out.Facts {
			if f.Address == "" {
				continue
			}
			if _, done := out.Masked[f.Address]; done {
				continue
			}
			m, err := MaskOf(r, f.Address)
			if err != nil {
				return err
			}
			out.Masked[f.Address] = m
		}
		return nil
	})
	return out, err
}

// ownFacts returns the facts in w about the device and the user it acts
// as, newest first, each once: what the system recorded about this visitor.
func (s *Service) ownFacts(r store.Reader, dev Device, w store.Window) ([]store.Fact, error) {
	var out []store.Fact
	seen := map[uint64]bool{}
	collect := func(f store.Fact) bool {
		if !seen[f.Seq] {
			seen[f.Seq] = true
			if f.Kind == KindPasswordSet {
				// A password hash is not plaintext, but handing it out
				// would invite offline guessing.
				var b passwordSetBody
				_ = f.Decode(&b) // only its rehash mark is kept, if it reads
				f.Body = mustJSON(passwordSetBody{PHC: "(not shown)", Rehash: b.Rehash})
			}
			out = append(out, f)
		}
		return true
	}
	if err := r.Facts(store.ByDevice, dev.Tag, w, collect); err != nil {
		return nil, fmt.Errorf("read the device's facts: %w", err)
	}
	b, ok, err := s.deviceBinding(r, dev.Tag)
	if err != nil {
		return nil, err
	}
	if ok {
		if err := r.Facts(store.ByUser, b.User, w, collect); err != nil {
			return nil, fmt.Errorf("read the user's facts: %w", err)
		}
	}
	slices.SortFunc(out, func(a, b store.Fact) int { return cmp.Compare(b.Seq, a.Seq) })
	return out, nil
}

// MaskOf returns the masked form of the address with this hash, as the
// newest fact that names it in a body recorded it ("" when none does,
// which a hash from outside the flows would be).
func MaskOf(r store.Reader, hash string) (string, error) {
	var masked string
	var derr error
	err := r.Facts(store.ByAddress, hash, store.Window{Kinds: maskedKinds, Reverse: true, Limit: 1}, func(f store.Fact) bool {
		var b struct {
			Masked string `json:"masked"`
		}
		derr = f.Decode(&b)
		masked = b.Masked
		return false
	})
	if err != nil {
		return "", fmt.Errorf("read the masked form of an address: %w", err)
	}
	return masked, derr
}

// Governed is what the governor decided around one message, for the demo
// inbox to show beside its address.
type Governed struct {
	NextAt time.Time // when the next message to the address may go
	Rule   string    // the limit that set NextAt (a Rule* value; "" for none)
	// HeldBefore is how many requests the governor held back for the
	// address since the message before this one (within a day), counted
	// up to HeldRecords (see recordHeld).
	HeldBefore int
}

// Held says HeldBefore in words: "" for none, "1 request held back",
// "3 requests held back", "20 or more requests held back".
func (g Governed) Held() string {
	switch n := g.HeldBefore; {
	case n <= 0:
		return ""
	case n == 1:
		return "1 request held back"
	case n >= HeldRecords:
		return fmt.Sprintf("%d or more requests held back", HeldRecords)
	default:
		return fmt.Sprintf("%d requests held back", n)
	}
}

// GovernedBy reads what the governor decided about the message of a
// ticket. ok is false for a ticket of no governed message, or one whose
// fact predates the governor's record.
func (s *Service) GovernedBy(ctx context.Context, ticket string) (g Governed, ok bool, err error) {
	if err := ctx.Err(); err != nil {
		return g, false, err
	}
	err = s.ledger.View(func(r store.Reader) error {
		var f store.Fact
		found := false
		if err := r.Facts(store.ByTicket, ticket, store.Window{Kinds: governedKinds, Limit: 1}, func(x store.Fact) bool {
			f, found = x, true
			return false
		}); err != nil || !found {
			return err
		}
		var b struct {
			NextAt   time.Time `json:"next_at"`
			NextRule string    `json:"next_rule"`
		}
		if err := f.Decode(&b); err != nil {
			return err
		}
		if b.NextAt.IsZero() {
			return nil
		}
		g.NextAt, g.Rule, ok = b.NextAt, b.NextRule, true
		since := f.Time.Add(-24 * time.Hour)
		if err := r.Entries(store.ByAddress, f.Address, store.Window{Until: f.Time, Kinds: governedKinds, Reverse: true}, func(e store.Entry) bool {
			if e.Seq < f.Seq {
				since = e.Time
				return false
			}
			return true
		}); err != nil {
			return err
		}
		g.HeldBefore, err = r.Count(store.ByAddress, f.Address, store.Window{Since: since, Until: f.Time, Kinds: []string{KindMessageHeld}})
		return err
	})
	if err != nil {
		return Governed{}, false, fmt.Errorf("read the governor's decision: %w", err)
	}
	return g, ok, nil
}
