package bolt

import "golang.org/x/sys/unix"

// madviseNormal sets MADV_NORMAL on size bytes of memory at data. It takes
// the address as a uintptr, as bbolt's Info gives it: a slice over it would
// need an unsafe conversion that vet rightly distrusts.
func madviseNormal(data uintptr, size int64) error {
	if _, _, errno := unix.Syscall(unix.SYS_MADVISE, data, uintptr(size), unix.MADV_NORMAL); errno != 0 {
		return errno
	}
	return nil
}
