package engine

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/truce-project/truce/internal/wasi"
)

// Kind names a backend.
type Kind string

// The backends. Kinds lists those available in a build.
const (
	// Wasmtime compiles with Cranelift through wasmtime-go (needs cgo).
	Wasmtime Kind = "wasmtime"
	// Wazero compiles with wazero's optimising compiler (pure Go).
	Wazero Kind = "wazero"
	// WazeroInterp interprets with wazero's interpreter (pure Go; slow,
	// but runs on every platform Go supports).
	WazeroInterp Kind = "wazero-interp"
)

// Defaults used for the zero fields of Options and Config.
const (
	DefaultCacheEntries = 64
	DefaultMemoryBytes  = 256 << 20
	DefaultTimeout      = 60 * time.Second
	DefaultOutputBytes  = 64 << 20
	// MaxMemoryBytes is the most linear memory a 32-bit module can address.
	MaxMemoryBytes = 4 << 30
)

// Default returns the backend used when none is asked for: wasmtime when
// built with cgo, wazero otherwise.
func Default() Kind { return defaultKind }

// Kinds returns the backends available in this build, the default first.
func Kinds() []Kind { return append([]Kind(nil), availableKinds...) }

// KindList is Kinds comma-separated, for help texts and hints.
func KindList() string {
	s := make([]string, len(availableKinds))
	for i, k := range availableKinds {
		s[i] = string(k)
	}
	return strings.Join(s, ", ")
}

// ParseKind reads a backend name as given on a command line; the empty
// string means Default.
func ParseKind(s string) (Kind, error) {
	if s == "" {
		return Default(), nil
	}
	for _, k := range availableKinds {
		if string(k) == s {
			return k, nil
		}
	}
	if Kind(s) == Wasmtime {
		return "", fmt.Errorf("%w: %q needs a truce built with cgo: use wazero, or rebuild with CGO_ENABLED=1", ErrUnknownKind, s)
	}
	return "", fmt.Errorf("%w: %q: use one of %v", ErrUnknownKind, s, availableKinds)
}

// Options configure an Engine. The zero value selects the default backend
// and a cache of DefaultCacheEntries compiled modules.
type Options struct {
	// Kind is the backend; empty means Default().
	Kind Kind
	// CacheEntries bounds the compiled modules kept; 0 means
	// DefaultCacheEntries, a negative number keeps none.
	CacheEntries int
	// CacheDir, if set, also keeps compiled code in this directory, so
	// that another process need not compile the same program again
	// (wasmtime's serialised modules; wazero's file cache). Its files are
	// loaded as machine code: the directory must be writable only by the
	// user. It is for the truce command; the runtime inside an enclave
	// must never set it.
	CacheDir string
}

// New returns an Engine of the kind opts ask for.
func New(opts Options) (Engine, error) {
	k := opts.Kind
	if k == "" {
		k = Default()
	}
	n := opts.CacheEntries
	if n == 0 {
		n = DefaultCacheEntries
	}
	if n < 0 {
		n = 0
	}
	switch k {
	case Wazero, WazeroInterp:
		return newWazero(k, n, opts.CacheDir)
	case Wasmtime:
		return newWasmtime(n, opts.CacheDir)
	}
	return nil, fmt.Errorf("%w: %q: use one of %v", ErrUnknownKind, k, availableKinds)
}

// Engine runs programs. Its methods are safe for concurrent use.
type Engine interface {
	// Kind is the backend.
	Kind() Kind
	// Run runs the program's _start with WASI over cfg.WASI. A program
	// failure is a Result, not an error; error is for an invalid module
	// (ErrInvalidModule), a run refused before it started (ctx already
	// done) or a fault of the engine itself.
	Run(ctx context.Context, p Program, cfg Config) (*Result, error)
	// Close releases the compiled modules. Runs in progress finish first.
	Close() error
}

// Program is a WebAssembly module to run.
type Program struct {
	// Wasm is the module in the binary format.
	Wasm []byte
	// Hash is the SHA-256 of Wasm, the key of the compile cache; the
	// zero value means it is computed. A wrong hash is refused with
	// ErrHashMismatch.
	Hash [32]byte
}

// key returns the program's cache key, refusing a Hash that is not the
// SHA-256 of Wasm: a wrong hash could otherwise run another program's
// cached code.
func (p *Program) key() ([32]byte, error) {
	h := sha256.Sum256(p.Wasm)
	if p.Hash != ([32]byte{}) && p.Hash != h {
		return h, fmt.Errorf("%w: the program's bytes have SHA-256 %x, not the %x given", ErrHashMismatch, h, p.Hash)
	}
	p.Hash = h
	return h, nil
}

// Config are the settings of one run.
type Config struct {
	// WASI is what the program sees: args, environment, standard streams,
	// files, clocks and randomness.
	WASI wasi.Config
	// MemoryBytes bounds the program's linear memory; 0 means
	// DefaultMemoryBytes. It is rounded down to whole 64 KiB pages.
	MemoryBytes int64
	// Timeout bounds the run's wall time, compilation excluded; 0 means
	// DefaultTimeout.
	Timeout time.Duration
	// OutputBytes bounds the bytes written to stdout and stderr together;
	// 0 means DefaultOutputBytes.
	OutputBytes int64
	// Native names the native modules (package native, such as
	// "truce_crypto") the program may import. A program that imports one
	// not named here is refused before it starts, with an error wrapping
	// ErrNotGranted; nil grants none.
	Native []string
}

func (c Config) withDefaults() Config {
	if c.MemoryBytes <= 0 {
		c.MemoryBytes = DefaultMemoryBytes
	}
	if c.MemoryBytes > MaxMemoryBytes {
		c.MemoryBytes = MaxMemoryBytes
	}
	if c.MemoryBytes < pageSize {
		c.MemoryBytes = pageSize
	}
	if c.Timeout <= 0 {
		c.Timeout = DefaultTimeout
	}
	if c.OutputBytes <= 0 {
		c.OutputBytes = DefaultOutputBytes
	}
	return c
}

const pageSize = 64 << 10

// maxTableElements bounds each table of a run, so that table.grow cannot
// take host memory around the linear-memory limit. Go and C programs use
// one table of a few thousand functions.
const maxTableElements = 1 << 20

// Outcome is how a run ended.
type Outcome int

// The outcomes of a run.
const (
	// Exited: the program returned from _start (exit code 0) or called
	// proc_exit.
	Exited Outcome = iota
	// Trapped: the program trapped (unreachable, out-of-bounds access,
	// stack overflow, …) or a host function failed.
	Trapped
	// TimedOut: the run hit its wall-time limit.
	TimedOut
	// MemoryExceeded: the program needed more linear memory than allowed.
	MemoryExceeded
	// OutputExceeded: the program wrote more to stdout and stderr than
	// allowed.
	OutputExceeded
	// Cancelled: the caller's context was done before the program ended.
	Cancelled
)

var outcomeNames = [...]string{"exited", "trapped", "timed out", "memory exceeded", "output exceeded", "cancelled"}

// String names the outcome in lower-case words, such as "timed out".
func (o Outcome) String() string {
	if o >= 0 && int(o) < len(outcomeNames) {
		return outcomeNames[o]
	}
	return fmt.Sprintf("outcome(%d)", int(o))
}

// Result is how a run ended, and what it cost.
type Result struct {
	// Outcome is how the run ended.
	Outcome Outcome
	// ExitCode is the program's exit code for Exited: 0 when _start
	// returned normally.
	ExitCode uint32
	// Message explains the outcome for people: the trap, the limit hit.
	Message string
	// CacheHit is true when the compiled module came from the cache.
	CacheHit bool
	// Compile is the time spent compiling (or finding the compiled
	// module); Exec the time spent instantiating and running it.
	Compile, Exec time.Duration
	// MemoryBytes is the size of the program's linear memory at the end.
	MemoryBytes int64
}

// OK reports whether the program exited with code 0.
func (r *Result) OK() bool { return r.Outcome == Exited && r.ExitCode == 0 }

// Errors returned by the engine.
var (
	// ErrInvalidModule: the bytes are not a valid WebAssembly module, or
	// the module cannot run here (imports the runtime does not provide,
	// no _start). The error says what to fix.
	ErrInvalidModule = errors.New("invalid WebAssembly program")
	// ErrUnknownKind: no such backend in this build.
	ErrUnknownKind = errors.New("unknown engine")
	// ErrHashMismatch: Program.Hash is not the SHA-256 of Program.Wasm.
	ErrHashMismatch = errors.New("program hash mismatch")
	// ErrClosed: the engine has been closed.
	ErrClosed = errors.New("engine is closed")
)

// run is the state of one run shared by the host functions.
type run struct {
	ctx     context.Context
	timeout time.Duration
	sys     *wasi.System
	fns     []hostFunc
	native  []string // the native modules granted
	out     *outputLimit
	exited  atomic.Bool
	code    atomic.Uint32
	// abort is why the engine stopped the program from a host function:
	// output limit, cancellation or a host fault.
	mu       sync.Mutex
	abortOut Outcome
	abortMsg string
	aborted  bool
}

func newRun(ctx context.Context, cfg Config) *run {
	r := &run{ctx: ctx, timeout: cfg.Timeout, fns: hostFuncs, native: cfg.Native}
	r.out = &outputLimit{left: cfg.OutputBytes}
	wc := cfg.WASI
	wc.Stdout = r.out.wrap(wc.Stdout)
	wc.Stderr = r.out.wrap(wc.Stderr)
	r.sys = wasi.New(wc)
	return r
}

func (r *run) abort(o Outcome, msg string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.aborted {
		r.aborted, r.abortOut, r.abortMsg = true, o, msg
	}
}

// errAbort is returned by call to make a backend unwind the guest.
var errAbort = errors.New("run stopped by the engine")

// call runs host function i on behalf of the guest. It never panics; a
// non-nil error means the guest must be unwound (exit or abort).
func (r *run) call(i int, mem []byte, stack []uint64) (err error) {
	if r.ctx.Err() != nil {
		r.abortCtx()
		return errAbort
	}
	defer func() {
		if p := recover(); p != nil {
			r.abort(Trapped, fmt.Sprintf("host function %s failed: %v", r.fns[i].fn.Name, p))
			err = errAbort
		}
	}()
	hf := &r.fns[i]
	if hf.native && !slices.Contains(r.native, hf.module) {
		// Refused before the run starts; this is a second line.
		r.abort(Trapped, fmt.Sprintf("the program called %s.%s, a native module it was not granted", hf.module, hf.fn.Name))
		return errAbort
	}
	err = hf.fn.Call(r.ctx, r.sys, mem, stack)
	if r.out.exceeded.Load() {
		r.abort(OutputExceeded, fmt.Sprintf("the program wrote more than %d bytes to stdout and stderr", r.out.limit()))
		return errAbort
	}
	if err == nil {
		return nil
	}
	var ee *wasi.ExitError
	if errors.As(err, &ee) {
		r.code.Store(ee.Code)
		r.exited.Store(true)
		return err
	}
	if r.ctx.Err() != nil {
		r.abortCtx() // a sleep cut short by the time limit or the caller
		return errAbort
	}
	r.abort(Trapped, fmt.Sprintf("host function %s failed: %v", r.fns[i].fn.Name, err))
	return errAbort
}

// abortCtx stops the run because its context is done: the time limit, or
// the caller's cancellation.
func (r *run) abortCtx() {
	if errors.Is(context.Cause(r.ctx), errTimeLimit) {
		r.abort(TimedOut, fmt.Sprintf("the program ran longer than its limit of %v", r.timeout))
	} else {
		r.abort(Cancelled, "the run was cancelled: "+context.Cause(r.ctx).Error())
	}
}

// finish turns what a backend saw into a Result. callErr is the error of
// calling _start; timedOut and memHit say whether the backend saw its
// time limit or a refused memory growth.
func (r *run) finish(res *Result, callErr error, timedOut, memHit bool, cfg Config, trapMsg string) {
	r.mu.Lock()
	aborted, ao, am := r.aborted, r.abortOut, r.abortMsg
	r.mu.Unlock()
	switch {
	case aborted:
		res.Outcome, res.Message = ao, am
	case timedOut && r.ctx.Err() != nil && !errors.Is(context.Cause(r.ctx), errTimeLimit):
		res.Outcome, res.Message = Cancelled, "the run was cancelled: "+context.Cause(r.ctx).Error()
	case timedOut:
		res.Outcome, res.Message = TimedOut, fmt.Sprintf("the program ran longer than its limit of %v", cfg.Timeout)
	case memHit && (callErr != nil && !r.exited.Load() || r.exited.Load() && r.code.Load() != 0):
		res.Outcome = MemoryExceeded
		res.Message = fmt.Sprintf("the program needed more than its limit of %d MiB of memory", cfg.MemoryBytes>>20)
		if r.exited.Load() {
			res.Message += fmt.Sprintf(" (it exited with code %d)", r.code.Load())
		} else if trapMsg != "" {
			res.Message += " (" + trapMsg + ")"
		}
	case r.exited.Load():
		res.Outcome, res.ExitCode = Exited, r.code.Load()
	case callErr == nil:
		res.Outcome = Exited
	default:
		res.Outcome, res.Message = Trapped, trapMsg
	}
}

// errTimeLimit is the cause of a run's context when its time limit ends
// it, to tell a time-out from the caller's cancellation.
var errTimeLimit = errors.New("time limit reached")

// outputLimit caps the bytes written to stdout and stderr together.
type outputLimit struct {
	mu       sync.Mutex
	left     int64
	total    int64
	exceeded atomic.Bool
}

func (o *outputLimit) limit() int64 {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.total + o.left
}

func (o *outputLimit) wrap(w io.Writer) io.Writer {
	if w == nil {
		w = io.Discard
	}
	return &limitedWriter{o: o, w: w}
}

type limitedWriter struct {
	o *outputLimit
	w io.Writer
}

// errOutputLimit is what a write past the output limit returns.
var errOutputLimit = errors.New("output limit reached")

// Write passes on what fits under the limit; past it, it reports
// errOutputLimit.
func (l *limitedWriter) Write(p []byte) (int, error) {
	l.o.mu.Lock()
	n := int64(len(p))
	over := false
	if n > l.o.left {
		n, over = l.o.left, true
	}
	l.o.left -= n
	l.o.total += n
	l.o.mu.Unlock()
	if over {
		l.o.exceeded.Store(true)
	}
	if n > 0 {
		if m, err := l.w.Write(p[:n]); err != nil {
			return m, err
		}
	}
	if over {
		return int(n), errOutputLimit
	}
	return len(p), nil
}

// deadline returns the context of one run, ended by the caller or by the
// run's time limit (with cause errTimeLimit).
func deadline(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeoutCause(ctx, d, errTimeLimit)
}
