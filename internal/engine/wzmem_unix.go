//go:build unix

package engine

import "syscall"

// reserve maps n bytes of address space, readable and writable, that the
// kernel backs with memory only as they are touched (and zero until
// then), or returns nil if it cannot.
func reserve(n uint64) *region {
	if n == 0 || n > MaxMemoryBytes {
		return nil
	}
	b, err := syscall.Mmap(-1, 0, int(n), syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_PRIVATE|syscall.MAP_ANON|mapNoReserve)
	if err != nil {
		return nil
	}
	return &region{b: b}
}

// release unmaps what reserve mapped.
func release(b []byte) { _ = syscall.Munmap(b) }
