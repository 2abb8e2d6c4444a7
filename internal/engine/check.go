package engine

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/tetratelabs/wazero"

	"github.com/truce-project/truce/internal/abi"
	nativemod "github.com/truce-project/truce/internal/native"
)

// Import is one import of a module, and whether the runtime provides it.
type Import struct {
	// Module and Name are the import's two-level name.
	Module string `json:"module"`
	Name   string `json:"name"`
	// Kind is "func", "table", "memory", "global" or "tag".
	Kind string `json:"kind"`
	// Signature is a function's type, such as "(i32, i32) -> (i32)".
	Signature string `json:"signature,omitempty"`
	// Supported is true when the runtime provides the import.
	Supported bool `json:"supported"`
	// Reason says why an import is not supported, and what to do.
	Reason string `json:"reason,omitempty"`
}

// Report is what Check finds in a module.
type Report struct {
	// Imports lists every import in module order.
	Imports []Import `json:"imports"`
	// Unsupported lists the imports the runtime does not provide.
	Unsupported []Import `json:"unsupported"`
	// ExportsStart is true when the module exports a function _start,
	// the entry point of a WASI command.
	ExportsStart bool `json:"exports_start"`
	// ExportsMemory is true when the module exports a memory named
	// "memory", through which WASI calls pass their data.
	ExportsMemory bool `json:"exports_memory"`
	// MemoryMinBytes is the initial size of the module's memory.
	MemoryMinBytes int64 `json:"memory_min_bytes"`
	// Native lists, sorted, the native modules (package native) the
	// module imports: a run must grant each (Config.Native).
	Native []string `json:"native"`
}

// Runnable reports whether the runtime can run the module: it imports
// only what the runtime provides and exports _start.
func (r *Report) Runnable() bool { return len(r.Unsupported) == 0 && r.ExportsStart }

// Problem describes why the module cannot run, or returns "".
func (r *Report) Problem() string {
	var ps []string
	for _, im := range r.Unsupported {
		ps = append(ps, fmt.Sprintf("import %s.%s: %s", im.Module, im.Name, im.Reason))
	}
	if !r.ExportsStart {
		ps = append(ps, "no exported function _start: build the program as a WASI command (a main function), not as a library")
	}
	return strings.Join(ps, "; ")
}

var (
	wasiSigOnce sync.Once
	wasiSigs    map[string]map[string]funcType
)

// wasiSignatures maps each import module the engine provides (WASI
// preview 1 and the native modules) to the types of its functions.
func wasiSignatures() map[string]map[string]funcType {
	wasiSigOnce.Do(func() {
		wasiSigs = map[string]map[string]funcType{}
		for _, hf := range hostFuncs {
			var ft funcType
			for _, v := range hf.fn.Params {
				ft.params = append(ft.params, wasmType(v))
			}
			for _, v := range hf.fn.Results {
				ft.results = append(ft.results, wasmType(v))
			}
			if wasiSigs[hf.module] == nil {
				wasiSigs[hf.module] = map[string]funcType{}
			}
			wasiSigs[hf.module][hf.fn.Name] = ft
		}
	})
	return wasiSigs
}

func wasmType(v abi.ValueType) byte {
	if v == abi.I64 {
		return 0x7e
	}
	return 0x7f
}

func sameType(a, b funcType) bool {
	return string(a.params) == string(b.params) && string(a.results) == string(b.results)
}

// inspect reads a module's imports and exports without validating it.
func inspect(wasm []byte) (*Report, error) {
	info, err := parseModule(wasm)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidModule, err)
	}
	sigs := wasiSignatures()
	r := &Report{Imports: []Import{}, Unsupported: []Import{}, Native: []string{}}
	for _, ri := range info.imports {
		im := Import{Module: ri.module, Name: ri.name, Kind: kindName(ri.kind)}
		if ri.fn != nil {
			im.Signature = ri.fn.String()
		}
		modSigs, known := sigs[ri.module]
		isNative := known && ri.module != abi.WASIModule
		what := "a WASI preview 1 function"
		if isNative {
			what = "a function of native module " + ri.module
		}
		switch {
		case !known:
			im.Reason = fmt.Sprintf("the runtime provides only module %s (WASI preview 1) and the native modules %s, not %q: build for wasip1 / wasm32-wasi without other host imports", abi.WASIModule, strings.Join(nativemod.Names(), ", "), ri.module)
		case ri.kind != 0:
			im.Reason = fmt.Sprintf("%s imports only functions, not a %s", ri.module, im.Kind)
		default:
			want, ok := modSigs[ri.name]
			switch {
			case !ok:
				im.Reason = fmt.Sprintf("%q is not %s", ri.name, what)
			case !sameType(want, *ri.fn):
				if isNative {
					im.Reason = fmt.Sprintf("its type %s differs from native module %s's %s", ri.fn, ri.module, want.String())
				} else {
					im.Reason = fmt.Sprintf("its type %s differs from WASI preview 1's %s", ri.fn, want.String())
				}
			default:
				im.Supported = true
				if isNative && !slices.Contains(r.Native, ri.module) {
					r.Native = append(r.Native, ri.module)
				}
			}
		}
		r.Imports = append(r.Imports, im)
		if !im.Supported {
			r.Unsupported = append(r.Unsupported, im)
		}
	}
	for _, ex := range info.exports {
		switch {
		case ex.name == "_start" && ex.kind == 0:
			r.ExportsStart = true
		case ex.name == "memory" && ex.kind == 2:
			r.ExportsMemory = true
		}
	}
	slices.Sort(r.Native)
	for _, m := range info.memories {
		r.MemoryMinBytes = int64(m.min) * pageSize
	}
	for _, ri := range info.imports {
		if ri.kind == 2 {
			r.MemoryMinBytes = int64(ri.mem.min) * pageSize
		}
	}
	return r, nil
}

// Check validates a module and reports its imports, saying which the
// runtime does not provide, and whether it exports _start and memory. A
// module that is not valid WebAssembly gives an error wrapping
// ErrInvalidModule; a valid one that cannot run here gives a Report whose
// Runnable is false.
func Check(wasm []byte) (*Report, error) {
	r, err := inspect(wasm)
	if err != nil {
		return nil, err
	}
	ctx := context.Background()
	rt := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfigInterpreter())
	defer rt.Close(ctx)
	cm, err := rt.CompileModule(ctx, wasm)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidModule, err)
	}
	_ = cm.Close(ctx)
	return r, nil
}

// preflight refuses, before compiling, a module the runtime cannot run.
func preflight(wasm []byte) (*Report, error) {
	r, err := inspect(wasm)
	if err != nil {
		return nil, err
	}
	if !r.Runnable() {
		return nil, fmt.Errorf("%w: %s", ErrInvalidModule, r.Problem())
	}
	return r, nil
}
