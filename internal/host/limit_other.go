//go:build !linux

package host

import "errors"

func limitData(pid int, bytes uint64) error {
	return errors.New("per-enclave memory limits are implemented on Linux only")
}
