// Package abi holds what the engines, the host modules they bind (WASI
// preview 1 and the native modules) and the policy share about a guest's
// imports: value types and module names. It is a leaf, as wazero's api
// package is: it imports nothing of Truce's, and it must never hold
// behaviour, so that the policy can check the modules it grants without
// linking the sandbox.
package abi

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// ValueType is the WebAssembly type of a host function's parameter or
// result.
type ValueType byte

// The value types host functions use.
const (
	I32 ValueType = iota
	I64
)

// String returns "i32" or "i64".
func (t ValueType) String() string {
	if t == I64 {
		return "i64"
	}
	return "i32"
}

// WASIModule is the import module of WASI preview 1.
const WASIModule = "wasi_snapshot_preview1"

// CryptoModule is the native module of cryptographic primitives.
const CryptoModule = "truce_crypto"

// NativeModules are the names of every native module the runtime has,
// sorted: the names a policy's native_modules may grant.
var NativeModules = []string{CryptoModule}

// ErrUnknownModule is wrapped by the error of CheckNativeNames for a name
// that is not a native module.
var ErrUnknownModule = errors.New("unknown native module")

// CheckNativeNames checks that every name is a native module, given once.
func CheckNativeNames(names []string) error {
	seen := map[string]bool{}
	for _, n := range names {
		if !slices.Contains(NativeModules, n) {
			return fmt.Errorf("%w %q: the runtime has %s", ErrUnknownModule, n, strings.Join(NativeModules, ", "))
		}
		if seen[n] {
			return fmt.Errorf("native module %q is named twice", n)
		}
		seen[n] = true
	}
	return nil
}
