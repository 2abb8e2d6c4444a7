package engine

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/truce-project/truce/internal/abi"
	nativemod "github.com/truce-project/truce/internal/native"
	"github.com/truce-project/truce/internal/wasi"
)

// hostFunc is one function the engine binds: a WASI preview 1 function or
// a function of a native module, both in the shape of wasi.Function.
type hostFunc struct {
	module string
	fn     wasi.Function
	// native is true for the functions of native modules, which a run may
	// call only when its Config grants the module.
	native bool
}

// hostFuncs lists every function the engines bind, WASI first, then each
// native module's; a backend's binding i calls run.call(i).
var hostFuncs = func() []hostFunc {
	var out []hostFunc
	for _, f := range wasi.Functions() {
		out = append(out, hostFunc{module: abi.WASIModule, fn: f})
	}
	for _, m := range nativemod.Modules() {
		for _, nf := range m.Functions {
			call := nf.Call
			out = append(out, hostFunc{module: m.Name, native: true, fn: wasi.Function{
				Name: nf.Name, Params: nf.Params, Results: nf.Results,
				Call: func(ctx context.Context, _ *wasi.System, mem []byte, stack []uint64) error {
					return call(ctx, mem, stack)
				},
			}})
		}
	}
	return out
}()

// ErrNotGranted: the program imports a native module its run was not
// granted (Config.Native). The error names the module.
var ErrNotGranted = errors.New("native module not granted")

// Granted checks that every native module the program needs (Native) is
// in granted, returning an error wrapping ErrNotGranted that names the
// modules missing.
func (r *Report) Granted(granted []string) error {
	var missing []string
	for _, m := range r.Native {
		if !slices.Contains(granted, m) {
			missing = append(missing, m)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	return fmt.Errorf("%w: the program imports native module %s, which it was not granted: grant it in the policy (the program's \"native_modules\") or, for truce run, with --native %s",
		ErrNotGranted, strings.Join(missing, ", "), missing[0])
}

// checkNative checks that the names a Config grants are native modules.
func checkNative(names []string) error {
	if err := abi.CheckNativeNames(names); err != nil {
		return fmt.Errorf("engine: Config.Native: %w", err)
	}
	return nil
}
