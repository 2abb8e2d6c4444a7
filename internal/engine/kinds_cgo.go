//go:build cgo

package engine

var (
	defaultKind    = Wasmtime
	availableKinds = []Kind{Wasmtime, Wazero, WazeroInterp}
)
