package bolt

import (
	"fmt"
	"hash/maphash"
	"math/bits"
	"runtime"
	"sync"
	"unsafe"

	bbolt "go.etcd.io/bbolt"

	"github.com/attest-dev/attest/store"
)

// loaded indexes the facts of level 0 that Open read back from their
// records, as it does after a crash: up to 2×Tail facts, and what Open
// costs then is what building this index costs.
//
// It never changes once built, so it is built from arrays, in passes that
// read and write memory in order: every id copied into one string, a
// partition's together, and for each partition of each index a hash table
// of its ids, each id's facts a run of one array. The writer's later facts
// go into the tail's maps. Inserting the loaded facts into those maps, as
// Open did before, cost about 1.1 µs of CPU a fact, mostly cache misses
// (each id a string of its own, each insert into a map the size of level
// 0) and the collector's work on a pointer per id.
type loaded struct {
	last  uint64 // the newest fact it holds
	seed  maphash.Seed
	ids   string   // every id, a partition's together
	seqs  []uint64 // each id's facts, ascending, one id after another
	parts [len(indexBuckets)][ranges]loadedPart
}

// loadedPart is a hash table of one partition's ids, with linear probing.
type loadedPart struct {
	slots  []uint32 // 0, or 1 + the id's place in groups; a power of two long, over twice the ids
	groups []group
}

// group is one id: its bytes in ids and its facts in seqs.
type group struct {
	off, len, first, n uint32
}

// lookup returns id's facts in ix, ascending; the caller must not change
// them.
func (ld *loaded) lookup(ix store.Index, id string) []uint64 {
	p := &ld.parts[ix][rangeOf(id)]
	if len(p.slots) == 0 {
		return nil
	}
	mask := uint64(len(p.slots) - 1)
	for i := maphash.String(ld.seed, id) & mask; ; i = (i + 1) & mask {
		s := p.slots[i]
		if s == 0 {
			return nil
		}
		if g := &p.groups[s-1]; ld.ids[g.off:g.off+g.len] == id {
			return ld.seqs[g.first : g.first+g.n : g.first+g.n]
		}
	}
}

// loadTail reads level 0 of a snapshot, the facts in (indexed, top], into a
// new tail. A record that does not decode, or a gap, is read from the fact
// instead, so that a damaged level 0 never keeps a ledger from opening
// (verify reports it, reindex rewrites it).
//
// The partitions' hash tables are built side by side, on every core. The
// walks over the records are not: a second read transaction begun while
// r's is open would wait, behind a writer waiting for r's to end (bbolt
// remaps the file with no reader in it), for good.
func loadTail(r *reader, indexed mark, top uint64) (*tail, error) {
	t := newTail(indexed.seq)
	if top <= indexed.seq {
		return t, nil
	}
	n := int(top - indexed.seq)
	t.facts = make([]tailFact, n)
	ld := &loaded{last: top, seed: maphash.MakeSeed()}

	// Two walks over the records, so that every array is allocated once,
	// at its size: the first counts each partition's ids and their bytes,
	// the second copies them. A fact whose record is missing or damaged
	// is read from the facts bucket by the first and its ids kept in the
	// tail, where the second finds them.
	recent := r.tx.Bucket(recentBucket)
	var count, size [len(indexBuckets)][ranges]int
	err := eachRecord(recent, indexed.seq, top, func(i int, rec []byte) error {
		tf := &t.facts[i]
		var ids [len(indexBuckets)][]byte
		var err error
		if tf.time, ids, err = splitRecent(rec); err != nil {
			seq := indexed.seq + 1 + uint64(i)
			f, ferr := r.Fact(seq)
			if ferr != nil {
				return fmt.Errorf("load recent index at fact %d: %w", seq, ferr)
			}
			*tf = tailFactOf(&f)
			for _, ix := range store.Indexes {
				ids[ix] = bytesOf(tf.ids[ix])
			}
		}
		for _, ix := range store.Indexes {
			pr := rangeOf(stringOf(ids[ix]))
			tf.ranges[ix] = pr
			if len(ids[ix]) > 0 {
				count[ix][pr]++
				size[ix][pr] += len(ids[ix])
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}

	// Each partition's ids go to its part of one string, and its entries
	// to its part of one array, both in fact order: at and next are where
	// its next ones go.
	type ent struct {
		fact     int32
		off, len uint32
		group    uint32
	}
	var at, next, from, to [len(indexBuckets)][ranges]int // from, to: each partition's entries
	bytes, ents, slots := 0, 0, 0
	for _, ix := range store.Indexes {
		for pr := range ranges {
			at[ix][pr], next[ix][pr], from[ix][pr] = bytes, ents, ents
			bytes += size[ix][pr]
			ents += count[ix][pr]
			to[ix][pr] = ents
			if c := ents - from[ix][pr]; c > 0 {
				slots += tableSize(c)
			}
		}
	}
	arena := make([]byte, bytes)
	entries := make([]ent, ents)
	err = eachRecord(recent, indexed.seq, top, func(i int, rec []byte) error {
		tf := &t.facts[i]
		_, ids, err := splitRecent(rec)
		if err != nil {
			for _, ix := range store.Indexes {
				ids[ix] = bytesOf(tf.ids[ix])
			}
		}
		for _, ix := range store.Indexes {
			id := ids[ix]
			if len(id) == 0 {
				continue
			}
			pr := tf.ranges[ix]
			off := at[ix][pr]
			at[ix][pr] += copy(arena[off:], id)
			// The bytes of this string are in place and nothing writes
			// to them again.
			tf.ids[ix] = stringOf(arena[off:at[ix][pr]])
			entries[next[ix][pr]] = ent{fact: int32(i), off: uint32(off), len: uint32(len(id))}
			next[ix][pr]++
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	ld.ids = stringOf(arena)

	// Each partition's hash table, then each of its ids' run of facts. A
	// partition's groups and facts take the places of its entries in
	// groups and ld.seqs, so partitions are built independently.
	slotArray := make([]uint32, slots)
	groups := make([]group, ents)
	ld.seqs = make([]uint64, ents)
	type part struct {
		ix    store.Index
		r     int
		slots []uint32
	}
	parts := make(chan part, len(store.Indexes)*ranges)
	for _, ix := range store.Indexes {
		for pr := range ranges {
			if c := to[ix][pr] - from[ix][pr]; c > 0 {
				w := tableSize(c)
				parts <- part{ix, pr, slotArray[:w:w]}
				slotArray = slotArray[w:]
			}
		}
	}
	close(parts)
	var wg sync.WaitGroup
	for range runtime.GOMAXPROCS(0) {
		wg.Go(func() {
			for pt := range parts {
				es := entries[from[pt.ix][pt.r]:to[pt.ix][pt.r]]
				p := &ld.parts[pt.ix][pt.r]
				p.slots = pt.slots
				p.groups = groups[from[pt.ix][pt.r]:from[pt.ix][pt.r]:to[pt.ix][pt.r]]
				mask := uint64(len(p.slots) - 1)
				for j := range es {
					e := &es[j]
					id := ld.ids[e.off : e.off+e.len]
					i := maphash.String(ld.seed, id) & mask
					for ; p.slots[i] != 0; i = (i + 1) & mask {
						if g := &p.groups[p.slots[i]-1]; ld.ids[g.off:g.off+g.len] == id {
							break
						}
					}
					if p.slots[i] == 0 {
						p.groups = append(p.groups, group{off: e.off, len: e.len})
						p.slots[i] = uint32(len(p.groups))
					}
					e.group = p.slots[i] - 1
					p.groups[e.group].n++
				}
				first := uint32(from[pt.ix][pt.r])
				for j := range p.groups {
					g := &p.groups[j]
					g.first, first = first, first+g.n
					g.n = 0
				}
				for _, e := range es {
					g := &p.groups[e.group]
					ld.seqs[g.first+g.n] = indexed.seq + 1 + uint64(e.fact)
					g.n++
				}
			}
		})
	}
	wg.Wait()
	t.loaded = ld
	return t, nil
}

// tableSize is the number of slots of a hash table for up to n ids: a
// power of two, so that a hash is masked rather than divided, and over
// twice n, so that probes stay short.
func tableSize(n int) int { return 1 << bits.Len(uint(2*n)) }

// eachRecord calls fn with the level 0 record of each fact in (after, top]
// in order, its place i counting from 0, and a nil record for a fact that
// has none.
func eachRecord(b *bbolt.Bucket, after, top uint64, fn func(i int, rec []byte) error) error {
	var c *bbolt.Cursor
	var k, v []byte
	if b != nil {
		c = b.Cursor()
		k, v = c.Seek(seqKey(after + 1))
	}
	for seq := after + 1; seq <= top; seq++ {
		for k != nil && seqOf(k) < seq {
			k, v = c.Next()
		}
		var rec []byte
		if k != nil && seqOf(k) == seq {
			rec = v
		}
		if err := fn(int(seq-after-1), rec); err != nil {
			return err
		}
	}
	return nil
}

// stringOf returns b's bytes as a string without copying them; b must not
// change while the string is in use.
func stringOf(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }
