//go:build !cgo

package hsm

import (
	"crypto"
	"errors"
)

// Key is a signing key in a PKCS#11 token (unavailable without cgo).
type Key struct{ crypto.Signer }

// Close does nothing.
func (k *Key) Close() error { return nil }

var errNoCgo = errors.New("PKCS#11 keys need a truce built with cgo (the module is a C library)")

// Open fails: this build has no cgo.
func Open(Config) (*Key, error) { return nil, errNoCgo }

// Generate fails: this build has no cgo.
func Generate(Config) (*Key, error) { return nil, errNoCgo }
