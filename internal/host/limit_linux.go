package host

import "golang.org/x/sys/unix"

// limitData sets the RLIMIT_DATA of process pid (its private writable
// memory: heap, anonymous mappings, WebAssembly linear memories).
func limitData(pid int, bytes uint64) error {
	return unix.Prlimit(pid, unix.RLIMIT_DATA, &unix.Rlimit{Cur: bytes, Max: bytes}, nil)
}
