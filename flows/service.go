// Package flows is attest's sign-in engine: every flow of the design notes
// as a plain Go function over a ledger, a clock, a source of randomness, a
// sender and a policy. It knows nothing of terminals, SSH or databases, so
// tests can run an hour of flows in a microsecond and other programs can
// embed it.
//
// Every flow follows the same shape: mint what needs randomness, then read,
// decide and append in one ledger transaction, then, after the commit, send
// what the transaction decided and record how that went.
package flows

import (
	"context"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/attest-dev/attest/flows/address"
	"github.com/attest-dev/attest/flows/clock"
	"github.com/attest-dev/attest/flows/message"
	"github.com/attest-dev/attest/flows/openid"
	"github.com/attest-dev/attest/flows/password"
	"github.com/attest-dev/attest/flows/ratelimit"
	"github.com/attest-dev/attest/store"
)

// Config is what a Service is built from. Ledger and Secret are required;
// everything else has a default.
type Config struct {
	Ledger store.Ledger
	// Secret is the server's long-term secret (at least 32 bytes). The keys
	// for address hashes, code MACs and sealed addresses derive from it, so
	// losing it makes existing codes unverifiable and addresses unreadable.
	Secret []byte
	Clock  clock.Clock    // default: the system clock
	Rand   io.Reader      // default: crypto/rand
	Sender message.Sender // default: a sender that fails every message
	// Channels are the channels Sender delivers (server/delivery's
	// Router.Channels); nil means every channel. An address of another
	// channel is refused before anything is recorded or counted.
	Channels []message.Channel
	Policy   Policy       // zero fields take DefaultPolicy's values
	Logger   *slog.Logger // default: discard
	// Catalogue is what visitors can star; default: DefaultCatalogue.
	Catalogue []Item
	// ConnectHint tells people in messages how to reach the server, such as
	// "ssh -p 23234 attest.example.com".
	ConnectHint string
	// Support is whom a refusal that says "contact support" names: a URL
	// or an email address, checked by the configuration. Empty means the
	// operator of this server.
	Support string
	// Passwords hashes and checks passwords; default: argon2id with
	// password.DefaultParams, HashSlots() hashes at a time.
	Passwords *password.Hasher
	// Relay passes live-session pokes to the other servers sharing the
	// ledger; nil when there are none.
	Relay Relay
	// LinkBase is the public URL magic links start with, such as
	// "https://attest.example.com"; links are /link/<token> under it.
	// Wallet challenges name its host as their domain and it as their URI.
	LinkBase string
	// Issuer names the server in authenticator apps (default "attest").
	Issuer string
	// ChainID is the EIP-155 chain id Ethereum challenges name; default 1.
	ChainID int
	// Providers are the OpenID Providers people can sign in with (oidc.go).
	Providers []*openid.Provider
	// PollWait waits between device-grant polls; default: a wait on
	// Clock. Tests inject one that moves their clock and records the waits.
	PollWait func(ctx context.Context, d time.Duration) error
	// Observer hears what leaves no fact, for metrics; default: nobody.
	Observer Observer
}

// Service runs the flows. It is safe for concurrent use.
type Service struct {
	ledger      store.Ledger
	clock       clock.Clock
	rand        io.Reader
	sender      message.Sender
	policy      Policy
	log         *slog.Logger
	catalogue   []Item
	linkBase    string
	connectHint string
	support     string
	chainID     int

	hasher  *address.Hasher
	codeKey []byte
	sealer  *sealer

	issuer      string
	totpSealer  *sealer // authenticator secrets, under their own key
	recoveryKey []byte  // recovery codes' MACs

	passwords *password.Hasher
	// triesByDevice and triesBySource are Policy.PasswordTries.
	triesByDevice, triesBySource *ratelimit.Keyed

	// outbox tracks messages handed to the sender after their commit, so
	// Close (and tests) can wait for every outcome to be recorded.
	outbox sync.WaitGroup
	// sendSlots bounds concurrent sends so a burst of sign-ins cannot open
	// a thousand SMTP connections at once.
	sendSlots chan struct{}
	// channels are Config.Channels: nil for every channel.
	channels []message.Channel
	// capWarned is the hour window (its start) in which the server-wide
	// cap of each channel was last logged as reached.
	capMu     sync.Mutex
	capWarned map[message.Channel]time.Time

	bus *bus

	providers []*openid.Provider
	pollWait  func(ctx context.Context, d time.Duration) error
	observer  Observer
}

// New builds a Service.
func New(cfg Config) (*Service, error) {
	if cfg.Ledger == nil {
		return nil, errors.New("flows: no ledger")
	}
	if len(cfg.Secret) < 32 {
		return nil, errors.New("flows: the secret must have at least 32 bytes")
	}
	s := &Service{
		ledger:      cfg.Ledger,
		clock:       cfg.Clock,
		rand:        cfg.Rand,
		sender:      cfg.Sender,
		channels:    cfg.Channels,
		policy:      cfg.Policy.withDefaults(),
		log:         cfg.Logger,
		catalogue:   cfg.Catalogue,
		linkBase:    strings.TrimRight(cfg.LinkBase, "/"),
		connectHint: cfg.ConnectHint,
		support:     cfg.Support,
		issuer:      cfg.Issuer,
		chainID:     cfg.ChainID,
		sendSlots:   make(chan struct{}, 16),
		bus:         newBus(cfg.Relay),
		providers:   cfg.Providers,
		pollWait:    cfg.PollWait,
		observer:    cfg.Observer,
	}
	if s.observer == nil {
		s.observer = noObserver{}
	}
	s.ledger = announcing{Ledger: cfg.Ledger, bus: s.bus}
	if s.clock == nil {
		s.clock = clock.System{}
	}
	if s.rand == nil {
		s.rand = rand.Reader
	} else {
		// An injected source (a seeded generator in tests) is rarely safe
		// for concurrent use; the service is.
		s.rand = &lockedReader{r: s.rand}
	}
	if s.sender == nil {
		s.sender = message.SenderFunc(func(context.Context, message.Message) error {
			return errors.New("no delivery is configured")
		})
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.connectHint == "" {
		s.connectHint = "ssh to this attest server"
	}
	if s.chainID <= 0 {
		s.chainID = 1
	}
	if s.linkBase == "" {
		s.linkBase = "http://127.0.0.1:23235"
	}
	if s.passwords = cfg.Passwords; s.passwords == nil {
		var err error
		if s.passwords, err = password.NewHasher(password.DefaultParams(), HashSlots()); err != nil {
			return nil, fmt.Errorf("flows: password hasher: %w", err)
		}
	}
	pt := s.policy.PasswordTries
	s.triesByDevice = ratelimit.New(pt.DeviceEvery, pt.DeviceBurst, maxTriesKeys)
	s.triesBySource = ratelimit.New(pt.SourceEvery, pt.SourceBurst, maxTriesKeys)
	if s.pollWait == nil {
		s.pollWait = s.sleep
	}
	if s.catalogue == nil {
		s.catalogue = DefaultCatalogue
	}
	if err := s.policy.Validate(); err != nil {
		return nil, err
	}
	addrKey, err := deriveKey(cfg.Secret, "attest address hash v1")
	if err != nil {
		return nil, err
	}
	if s.hasher, err = address.NewHasher(addrKey); err != nil {
		return nil, fmt.Errorf("flows: address hasher: %w", err)
	}
	if s.codeKey, err = deriveKey(cfg.Secret, "attest code mac v1"); err != nil {
		return nil, err
	}
	sealKey, err := deriveKey(cfg.Secret, "attest address seal v1")
	if err != nil {
		return nil, err
	}
	if s.sealer, err = newSealer(sealKey); err != nil {
		return nil, err
	}
	if s.issuer == "" {
		s.issuer = "attest"
	}
	totpKey, err := deriveKey(cfg.Secret, "attest totp seal v1")
	if err != nil {
		return nil, err
	}
	if s.totpSealer, err = newSealer(totpKey); err != nil {
		return nil, err
	}
	if s.recoveryKey, err = deriveKey(cfg.Secret, "attest recovery mac v1"); err != nil {
		return nil, err
	}
	return s, nil
}

// maxTriesKeys bounds the devices and the networks whose password tries
// are remembered (each about a hundred bytes).
const maxTriesKeys = 1 << 16

// deriveKey gives each use of the secret its own key, so that a MAC of one
// kind can never be replayed as another.
func deriveKey(secret []byte, label string) ([]byte, error) {
	k, err := hkdf.Key(sha256.New, secret, nil, label, 32)
	if err != nil {
		return nil, fmt.Errorf("flows: derive %s key: %w", label, err)
	}
	return k, nil
}

// Policy returns the policy in force.
func (s *Service) Policy() Policy { return s.policy }

// Now is the service's clock reading; screens use it for countdowns so
// that a test clock moves them too.
func (s *Service) Now() time.Time { return s.clock.Now() }

// Reached returns a channel closed once the service's clock reads t, and a
// function that releases the wait early. Waits for a moment the flows
// decided (a link's expiry) use it, so moving a test clock ends them.
func (s *Service) Reached(t time.Time) (<-chan struct{}, func()) { return clock.Wait(s.clock, t) }

// Catalogue is what visitors can star.
func (s *Service) Catalogue() []Item { return s.catalogue }

// Wait blocks until every message handed to the sender so far has been
// sent or has failed, and its outcome recorded.
func (s *Service) Wait() { s.outbox.Wait() }

// Close waits for outstanding deliveries. It does not close the ledger,
// which the caller owns.
func (s *Service) Close() error {
	s.Wait()
	return nil
}

// token returns a fresh random identifier with the given prefix: 16 bytes
// (128 bits) in lower-case base32, so it is safe in index keys and URLs.
func (s *Service) token(prefix string) (string, error) {
	var b [16]byte
	if _, err := io.ReadFull(s.rand, b[:]); err != nil {
		return "", fmt.Errorf("read randomness: %w", err)
	}
	return prefix + b32.EncodeToString(b[:]), nil
}

// lockedReader serializes reads from a source of randomness.
type lockedReader struct {
	mu sync.Mutex
	r  io.Reader
}

func (l *lockedReader) Read(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.r.Read(p)
}

// update runs fn in one ledger transaction and is how every flow writes.
// fn says no by returning a *Problem: what it appended is then dropped,
// so a refusal changes nothing. Where a refusal must still leave a trace
// (a wrong code is a fact), fn returns keep(p) instead. Any other error
// also drops everything and comes back wrapped with what was being done.
// Like the ledger's Update, fn may run more than once: it must reset what
// it reports through the caller's variables.
//
// Once the facts are durable, the live sessions of the users and devices
// they are about are poked, so that a screen showing the ledger (or
// anything else read from it) updates at once.
func (s *Service) update(what string, fn func(tx store.Tx) error) error {
	var refusal *Problem
	var held []heldBack
	var users, devices []string
	err := s.ledger.Update(func(tx store.Tx) error {
		refusal = nil
		notes := &notingTx{Tx: tx}
		err := fn(notes)
		held, users, devices = notes.held, notes.users, notes.devices
		var k kept
		if errors.As(err, &k) {
			refusal = k.p
			return nil
		}
		if p, ok := AsProblem(err); ok {
			refusal = p
		}
		return err
	})
	if refusal != nil || err == nil {
		// The governor's answer stands whatever the flow made of it; an
		// update the ledger failed answered nobody.
		for _, h := range held {
			s.observer.HeldBack(h.what, h.ch, h.rule)
			if h.rule == RuleChannelHour {
				s.warnCapReached(h.ch)
			}
		}
	}
	if err == nil {
		s.bus.publish(users, devices)
	}
	if refusal != nil && refusal.Code == ProblemSupport {
		return s.supportRefusal(refusal)
	}
	if refusal != nil {
		if refusal.held != nil {
			s.recordHeld(*refusal.held)
		}
		return refusal
	}
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	return nil
}

// held attaches to a governor's refusal the fact that records it. Its
// ticket is the source network's id (sourceID), when known, so that the
// records one network causes can be counted (HeldPerSourceHour).
func (s *Service) held(p *Problem, b messageHeldBody, user, device, hash, source string) *Problem {
	p.held = &store.Fact{Time: s.clock.Now(), Kind: KindMessageHeld, User: user, Device: device, Address: hash,
		Ticket: s.sourceID(source), Body: mustJSON(b)}
	return p
}

// HeldPerSourceHour is how many held-back requests one source network's
// requests have recorded in an hour before more are answered the same but
// not recorded: with a fresh key and a fresh address each time, someone
// whom the governor holds back could otherwise write a fact per request.
const HeldPerSourceHour = 100

// HeldRecords is how many held-back requests are recorded for one address
// between two messages to it (and within a day): each request up to it
// is a message.held fact, so the inbox can say how many there were,
// and asking more often than that costs the ledger nothing more.
const HeldRecords = 20

// recordHeld records the governor's refusal after the transaction that
// decided it (which a refusal drops). The refusal is the answer whether or
// not this record lands, so a failure is only logged. Every request held
// back is recorded, up to HeldRecords for an address since the last
// message to it, and HeldPerSourceHour for a source network in an hour.
func (s *Service) recordHeld(f store.Fact) {
	wrote := false
	err := s.ledger.Update(func(tx store.Tx) error {
		wrote = false
		since := f.Time.Add(-24 * time.Hour)
		err := tx.Entries(store.ByAddress, f.Address, store.Window{Since: since, Kinds: governedKinds, Reverse: true, Limit: 1},
			func(e store.Entry) bool { since = e.Time; return false })
		if err != nil {
			return err
		}
		n, err := tx.Count(store.ByAddress, f.Address, store.Window{Since: since, Kinds: []string{KindMessageHeld}})
		if err != nil || n >= HeldRecords {
			return err
		}
		if f.Ticket != "" {
			n, err := tx.Count(store.ByTicket, f.Ticket, store.Window{Since: f.Time.Add(-time.Hour), Kinds: []string{KindMessageHeld}})
			if err != nil || n >= HeldPerSourceHour {
				return err
			}
		}
		wrote = true
		_, err = tx.Append(f)
		return err
	})
	if err != nil {
		s.log.Error("record a held message", "device", f.Device, "err", err)
		return
	}
	if wrote {
		var users []string
		if f.User != "" {
			users = []string{f.User}
		}
		s.bus.publish(users, []string{f.Device})
	}
}

// Support is whom people contact when a refusal says "contact support":
// the configured URL or email address, or "" for the operator of this
// server.
func (s *Service) Support() string { return s.support }

type supportRefusedBody struct {
	Code    ProblemCode `json:"code"`
	Message string      `json:"message"`
}

// supportRefusal records a refusal that sends a person to support, logs
// it, and names in its message whom to contact and what to quote: the
// fact's sequence number and time, which the operator finds in the
// ledger (attest facts --kind support.refused) and in the server's log.
func (s *Service) supportRefusal(p *Problem) *Problem {
	now := s.clock.Now()
	var seq uint64
	err := s.ledger.Update(func(tx store.Tx) error {
		f, err := tx.Append(store.Fact{Time: now, Kind: KindSupportRefused,
			Body: mustJSON(supportRefusedBody{Code: p.Code, Message: p.Msg})})
		seq = f.Seq
		return err
	})
	at := now.UTC().Format("2006-01-02 15:04:05 UTC")
	quote := fmt.Sprintf("quoting refusal %d of %s", seq, at)
	if err != nil {
		s.log.Error("record a refusal", "err", err)
		quote = "saying when this happened (" + at + ")"
	}
	s.log.Warn("refused: contact support", "fact", seq, "at", now.UTC().Format(time.RFC3339), "code", string(p.Code), "message", p.Msg)
	who := "contact the operator of this server, " + quote + " (it is in their log)"
	if s.support != "" {
		who = "contact support at " + s.support + ", " + quote
	}
	out := *p
	out.Msg = strings.Replace(p.Msg, "contact support", who, 1)
	return &out
}

// kept is a refusal whose transaction's facts stay.
type kept struct{ p *Problem }

func (k kept) Error() string { return k.p.Msg }

// keep marks a refusal whose facts must stay in the ledger.
func keep(p *Problem) error { return kept{p} }

// HashSlots is how many password hashes may run at once: at most two,
// and never on every core. Each argon2id derivation keeps a core busy for
// about 90 ms without yielding; with every core taken, the screens of
// everyone else wait for the scheduler (measured on 2 cores: keystroke
// p99 of 80 ms with two slots, 25 ms with one).
func HashSlots() int {
	return min(2, max(1, runtime.GOMAXPROCS(0)-1))
}
