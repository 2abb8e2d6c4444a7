package engine

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/experimental"
	"github.com/tetratelabs/wazero/sys"

	"github.com/truce-project/truce/internal/abi"
	"github.com/truce-project/truce/internal/wasi"
)

// wazeroEngine runs programs with wazero: its compiler or interpreter.
type wazeroEngine struct {
	kind  Kind
	rt    wazero.Runtime
	cc    wazero.CompilationCache
	cache *cache[*wzModule]

	mu     sync.RWMutex // held for reading by runs, for writing by Close
	closed bool
}

type wzModule struct {
	cm     wazero.CompiledModule
	budget budget
	native *Report // what the module imports, for the grant check
}

type runKey struct{}

func newWazero(k Kind, entries int, dir string) (*wazeroEngine, error) {
	ctx := context.Background()
	var rc wazero.RuntimeConfig
	if k == WazeroInterp {
		rc = wazero.NewRuntimeConfigInterpreter()
	} else {
		rc = wazero.NewRuntimeConfigCompiler()
	}
	cc := wazero.NewCompilationCache()
	if dir != "" {
		d := filepath.Join(dir, "wazero")
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, fmt.Errorf("engine %s: cache directory: %w", k, err)
		}
		var err error
		if cc, err = wazero.NewCompilationCacheWithDir(d); err != nil {
			return nil, fmt.Errorf("engine %s: cache directory: %w", k, err)
		}
	}
	rc = rc.WithCloseOnContextDone(true).WithCompilationCache(cc)
	e := &wazeroEngine{kind: k, rt: wazero.NewRuntimeWithConfig(ctx, rc), cc: cc}
	e.cache = newCache(entries, func(m *wzModule) { _ = m.cm.Close(context.Background()) })

	// One host module per import module: WASI preview 1, then each native
	// module, in the order of hostFuncs.
	var b wazero.HostModuleBuilder
	module := ""
	flush := func() error {
		if b == nil {
			return nil
		}
		if _, err := b.Instantiate(ctx); err != nil {
			_ = e.rt.Close(ctx)
			return fmt.Errorf("engine %s: binding %s: %w", k, module, err)
		}
		return nil
	}
	for i, hf := range hostFuncs {
		if hf.module != module {
			if err := flush(); err != nil {
				return nil, err
			}
			module = hf.module
			b = e.rt.NewHostModuleBuilder(module)
		}
		f := hf.fn
		b.NewFunctionBuilder().
			WithGoModuleFunction(wazeroHostFunc(i), wazeroTypes(f.Params), wazeroTypes(f.Results)).
			WithName(f.Name).
			Export(f.Name)
	}
	if err := flush(); err != nil {
		return nil, err
	}
	return e, nil
}

func wazeroTypes(vs []abi.ValueType) []api.ValueType {
	out := make([]api.ValueType, len(vs))
	for i, v := range vs {
		if v == abi.I64 {
			out[i] = api.ValueTypeI64
		} else {
			out[i] = api.ValueTypeI32
		}
	}
	return out
}

// wazeroHostFunc adapts WASI function i. The run comes from the context
// the guest was called with, since the host module is shared by all runs.
func wazeroHostFunc(i int) api.GoModuleFunc {
	return func(ctx context.Context, mod api.Module, stack []uint64) {
		r, _ := ctx.Value(runKey{}).(*run)
		if r == nil {
			panic(errors.New("WASI called outside a run"))
		}
		var mem []byte
		if m := guestMemory(mod); m != nil {
			mem, _ = m.Read(0, m.Size())
		}
		if err := r.call(i, mem, stack); err != nil {
			var ee *wasi.ExitError
			if errors.As(err, &ee) {
				panic(sys.NewExitError(ee.Code))
			}
			panic(err)
		}
	}
}

// guestMemory returns the memory a module exports as "memory", through
// which WASI passes its data (as the wasmtime backend does), or nil.
// Module.Memory is not used: for a module without a memory it returns a
// non-nil interface holding a nil pointer, whose Size panics.
func guestMemory(mod api.Module) api.Memory {
	return mod.ExportedMemory("memory")
}

// Kind implements Engine.
func (e *wazeroEngine) Kind() Kind { return e.kind }

func (e *wazeroEngine) compile(wasm []byte) (*wzModule, error) {
	rep, err := preflight(wasm)
	if err != nil {
		return nil, err
	}
	// wazero has no per-run table limit: lower the module's own maxima
	// to what the run's budget charges for them.
	info, err := parseModule(wasm)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidModule, err)
	}
	b, err := budgetOf(info)
	if err != nil {
		return nil, err
	}
	if wasm, err = boundTables(wasm, info, maxTableElements); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidModule, err)
	}
	cm, err := e.rt.CompileModule(context.Background(), wasm)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidModule, err)
	}
	return &wzModule{cm: cm, budget: b, native: rep}, nil
}

// Run implements Engine.
func (e *wazeroEngine) Run(ctx context.Context, p Program, cfg Config) (*Result, error) {
	e.mu.RLock()
	defer e.mu.RUnlock()
	if e.closed {
		return nil, ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("run not started: %w", err)
	}
	cfg = cfg.withDefaults()
	if err := checkNative(cfg.Native); err != nil {
		return nil, err
	}
	t0 := time.Now()
	key, err := p.key()
	if err != nil {
		return nil, err
	}
	ent, hit, err := e.cache.get(key, func() (*wzModule, error) { return e.compile(p.Wasm) })
	if err != nil {
		return nil, err
	}
	defer e.cache.release(ent)
	m := ent.v
	if err := m.native.Granted(cfg.Native); err != nil {
		return nil, err
	}
	res := &Result{CacheHit: hit, Compile: time.Since(t0)}
	limit, over := m.budget.memoryLimit(cfg.MemoryBytes)
	if over != "" {
		res.Outcome, res.Message = MemoryExceeded, over
		return res, nil
	}

	rctx, cancel := deadline(ctx, cfg.Timeout)
	defer cancel()
	r := newRun(rctx, cfg)
	defer r.sys.Close()
	alloc := &wzAllocator{limit: uint64(limit)}
	ictx := experimental.WithMemoryAllocator(context.WithValue(rctx, runKey{}, r), alloc)

	t1 := time.Now()
	mod, err := e.rt.InstantiateModule(ictx, m.cm, wazero.NewModuleConfig().WithName("").WithStartFunctions())
	if err == nil {
		defer mod.Close(context.Background())
		if mem := guestMemory(mod); mem != nil {
			defer func() { res.MemoryBytes = int64(mem.Size()) }()
		}
		start := mod.ExportedFunction("_start")
		if start == nil {
			return nil, fmt.Errorf("%w: no exported function _start", ErrInvalidModule)
		}
		_, err = start.Call(ictx)
	}
	res.Exec = time.Since(t1)
	timedOut := false
	var ee *sys.ExitError
	if errors.As(err, &ee) && !r.exited.Load() &&
		(ee.ExitCode() == sys.ExitCodeDeadlineExceeded || ee.ExitCode() == sys.ExitCodeContextCanceled) {
		timedOut = true
	}
	r.finish(res, err, timedOut, alloc.hit.Load(), cfg, trapMessage(err))
	return res, nil
}

// trapMessage is the first line of a trap's error, without the stack.
func trapMessage(err error) string {
	if err == nil {
		return ""
	}
	s := err.Error()
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	s = strings.TrimSpace(s)
	if s == "stack overflow" { // wazero's compiler says it without the prefix
		s = "wasm error: " + s
	}
	return s
}

// Close implements Engine.
func (e *wazeroEngine) Close() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return nil
	}
	e.closed = true
	e.cache.close()
	ctx := context.Background()
	err := e.rt.Close(ctx)
	if cerr := e.cc.Close(ctx); err == nil {
		err = cerr
	}
	return err
}

// wzAllocator gives each run's linear memory, refusing to grow it past
// the run's limit and remembering that it did.
type wzAllocator struct {
	limit uint64
	hit   atomic.Bool
}

// Allocate implements experimental.MemoryAllocator.
func (a *wzAllocator) Allocate(_, max uint64) experimental.LinearMemory {
	return &wzMemory{a: a, max: min(max, a.limit)}
}

type wzMemory struct {
	a   *wzAllocator
	max uint64
	buf []byte
	// res is the address space reserved for the memory up to max, so
	// that it grows in place (see reserve); nil where none could be had,
	// and then growth copies.
	res *region
}

// Reallocate grows the memory to size bytes, or returns nil past the
// run's limit.
func (m *wzMemory) Reallocate(size uint64) []byte {
	if size > m.a.limit {
		m.a.hit.Store(true)
		return nil
	}
	if size > m.max {
		return nil
	}
	if m.res == nil && m.buf == nil && m.max > 0 {
		if m.res = reserve(m.max); m.res != nil {
			// The reservation is released by Free, or by the collector
			// if wazero drops the memory without freeing it.
			runtime.AddCleanup(m, func(r *region) { r.free() }, m.res)
		}
	}
	if m.res != nil {
		// In place: the pages are the kernel's zero pages until touched,
		// so the memory costs what the program uses, and growing never
		// holds an old and a new copy at once.
		m.buf = m.res.b[:size:size]
		return m.buf
	}
	if size <= uint64(cap(m.buf)) {
		m.buf = m.buf[:size]
		return m.buf
	}
	// Grow geometrically, but never past what the memory may reach.
	c := max(size, min(2*uint64(cap(m.buf)), m.max))
	nb := make([]byte, size, c)
	copy(nb, m.buf)
	m.buf = nb
	return nb
}

// Free drops the memory.
func (m *wzMemory) Free() {
	m.buf = nil
	if m.res != nil {
		m.res.free()
	}
}

// region is address space reserved outside the Go heap for one linear
// memory.
type region struct {
	mu sync.Mutex
	b  []byte
}

func (r *region) free() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.b != nil {
		release(r.b)
		r.b = nil
	}
}
