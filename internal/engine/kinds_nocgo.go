//go:build !cgo

package engine

var (
	defaultKind    = Wazero
	availableKinds = []Kind{Wazero, WazeroInterp}
)

func newWasmtime(int, string) (Engine, error) {
	return nil, ErrUnknownKind
}
