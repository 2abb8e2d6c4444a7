//go:build unix

package client

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// lockKnown takes an exclusive lock on the file path.lock (made, with
// its directory, if missing) and returns what releases it. It waits for
// another process holding it. The lock file is left in place: removing it
// would let two processes lock two different files.
func lockKnown(path string) (func(), error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("locking the known-enclaves record: %w", err)
	}
	f, err := os.OpenFile(path+".lock", os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("locking the known-enclaves record: %w", err)
	}
	for {
		err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX)
		if err != syscall.EINTR {
			break
		}
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("locking the known-enclaves record with %s: %w (a file system without flock, such as some network ones, cannot share the record: set %s to a local file)", f.Name(), err, KnownEnclavesEnv)
	}
	return func() {
		syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}, nil
}
