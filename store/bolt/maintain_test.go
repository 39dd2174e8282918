package bolt

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/attest-dev/attest/store"
)

// randomWorkload appends about n facts from four goroutines, in updates
// of one to eight facts over a few hundred ids, with one update in ten
// failing after its appends. The content is a function of seed.
func randomWorkload(tb testing.TB, l *Ledger, seed uint64, n int) {
	tb.Helper()
	kinds := []string{"code.sent", "code.entered", "address.confirmed", "device.seen", "session.started"}
	var wg sync.WaitGroup
	for g := range uint64(4) {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(seed, g))
			id := func(prefix string, n int) string {
				if rng.IntN(3) == 0 {
					return ""
				}
				return fmt.Sprintf("%s%x", prefix, rng.IntN(n)*0x9e3779b1)
			}
			for appended := 0; appended < n/4; {
				batch := 1 + rng.IntN(8)
				fail := rng.IntN(10) == 0
				var fs []store.Fact
				for range batch {
					fs = append(fs, store.Fact{
						Time:    t0.Add(time.Duration(rng.IntN(1000)) * time.Second),
						Kind:    kinds[rng.IntN(len(kinds))],
						User:    id("u", 300),
						Device:  id("d", 500),
						Address: id("a", 200),
						Ticket:  id("t", 1000),
						Body:    json.RawMessage(fmt.Sprintf(`{"n":"%016x"}`, rng.Uint64())),
					})
				}
				err := l.Update(func(tx store.Tx) error {
					for _, f := range fs {
						if _, err := tx.Append(f); err != nil {
							return err
						}
					}
					if fail {
						return errors.New("fail")
					}
					return nil
				})
				if fail != (err != nil) {
					tb.Errorf("update (fail %t): %v", fail, err)
					return
				}
				if !fail {
					appended += batch
				}
			}
		})
	}
	wg.Wait()
}

// workload is a ledger file with a random workload, built once and
// copied by each test that tampers with it.
var workload = struct {
	sync.Once
	data []byte
	head uint64
	err  error
}{}

func workloadCopy(t *testing.T) (path string) {
	t.Helper()
	workload.Do(func() {
		dir, err := os.MkdirTemp("", "attest-bolt-workload")
		if err != nil {
			workload.err = err
			return
		}
		defer os.RemoveAll(dir)
		// With 3000 facts, about the first 2500 are in the index buckets
		// and the rest in level 0.
		l, err := Open(filepath.Join(dir, "attest.db"), Options{Tail: 1000})
		if err != nil {
			workload.err = err
			return
		}
		defer l.Close()
		randomWorkload(t, l, 1, 3000)
		var buf bytes.Buffer
		if _, err := l.Backup(&buf); err != nil {
			workload.err = err
			return
		}
		workload.data = buf.Bytes()
		workload.head = l.head.seq
	})
	if workload.err != nil {
		t.Fatal(workload.err)
	}
	path = filepath.Join(t.TempDir(), "attest.db")
	if err := os.WriteFile(path, workload.data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestVerifyRandomWorkload(t *testing.T) {
	l := newLedger(t)
	randomWorkload(t, l, 42, 4000)
	if err := l.Verify(); err != nil {
		t.Fatal(err)
	}
	if seq, _ := view2(t, l); seq < 4000 {
		t.Errorf("head %d after appending 4000 facts", seq)
	}
	checkBolt(t, l)
}

// checkBolt runs bbolt's own structural check.
func checkBolt(tb testing.TB, l *Ledger) {
	tb.Helper()
	l.db.View(func(tx *bbolt.Tx) error {
		for err := range tx.Check() {
			tb.Errorf("bbolt check: %v", err)
		}
		return nil
	})
}

// tamper edits the ledger file at path behind the ledger's back.
func tamper(t *testing.T, path string, fn func(tx *bbolt.Tx) error) {
	t.Helper()
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Update(fn); err != nil {
		t.Fatal(err)
	}
}

// factWith finds, past the middle of the ledger, a fact carrying an id
// for ix.
func factWith(t *testing.T, path string, ix store.Index) store.Fact {
	t.Helper()
	l, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.close(false) // tests tamper with level 0 after this
	var found store.Fact
	l.View(func(r store.Reader) error {
		// Every partition's mark is past the first quarter (Tail 1000, so
		// they lag the head of 3000 by less than 2000).
		return r.All(workload.head/4, func(f store.Fact) bool {
			found = f
			return f.ID(ix) == ""
		})
	})
	if found.ID(ix) == "" {
		t.Fatalf("no fact with a %s id", ix)
	}
	return found
}

func TestVerifyFindsTampering(t *testing.T) {
	var markSeq uint64
	for _, tc := range []struct {
		name  string
		ix    store.Index // the fact to tamper with carries this id
		edit  func(t *testing.T, tx *bbolt.Tx, f store.Fact)
		seq   func(f store.Fact) uint64
		index string
	}{
		{
			name: "byte flipped in a body",
			ix:   store.ByUser,
			edit: func(t *testing.T, tx *bbolt.Tx, f store.Fact) {
				editFact(t, tx, f.Seq, func(raw []byte) {
					i := bytes.Index(raw, []byte(`{"n":"`)) + len(`{"n":"`)
					raw[i] = 'z'
				})
			},
		},
		{
			name: "kind changed",
			ix:   store.ByUser,
			edit: func(t *testing.T, tx *bbolt.Tx, f store.Fact) {
				editFact(t, tx, f.Seq, func(raw []byte) {
					i := bytes.Index(raw, []byte(`"kind":"`)) + len(`"kind":"`)
					raw[i] = 'X'
				})
			},
		},
		{
			name: "prev changed",
			ix:   store.ByUser,
			edit: func(t *testing.T, tx *bbolt.Tx, f store.Fact) {
				editFact(t, tx, f.Seq, func(raw []byte) {
					i := bytes.Index(raw, []byte(`"prev":"`)) + len(`"prev":"`)
					raw[i] ^= 1
				})
			},
		},
		{
			name: "byte flipped in the last fact",
			edit: func(t *testing.T, tx *bbolt.Tx, _ store.Fact) {
				editFact(t, tx, workload.head, func(raw []byte) {
					i := bytes.Index(raw, []byte(`{"n":"`)) + len(`{"n":"`)
					raw[i] = 'z'
				})
			},
			seq: func(store.Fact) uint64 { return workload.head },
		},
		{
			name: "fact deleted",
			ix:   store.ByKind,
			edit: func(t *testing.T, tx *bbolt.Tx, f store.Fact) {
				if err := tx.Bucket(factsBucket).Delete(seqKey(f.Seq)); err != nil {
					t.Fatal(err)
				}
			},
		},
		{
			name: "fact made undecodable",
			ix:   store.ByKind,
			edit: func(t *testing.T, tx *bbolt.Tx, f store.Fact) {
				editFact(t, tx, f.Seq, func(raw []byte) { raw[0] = '[' })
			},
		},
		{
			name: "head record altered",
			edit: func(t *testing.T, tx *bbolt.Tx, _ store.Fact) {
				meta := tx.Bucket(metaBucket)
				h := slices.Clone(meta.Get(headKey))
				h[len(h)-1] ^= 1
				meta.Put(headKey, h)
			},
			seq: func(store.Fact) uint64 { return workload.head },
		},
		{
			name: "user index entry deleted",
			ix:   store.ByUser,
			edit: func(t *testing.T, tx *bbolt.Tx, f store.Fact) {
				tx.Bucket([]byte("user")).Delete(indexKey(nil, f.User, f.Seq))
			},
			index: "user",
		},
		{
			name: "ticket index entry's time changed",
			ix:   store.ByTicket,
			edit: func(t *testing.T, tx *bbolt.Tx, f store.Fact) {
				tx.Bucket([]byte("ticket")).Put(indexKey(nil, f.Ticket, f.Seq), indexValue(f.Time.UnixNano()+1, f.Kind))
			},
			index: "ticket",
		},
		{
			name: "bogus address index entry",
			ix:   store.ByKind,
			edit: func(t *testing.T, tx *bbolt.Tx, f store.Fact) {
				tx.Bucket([]byte("address")).Put(indexKey(nil, "a-bogus", f.Seq), indexValue(f.Time.UnixNano(), f.Kind))
				// A later bogus entry elsewhere must not hide the first.
				tx.Bucket([]byte("device")).Put(indexKey(nil, "d-bogus", f.Seq+5), indexValue(f.Time.UnixNano(), f.Kind))
			},
			index: "address",
		},
		{
			name: "level 0 record deleted",
			edit: func(t *testing.T, tx *bbolt.Tx, _ store.Fact) {
				tx.Bucket(recentBucket).Delete(seqKey(workload.head - 1))
			},
			seq:   func(store.Fact) uint64 { return workload.head - 1 },
			index: "recent",
		},
		{
			name: "level 0 record's user changed",
			edit: func(t *testing.T, tx *bbolt.Tx, _ store.Fact) {
				b := tx.Bucket(recentBucket)
				tf, err := decodeRecent(b.Get(seqKey(workload.head)))
				if err != nil {
					t.Fatal(err)
				}
				tf.ids[store.ByUser] += "x"
				b.Put(seqKey(workload.head), encodeRecent(&tf))
			},
			seq:   func(store.Fact) uint64 { return workload.head },
			index: "recent",
		},
		{
			name: "level 0 record for a fact every partition holds",
			edit: func(t *testing.T, tx *bbolt.Tx, _ store.Fact) {
				f, err := decodeFact(tx.Bucket(factsBucket).Get(seqKey(1)))
				if err != nil {
					t.Fatal(err)
				}
				tf := tailFactOf(&f)
				tx.Bucket(recentBucket).Put(seqKey(1), encodeRecent(&tf))
			},
			seq:   func(store.Fact) uint64 { return 1 },
			index: "recent",
		},
		{
			name: "index entry under the wrong partition",
			ix:   store.ByAddress,
			edit: func(t *testing.T, tx *bbolt.Tx, f store.Fact) {
				b := tx.Bucket([]byte("address"))
				k := indexKey(nil, f.Address, f.Seq)
				v := slices.Clone(b.Get(k))
				b.Delete(k)
				k[0] = (k[0] + 1) % ranges
				b.Put(k, v)
			},
			index: "address",
		},
		{
			name: "indexed mark's time altered",
			edit: func(t *testing.T, tx *bbolt.Tx, _ store.Fact) {
				meta := tx.Bucket(metaBucket)
				ms, err := decodeMarks(meta.Get(indexedKey))
				if err != nil {
					t.Fatal(err)
				}
				ms[store.ByDevice][3].time++
				meta.Put(indexedKey, ms.encode())
				markSeq = ms[store.ByDevice][3].seq
			},
			seq: func(store.Fact) uint64 { return markSeq },
		},
		{
			name: "entry for a fact that does not exist",
			edit: func(t *testing.T, tx *bbolt.Tx, f store.Fact) {
				tx.Bucket([]byte("kind")).Put(indexKey(nil, "code.sent", workload.head+7), indexValue(0, "code.sent"))
			},
			seq:   func(store.Fact) uint64 { return workload.head + 7 },
			index: "kind",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := workloadCopy(t)
			var f store.Fact
			if tc.ix != 0 {
				f = factWith(t, path, tc.ix)
			}
			tamper(t, path, func(tx *bbolt.Tx) error { tc.edit(t, tx, f); return nil })
			l, err := Open(path, Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			err = l.Verify()
			var d *store.Discrepancy
			if !errors.As(err, &d) {
				t.Fatalf("Verify returned %v, want a discrepancy", err)
			}
			want := f.Seq
			if tc.seq != nil {
				want = tc.seq(f)
			}
			if d.Seq != want || d.Index != tc.index {
				t.Errorf("Verify: %v\nwant seq %d, index %q", d, want, tc.index)
			}
			t.Log(d)
		})
	}
}

// An indexed mark beyond the head would have the writer merge facts that
// do not exist: Open refuses it, as it refuses a head that lags the facts.
func TestOpenRefusesMarkBeyondHead(t *testing.T) {
	path := workloadCopy(t)
	tamper(t, path, func(tx *bbolt.Tx) error {
		meta := tx.Bucket(metaBucket)
		ms, err := decodeMarks(meta.Get(indexedKey))
		if err != nil {
			return err
		}
		ms[store.ByTicket][0].seq = workload.head + 1
		return meta.Put(indexedKey, ms.encode())
	})
	l, err := Open(path, Options{})
	if err == nil {
		l.Close()
		t.Fatal("opened a ledger whose indexed mark is beyond its head")
	}
	if !strings.Contains(err.Error(), "an indexed mark says fact") {
		t.Errorf("Open: %v", err)
	}
}

// editFact rewrites fact seq's stored bytes in place.
func editFact(t *testing.T, tx *bbolt.Tx, seq uint64, edit func(raw []byte)) {
	t.Helper()
	facts := tx.Bucket(factsBucket)
	raw := slices.Clone(facts.Get(seqKey(seq)))
	edit(raw)
	if err := facts.Put(seqKey(seq), raw); err != nil {
		t.Fatal(err)
	}
}

// indexContents returns every index bucket's keys and values, and level
// 0's under "recent".
func indexContents(t *testing.T, l *Ledger) map[string][][2][]byte {
	t.Helper()
	out := map[string][][2][]byte{}
	l.db.View(func(tx *bbolt.Tx) error {
		for _, name := range append(slices.Clone(indexBuckets[1:]), recentBucket) {
			tx.Bucket(name).ForEach(func(k, v []byte) error {
				out[string(name)] = append(out[string(name)], [2][]byte{slices.Clone(k), slices.Clone(v)})
				return nil
			})
		}
		return nil
	})
	return out
}

func sameContents(t *testing.T, got, want map[string][][2][]byte) {
	t.Helper()
	for _, ix := range append(slices.Clone(indexBuckets[1:]), recentBucket) {
		g, w := got[string(ix)], want[string(ix)]
		if len(g) != len(w) {
			t.Errorf("%s index: %d entries, want %d", ix, len(g), len(w))
			continue
		}
		for i := range g {
			if !bytes.Equal(g[i][0], w[i][0]) || !bytes.Equal(g[i][1], w[i][1]) {
				t.Errorf("%s index entry %d: %x=%x, want %x=%x", ix, i, g[i][0], g[i][1], w[i][0], w[i][1])
				break
			}
		}
	}
}

func TestReindex(t *testing.T) {
	path := workloadCopy(t)
	l, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	incremental := indexContents(t, l)
	// Both levels hold some facts.
	inKind, inRecent := len(incremental["kind"]), len(incremental["recent"])
	if inKind == 0 || inRecent == 0 || inKind > int(workload.head) {
		t.Fatalf("kind index has %d entries and level 0 %d for %d facts", inKind, inRecent, workload.head)
	}
	if err := l.Reindex(); err != nil {
		t.Fatal(err)
	}
	sameContents(t, indexContents(t, l), incremental)
	if err := l.Verify(); err != nil {
		t.Fatal(err)
	}
	checkBolt(t, l)
	l.close(false) // leaves level 0, which the tampering below reaches into

	f := factWith(t, path, store.ByAddress)
	tamper(t, path, func(tx *bbolt.Tx) error {
		tx.Bucket([]byte("address")).Delete(indexKey(nil, f.Address, f.Seq))
		tx.Bucket([]byte("user")).Put(indexKey(nil, "u-bogus", 3), indexValue(0, "x"))
		tx.Bucket(recentBucket).Delete(seqKey(workload.head))
		return tx.Bucket([]byte("kind")).Put(indexKey(nil, f.Kind, f.Seq), indexValue(0, "x"))
	})
	l, err = Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if err := l.Verify(); err == nil {
		t.Fatal("Verify passed a tampered ledger")
	}
	if err := l.Reindex(); err != nil {
		t.Fatal(err)
	}
	if err := l.Verify(); err != nil {
		t.Fatal(err)
	}
	sameContents(t, indexContents(t, l), incremental)

	// The ledger goes on growing after a rebuild.
	appendFacts(t, l, store.Fact{Time: t0, Kind: "after.reindex", User: "u1"})
	if err := l.Verify(); err != nil {
		t.Fatal(err)
	}
}

func TestBackupWhileAppending(t *testing.T) {
	l := newLedger(t)
	randomWorkload(t, l, 7, 500)
	// waitCommits waits until the appenders have committed n more times.
	waitCommits := func(n uint64) {
		for target := l.Stats().Commits + n; l.Stats().Commits < target; {
			runtime.Gosched()
		}
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				appendFacts(t, l, store.Fact{Time: t0, Kind: "during.backup", User: fmt.Sprintf("g%d", g), Ticket: fmt.Sprint(i)})
			}
		})
	}
	waitCommits(20) // the copy runs under load
	path := filepath.Join(t.TempDir(), "backup", "attest.db")
	os.MkdirAll(filepath.Dir(path), 0o700)
	out, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	n, err := l.Backup(out)
	if err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
	// The copy holds at most the head seen now; wait until the ledger has
	// gone past it, so the copy must be a proper prefix. (Counting commits
	// is not enough: one can land between the copy and the count.)
	after, _ := view2(t, l)
	for {
		if head, _ := view2(t, l); head > after {
			break
		}
		runtime.Gosched()
	}
	close(stop)
	wg.Wait()
	if st, _ := os.Stat(path); st.Size() != n {
		t.Errorf("backup wrote %d bytes, file has %d", n, st.Size())
	}

	copyLedger, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer copyLedger.Close()
	if err := copyLedger.Verify(); err != nil {
		t.Fatal(err)
	}
	checkBolt(t, copyLedger)
	copied, _ := view2(t, copyLedger)
	total, _ := view2(t, l)
	if copied < 500 || copied >= total {
		t.Errorf("backup holds %d facts of %d; want a proper prefix taken under load", copied, total)
	}
	// A prefix: the same bytes under the same sequence numbers.
	copyLedger.db.View(func(ctx *bbolt.Tx) error {
		return l.db.View(func(tx *bbolt.Tx) error {
			c := ctx.Bucket(factsBucket).Cursor()
			for k, v := c.First(); k != nil; k, v = c.Next() {
				if !bytes.Equal(v, tx.Bucket(factsBucket).Get(k)) {
					t.Errorf("fact %d differs in the backup", binary.BigEndian.Uint64(k))
				}
			}
			return nil
		})
	})
}
