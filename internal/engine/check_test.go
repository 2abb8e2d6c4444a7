package engine

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/truce-project/truce/internal/abi"
)

func TestCheck(t *testing.T) {
	cases := []struct {
		name          string
		wasm          func(t *testing.T) []byte
		runnable      bool
		start, memory bool
		unsupported   []string // "module.name: reason fragment"
		native        []string
	}{
		{name: "hello", wasm: file("hello.wasm"), runnable: true, start: true, memory: true},
		{name: "nostart", wasm: file("nostart.wasm"), start: false, memory: true},
		{name: "badimport", wasm: file("badimport.wasm"), start: true, unsupported: []string{
			"env.now: provides only module wasi_snapshot_preview1",
			"wasi_snapshot_preview1.no_such_call: is not a WASI preview 1 function",
			"wasi_snapshot_preview1.fd_write: its type (i32) -> (i32) differs from WASI preview 1's (i32, i32, i32, i32) -> (i32)",
			"env.memory: provides only module",
		}},
		{name: "go guest", wasm: func(t *testing.T) []byte { return goGuest(t, "misc") }, runnable: true, start: true, memory: true},
		{name: "native imports", wasm: file("nativeimports.wasm"), start: true, memory: true, native: []string{"truce_crypto"}, unsupported: []string{
			"truce_crypto.sha512: its type (i32, i32) -> (i32) differs from native module truce_crypto's (i32, i32, i32) -> (i32)",
			"truce_crypto.md5: is not a function of native module truce_crypto",
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r, err := Check(c.wasm(t))
			if err != nil {
				t.Fatal(err)
			}
			if r.Runnable() != c.runnable || r.ExportsStart != c.start || r.ExportsMemory != c.memory {
				t.Errorf("runnable %v start %v memory %v, want %v %v %v", r.Runnable(), r.ExportsStart, r.ExportsMemory, c.runnable, c.start, c.memory)
			}
			if len(r.Unsupported) != len(c.unsupported) {
				t.Fatalf("unsupported %+v, want %d", r.Unsupported, len(c.unsupported))
			}
			for i, want := range c.unsupported {
				im := r.Unsupported[i]
				name, reason, _ := strings.Cut(want, ": ")
				if im.Module+"."+im.Name != name || !strings.Contains(im.Reason, reason) || im.Supported {
					t.Errorf("unsupported[%d] = %+v, want %s", i, im, want)
				}
			}
			if c.runnable != (r.Problem() == "") {
				t.Errorf("Problem() = %q", r.Problem())
			}
			for _, im := range r.Imports {
				if im.Supported && im.Module != abi.WASIModule && !slices.Contains(c.native, im.Module) {
					t.Errorf("%+v supported", im)
				}
			}
			if !slices.Equal(r.Native, c.native) && (len(r.Native) != 0 || len(c.native) != 0) {
				t.Errorf("Native = %v, want %v", r.Native, c.native)
			}
			if err := r.Granted(nil); (err != nil) != (len(c.native) > 0) || err != nil && !errors.Is(err, ErrNotGranted) {
				t.Errorf("Granted(nil) = %v", err)
			}
			if err := r.Granted(c.native); err != nil {
				t.Errorf("Granted(%v) = %v", c.native, err)
			}
		})
	}
}

func TestCheckInvalid(t *testing.T) {
	for name, b := range map[string][]byte{
		"empty":     nil,
		"text":      []byte("(module)"),
		"truncated": []byte("\x00asm\x01\x00\x00\x00\x02\x10\x01"),
		"bad body": []byte("\x00asm\x01\x00\x00\x00" +
			"\x01\x04\x01\x60\x00\x00\x03\x02\x01\x00\x0a\x05\x01\x03\x00\x6a\x0b"),
		"leftover": []byte("\x00asm\x01\x00\x00\x00\x07\x02\x00\x00"),
	} {
		if _, err := Check(b); !errors.Is(err, ErrInvalidModule) {
			t.Errorf("%s: %v, want ErrInvalidModule", name, err)
		}
	}
}

func file(name string) func(t *testing.T) []byte {
	return func(t *testing.T) []byte { return testdata(t, name) }
}

// FuzzParseModule feeds arbitrary bytes to the module parser: it must
// never panic, and whatever it accepts must be consistent.
func FuzzParseModule(f *testing.F) {
	for _, name := range []string{"hello.wasm", "badimport.wasm", "nostart.wasm", "grow.wasm", "trap.wasm", "bigmem.wasm"} {
		f.Add(testdata(f, name))
	}
	f.Add([]byte("\x00asm\x01\x00\x00\x00"))
	f.Add(testdata(f, "tablegrow.wasm"))
	f.Add([]byte("\x00asm\x01\x00\x00\x00\x04\x04\x01\x70\x00\x05"))
	f.Add([]byte("\x00asm\x01\x00\x00\x00\x01\xff\xff\xff\xff\x0f"))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := inspect(b)
		if err != nil {
			if !errors.Is(err, ErrInvalidModule) {
				t.Fatalf("error %v does not wrap ErrInvalidModule", err)
			}
			return
		}
		if len(r.Imports) < len(r.Unsupported) {
			t.Fatal("more unsupported imports than imports")
		}
		_ = r.Problem()
		// Lowering the table maxima keeps the module readable, with
		// every table bounded.
		info, err := parseModule(b)
		if err != nil {
			t.Fatal(err)
		}
		nb, err := boundTables(b, info, 1000)
		if err != nil {
			return
		}
		ni, err := parseModule(nb)
		if err != nil {
			t.Fatalf("bounded module does not parse: %v", err)
		}
		if len(ni.tables) != len(info.tables) || len(ni.imports) != len(info.imports) || len(ni.exports) != len(info.exports) {
			t.Fatal("bounding the tables changed other sections")
		}
		for _, tt := range ni.tables {
			if !tt.lim.hasMax || tt.lim.max > 1000 {
				t.Fatalf("table %+v not bounded", tt)
			}
		}
	})
}

// FuzzRun runs arbitrary bytes as a program on wazero's interpreter with
// tight limits: the engine must never panic, must refuse what is not a
// runnable module with ErrInvalidModule, and must keep running programs.
func FuzzRun(f *testing.F) {
	for _, name := range []string{"hello.wasm", "exit.wasm", "trap.wasm", "loop.wasm", "grow.wasm", "badimport.wasm", "traps.wasm", "files.wasm", "args.wasm"} {
		f.Add(testdata(f, name))
	}
	e, err := New(Options{Kind: WazeroInterp, CacheEntries: 4})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { e.Close() })
	hello := testdata(f, "hello.wasm")
	f.Fuzz(func(t *testing.T, b []byte) {
		cfg := Config{MemoryBytes: 1 << 20, Timeout: 50 * time.Millisecond, OutputBytes: 1 << 10}
		cfg.WASI.Args = []string{"prog", "u"}
		res, err := e.Run(context.Background(), Program{Wasm: b}, cfg)
		if err != nil {
			if !errors.Is(err, ErrInvalidModule) {
				t.Fatalf("error %v is not ErrInvalidModule", err)
			}
		} else if res.Outcome < Exited || res.Outcome > Cancelled {
			t.Fatalf("outcome %v", res.Outcome)
		}
		if res, err := e.Run(context.Background(), Program{Wasm: hello}, Config{}); err != nil || !res.OK() {
			t.Fatalf("engine no longer runs programs: %+v, %v", res, err)
		}
	})
}

func TestBoundTables(t *testing.T) {
	mod := func(tables ...string) []byte {
		body := string(rune(len(tables))) + strings.Join(tables, "")
		return []byte("\x00asm\x01\x00\x00\x00\x04" + string(rune(len(body))) + body + "\x07\x01\x00")
	}
	cases := []struct {
		name    string
		in      []byte
		same    bool
		maxes   []uint64
		refused bool
	}{
		{name: "no tables", in: []byte("\x00asm\x01\x00\x00\x00"), same: true},
		{name: "bounded", in: mod("\x70\x01\x02\x05"), same: true},
		{name: "no max", in: mod("\x70\x00\x02"), maxes: []uint64{100}},
		{name: "max too high", in: mod("\x70\x01\x02\xc8\x01"), maxes: []uint64{100}},
		{name: "two tables", in: mod("\x70\x01\x02\x05", "\x6f\x00\x00"), maxes: []uint64{5, 100}},
		{name: "too big from the start", in: mod("\x70\x00\xc8\x01"), refused: true},
	}
	for _, c := range cases {
		info, err := parseModule(c.in)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		out, err := boundTables(c.in, info, 100)
		if c.refused {
			if err == nil {
				t.Errorf("%s: not refused", c.name)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if c.same != (string(out) == string(c.in)) {
			t.Errorf("%s: changed %v", c.name, !c.same)
		}
		ni, err := parseModule(out)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		for i, m := range c.maxes {
			if !ni.tables[i].lim.hasMax || ni.tables[i].lim.max != m {
				t.Errorf("%s: table %d: %+v, want max %d", c.name, i, ni.tables[i].lim, m)
			}
		}
	}
}
