package engine

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestOutcomeString(t *testing.T) {
	for o, want := range map[Outcome]string{Exited: "exited", Trapped: "trapped", TimedOut: "timed out",
		MemoryExceeded: "memory exceeded", OutputExceeded: "output exceeded", Cancelled: "cancelled", Outcome(99): "outcome(99)"} {
		if got := o.String(); got != want {
			t.Errorf("%d: %q, want %q", int(o), got, want)
		}
	}
}

func TestKinds(t *testing.T) {
	ks := Kinds()
	if len(ks) == 0 || ks[0] != Default() {
		t.Fatalf("Kinds() = %v, want the default %s first", ks, Default())
	}
	for _, k := range ks {
		got, err := ParseKind(string(k))
		if err != nil || got != k {
			t.Errorf("ParseKind(%q) = %q, %v", k, got, err)
		}
	}
	if k, err := ParseKind(""); err != nil || k != Default() {
		t.Errorf("ParseKind(\"\") = %q, %v", k, err)
	}
	if _, err := ParseKind("v8"); !errors.Is(err, ErrUnknownKind) {
		t.Errorf("ParseKind(v8) error %v, want ErrUnknownKind", err)
	}
	if _, err := New(Options{Kind: "v8"}); !errors.Is(err, ErrUnknownKind) {
		t.Errorf("New(v8) error %v, want ErrUnknownKind", err)
	}
}

// TestOutcomes runs small modules that end in every way, on every
// backend, one after the other on the same Engine.
func TestOutcomes(t *testing.T) {
	cases := []struct {
		name    string
		wasm    string
		cfg     Config
		outcome Outcome
		code    uint32
		stdout  string
		msg     string
	}{
		{name: "hello", wasm: "hello.wasm", outcome: Exited, stdout: "hello\n"},
		{name: "exit", wasm: "exit.wasm", outcome: Exited, code: 42},
		{name: "trap", wasm: "trap.wasm", outcome: Trapped, stdout: "before trap\n", msg: "unreachable"},
		{name: "trap under a small limit", wasm: "trap.wasm", cfg: Config{MemoryBytes: 2 << 20}, outcome: Trapped, stdout: "before trap\n", msg: "unreachable"},
		{name: "loop", wasm: "loop.wasm", cfg: Config{Timeout: 100 * time.Millisecond}, outcome: TimedOut, msg: "limit of 100ms"},
		{name: "hello after loop", wasm: "hello.wasm", outcome: Exited, stdout: "hello\n"},
		{name: "start function loops", wasm: "startloop.wasm", cfg: Config{Timeout: 100 * time.Millisecond}, outcome: TimedOut, msg: "limit of 100ms"},
		{name: "start function traps", wasm: "starttrap.wasm", outcome: Trapped, msg: "wasm error: unreachable"},
		{name: "grow", wasm: "grow.wasm", cfg: Config{MemoryBytes: 8 << 20}, outcome: MemoryExceeded, msg: "limit of 8 MiB"},
		{name: "hello after grow", wasm: "hello.wasm", outcome: Exited, stdout: "hello\n"},
		{name: "initial memory over limit", wasm: "bigmem.wasm", outcome: MemoryExceeded, msg: "initial memory of 512 MiB"},
		{name: "initial memory under limit", wasm: "bigmem.wasm", cfg: Config{MemoryBytes: 1 << 30}, outcome: Exited},
		{name: "output limit", wasm: "hello.wasm", cfg: Config{OutputBytes: 3}, outcome: OutputExceeded, stdout: "hel", msg: "more than 3 bytes"},
	}
	for _, k := range Kinds() {
		e := engineFor(t, k)
		for _, c := range cases {
			t.Run(string(k)+"/"+c.name, func(t *testing.T) {
				res, out := runIt(t, e, testdata(t, c.wasm), c.cfg)
				if res.Outcome != c.outcome || res.ExitCode != c.code {
					t.Fatalf("outcome %v code %d (%s), want %v code %d", res.Outcome, res.ExitCode, res.Message, c.outcome, c.code)
				}
				if got := out.stdout.String(); got != c.stdout {
					t.Errorf("stdout %q, want %q", got, c.stdout)
				}
				if !strings.Contains(res.Message, c.msg) {
					t.Errorf("message %q does not contain %q", res.Message, c.msg)
				}
			})
		}
	}
}

// TestTraps checks each kind of trap is reported alike by every backend.
func TestTraps(t *testing.T) {
	cases := []struct{ arg, msg string }{
		{"recurse", "wasm error: stack overflow"},
		{"oob", "wasm error: out of bounds memory access"},
		{"div", "wasm error: integer divide by zero"},
		{"indirect", "wasm error: "},
		{"unreachable", "wasm error: unreachable"},
	}
	wasm := testdata(t, "traps.wasm")
	for _, k := range Kinds() {
		e := engineFor(t, k)
		for _, c := range cases {
			t.Run(string(k)+"/"+c.arg, func(t *testing.T) {
				res, _ := runIt(t, e, wasm, Config{}, c.arg)
				if res.Outcome != Trapped || !strings.HasPrefix(res.Message, c.msg) {
					t.Errorf("%v %q, want a trap %q", res.Outcome, res.Message, c.msg)
				}
			})
		}
	}
}

func TestInvalidModules(t *testing.T) {
	cases := []struct {
		name, wasm string
		bytes      []byte
		msg        string
	}{
		{name: "not wasm", bytes: []byte("#!/bin/sh\necho hi\n"), msg: "not a WebAssembly binary"},
		{name: "empty", bytes: []byte{}, msg: "not a WebAssembly binary"},
		{name: "truncated", bytes: []byte("\x00asm\x01\x00\x00\x00\x01\x05\x01"), msg: "malformed"},
		{name: "component", bytes: []byte("\x00asm\x0d\x00\x01\x00"), msg: "version"},
		{name: "unsupported imports", wasm: "badimport.wasm", msg: `import env.now`},
		{name: "no start", wasm: "nostart.wasm", msg: "no exported function _start"},
		// A well-formed header and sections, but a function body that
		// does not validate: the backend must refuse it.
		{name: "bad body", bytes: []byte("\x00asm\x01\x00\x00\x00" +
			"\x01\x04\x01\x60\x00\x00" + // type () -> ()
			"\x03\x02\x01\x00" + // one function of type 0
			"\x07\x0a\x01\x06_start\x00\x00" + // export _start
			"\x0a\x05\x01\x03\x00\x6a\x0b"), msg: ""}, // body: i32.add on an empty stack
	}
	for _, k := range Kinds() {
		e := engineFor(t, k)
		for _, c := range cases {
			t.Run(string(k)+"/"+c.name, func(t *testing.T) {
				b := c.bytes
				if c.wasm != "" {
					b = testdata(t, c.wasm)
				}
				res, err := e.Run(context.Background(), Program{Wasm: b}, Config{})
				if !errors.Is(err, ErrInvalidModule) {
					t.Fatalf("Run: %v, %v; want ErrInvalidModule", res, err)
				}
				if !strings.Contains(err.Error(), c.msg) {
					t.Errorf("error %q does not contain %q", err, c.msg)
				}
			})
		}
		// The engine still runs programs afterwards.
		if res, _ := runIt(t, e, testdata(t, "hello.wasm"), Config{}); !res.OK() {
			t.Errorf("%s: hello after invalid modules: %+v", k, res)
		}
	}
}

func TestCache(t *testing.T) {
	for _, k := range Kinds() {
		t.Run(string(k), func(t *testing.T) {
			e, err := New(Options{Kind: k, CacheEntries: 1})
			if err != nil {
				t.Fatal(err)
			}
			defer e.Close()
			hello, exit := testdata(t, "hello.wasm"), testdata(t, "exit.wasm")
			for i, step := range []struct {
				wasm []byte
				hit  bool
			}{{hello, false}, {hello, true}, {exit, false}, {hello, false}, {hello, true}} {
				res, _ := runIt(t, e, step.wasm, Config{})
				if res.CacheHit != step.hit {
					t.Errorf("step %d: CacheHit %v, want %v", i, res.CacheHit, step.hit)
				}
			}
			// A program given with its hash is found by it.
			res, err := e.Run(context.Background(), Program{Wasm: hello, Hash: sha256.Sum256(hello)}, Config{})
			if err != nil || !res.CacheHit {
				t.Errorf("run with hash: %+v, %v", res, err)
			}
			// A wrong hash is refused, even one of a cached program.
			_, err = e.Run(context.Background(), Program{Wasm: exit, Hash: sha256.Sum256(hello)}, Config{})
			if !errors.Is(err, ErrHashMismatch) {
				t.Errorf("run with another program's hash: %v, want ErrHashMismatch", err)
			}
		})
	}
}

func TestNoCache(t *testing.T) {
	e, err := New(Options{Kind: Wazero, CacheEntries: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	for range 2 {
		if res, _ := runIt(t, e, testdata(t, "hello.wasm"), Config{}); res.CacheHit || !res.OK() {
			t.Errorf("uncached engine: %+v", res)
		}
	}
}

func TestClosed(t *testing.T) {
	for _, k := range Kinds() {
		e, err := New(Options{Kind: k})
		if err != nil {
			t.Fatal(err)
		}
		if err := e.Close(); err != nil {
			t.Fatal(err)
		}
		if err := e.Close(); err != nil {
			t.Errorf("%s: second Close: %v", k, err)
		}
		if _, err := e.Run(context.Background(), Program{Wasm: testdata(t, "hello.wasm")}, Config{}); !errors.Is(err, ErrClosed) {
			t.Errorf("%s: Run after Close: %v, want ErrClosed", k, err)
		}
	}
}

// TestCancel stops a program through the caller's context: a Go program
// sleeping in a loop, and a loop that never calls the host (which the
// caller's deadline stops).
func TestCancel(t *testing.T) {
	misc := goGuest(t, "misc")
	for _, k := range guestKinds(t) {
		e := engineFor(t, k)
		t.Run(string(k)+"/cancel", func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			time.AfterFunc(300*time.Millisecond, cancel)
			res, err := e.Run(ctx, Program{Wasm: misc}, Config{WASI: wasiArgs("misc", "sleeploop")})
			if err != nil || res.Outcome != Cancelled {
				t.Fatalf("%+v, %v; want Cancelled", res, err)
			}
		})
		t.Run(string(k)+"/cancel loop", func(t *testing.T) {
			// A loop that never calls the host stops at once too.
			ctx, cancel := context.WithCancel(context.Background())
			time.AfterFunc(200*time.Millisecond, cancel)
			t0 := time.Now()
			res, err := e.Run(ctx, Program{Wasm: testdata(t, "loop.wasm")}, Config{Timeout: time.Minute})
			if err != nil || res.Outcome != Cancelled {
				t.Fatalf("%+v, %v; want Cancelled", res, err)
			}
			if d := time.Since(t0); d > 30*time.Second {
				t.Errorf("cancelled after %v: the time limit, not the cancellation, stopped it", d)
			}
		})
		t.Run(string(k)+"/deadline", func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
			defer cancel()
			res, err := e.Run(ctx, Program{Wasm: testdata(t, "loop.wasm")}, Config{})
			if err != nil || res.Outcome != Cancelled {
				t.Fatalf("%+v, %v; want Cancelled", res, err)
			}
		})
		t.Run(string(k)+"/already", func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			if _, err := e.Run(ctx, Program{Wasm: testdata(t, "hello.wasm")}, Config{}); !errors.Is(err, context.Canceled) {
				t.Fatalf("Run with a done context: %v", err)
			}
		})
	}
}

// TestGoGuestLimits runs a Go program into each limit and checks the
// engine serves the next run.
func TestGoGuestLimits(t *testing.T) {
	misc := goGuest(t, "misc")
	cases := []struct {
		name    string
		args    []string
		cfg     Config
		outcome Outcome
		code    uint32
		stdout  string
	}{
		{name: "hello", args: []string{"hello"}, outcome: Exited, stdout: "hello from wasm\n"},
		{name: "exit 3", args: []string{"exit", "3"}, outcome: Exited, code: 3},
		{name: "panic", args: []string{"panic"}, outcome: Exited, code: 2},
		{name: "loop", args: []string{"loop"}, cfg: Config{Timeout: 200 * time.Millisecond}, outcome: TimedOut},
		{name: "sleeploop", args: []string{"sleeploop"}, cfg: Config{Timeout: 200 * time.Millisecond}, outcome: TimedOut},
		{name: "grow", args: []string{"grow", "200"}, cfg: Config{MemoryBytes: 64 << 20}, outcome: MemoryExceeded},
		{name: "grow within", args: []string{"grow", "20"}, cfg: Config{MemoryBytes: 64 << 20}, outcome: Exited, stdout: "held 20 MiB\n"},
		{name: "spew", args: []string{"spew", "4"}, cfg: Config{OutputBytes: 100 << 10}, outcome: OutputExceeded},
		{name: "hello again", args: []string{"hello"}, outcome: Exited, stdout: "hello from wasm\n"},
	}
	for _, k := range guestKinds(t) {
		e := engineFor(t, k)
		for _, c := range cases {
			t.Run(string(k)+"/"+c.name, func(t *testing.T) {
				res, out := runIt(t, e, misc, c.cfg, c.args...)
				if res.Outcome != c.outcome || res.ExitCode != c.code {
					t.Fatalf("outcome %v code %d (%s), want %v code %d\nstderr: %s", res.Outcome, res.ExitCode, res.Message, c.outcome, c.code, out.stderr.String())
				}
				if c.stdout != "" && out.stdout.String() != c.stdout {
					t.Errorf("stdout %q, want %q", out.stdout.String(), c.stdout)
				}
				if c.outcome == OutputExceeded && int64(out.stdout.Len()) != c.cfg.OutputBytes {
					t.Errorf("wrote %d bytes past a limit of %d", out.stdout.Len(), c.cfg.OutputBytes)
				}
			})
		}
	}
}

// TestConcurrent runs different programs, and the same one, in parallel
// on one Engine.
func TestConcurrent(t *testing.T) {
	misc := goGuest(t, "misc")
	hello := testdata(t, "hello.wasm")
	for _, k := range guestKinds(t) {
		e := engineFor(t, k)
		var wg sync.WaitGroup
		errs := make(chan error, 16)
		for i := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				var out output
				wasm, args, want := hello, []string{"prog"}, "hello\n"
				if i%2 == 1 {
					wasm, args, want = misc, []string{"misc", "echo"}, fmt.Sprintf("input %d\n", i)
				}
				cfg := Config{}
				cfg.WASI.Args = args
				cfg.WASI.Stdin = strings.NewReader(fmt.Sprintf("input %d\n", i))
				cfg.WASI.Stdout = &out.stdout
				res, err := e.Run(context.Background(), Program{Wasm: wasm}, cfg)
				if err != nil {
					errs <- err
					return
				}
				if !res.OK() || out.stdout.String() != want {
					errs <- fmt.Errorf("run %d: %+v stdout %q, want %q", i, res, out.stdout.String(), want)
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Errorf("%s: %v", k, err)
		}
	}
}

// TestTableGrowth: a table cannot grow without bound (wasmtime's limiter;
// for wazero, the module's table maximum lowered before compiling).
func TestTableGrowth(t *testing.T) {
	for _, k := range Kinds() {
		res, _ := runIt(t, engineFor(t, k), testdata(t, "tablegrow.wasm"), Config{})
		if res.Outcome != Exited || res.ExitCode != 1 {
			t.Errorf("%s: %+v, want exit code 1 (growth refused)", k, res)
		}
	}
}

// TestConcurrentOutcomes runs programs that end in every way at the same
// time on one Engine: each run gets its own outcome, whatever its
// neighbours do.
func TestConcurrentOutcomes(t *testing.T) {
	type job struct {
		wasm    string
		cfg     Config
		outcome Outcome
		code    uint32
	}
	jobs := []job{
		{"hello.wasm", Config{}, Exited, 0},
		{"loop.wasm", Config{Timeout: 150 * time.Millisecond}, TimedOut, 0},
		{"exit.wasm", Config{}, Exited, 42},
		{"grow.wasm", Config{MemoryBytes: 4 << 20}, MemoryExceeded, 0},
		{"trap.wasm", Config{}, Trapped, 0},
		{"hello.wasm", Config{OutputBytes: 2}, OutputExceeded, 0},
	}
	for _, k := range Kinds() {
		e := engineFor(t, k)
		var wg sync.WaitGroup
		for i := range 3 * len(jobs) {
			j := jobs[i%len(jobs)]
			wg.Add(1)
			go func() {
				defer wg.Done()
				res, err := e.Run(context.Background(), Program{Wasm: testdata(t, j.wasm)}, j.cfg)
				if err != nil {
					t.Errorf("%s %s: %v", k, j.wasm, err)
					return
				}
				if res.Outcome != j.outcome || res.ExitCode != j.code {
					t.Errorf("%s %s: %v %d (%s), want %v %d", k, j.wasm, res.Outcome, res.ExitCode, res.Message, j.outcome, j.code)
				}
			}()
		}
		wg.Wait()
	}
}
