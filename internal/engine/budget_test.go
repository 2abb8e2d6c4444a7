package engine

import (
	"context"
	"errors"
	"strings"
	"testing"
)

// genModule is a module made by the tests: its memories and tables, and
// what _start does with them. _start grows, then calls proc_exit(1) if
// its tables (at tableElemBytes an entry) and memory together hold more
// than check bytes, else proc_exit(0).
type genModule struct {
	memories []limits
	tables   []limits
	grows    []grow
	check    int64
}

// grow is one step of _start: table.grow of table (or memory.grow when
// table < 0) by n.
type grow struct {
	table int
	n     uint32
}

func appendSLEB(b []byte, v int64) []byte {
	for {
		c := byte(v & 0x7f)
		v >>= 7
		if v == 0 && c&0x40 == 0 || v == -1 && c&0x40 != 0 {
			return append(b, c)
		}
		b = append(b, c|0x80)
	}
}

func appendLimits(b []byte, l limits) []byte {
	flag := byte(0)
	if l.hasMax {
		flag |= 1
	}
	if l.shared {
		flag |= 2
	}
	b = append(b, flag)
	b = appendULEB(b, l.min)
	if l.hasMax {
		b = appendULEB(b, l.max)
	}
	return b
}

func section(b []byte, id byte, body []byte) []byte {
	b = append(b, id)
	b = appendULEB(b, uint64(len(body)))
	return append(b, body...)
}

func wasmName(b []byte, s string) []byte {
	b = appendULEB(b, uint64(len(s)))
	return append(b, s...)
}

// encode writes the module in the binary format.
func (g genModule) encode() []byte {
	b := []byte("\x00asm\x01\x00\x00\x00")
	b = section(b, 1, []byte{2, 0x60, 1, 0x7f, 0, 0x60, 0, 0})
	imp := wasmName([]byte{1}, "wasi_snapshot_preview1")
	imp = append(wasmName(imp, "proc_exit"), 0, 0)
	b = section(b, 2, imp)
	b = section(b, 3, []byte{1, 1})
	if len(g.tables) > 0 {
		t := appendULEB(nil, uint64(len(g.tables)))
		for _, l := range g.tables {
			t = appendLimits(append(t, 0x70), l)
		}
		b = section(b, 4, t)
	}
	if len(g.memories) > 0 {
		m := appendULEB(nil, uint64(len(g.memories)))
		for _, l := range g.memories {
			m = appendLimits(m, l)
		}
		b = section(b, 5, m)
	}
	ex := wasmName([]byte{1}, "_start")
	ex = append(ex, 0, 1)
	if len(g.memories) > 0 {
		ex[0] = 2
		ex = append(wasmName(ex, "memory"), 2, 0)
	}
	b = section(b, 7, ex)
	code := []byte{0}
	for _, gr := range g.grows {
		if gr.table < 0 {
			if len(g.memories) == 0 {
				continue
			}
			code = appendSLEB(append(code, 0x41), int64(int32(gr.n)))
			code = append(code, 0x40, 0, 0x1a)
			continue
		}
		if gr.table >= len(g.tables) {
			continue
		}
		code = append(code, 0xd0, 0x70, 0x41)
		code = appendSLEB(code, int64(int32(gr.n)))
		code = appendULEB(append(code, 0xfc, 0x0f), uint64(gr.table))
		code = append(code, 0x1a)
	}
	code = append(code, 0x42, 0)
	for i := range g.tables {
		code = appendULEB(append(code, 0xfc, 0x10), uint64(i))
		code = append(code, 0xad, 0x42, 8, 0x7e, 0x7c)
	}
	if len(g.memories) > 0 {
		code = append(code, 0x3f, 0, 0xad, 0x42)
		code = appendSLEB(code, pageSize)
		code = append(code, 0x7e, 0x7c)
	}
	code = appendSLEB(append(code, 0x42), g.check)
	code = append(code, 0x56, 0x10, 0, 0x0b)
	body := appendULEB(nil, uint64(len(code)))
	body = append(body, code...)
	return section(b, 10, append([]byte{1}, body...))
}

func lim(min uint64) limits           { return limits{min: min} }
func limMax(min, max uint64) limits   { return limits{min: min, max: max, hasMax: true} }
func repeat(l limits, n int) []limits { return slicesRepeat(l, n) }

func slicesRepeat(l limits, n int) []limits {
	out := make([]limits, n)
	for i := range out {
		out[i] = l
	}
	return out
}

// TestOneBudget: one memory budget per run covers the linear memory and
// every table, on every backend. Modules of many memories or many large
// tables are refused or end as MemoryExceeded before they take the
// host's memory; modules within the budget run, and no table grows past
// what the budget charged for it.
func TestOneBudget(t *testing.T) {
	const limit = 16 << 20
	cases := []struct {
		name    string
		m       genModule
		cfg     Config
		invalid string // ErrInvalidModule with this text
		outcome Outcome
		msg     string
		code    uint32
	}{
		{name: "no memory at all", m: genModule{}, outcome: Exited},
		{name: "eight memories", m: genModule{memories: repeat(limMax(1, 4096), 8)}, invalid: "8 linear memories"},
		{name: "shared memory", m: genModule{memories: []limits{{min: 1, max: 2, hasMax: true, shared: true}}}, invalid: "shared memory"},
		{name: "table too large to start", m: genModule{tables: []limits{lim(maxTableElements + 1)}}, invalid: "starts with"},
		{name: "forty full tables", m: genModule{memories: []limits{lim(1)}, tables: repeat(lim(maxTableElements), 40)},
			outcome: MemoryExceeded, msg: "40 tables may take"},
		{name: "many tables of no maximum", m: genModule{memories: []limits{lim(1)}, tables: repeat(lim(0), 90)},
			outcome: MemoryExceeded, msg: "90 tables"},
		{name: "more tables than any run", m: genModule{tables: repeat(limMax(0, 0), maxTables+1)}, invalid: "101 tables"},
		{name: "tables leave too little memory", m: genModule{memories: []limits{lim(200)}, tables: repeat(lim(maxTableElements), 1)},
			outcome: MemoryExceeded, msg: "initial memory is 12 MiB"},
		{name: "tables and memory within the budget", m: genModule{memories: []limits{lim(1)}, tables: repeat(limMax(10, 10), 4),
			grows: []grow{{-1, 100}}, check: limit}, outcome: Exited},
		{name: "growth bounded by the budget", m: genModule{memories: []limits{lim(1)}, tables: repeat(lim(1), 3),
			grows: []grow{{0, 1 << 20}, {1, noMaxGrowth}, {2, noMaxGrowth}, {-1, 1 << 16}, {-1, 150}}, check: limit}, outcome: Exited},
		{name: "memory grows into what the tables leave", m: genModule{memories: []limits{lim(1)}, tables: repeat(limMax(1, 1<<19), 2),
			grows: []grow{{0, 1 << 18}, {1, 1 << 18}, {-1, 255}}, check: 12 << 20}, outcome: Exited},
	}
	for _, k := range Kinds() {
		for _, c := range cases {
			t.Run(string(k)+"/"+c.name, func(t *testing.T) {
				cfg := c.cfg
				cfg.MemoryBytes = limit
				res, err := engineFor(t, k).Run(context.Background(), Program{Wasm: c.m.encode()}, cfg)
				if c.invalid != "" {
					if !errors.Is(err, ErrInvalidModule) || !strings.Contains(err.Error(), c.invalid) {
						t.Fatalf("got %v, %+v; want ErrInvalidModule saying %q", err, res, c.invalid)
					}
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				if res.Outcome != c.outcome || !strings.Contains(res.Message, c.msg) || res.ExitCode != c.code {
					t.Fatalf("%v %d %q, want %v %d %q", res.Outcome, res.ExitCode, res.Message, c.outcome, c.code, c.msg)
				}
			})
		}
	}
}

// TestBudgetOf: what budgetOf charges and refuses.
func TestBudgetOf(t *testing.T) {
	cases := []struct {
		name     string
		m        genModule
		bytes    int64
		memLimit int64 // under a 16 MiB limit; 0: over
	}{
		{"nothing", genModule{}, 0, 16 << 20},
		{"one fixed table", genModule{tables: []limits{limMax(3, 3)}}, 3*8 + tableOverhead, 16<<20 - pageSize},
		{"no maximum", genModule{tables: []limits{lim(5)}}, (5+noMaxGrowth)*8 + tableOverhead, 16<<20 - 9*pageSize},
		{"maximum over the cap", genModule{tables: []limits{limMax(0, 1<<30)}}, maxTableElements*8 + tableOverhead, 8<<20 - pageSize},
		{"two full", genModule{tables: repeat(lim(maxTableElements), 2)}, 2 * (maxTableElements*8 + tableOverhead), 0},
	}
	for _, c := range cases {
		info, err := parseModule(c.m.encode())
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		b, err := budgetOf(info)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if b.tableBytes != c.bytes {
			t.Errorf("%s: tables charged %d bytes, want %d", c.name, b.tableBytes, c.bytes)
		}
		got, msg := b.memoryLimit(16 << 20)
		if got != c.memLimit || (got == 0) != (msg != "") {
			t.Errorf("%s: memory limit %d (%q), want %d", c.name, got, msg, c.memLimit)
		}
	}
}

// FuzzModules runs modules made from the fuzzer's bytes (up to three
// memories, up to 64 tables of any limits, and growth of each) on every
// backend under a small limit, and checks that each is refused as
// invalid, refused before it starts, or runs with its tables and memory
// within the one budget (the module checks itself, from inside).
func FuzzModules(f *testing.F) {
	f.Add([]byte{1, 3, 0, 0, 1, 0, 0xff, 0xff, 0, 1, 0x10})
	f.Add([]byte{2, 1, 1, 0, 1, 0})
	f.Add([]byte{1, 64, 0, 0, 0, 1, 0, 0xff, 0xff, 0})
	f.Add([]byte{0, 2, 1, 0, 0x10, 0, 0x10, 0, 0, 0xff, 0xff, 0xff, 1, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, in []byte) {
		const limit = 4 << 20
		next := func() byte {
			if len(in) == 0 {
				return 0
			}
			c := in[0]
			in = in[1:]
			return c
		}
		u24 := func() uint64 { return uint64(next()) | uint64(next())<<8 | uint64(next())<<16 }
		var g genModule
		nm, nt := int(next()%4), int(next()%65)
		for range nm {
			l := limits{min: uint64(next() % 80)}
			if fl := next(); fl&1 != 0 {
				l.hasMax, l.max = true, l.min+uint64(next())
			}
			g.memories = append(g.memories, l)
		}
		for range nt {
			l := limits{min: u24() % (maxTableElements + 2)}
			if fl := next(); fl&1 != 0 {
				l.hasMax, l.max = true, l.min+u24()
			}
			g.tables = append(g.tables, l)
		}
		for len(in) >= 4 {
			g.grows = append(g.grows, grow{table: int(int8(next())) % 65, n: uint32(u24())})
		}
		g.check = limit
		wasm := g.encode()
		for _, k := range Kinds() {
			if k == WazeroInterp {
				continue // the same wazero code as the compiler, slower
			}
			res, err := engineFor(t, k).Run(context.Background(), Program{Wasm: wasm}, Config{MemoryBytes: limit})
			if err != nil {
				if !errors.Is(err, ErrInvalidModule) {
					t.Fatalf("%s: %v", k, err)
				}
				continue
			}
			switch {
			case res.Outcome == MemoryExceeded && res.Exec == 0:
			case res.Outcome == Exited && res.ExitCode == 0:
			default:
				t.Fatalf("%s: %v %d %s: the tables and memory went past the budget, or the run failed", k, res.Outcome, res.ExitCode, res.Message)
			}
		}
	})
}
