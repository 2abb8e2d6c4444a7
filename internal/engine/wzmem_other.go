//go:build !unix

package engine

// reserve reserves nothing where there is no mmap: memories grow by
// copying.
func reserve(uint64) *region { return nil }

func release([]byte) {}
