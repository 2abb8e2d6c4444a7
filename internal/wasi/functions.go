package wasi

import (
	"context"
	"strings"

	"github.com/truce-project/truce/internal/abi"
)

// Function is one WASI preview 1 function, ready for an engine to bind.
type Function struct {
	// Name is the import name, such as "fd_write".
	Name string
	// Params are the parameter types, in order.
	Params []abi.ValueType
	// Results are [abi.I32] (the errno) for every function but proc_exit,
	// which has none.
	Results []abi.ValueType
	// Call runs the function. mem is the guest's whole linear memory (nil
	// if the guest exports none); stack holds the parameters on entry and
	// receives the results (wazero's GoModuleFunc convention). A non-nil
	// error aborts the guest: *ExitError for proc_exit, anything else is
	// a trap.
	Call func(ctx context.Context, s *System, mem []byte, stack []uint64) error
}

// impl is a function's body: it reads its parameters from p and returns
// the errno, or an error that aborts the guest.
type impl func(ctx context.Context, s *System, m mem, p []uint64) (Errno, error)

// def describes a function: params as a string of 'i' (i32) and 'I'
// (i64).
type def struct {
	name   string
	params string
	fn     impl
}

// defs lists every function of WASI preview 1, in spec order.
var defs = []def{
	{"args_get", "ii", argsGet},
	{"args_sizes_get", "ii", argsSizesGet},
	{"environ_get", "ii", environGet},
	{"environ_sizes_get", "ii", environSizesGet},
	{"clock_res_get", "ii", clockResGet},
	{"clock_time_get", "iIi", clockTimeGet},
	{"fd_advise", "iIIi", fdAdvise},
	{"fd_allocate", "iII", fdAllocate},
	{"fd_close", "i", fdClose},
	{"fd_datasync", "i", fdSync},
	{"fd_fdstat_get", "ii", fdFdstatGet},
	{"fd_fdstat_set_flags", "ii", fdFdstatSetFlags},
	{"fd_fdstat_set_rights", "iII", fdFdstatSetRights},
	{"fd_filestat_get", "ii", fdFilestatGet},
	{"fd_filestat_set_size", "iI", fdFilestatSetSize},
	{"fd_filestat_set_times", "iIIi", fdFilestatSetTimes},
	{"fd_pread", "iiiIi", fdPread},
	{"fd_prestat_get", "ii", fdPrestatGet},
	{"fd_prestat_dir_name", "iii", fdPrestatDirName},
	{"fd_pwrite", "iiiIi", fdPwrite},
	{"fd_read", "iiii", fdRead},
	{"fd_readdir", "iiiIi", fdReaddir},
	{"fd_renumber", "ii", fdRenumber},
	{"fd_seek", "iIii", fdSeek},
	{"fd_sync", "i", fdSync},
	{"fd_tell", "ii", fdTell},
	{"fd_write", "iiii", fdWrite},
	{"path_create_directory", "iii", pathCreateDirectory},
	{"path_filestat_get", "iiiii", pathFilestatGet},
	{"path_filestat_set_times", "iiiiIIi", pathFilestatSetTimes},
	{"path_link", "iiiiiii", pathLink},
	{"path_open", "iiiiiIIii", pathOpen},
	{"path_readlink", "iiiiii", pathReadlink},
	{"path_remove_directory", "iii", pathRemoveDirectory},
	{"path_rename", "iiiiii", pathRename},
	{"path_symlink", "iiiii", pathSymlink},
	{"path_unlink_file", "iii", pathUnlinkFile},
	{"poll_oneoff", "iiii", pollOneoff},
	{"proc_exit", "i", procExit},
	{"proc_raise", "i", procRaise},
	{"sched_yield", "", schedYield},
	{"random_get", "ii", randomGet},
	{"sock_accept", "iii", sockAccept},
	{"sock_recv", "iiiiii", sockRecv},
	{"sock_send", "iiiii", sockSend},
	{"sock_shutdown", "ii", sockShutdown},
}

var functions = func() []Function {
	fs := make([]Function, len(defs))
	for i, d := range defs {
		params := make([]abi.ValueType, len(d.params))
		for j := range d.params {
			if d.params[j] == 'I' {
				params[j] = abi.I64
			}
		}
		var results []abi.ValueType
		if d.name != "proc_exit" {
			results = []abi.ValueType{abi.I32}
		}
		fn, np, hasResult := d.fn, len(params), results != nil
		lock := d.name != "poll_oneoff" // it locks for itself, not while asleep
		fs[i] = Function{Name: d.name, Params: params, Results: results,
			Call: func(ctx context.Context, s *System, m []byte, stack []uint64) error {
				if len(stack) < max(np, 1) {
					return errStack
				}
				if lock {
					s.mu.Lock()
					defer s.mu.Unlock()
				}
				errno, err := fn(ctx, s, mem(m), stack[:np])
				if err != nil {
					return err
				}
				if hasResult {
					stack[0] = uint64(errno)
				}
				return nil
			}}
	}
	return fs
}()

type stackError struct{}

func (stackError) Error() string {
	return "wasi: the engine passed a stack shorter than the function's parameters"
}

var errStack error = stackError{}

// Functions returns every function of WASI preview 1, in spec order. It
// returns the same slice each time: do not modify it.
func Functions() []Function { return functions }

// Names returns the names of every function of WASI preview 1, in spec
// order.
func Names() []string {
	out := make([]string, len(defs))
	for i, d := range defs {
		out[i] = d.name
	}
	return out
}

// Lookup returns the function with the given name.
func Lookup(name string) (Function, bool) {
	for _, f := range functions {
		if f.Name == name {
			return f, true
		}
	}
	return Function{}, false
}

// Signature returns a function's type as text, such as
// "(i32, i64) -> i32", for messages about mismatched imports.
func (f Function) Signature() string {
	var b strings.Builder
	b.WriteByte('(')
	for i, p := range f.Params {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(p.String())
	}
	b.WriteString(") -> ")
	if len(f.Results) == 0 {
		b.WriteString("()")
	} else {
		b.WriteString("i32")
	}
	return b.String()
}
