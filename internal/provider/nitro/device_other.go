//go:build !linux

package nitro

import "errors"

// OpenDevice fails: the NSM exists only inside Linux Nitro enclaves.
func OpenDevice(path string) (Device, error) {
	return nil, errors.New("nitro: the secure module is only available inside a Linux Nitro enclave")
}
