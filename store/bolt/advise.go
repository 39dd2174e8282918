package bolt

import (
	"sync"

	"go.etcd.io/bbolt"
)

// advised is the part of bbolt's mapping that advise last set to
// MADV_NORMAL: where the mapping began and how many bytes. Open, the
// writer and Reindex advise, under mu.
type advised struct {
	mu   sync.Mutex
	data uintptr
	size int64
}

// advise undoes bbolt's MADV_RANDOM on the part of its mapping that holds
// the file's pages, if a remap or growth since the last call left some of
// it random. bbolt advises random access so that a page fault reads only
// the page it needs, which suits a file larger than memory; on a cold page
// cache (after a reboot, or once the machine has paged out an idle file)
// it makes every lookup that touches a page not yet read wait for one 4 KB
// read, where the kernel's readahead around a fault brings in its
// neighbours too and the index pages a warm-up touches then come in
// batches. It is a hint: it changes no data, and a failure is ignored. It
// runs in a read transaction, which holds bbolt's mmap lock, so the
// mapping cannot be replaced meanwhile, and it covers only the pages the
// transaction's meta page counts, all of which bbolt has mapped.
func (l *Ledger) advise() {
	l.advised.mu.Lock()
	defer l.advised.mu.Unlock()
	_ = l.db.View(func(tx *bbolt.Tx) error {
		data, size := l.db.Info().Data, tx.Size()
		if data == l.advised.data && size <= l.advised.size {
			return nil
		}
		if err := madviseNormal(data, size); err != nil {
			return err
		}
		l.advised.data, l.advised.size = data, size
		return nil
	})
}
