package native

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"

	"github.com/truce-project/truce/internal/abi"
	"github.com/truce-project/truce/internal/wasi"
)

// Function is one function of a native module, ready for an engine to
// bind. It has the shape of wasi.Function.
type Function struct {
	// Name is the import name, such as "sha256".
	Name string
	// Params are the parameter types, in order (all i32).
	Params []abi.ValueType
	// Results are [I32], the Errno.
	Results []abi.ValueType
	// Call runs the function. mem is the guest's whole linear memory (nil
	// if the guest exports none); stack holds the parameters on entry and
	// receives the result (wazero's GoModuleFunc convention). A non-nil
	// error aborts the guest: it is returned only when ctx is done (the
	// run's time limit or cancellation) or the stack is too short.
	Call func(ctx context.Context, mem []byte, stack []uint64) error
}

// Signature returns the function's type as text, such as
// "(i32, i32, i32) -> i32".
func (f Function) Signature() string {
	return wasi.Function{Params: f.Params, Results: f.Results}.Signature()
}

// Module is a native module: one WebAssembly import module.
type Module struct {
	// Name is the import module name, such as "truce_crypto"; it is also
	// the name a policy grants.
	Name string
	// Summary says in one line what the module is for.
	Summary string
	// Functions are the module's functions, in a fixed order.
	Functions []Function
}

// Lookup returns the module's function with the given name.
func (m *Module) Lookup(name string) (Function, bool) {
	for _, f := range m.Functions {
		if f.Name == name {
			return f, true
		}
	}
	return Function{}, false
}

var modules = []*Module{cryptoModule}

// Modules returns every native module, sorted by name. It returns the
// same modules each time: do not modify them.
func Modules() []*Module { return modules }

// Names returns the names of every native module, sorted.
func Names() []string {
	out := make([]string, len(modules))
	for i, m := range modules {
		out[i] = m.Name
	}
	sort.Strings(out)
	return out
}

// Lookup returns the native module with the given import module name.
func Lookup(name string) (*Module, bool) {
	for _, m := range modules {
		if m.Name == name {
			return m, true
		}
	}
	return nil, false
}

// Granted reports whether module is in the list of granted names.
func Granted(granted []string, module string) bool { return slices.Contains(granted, module) }

// Errno is the result of a native function: 0 for success, otherwise the
// reason it did nothing useful. The values are those of WASI preview 1, so
// a program may report them as it does WASI's.
type Errno uint32

// The errno values native functions return.
const (
	// ErrnoSuccess: the function did its work.
	ErrnoSuccess Errno = 0
	// Errno2big: a length is over the module's bound (see MaxMessage).
	Errno2big Errno = 1
	// ErrnoBadmsg: authentication failed — a ciphertext or a signature
	// that does not verify. Nothing was written to the output.
	ErrnoBadmsg Errno = 9
	// ErrnoFault: a buffer does not lie inside the program's memory.
	ErrnoFault Errno = 21
	// ErrnoInval: an argument is not acceptable: a key, nonce or output of
	// the wrong size or encoding, or an output overlapping an input.
	ErrnoInval Errno = 28
)

// String names the errno as in WASI, such as "EFAULT".
func (e Errno) String() string {
	switch e {
	case ErrnoSuccess:
		return "ESUCCESS"
	case Errno2big:
		return "E2BIG"
	case ErrnoBadmsg:
		return "EBADMSG"
	case ErrnoFault:
		return "EFAULT"
	case ErrnoInval:
		return "EINVAL"
	}
	return fmt.Sprintf("errno(%d)", uint32(e))
}

// MaxMessage bounds the bytes one call of an authenticated-encryption or
// signature function takes, so that the cost of one call, which cannot be
// interrupted, stays bounded (a fraction of a second). Hashing has no such
// bound: it checks the run's context between chunks of HashChunk bytes.
const MaxMessage = 256 << 20

// HashChunk is how many bytes hashing takes between checks of the run's
// context.
const HashChunk = 1 << 20

// errStack is returned when an engine passes fewer stack slots than the
// function has parameters.
var errStack = errors.New("native: the engine passed a stack shorter than the function's parameters")

// buf is a buffer a call names: a pointer and a length into memory.
type buf struct{ ptr, n uint32 }

func (b buf) end() uint64 { return uint64(b.ptr) + uint64(b.n) }

// overlaps reports whether two buffers share a byte.
func (b buf) overlaps(c buf) bool {
	return b.n > 0 && c.n > 0 && uint64(b.ptr) < c.end() && uint64(c.ptr) < b.end()
}

// mem is the guest's linear memory; every access is bounds-checked.
type mem []byte

// get returns the bytes of b, or false if they do not lie inside memory.
func (m mem) get(b buf) ([]byte, bool) {
	if b.end() > uint64(len(m)) {
		return nil, false
	}
	return m[b.ptr:b.end():b.end()], true
}

// impl is a function's body: it reads its parameters from p and returns
// the errno, or an error that aborts the guest (only for ctx).
type impl func(ctx context.Context, m mem, p []uint32) (Errno, error)

// define makes a Function of nparams i32 parameters and one i32 result.
func define(name string, nparams int, fn impl) Function {
	params := make([]abi.ValueType, nparams)
	return Function{Name: name, Params: params, Results: []abi.ValueType{abi.I32},
		Call: func(ctx context.Context, m []byte, stack []uint64) error {
			if len(stack) < max(nparams, 1) {
				return errStack
			}
			var p [16]uint32
			for i := range nparams {
				p[i] = uint32(stack[i])
			}
			errno, err := fn(ctx, mem(m), p[:nparams])
			if err != nil {
				return err
			}
			stack[0] = uint64(errno)
			return nil
		}}
}
