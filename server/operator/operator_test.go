package operator_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/attest-dev/attest/flows"
	"github.com/attest-dev/attest/flows/clock"
	"github.com/attest-dev/attest/flows/message"
	"github.com/attest-dev/attest/server/operator"
	"github.com/attest-dev/attest/store"
	"github.com/attest-dev/attest/store/bolt"
)

var t0 = time.Date(2026, 11, 21, 9, 0, 0, 0, time.UTC)

// sink keeps what the flows send.
type sink struct {
	mu   sync.Mutex
	msgs []message.Message
}

func (s *sink) Send(_ context.Context, m message.Message) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.msgs = append(s.msgs, m)
	return nil
}

func (s *sink) last() message.Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.msgs[len(s.msgs)-1]
}

// fixture is a real ledger file with a Service on it, as a server (or
// the binary without a server) builds them.
type fixture struct {
	t      *testing.T
	path   string
	secret []byte
	clock  *clock.Fake
	sent   *sink
	led    *bolt.Ledger
	svc    *flows.Service

	// What the seed wrote, for the filters.
	ada, grace     flows.Device
	adaUser        string
	graceUser      string
	graceTicket    string
	graceAddress   string // as the seed typed it
	dayTwo         time.Time
	nicknameSetSeq uint64
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{
		t:      t,
		path:   filepath.Join(t.TempDir(), "attest.db"),
		secret: []byte("operator-test-secret-0123456789abcdef"),
		clock:  clock.NewFake(t0),
		sent:   &sink{},
	}
	f.open()
	return f
}

func (f *fixture) open() {
	f.t.Helper()
	// Tail 1 moves each commit's facts into the index buckets at once, so
	// that the tests can tamper with those buckets directly.
	led, err := bolt.Open(f.path, bolt.Options{Tail: 1})
	if err != nil {
		f.t.Fatal(err)
	}
	svc, err := flows.New(flows.Config{Ledger: led, Secret: f.secret, Clock: f.clock, Sender: f.sent})
	if err != nil {
		led.Close()
		f.t.Fatal(err)
	}
	f.led, f.svc = led, svc
	f.t.Cleanup(f.close)
}

func (f *fixture) close() {
	if f.led == nil {
		return
	}
	f.svc.Close()
	if err := f.led.Close(); err != nil {
		f.t.Errorf("close ledger: %v", err)
	}
	f.led, f.svc = nil, nil
}

var codeRE = regexp.MustCompile(`Code ([A-Z]+): (\d+)`)

// seed writes a small history over two days: an anonymous visitor (Ada)
// sets a nickname and stars something; an hour later another device
// (Grace) signs up with an email address; the next day Ada stars again.
func (f *fixture) seed() {
	t := f.t
	t.Helper()
	ctx := context.Background()
	f.ada, f.grace = flows.KeyDevice("SHA256:ada-laptop"), flows.KeyDevice("SHA256:grace-phone")
	v, err := f.svc.SetNickname(ctx, f.ada, "Ada")
	if err != nil {
		t.Fatal(err)
	}
	f.adaUser = v.User
	if _, err := f.svc.Star(ctx, f.ada, "sirius"); err != nil {
		t.Fatal(err)
	}

	f.clock.Advance(time.Hour)
	f.graceAddress = "Grace.Hopper@Example.COM"
	iss, err := f.svc.RequestSignIn(ctx, f.grace, f.graceAddress)
	if err != nil {
		t.Fatal(err)
	}
	f.svc.Wait() // the message is sent and its outcome recorded
	f.graceTicket = iss.Ticket
	m := codeRE.FindStringSubmatch(f.sent.last().Text)
	if m == nil {
		t.Fatalf("no code in %q", f.sent.last().Text)
	}
	out, err := f.svc.EnterCode(ctx, f.grace, m[1], m[2])
	if err != nil {
		t.Fatal(err)
	}
	f.graceUser = out.Visitor.User

	f.clock.Advance(24 * time.Hour)
	f.dayTwo = f.clock.Now()
	if _, err := f.svc.Star(ctx, f.ada, "vega"); err != nil {
		t.Fatal(err)
	}
	for _, fact := range f.all() {
		if fact.Kind == flows.KindNicknameSet {
			f.nicknameSetSeq = fact.Seq
		}
	}
	if f.adaUser == "" || f.graceUser == "" || f.nicknameSetSeq == 0 {
		t.Fatalf("the seed did not create what the tests need: ada %q, grace %q, nickname fact %d", f.adaUser, f.graceUser, f.nicknameSetSeq)
	}
}

// all reads every fact directly from the ledger.
func (f *fixture) all() []store.Fact {
	f.t.Helper()
	var out []store.Fact
	if err := f.led.View(func(r store.Reader) error {
		return r.All(1, func(x store.Fact) bool { out = append(out, x); return true })
	}); err != nil {
		f.t.Fatal(err)
	}
	return out
}

// run runs an operator command against the fixture's ledger and service.
func (f *fixture) run(args ...string) (code int, stdout, stderr string) {
	return runWith(operator.Env{Ledger: f.led, Service: f.svc}, args...)
}

func runWith(env operator.Env, args ...string) (code int, stdout, stderr string) {
	var out, errb bytes.Buffer
	env.Stdout, env.Stderr = &out, &errb
	code = operator.Run(context.Background(), env, args)
	return code, out.String(), errb.String()
}

// seqs decodes JSON lines of facts and returns their sequence numbers.
func seqs(t *testing.T, jsonLines string) []uint64 {
	t.Helper()
	var out []uint64
	dec := json.NewDecoder(strings.NewReader(jsonLines))
	for dec.More() {
		var f store.Fact
		if err := dec.Decode(&f); err != nil {
			t.Fatalf("facts output is not JSON lines of facts: %v\n%s", err, jsonLines)
		}
		out = append(out, f.Seq)
	}
	return out
}

// where returns the sequence numbers of the facts keep selects.
func where(facts []store.Fact, keep func(store.Fact) bool) []uint64 {
	var out []uint64
	for _, f := range facts {
		if keep(f) {
			out = append(out, f.Seq)
		}
	}
	return out
}

func TestVerifyCleanLedger(t *testing.T) {
	f := newFixture(t)
	// An empty ledger is fine too.
	if code, out, errOut := f.run("verify"); code != 0 || out != "ok: 0 facts; the hash chain and every index agree\n" {
		t.Fatalf("verify of an empty ledger: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	f.seed()
	n := len(f.all())
	code, out, errOut := f.run("verify")
	if code != 0 || errOut != "" {
		t.Fatalf("verify: exit %d, stderr %q", code, errOut)
	}
	if want := fmt.Sprintf("ok: %d facts; the hash chain and every index agree\n", n); out != want {
		t.Fatalf("verify printed %q, want %q", out, want)
	}
	// verify takes no arguments.
	if code, _, errOut := f.run("verify", "now"); code != 2 || !strings.Contains(errOut, `takes no arguments, not "now"`) || !strings.Contains(errOut, "usage: attest verify [--json]") {
		t.Errorf("verify with an argument: exit %d, stderr %q", code, errOut)
	}
}

// tamper edits the closed ledger file behind the ledger's back.
func tamper(t *testing.T, path string, edit func(tx *bbolt.Tx) error) {
	t.Helper()
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Update(edit); err != nil {
		t.Fatal(err)
	}
}

func seqKey(seq uint64) []byte {
	return []byte{byte(seq >> 56), byte(seq >> 48), byte(seq >> 40), byte(seq >> 32), byte(seq >> 24), byte(seq >> 16), byte(seq >> 8), byte(seq)}
}

func TestVerifyTamperedLedger(t *testing.T) {
	f := newFixture(t)
	f.seed()
	seq := f.nicknameSetSeq
	f.close()
	// Rename the nickname inside the stored fact: same length, valid
	// JSON, but no longer the bytes the next fact's prev was made from.
	tamper(t, f.path, func(tx *bbolt.Tx) error {
		b := tx.Bucket([]byte("facts"))
		raw := slices.Clone(b.Get(seqKey(seq)))
		if !bytes.Contains(raw, []byte(`"Ada"`)) {
			return fmt.Errorf("fact %d does not hold the nickname: %s", seq, raw)
		}
		return b.Put(seqKey(seq), bytes.Replace(raw, []byte(`"Ada"`), []byte(`"Eve"`), 1))
	})
	f.open()
	code, out, errOut := f.run("verify")
	if code != 1 {
		t.Fatalf("verify of a tampered ledger: exit %d, want 1; stdout %q, stderr %q", code, out, errOut)
	}
	if strings.Contains(out, "ok") {
		t.Errorf("verify of a tampered ledger printed %q", out)
	}
	if want := fmt.Sprintf("attest verify: ledger chain differs at fact %d: ", seq); !strings.HasPrefix(errOut, want) {
		t.Errorf("verify said %q, want it to start with %q", errOut, want)
	}
}

func TestReindex(t *testing.T) {
	f := newFixture(t)
	f.seed()
	var victim store.Fact
	for _, x := range f.all() {
		if x.Device == f.grace.Tag {
			victim = x // the last of Grace's device's facts
		}
	}
	wantDevice := where(f.all(), func(x store.Fact) bool { return x.Device == f.grace.Tag })
	f.close()
	// Drop one device index entry: the facts are intact, an index is not.
	tamper(t, f.path, func(tx *bbolt.Tx) error {
		// A key is a partition byte, the id, NUL and the sequence number.
		suffix := append(append([]byte(victim.Device), 0), seqKey(victim.Seq)...)
		b := tx.Bucket([]byte("device"))
		c := b.Cursor()
		for k, _ := c.First(); k != nil; k, _ = c.Next() {
			if len(k) == len(suffix)+1 && bytes.HasSuffix(k, suffix) {
				return c.Delete()
			}
		}
		return fmt.Errorf("no device index entry for fact %d", victim.Seq)
	})
	f.open()
	code, _, errOut := f.run("verify")
	if want := fmt.Sprintf("ledger device index differs at fact %d", victim.Seq); code != 1 || !strings.Contains(errOut, want) {
		t.Fatalf("verify after dropping an index entry: exit %d, %q; want 1 and %q", code, errOut, want)
	}
	// The facts command reads the index, so the fact is missing from it.
	_, out, _ := f.run("facts", "--device", f.grace.Tag)
	if got := seqs(t, out); slices.Contains(got, victim.Seq) || len(got) != len(wantDevice)-1 {
		t.Fatalf("before reindex, --device found %v; want %v without %d", got, wantDevice, victim.Seq)
	}

	code, out, errOut = f.run("reindex")
	if code != 0 || out != "ok: every index rebuilt from the facts\n" || errOut != "" {
		t.Fatalf("reindex: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	if code, out, errOut := f.run("verify"); code != 0 || !strings.HasPrefix(out, "ok: ") {
		t.Fatalf("verify after reindex: exit %d, %q %q", code, out, errOut)
	}
	_, out, _ = f.run("facts", "--device", f.grace.Tag)
	if got := seqs(t, out); !slices.Equal(got, wantDevice) {
		t.Fatalf("after reindex, --device found %v, want %v", got, wantDevice)
	}
	if code, _, errOut := f.run("reindex", "--all"); code != 2 || !strings.Contains(errOut, "usage: attest reindex") {
		t.Errorf("reindex with a flag: exit %d, %q", code, errOut)
	}
}

func TestBackup(t *testing.T) {
	f := newFixture(t)
	f.seed()
	want := f.all()
	code, out, errOut := f.run("backup")
	if code != 0 || errOut != "" {
		t.Fatalf("backup: exit %d, stderr %q", code, errOut)
	}
	path := filepath.Join(t.TempDir(), "copy.db")
	if err := os.WriteFile(path, []byte(out), 0o600); err != nil {
		t.Fatal(err)
	}
	cp, err := bolt.Open(path, bolt.Options{})
	if err != nil {
		t.Fatalf("the backup does not open as a ledger: %v", err)
	}
	defer cp.Close()
	if err := cp.Verify(); err != nil {
		t.Fatalf("the backup does not verify: %v", err)
	}
	var got []store.Fact
	if err := cp.View(func(r store.Reader) error {
		return r.All(1, func(x store.Fact) bool { got = append(got, x); return true })
	}); err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("the backup holds %d facts, the ledger %d", len(got), len(want))
	}
	for i := range got {
		a, _ := json.Marshal(got[i])
		b, _ := json.Marshal(want[i])
		if !bytes.Equal(a, b) {
			t.Fatalf("fact %d differs:\nbackup %s\nledger %s", i+1, a, b)
		}
	}
	// The verify command agrees, on the copy, with the same count.
	code, out, _ = runWith(operator.Env{Ledger: cp}, "verify")
	if code != 0 || out != fmt.Sprintf("ok: %d facts; the hash chain and every index agree\n", len(want)) {
		t.Errorf("verify of the backup: exit %d, %q", code, out)
	}
	// And the original goes on working.
	if _, err := f.svc.Star(context.Background(), f.ada, "rigel"); err != nil {
		t.Fatalf("the ledger after a backup: %v", err)
	}
}

func TestFactsFilters(t *testing.T) {
	f := newFixture(t)
	f.seed()
	all := f.all()
	hash, err := f.svc.AddressHash(f.graceAddress)
	if err != nil {
		t.Fatal(err)
	}
	kinds := func(ks ...string) func(store.Fact) bool {
		return func(x store.Fact) bool { return slices.Contains(ks, x.Kind) }
	}
	for _, tc := range []struct {
		name string
		args []string
		want []uint64
	}{
		{"everything", nil, where(all, func(store.Fact) bool { return true })},
		{"user", []string{"--user", f.adaUser}, where(all, func(x store.Fact) bool { return x.User == f.adaUser })},
		{"device", []string{"--device", f.grace.Tag}, where(all, func(x store.Fact) bool { return x.Device == f.grace.Tag })},
		{"ticket", []string{"--ticket", f.graceTicket}, where(all, func(x store.Fact) bool { return x.Ticket == f.graceTicket })},
		// The address as typed, in another case: it is normalized and
		// looked up by its keyed hash.
		{"address typed", []string{"--address", "grace.hopper@example.com"}, where(all, func(x store.Fact) bool { return x.Address == hash })},
		{"address as in the seed", []string{"--address=" + f.graceAddress}, where(all, func(x store.Fact) bool { return x.Address == hash })},
		{"unknown address", []string{"--address", "nobody@example.com"}, nil},
		{"one kind", []string{"--kind", flows.KindStarAdded}, where(all, kinds(flows.KindStarAdded))},
		{"several kinds", []string{"--kind", flows.KindNicknameSet + "," + flows.KindCodeAccepted},
			where(all, kinds(flows.KindNicknameSet, flows.KindCodeAccepted))},
		{"user and kind", []string{"--user", f.adaUser, "--kind", flows.KindStarAdded},
			where(all, func(x store.Fact) bool { return x.User == f.adaUser && x.Kind == flows.KindStarAdded })},
		{"one kind since a date", []string{"--kind", flows.KindStarAdded, "--since", "2026-11-22"},
			where(all, func(x store.Fact) bool { return x.Kind == flows.KindStarAdded && !x.Time.Before(f.dayTwo) })},
		{"since a date", []string{"--since", "2026-11-22"}, where(all, func(x store.Fact) bool { return !x.Time.Before(f.dayTwo) })},
		{"until a minute", []string{"--until", "2026-11-21T09:30"}, where(all, func(x store.Fact) bool { return !x.Time.After(t0.Add(30 * time.Minute)) })},
		{"since and until, RFC 3339", []string{"--since", "2026-11-21T10:00:00Z", "--until", "2026-11-21T10:00:00+00:00"},
			where(all, func(x store.Fact) bool { return x.Time.Equal(t0.Add(time.Hour)) })},
		{"since with an offset", []string{"--since", "2026-11-21T11:30:00+01:00"}, // 10:30 UTC
			where(all, func(x store.Fact) bool { return !x.Time.Before(t0.Add(90 * time.Minute)) })},
		{"device, kinds and time", []string{"--device", f.ada.Tag, "--kind", flows.KindStarAdded + "," + flows.KindNicknameSet, "--until", "2026-11-21T23:59:59Z"},
			where(all, func(x store.Fact) bool {
				return x.Device == f.ada.Tag && (x.Kind == flows.KindStarAdded || x.Kind == flows.KindNicknameSet) && x.Time.Before(f.dayTwo)
			})},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := f.run(append([]string{"facts"}, tc.args...)...)
			if code != 0 || errOut != "" {
				t.Fatalf("facts %q: exit %d, stderr %q", tc.args, code, errOut)
			}
			if got := seqs(t, out); !slices.Equal(got, tc.want) {
				t.Fatalf("facts %q gave %v, want %v", tc.args, got, tc.want)
			}
		})
	}
	// The filters that should find something do: the cases above are not
	// all vacuous.
	if len(where(all, func(x store.Fact) bool { return x.Address == hash })) < 2 ||
		len(where(all, func(x store.Fact) bool { return !x.Time.Before(f.dayTwo) })) == 0 {
		t.Fatal("the seed has no facts for the address or the second day")
	}
	// Facts come out whole, as the ledger holds them.
	_, out, _ := f.run("facts", "--kind", flows.KindNicknameSet)
	var got store.Fact
	if err := json.Unmarshal([]byte(out), &got); err != nil || got.Seq != f.nicknameSetSeq || got.User != f.adaUser ||
		got.Device != f.ada.Tag || !strings.Contains(string(got.Body), `"Ada"`) || !got.Time.Equal(t0) {
		t.Fatalf("nickname fact %+v (%v)", got, err)
	}
}

// facts reads a long ledger a thousand facts per read transaction; the
// output must still be every selected fact, once, in order.
func TestFactsAcrossManyTransactions(t *testing.T) {
	f := newFixture(t)
	err := f.led.Update(func(tx store.Tx) error {
		for i := range 2500 {
			x := store.Fact{Time: t0, Kind: "test.even"}
			if i%2 == 1 {
				x.Kind = "test.odd"
			}
			if i%3 == 0 {
				x.User = "u-many"
			}
			if _, err := tx.Append(x); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	all := f.all()
	for _, tc := range []struct {
		args []string
		keep func(store.Fact) bool
	}{
		{nil, func(store.Fact) bool { return true }},
		{[]string{"--user", "u-many"}, func(x store.Fact) bool { return x.User == "u-many" }},
		{[]string{"--kind", "test.odd"}, func(x store.Fact) bool { return x.Kind == "test.odd" }},
		{[]string{"--user", "u-many", "--kind", "test.even"}, func(x store.Fact) bool { return x.User == "u-many" && x.Kind == "test.even" }},
	} {
		code, out, errOut := f.run(append([]string{"facts"}, tc.args...)...)
		if code != 0 || errOut != "" {
			t.Fatalf("facts %v: exit %d, %q", tc.args, code, errOut)
		}
		if got, want := seqs(t, out), where(all, tc.keep); !slices.Equal(got, want) {
			t.Errorf("facts %v: %d facts (first %v), want %d", tc.args, len(got), got[:min(3, len(got))], len(want))
		}
	}
}

func TestFactsUsageErrors(t *testing.T) {
	f := newFixture(t)
	f.seed()
	for _, tc := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"user and device", []string{"--user", f.adaUser, "--device", f.ada.Tag}, 2, "give at most one of --user, --device, --address and --ticket"},
		{"device and address", []string{"--device", f.ada.Tag, "--address", "a@example.com"}, 2, "give at most one"},
		{"bad since", []string{"--since", "yesterday"}, 2, `--since: "yesterday" is not a time`},
		{"bad until", []string{"--until", "2026-13-01"}, 2, `--until: "2026-13-01" is not a time`},
		{"unknown flag", []string{"--color"}, 2, "flag provided but not defined: -color"},
		{"positional", []string{"everything"}, 2, `takes no arguments, not "everything"`},
		{"not an address", []string{"--address", "not an address"}, 1, "attest facts: "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := f.run(append([]string{"facts"}, tc.args...)...)
			if code != tc.code || !strings.Contains(errOut, tc.want) {
				t.Fatalf("facts %q: exit %d, stderr %q; want exit %d and %q", tc.args, code, errOut, tc.code, tc.want)
			}
			if out != "" {
				t.Errorf("facts %q printed facts after an error: %q", tc.args, out)
			}
			if tc.code == 2 && !strings.Contains(errOut, "usage: attest facts") {
				t.Errorf("a usage error without the usage: %q", errOut)
			}
		})
	}
	// --address needs the service (the server secret) to hash the address.
	code, out, errOut := runWith(operator.Env{Ledger: f.led}, "facts", "--address", "a@example.com")
	if code != 1 || out != "" || !strings.Contains(errOut, "--address needs the server secret") {
		t.Errorf("--address without a service: exit %d, %q %q", code, out, errOut)
	}
	// -h is not a failure, and the help goes to stdout.
	if code, out, errOut := f.run("facts", "-h"); code != 0 || errOut != "" || !strings.Contains(out, "usage: attest facts") || !strings.Contains(out, "--kind KIND[,KIND]") {
		t.Errorf("facts -h: exit %d, %q %q", code, out, errOut)
	}
}

// plainLedger hides the Maintainer methods of a ledger.
type plainLedger struct{ store.Ledger }

func TestCommandErrors(t *testing.T) {
	f := newFixture(t)
	for _, tc := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"unknown", []string{"frobnicate"}, 2, "attest: unknown command \"frobnicate\"; run `attest help` for the list\n"},
		{"case matters", []string{"Verify"}, 2, `unknown command "Verify"`},
		{"backup takes no file here", []string{"backup", "x.db"}, 2, `attest backup: takes no arguments, not "x.db"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := f.run(tc.args...)
			if code != tc.code || !strings.Contains(errOut, tc.want) || out != "" {
				t.Fatalf("%q: exit %d, stdout %q, stderr %q; want exit %d and %q", tc.args, code, out, errOut, tc.code, tc.want)
			}
		})
	}
	// A ledger that cannot check itself says so, with exit 1.
	for _, cmd := range []string{"verify", "reindex", "backup"} {
		code, out, errOut := runWith(operator.Env{Ledger: plainLedger{f.led}, Service: f.svc}, cmd)
		if code != 1 || out != "" || !strings.Contains(errOut, "this ledger cannot be checked or rebuilt") {
			t.Errorf("%s on a plain ledger: exit %d, %q %q", cmd, code, out, errOut)
		}
	}
	// Every command is listed for the binary's help.
	var names []string
	for _, c := range operator.Commands() {
		names = append(names, c.Name)
		if c.Summary == "" {
			t.Errorf("command %s has no summary", c.Name)
		}
	}
	for _, want := range []string{"verify", "reindex", "backup", "facts"} {
		if !slices.Contains(names, want) {
			t.Errorf("Commands() lacks %s: %v", want, names)
		}
	}
}

// facts --explain prints each fact in plain words, with why it was
// written so, masked addresses and nothing secret.
func TestFactsExplain(t *testing.T) {
	f := newFixture(t)
	f.seed()
	code, out, errOut := f.run("facts", "--device", f.grace.Tag, "--explain")
	if code != 0 || errOut != "" {
		t.Fatalf("facts --explain: exit %d, stderr %q", code, errOut)
	}
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if want := len(where(f.all(), func(x store.Fact) bool { return x.Device == f.grace.Tag })); len(lines) != want {
		t.Fatalf("facts --explain printed %d lines for %d facts:\n%s", len(lines), want, out)
	}
	for _, want := range []string{
		"code.emailed  code A emailed · g•••@example.com — to sign in; 4 digits: this device's first code in 24 h (the first two are 4 digits); governor: let it go, the next can go at",
		"code.accepted  right code A · g•••@example.com",
		"device.signed_in  device signed in · SHA256:grace-phone — a right one-time code",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("facts --explain lacks %q:\n%s", want, out)
		}
	}
	_, user, _ := f.run("facts", "--user", f.graceUser, "--explain")
	if want := "address.confirmed  address confirmed · g•••@example.com — proven by a right code"; !strings.Contains(user, want) {
		t.Errorf("facts --user --explain lacks %q:\n%s", want, user)
	}
	m := codeRE.FindStringSubmatch(f.sent.last().Text)
	for _, secret := range []string{"Grace.Hopper", "grace.hopper", `"mac"`, "sealed", m[2]} {
		if strings.Contains(out, secret) {
			t.Errorf("facts --explain shows %q:\n%s", secret, out)
		}
	}
	// The same facts as JSON lines, one per line, in the same order.
	_, js, _ := f.run("facts", "--device", f.grace.Tag)
	for i, seq := range seqs(t, js) {
		var x store.Fact
		for _, y := range f.all() {
			if y.Seq == seq {
				x = y
			}
		}
		if !strings.Contains(lines[i], "  "+x.Kind+"  ") {
			t.Errorf("line %d is not fact %d (%s): %s", i, seq, x.Kind, lines[i])
		}
	}
}
