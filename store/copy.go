package store

import (
	"errors"
	"fmt"
	"reflect"
)

// copyChunk is how many facts Copy reads and appends per transaction.
const copyChunk = 1000

// ErrNotEmpty is returned by Copy when the destination holds facts.
var ErrNotEmpty = errors.New("the destination ledger is not empty")

// Copy appends every fact of src to dst, which must be empty, a thousand
// per transaction, and checks each as it goes: dst must store it exactly
// as src holds it (same sequence number, time, ids, body and Prev), so
// the copy's chain is src's and every link of src is checked on the way.
// progress, if not nil, is called after each transaction with the facts
// copied so far. Nothing else may write to dst meanwhile.
func Copy(dst, src Ledger, progress func(copied uint64)) (uint64, error) {
	var head uint64
	if err := dst.View(func(r Reader) (err error) { head, _, err = r.Head(); return err }); err != nil {
		return 0, fmt.Errorf("read the destination's head: %w", err)
	}
	if head != 0 {
		return 0, fmt.Errorf("%w: it holds %d facts", ErrNotEmpty, head)
	}
	var copied uint64
	var prevLink string
	for {
		var chunk []Fact
		err := src.View(func(r Reader) error {
			return r.All(copied+1, func(f Fact) bool {
				chunk = append(chunk, f)
				return len(chunk) < copyChunk
			})
		})
		if err != nil {
			return copied, fmt.Errorf("read facts from %d: %w", copied+1, err)
		}
		if len(chunk) == 0 {
			return copied, nil
		}
		for i := range chunk {
			f := &chunk[i]
			if f.Seq != copied+uint64(i)+1 {
				return copied, fmt.Errorf("source ledger: fact %d follows fact %d", f.Seq, copied+uint64(i))
			}
			if f.Prev != prevLink {
				return copied, fmt.Errorf("source ledger: fact %d does not carry the hash of fact %d; run attest verify", f.Seq, f.Seq-1)
			}
			enc, err := Encode(f)
			if err != nil {
				return copied, fmt.Errorf("encode fact %d: %w", f.Seq, err)
			}
			prevLink = Link(enc)
		}
		err = dst.Update(func(tx Tx) error {
			for i := range chunk {
				got, err := tx.Append(chunk[i])
				if err != nil {
					return fmt.Errorf("append fact %d: %w", chunk[i].Seq, err)
				}
				if !reflect.DeepEqual(got, chunk[i]) {
					return fmt.Errorf("fact %d is stored as %+v, not as the source holds it (%+v)", chunk[i].Seq, got, chunk[i])
				}
			}
			return nil
		})
		if err != nil {
			return copied, err
		}
		copied += uint64(len(chunk))
		if progress != nil {
			progress(copied)
		}
	}
}
