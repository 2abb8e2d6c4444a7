// Package hsm gives the attestation service a CA key held in a PKCS#11
// module (a hardware security module, or SoftHSM in tests), so the key
// never sits in a file: pas.Config.CAKey and pas.InitWithKey take it.
//
// It must never export or copy the private key: keys it generates are
// marked sensitive and not extractable, and it only asks the module to
// sign. It needs cgo (the module is a C library); without cgo Open says so.
package hsm

import "errors"

// Config names a key in a PKCS#11 token.
type Config struct {
	// Module is the PKCS#11 library, such as /usr/lib/softhsm/libsofthsm2.so.
	Module string
	// Token is the token's label.
	Token string
	// PIN is the user PIN of the token.
	PIN string
	// Key is the label of the key pair.
	Key string
}

// ErrNoKey is returned by Open when the token has no key pair labelled
// Config.Key.
var ErrNoKey = errors.New("no such key in the PKCS#11 token")
