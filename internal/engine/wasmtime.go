//go:build cgo

package engine

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"time"

	"github.com/bytecodealliance/wasmtime-go/v39"

	"github.com/truce-project/truce/internal/abi"
	"github.com/truce-project/truce/internal/wasi"
)

// epochTick is how often the wasmtime engine's epoch advances while runs
// are in progress: the resolution of the wall-time limit.
const epochTick = 5 * time.Millisecond

// wasmtimeEngine runs programs with wasmtime's Cranelift compiler.
type wasmtimeEngine struct {
	eng    *wasmtime.Engine
	linker *wasmtime.Linker
	dir    string // serialised modules, if not ""
	cache  *cache[*wtModule]

	mu     sync.RWMutex // held for reading by runs, for writing by Close
	closed bool

	tickMu sync.Mutex
	active int
	stop   chan struct{}
	done   chan struct{}
}

type wtModule struct {
	m        *wasmtime.Module
	budget   budget
	native   *Report // what the module imports, for the grant check
	fromDisk bool    // deserialised from the cache directory
}

// wtRun is a run and the wasmtime objects it needs in host functions.
type wtRun struct {
	*run
	mem *wasmtime.Memory
}

func newWasmtime(entries int, dir string) (Engine, error) {
	cfg := wasmtime.NewConfig()
	cfg.SetEpochInterruption(true)
	// One linear memory per program, as wazero: the limiter bounds each
	// memory alone, not their sum (budgetOf refuses such modules first).
	cfg.SetWasmMultiMemory(false)
	cfg.SetWasmThreads(false)
	e := &wasmtimeEngine{eng: wasmtime.NewEngineWithConfig(cfg)}
	if dir != "" {
		e.dir = filepath.Join(dir, "wasmtime")
		if err := os.MkdirAll(e.dir, 0o700); err != nil {
			return nil, fmt.Errorf("engine wasmtime: cache directory: %w", err)
		}
	}
	e.cache = newCache(entries, func(m *wtModule) { m.m.Close() })
	e.linker = wasmtime.NewLinker(e.eng)
	for i, hf := range hostFuncs {
		f := hf.fn
		ty := wasmtime.NewFuncType(wasmtimeTypes(f.Params), wasmtimeTypes(f.Results))
		if err := e.linker.FuncNew(hf.module, f.Name, ty, wasmtimeHostFunc(i, f)); err != nil {
			return nil, fmt.Errorf("engine wasmtime: binding %s.%s: %w", hf.module, f.Name, err)
		}
	}
	return e, nil
}

func wasmtimeTypes(vs []abi.ValueType) []*wasmtime.ValType {
	out := make([]*wasmtime.ValType, len(vs))
	for i, v := range vs {
		if v == abi.I64 {
			out[i] = wasmtime.NewValType(wasmtime.KindI64)
		} else {
			out[i] = wasmtime.NewValType(wasmtime.KindI32)
		}
	}
	return out
}

var errNoRun = errors.New("WASI called outside a run")

// wasmtimeHostFunc adapts WASI function i. The run is the store's data.
func wasmtimeHostFunc(i int, f wasi.Function) func(*wasmtime.Caller, []wasmtime.Val) ([]wasmtime.Val, *wasmtime.Trap) {
	n := max(len(f.Params), len(f.Results))
	results := f.Results
	return func(c *wasmtime.Caller, args []wasmtime.Val) ([]wasmtime.Val, *wasmtime.Trap) {
		r, _ := c.Data().(*wtRun)
		if r == nil {
			return nil, wasmtime.NewTrap(errNoRun.Error())
		}
		stack := make([]uint64, n)
		for j, a := range args {
			if a.Kind() == wasmtime.KindI64 {
				stack[j] = uint64(a.I64())
			} else {
				stack[j] = uint64(uint32(a.I32()))
			}
		}
		mem := r.mem
		if mem == nil {
			if ex := c.GetExport("memory"); ex != nil {
				mem = ex.Memory()
			}
		}
		var data []byte
		if mem != nil {
			data = mem.UnsafeData(c)
		}
		if err := r.call(i, data, stack); err != nil {
			return nil, wasmtime.NewTrap(err.Error())
		}
		out := make([]wasmtime.Val, len(results))
		for j, t := range results {
			if t == abi.I64 {
				out[j] = wasmtime.ValI64(int64(stack[j]))
			} else {
				out[j] = wasmtime.ValI32(int32(uint32(stack[j])))
			}
		}
		return out, nil
	}
}

// Kind implements Engine.
func (e *wasmtimeEngine) Kind() Kind { return Wasmtime }

func (e *wasmtimeEngine) compile(key [32]byte, wasm []byte) (*wtModule, error) {
	rep, err := preflight(wasm)
	if err != nil {
		return nil, err
	}
	info, err := parseModule(wasm)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidModule, err)
	}
	b, err := budgetOf(info)
	if err != nil {
		return nil, err
	}
	if m := e.load(key); m != nil {
		return &wtModule{m: m, budget: b, native: rep, fromDisk: true}, nil
	}
	// Each table's maximum is lowered to what the run's budget charges
	// for it; the store's limiter bounds each table again.
	if wasm, err = boundTables(wasm, info, maxTableElements); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidModule, err)
	}
	m, err := wasmtime.NewModule(e.eng, wasm)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidModule, err)
	}
	e.store(key, m)
	return &wtModule{m: m, budget: b, native: rep}, nil
}

// wasmtimeVersion is the wasmtime-go release this package is built
// with, in the names of serialised modules. wasmtime itself refuses to
// load a module serialised by another version or configuration.
const wasmtimeVersion = "v39.0.1"

// cacheFormat changes when the engine changes a module before compiling
// it (the tables' maxima), so that code compiled from the unchanged
// module is not loaded.
const cacheFormat = "t1"

// cacheFile names the serialised module of a program: by its hash and by
// the wasmtime version and platform, whose code it is.
func (e *wasmtimeEngine) cacheFile(key [32]byte) string {
	return filepath.Join(e.dir, fmt.Sprintf("%x-wasmtime-%s-%s-%s-%s.cwasm", key, wasmtimeVersion, cacheFormat, runtime.GOOS, runtime.GOARCH))
}

// load returns the serialised module of a program from the cache
// directory, or nil. A file wasmtime refuses (another version, damaged)
// is ignored and replaced after compiling.
func (e *wasmtimeEngine) load(key [32]byte) *wasmtime.Module {
	if e.dir == "" {
		return nil
	}
	b, err := os.ReadFile(e.cacheFile(key))
	if err != nil {
		return nil
	}
	m, err := wasmtime.NewModuleDeserialize(e.eng, b)
	if err != nil {
		return nil
	}
	return m
}

// store writes a compiled module to the cache directory, through a
// temporary file and a rename. Failing to write only costs time later.
func (e *wasmtimeEngine) store(key [32]byte, m *wasmtime.Module) {
	if e.dir == "" {
		return
	}
	b, err := m.Serialize()
	if err != nil {
		return
	}
	f, err := os.CreateTemp(e.dir, ".tmp-*")
	if err != nil {
		return
	}
	_, werr := f.Write(b)
	if cerr := f.Close(); werr != nil || cerr != nil || os.Rename(f.Name(), e.cacheFile(key)) != nil {
		os.Remove(f.Name())
	}
}

// startTicker advances the epoch while at least one run is in progress.
func (e *wasmtimeEngine) startTicker() {
	e.tickMu.Lock()
	defer e.tickMu.Unlock()
	e.active++
	if e.active > 1 {
		return
	}
	e.stop, e.done = make(chan struct{}), make(chan struct{})
	go func(stop, done chan struct{}) {
		defer close(done)
		t := time.NewTicker(epochTick)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				e.eng.IncrementEpoch()
			}
		}
	}(e.stop, e.done)
}

func (e *wasmtimeEngine) stopTicker() {
	e.tickMu.Lock()
	defer e.tickMu.Unlock()
	e.active--
	if e.active == 0 {
		close(e.stop)
		<-e.done
	}
}

// Run implements Engine.
func (e *wasmtimeEngine) Run(ctx context.Context, p Program, cfg Config) (*Result, error) {
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
	ent, hit, err := e.cache.get(key, func() (*wtModule, error) { return e.compile(key, p.Wasm) })
	if err != nil {
		return nil, err
	}
	defer e.cache.release(ent)
	m := ent.v
	if err := m.native.Granted(cfg.Native); err != nil {
		return nil, err
	}
	res := &Result{CacheHit: hit || m.fromDisk, Compile: time.Since(t0)}
	limit, over := m.budget.memoryLimit(cfg.MemoryBytes)
	if over != "" {
		res.Outcome, res.Message = MemoryExceeded, over
		return res, nil
	}

	rctx, cancel := deadline(ctx, cfg.Timeout)
	defer cancel()
	r := &wtRun{run: newRun(rctx, cfg)}
	defer r.sys.Close()

	store := wasmtime.NewStoreWithData(e.eng, r)
	defer store.Close()
	// One memory budget for the run: the linear memory gets what the
	// tables (each bounded by its lowered maximum and by the limiter)
	// leave of the limit; no instance, table or memory beyond the
	// module's own may be made.
	store.Limiter(limit, maxTableElements, 1, int64(m.budget.tables), 1)
	// At every epoch tick the store asks whether the run's context (time
	// limit and caller) is done.
	h := watchEpochs(store, r)
	defer h.Delete()
	e.startTicker()
	defer e.stopTicker()

	t1 := time.Now()
	inst, err := e.linker.Instantiate(store, m.m)
	if err == nil {
		if ex := inst.GetExport(store, "memory"); ex != nil {
			r.mem = ex.Memory()
		}
		start := inst.GetFunc(store, "_start")
		if start == nil {
			return nil, fmt.Errorf("%w: no exported function _start", ErrInvalidModule)
		}
		_, err = start.Call(store)
	} else {
		// A start function may trap, exit or be stopped by the engine;
		// anything else is a fault of the engine.
		var trap *wasmtime.Trap
		r.mu.Lock()
		aborted := r.aborted
		r.mu.Unlock()
		if !errors.As(err, &trap) && !aborted && !r.exited.Load() {
			return nil, fmt.Errorf("engine wasmtime: instantiating the program: %w", err)
		}
	}
	res.Exec = time.Since(t1)
	var size int64
	if r.mem != nil {
		size = int64(r.mem.DataSize(store))
		res.MemoryBytes = size
	}
	timedOut := false
	var trap *wasmtime.Trap
	if errors.As(err, &trap) && !r.exited.Load() {
		if c := trap.Code(); c != nil && *c == wasmtime.Interrupt {
			timedOut = true
		}
	}
	// wasmtime does not say when it refused to grow a memory: a run that
	// failed with its memory within a few heap arenas (Go grows by 4 MiB)
	// of the limit is taken as having hit it.
	memHit := size > 0 && limit-size < min(max(limit/16, 8<<20), limit/2)
	r.finish(res, err, timedOut, memHit, cfg, wasmtimeTrapMessage(err))
	return res, nil
}

var trapNames = map[wasmtime.TrapCode]string{
	wasmtime.StackOverflow:          "stack overflow",
	wasmtime.MemoryOutOfBounds:      "out of bounds memory access",
	wasmtime.HeapMisaligned:         "misaligned atomic memory access",
	wasmtime.TableOutOfBounds:       "out of bounds table access",
	wasmtime.IndirectCallToNull:     "indirect call to a null table entry",
	wasmtime.BadSignature:           "indirect call type mismatch",
	wasmtime.IntegerOverflow:        "integer overflow",
	wasmtime.IntegerDivisionByZero:  "integer divide by zero",
	wasmtime.BadConversionToInteger: "invalid conversion to integer",
	wasmtime.UnreachableCodeReached: "unreachable",
	wasmtime.Interrupt:              "interrupted",
	wasmtime.OutOfFuel:              "out of fuel",
}

// wasmtimeTrapMessage names a trap as wazero does ("wasm error:
// unreachable"), so that both backends explain a trap alike.
func wasmtimeTrapMessage(err error) string {
	var trap *wasmtime.Trap
	if errors.As(err, &trap) {
		if c := trap.Code(); c != nil {
			if n, ok := trapNames[*c]; ok {
				return "wasm error: " + n
			}
		}
		return trapMessage(errors.New(trap.Message()))
	}
	return trapMessage(err)
}

// Close implements Engine.
func (e *wasmtimeEngine) Close() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return nil
	}
	e.closed = true
	e.cache.close()
	e.linker.Close()
	e.eng.Close()
	return nil
}
