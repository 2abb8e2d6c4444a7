//go:build !unix && !windows

package client

import (
	"fmt"
	"os"
	"path/filepath"
)

// lockKnown, where neither flock nor LockFileEx is available, only makes the record's
// directory: processes sharing a record do not take turns (see
// LIMITATIONS.md), only the goroutines of one KnownEnclaves.
func lockKnown(path string) (func(), error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("locking the known-enclaves record: %w", err)
	}
	return func() {}, nil
}
