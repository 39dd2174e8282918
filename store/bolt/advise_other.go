//go:build !linux

package bolt

// madviseNormal does nothing off Linux: the cold-cache measurements that
// motivated it were made on Linux only.
func madviseNormal(uintptr, int64) error { return nil }
