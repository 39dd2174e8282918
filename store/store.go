// Package store is attest's ledger: an append-only chain of small, atomic
// facts with secondary indexes derived from them.
//
// The package holds the types and the contract; implementations live in
// sub-packages (store/bolt for one process, store/postgres for several
// servers sharing a database) so that the flows above depend on the
// contract and never on a database. store/storetest is the suite both
// must pass.
//
// The three rules of the design notes are enforced here:
//  1. facts are simple and atomic ("code sent", "code entered"), never
//     conclusions ("verified" is derived by whoever reads the facts);
//  2. the ledger only grows: there is no API that updates or deletes a fact;
//  3. one stream holds every kind of fact, told apart by Kind.
package store

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"
	"time"
	"unicode/utf8"
)

// Index names a secondary index. Every index maps an id (a user tag, a
// device tag, an address hash, ...) to the facts that carry it, in sequence
// order, and can be read "as of" any time.
type Index uint8

// The indexes. A fact appears in the index of each id field it sets, and
// always in ByKind.
const (
	ByUser Index = iota + 1
	ByDevice
	ByAddress
	ByTicket
	ByKind
)

// Indexes lists every index, in a stable order.
var Indexes = []Index{ByUser, ByDevice, ByAddress, ByTicket, ByKind}

func (ix Index) String() string {
	switch ix {
	case ByUser:
		return "user"
	case ByDevice:
		return "device"
	case ByAddress:
		return "address"
	case ByTicket:
		return "ticket"
	case ByKind:
		return "kind"
	}
	return fmt.Sprintf("index(%d)", uint8(ix))
}

// ID returns the id a fact carries for ix, or "" when it carries none.
func (f *Fact) ID(ix Index) string {
	switch ix {
	case ByUser:
		return f.User
	case ByDevice:
		return f.Device
	case ByAddress:
		return f.Address
	case ByTicket:
		return f.Ticket
	case ByKind:
		return f.Kind
	}
	return ""
}

// Fact is one entry of the ledger.
//
// Seq, Time and Prev are assigned by the ledger on append; the caller sets
// the rest. Time is the caller's clock reading, raised to the previous
// fact's time if the clock went backwards, so times never decrease along
// the chain and "as of T" is a prefix of the ledger.
type Fact struct {
	Seq  uint64    `json:"seq"`
	Time time.Time `json:"time"`
	Kind string    `json:"kind"`

	// The ids the fact is about. Each non-empty one is indexed.
	User    string `json:"user,omitempty"`    // user tag: whose account
	Device  string `json:"device,omitempty"`  // browser tag: which device
	Address string `json:"address,omitempty"` // keyed hash of an address
	Ticket  string `json:"ticket,omitempty"`  // a code, link or challenge

	// Body is a small JSON object with the fact's details. It never holds a
	// secret in plaintext.
	Body json.RawMessage `json:"body,omitempty"`

	// Prev is the hex SHA-256 of the previous fact's stored encoding ("" for
	// the first fact), so that changing any fact breaks every link after it.
	Prev string `json:"prev"`
}

// Limits on what a fact may hold. They keep the ledger small and make a
// runaway caller fail loudly instead of bloating every page.
const (
	MaxIDLen   = 128
	MaxKindLen = 64
	MaxBodyLen = 4096
)

// Validate reports whether f is fit to append: a kind, ids without NUL
// bytes (NUL separates ids from sequence numbers in index keys) and a body
// that is a JSON object within the size limit.
func (f *Fact) Validate() error {
	if f.Kind == "" || len(f.Kind) > MaxKindLen {
		return fmt.Errorf("%w: kind %q must have 1 to %d bytes", ErrInvalidFact, f.Kind, MaxKindLen)
	}
	for _, ix := range Indexes {
		// Ids travel through JSON and index keys; text that is not UTF-8
		// would come back altered and disagree with its key.
		id := f.ID(ix)
		if len(id) > MaxIDLen || strings.IndexByte(id, 0) >= 0 || !utf8.ValidString(id) {
			return fmt.Errorf("%w: %s id must be UTF-8 with at most %d bytes and no NUL", ErrInvalidFact, ix, MaxIDLen)
		}
	}
	if len(f.Body) > MaxBodyLen {
		return fmt.Errorf("%w: body of %d bytes exceeds %d", ErrInvalidFact, len(f.Body), MaxBodyLen)
	}
	if len(f.Body) > 0 && (f.Body[0] != '{' || !json.Valid(f.Body)) {
		return fmt.Errorf("%w: body must be a JSON object", ErrInvalidFact)
	}
	if f.Time.IsZero() {
		return fmt.Errorf("%w: time is not set", ErrInvalidFact)
	}
	// Index values hold times as int64 nanoseconds.
	if ns := f.Time.UnixNano(); !time.Unix(0, ns).Equal(f.Time) {
		return fmt.Errorf("%w: time %s is outside the years 1678 to 2262", ErrInvalidFact, f.Time)
	}
	return nil
}

// Decode unmarshals the fact's body into v. An empty body leaves v as is.
func (f *Fact) Decode(v any) error {
	if len(f.Body) == 0 {
		return nil
	}
	if err := json.Unmarshal(f.Body, v); err != nil {
		return fmt.Errorf("decode body of fact %d (%s): %w", f.Seq, f.Kind, err)
	}
	return nil
}

// Entry is what an index holds about a fact: enough to count and filter
// without decoding the fact itself.
type Entry struct {
	Seq  uint64
	Time time.Time
	Kind string
}

// Window selects index entries. The zero Window selects everything, oldest
// first.
type Window struct {
	// Since and Until bound the facts' times, both inclusive; a zero value
	// leaves that side open. Until is how a question is asked "as of T".
	Since, Until time.Time
	// Kinds keeps only facts of these kinds; empty keeps all.
	Kinds []string
	// Reverse yields the newest first.
	Reverse bool
	// Limit stops after this many matches; 0 means no limit.
	Limit int
}

// NanoBounds turns the window's Since and Until into inclusive unix
// nanosecond bounds, clamping times that int64 nanoseconds cannot hold
// (UnixNano is undefined for them); an open side is the int64 extreme.
func (w *Window) NanoBounds() (lo, hi int64) {
	lo, hi = math.MinInt64, math.MaxInt64
	if !w.Since.IsZero() {
		lo = clampNano(w.Since)
	}
	if !w.Until.IsZero() {
		hi = clampNano(w.Until)
	}
	return lo, hi
}

var (
	minNanoTime = time.Unix(0, math.MinInt64)
	maxNanoTime = time.Unix(0, math.MaxInt64)
)

func clampNano(t time.Time) int64 {
	switch {
	case t.Before(minNanoTime):
		return math.MinInt64
	case t.After(maxNanoTime):
		return math.MaxInt64
	}
	return t.UnixNano()
}

// Matches reports whether an entry falls inside the window's time bounds
// and kinds (Limit and Reverse are the scanner's business).
func (w *Window) Matches(e Entry) bool {
	if !w.Since.IsZero() && e.Time.Before(w.Since) {
		return false
	}
	if !w.Until.IsZero() && e.Time.After(w.Until) {
		return false
	}
	if len(w.Kinds) == 0 {
		return true
	}
	for _, k := range w.Kinds {
		if k == e.Kind {
			return true
		}
	}
	return false
}

// Reader answers questions about the ledger as it stood when the
// transaction began (plus, inside an update, what the same function has
// appended so far).
type Reader interface {
	// Head returns the newest fact's sequence number and time; 0 and the
	// zero time for an empty ledger.
	Head() (seq uint64, at time.Time, err error)
	// Fact returns the fact with sequence number seq, or ErrNotFound.
	Fact(seq uint64) (Fact, error)
	// Entries calls fn with the index entries for id inside w, until fn
	// returns false.
	Entries(ix Index, id string, w Window, fn func(Entry) bool) error
	// Facts is Entries with each fact decoded.
	Facts(ix Index, id string, w Window, fn func(Fact) bool) error
	// Count returns how many entries for id fall inside w, at most w.Limit
	// when it is set. It reads only the index.
	Count(ix Index, id string, w Window) (int, error)
	// All calls fn with every fact from sequence number from onwards, in
	// order, until fn returns false.
	All(from uint64, fn func(Fact) bool) error
}

// Tx is a read-write transaction: a Reader that can also append.
type Tx interface {
	Reader
	// Append adds f to the ledger and returns it with Seq, Time and Prev
	// filled in. The fact becomes visible to later reads in the same
	// function at once, and to everyone else when the commit is durable.
	Append(f Fact) (Fact, error)
}

// Ledger is the store's contract.
type Ledger interface {
	// View runs fn in a read-only transaction.
	View(fn func(Reader) error) error
	// Update runs fn in a read-write transaction and returns once what fn
	// appended is durable (or fn's error, in which case nothing fn appended
	// is kept). Concurrent updates share commits. fn may run more than
	// once, so it must have no effect outside the transaction: mint random
	// ids and read clocks before calling Update, and treat variables it
	// sets as valid only after Update returns. fn must not call the Ledger
	// itself (it may run on the ledger's writer).
	Update(fn func(Tx) error) error
	// Close waits for pending updates and releases the ledger.
	Close() error
}

// Maintainer is implemented by ledgers that can check and rebuild
// themselves; the operator commands use it.
type Maintainer interface {
	// Verify recomputes the hash chain and every index from the facts and
	// returns a *Discrepancy for the first difference found, or nil.
	Verify() error
	// Reindex rebuilds every index from the facts.
	Reindex() error
	// Backup writes a consistent copy of the whole ledger to w while
	// updates go on.
	Backup(w io.Writer) (int64, error)
}

// Discrepancy is what Verify reports: where the ledger first differs from
// what its facts imply.
type Discrepancy struct {
	Seq    uint64 // the fact at which the difference was found (0: none)
	Index  string // "" for the chain itself
	Reason string
}

func (d *Discrepancy) Error() string {
	where := "chain"
	if d.Index != "" {
		where = d.Index + " index"
	}
	return fmt.Sprintf("ledger %s differs at fact %d: %s", where, d.Seq, d.Reason)
}

// Sentinel errors.
var (
	// ErrNotFound is returned by Fact for a sequence number the ledger
	// does not hold.
	ErrNotFound = errors.New("no such fact")
	// ErrInvalidFact is returned (wrapped) by Append for a fact that fails
	// Validate.
	ErrInvalidFact = errors.New("invalid fact")
	// ErrLocked is returned (wrapped) by Open when another process holds
	// the ledger, typically a running attest server.
	ErrLocked = errors.New("ledger is in use by another process")
	// ErrClosed is returned by View, Update and the Maintainer methods
	// after Close.
	ErrClosed = errors.New("ledger is closed")
	// ErrUnavailable is returned (wrapped) when the ledger's database
	// cannot be reached for now, such as a PostgreSQL server that is
	// restarting; nothing the failed call appended was acknowledged, and
	// the same call may succeed later.
	ErrUnavailable = errors.New("the ledger is unavailable")
)
