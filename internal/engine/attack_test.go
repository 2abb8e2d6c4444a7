package engine

import (
	"context"
	"errors"
	"runtime"
	"testing"
	"time"
)

// Attacks of a hostile program on the compiler: a module of a few bytes
// whose vector counts or local counts make a backend's decoder allocate
// gigabytes (wazero sizes its slices from the counts it reads, and a
// failed allocation of that size is a fatal error of the Go runtime, not a
// panic). Every one must be refused as an invalid module, by every
// backend and by Check, allocating next to nothing.

// bombBase is a runnable module (one function, _start, a memory named
// memory) with sections inserted where the binary format puts them: the
// hostile section replaces the one of its id, or is added.
func bombModule(sections map[byte][]byte) []byte {
	std := map[byte][]byte{
		1:  {1, 0x60, 0, 0},
		3:  {1, 0},
		5:  {1, 0, 1},
		7:  wasmName(append(wasmName([]byte{2}, "_start"), 0, 0), "memory"),
		10: {1, 2, 0, 0x0b},
	}
	std[7] = append(std[7], 2, 0)
	for id, b := range sections {
		std[id] = b
	}
	b := []byte("\x00asm\x01\x00\x00\x00")
	// The binary format's order: type, import, function, table, memory,
	// tag (13), global, export, start, element, data count (12), code,
	// data; custom sections (0) last here.
	for _, id := range []byte{1, 2, 3, 4, 5, 13, 6, 7, 8, 9, 12, 10, 11, 0} {
		if body, ok := std[id]; ok {
			b = section(b, id, body)
		}
	}
	return b
}

func u32max() []byte { return appendULEB(nil, 0xffffffff) }

func bombs() map[string][]byte {
	name := wasmName(nil, "name")
	return map[string][]byte{
		"code count":     bombModule(map[byte][]byte{10: u32max()}),
		"function count": bombModule(map[byte][]byte{3: u32max()}),
		"global count":   bombModule(map[byte][]byte{6: u32max()}),
		"element count":  bombModule(map[byte][]byte{9: u32max()}),
		// One active element segment for table 0 at offset 0, with 2^32-1
		// function indices.
		"element items": bombModule(map[byte][]byte{4: {1, 0x70, 0, 1}, 9: append([]byte{1, 0, 0x41, 0, 0x0b}, u32max()...)}),
		// The same as expressions (flag 5: passive, with a reference type).
		"element exprs": bombModule(map[byte][]byte{9: append([]byte{1, 5, 0x70}, u32max()...)}),
		"data count":    bombModule(map[byte][]byte{11: u32max()}),
		"tag count":     bombModule(map[byte][]byte{13: u32max()}),
		// The name section's function names, and local names of a
		// function.
		"function names": bombModule(map[byte][]byte{0: append(append(name, 1, 5), u32max()...)}),
		"local names":    bombModule(map[byte][]byte{0: append(append(name, 2, 7, 1, 0), u32max()...)}),
		// One function of 2^32-1 locals: a body of seven bytes that
		// wazero decodes into a slice of 4 GiB, filled one by one.
		"locals": bombModule(map[byte][]byte{10: append(append([]byte{1, 8, 1}, u32max()...), 0x7f, 0x0b)}),
		// Two groups of 2^31 locals each.
		"locals in groups": bombModule(map[byte][]byte{10: append(append(append(append([]byte{1, 14, 2},
			appendULEB(nil, 1<<31)...), 0x7f), appendULEB(nil, 1<<31-1)...), 0x7e, 0x0b)}),
	}
}

// TestAttackDecoderBombs: each bomb is refused as invalid before any
// backend decodes it, and the engine allocates less than 64 MiB for it.
func TestAttackDecoderBombs(t *testing.T) {
	for name, wasm := range bombs() {
		t.Run(name, func(t *testing.T) {
			check := func(what string, f func() error) {
				t.Helper()
				var before, after runtime.MemStats
				runtime.ReadMemStats(&before)
				t0 := time.Now()
				err := f()
				runtime.ReadMemStats(&after)
				if !errors.Is(err, ErrInvalidModule) {
					t.Errorf("%s: %v, want an invalid module", what, err)
				}
				if d := after.TotalAlloc - before.TotalAlloc; d > 64<<20 {
					t.Errorf("%s: allocated %d MiB", what, d>>20)
				}
				if d := time.Since(t0); d > 2*time.Second {
					t.Errorf("%s: took %v", what, d)
				}
			}
			check("Check", func() error { _, err := Check(wasm); return err })
			for _, k := range Kinds() {
				check(string(k), func() error {
					_, err := engineFor(t, k).Run(context.Background(), Program{Wasm: wasm}, Config{})
					return err
				})
			}
		})
	}
}

// TestAttackBombBaseRuns: the module the bombs are made from runs, so
// that each bomb is refused for its hostile section alone.
func TestAttackBombBaseRuns(t *testing.T) {
	for _, k := range Kinds() {
		res, _ := runIt(t, engineFor(t, k), bombModule(nil), Config{})
		if !res.OK() {
			t.Errorf("%s: %s %d %s", k, res.Outcome, res.ExitCode, res.Message)
		}
	}
}

// elemModule is a runnable module with one table of n entries (n at
// most maxTableElements) and a passive element segment of items
// function indices, each one byte in the module.
func elemModule(items int) []byte {
	seg := append([]byte{1, 1, 0}, appendULEB(nil, uint64(items))...)
	for range items {
		seg = append(seg, 0)
	}
	return bombModule(map[byte][]byte{4: {1, 0x70, 0, 1}, 9: seg})
}

// TestAttackElementItems: element items cost wazero over a hundred bytes
// each (at compile time and again at instantiation) and a module one
// byte: a program of 10 MB made a run allocate 1.5 GB. Their number is
// bounded by what a table may hold; a module at the bound still runs.
func TestAttackElementItems(t *testing.T) {
	if _, err := Check(elemModule(maxElemItems + 1)); !errors.Is(err, ErrInvalidModule) {
		t.Errorf("%d element items: %v, want an invalid module", maxElemItems+1, err)
	}
	wasm := elemModule(maxElemItems)
	for _, k := range Kinds() {
		res, _ := runIt(t, engineFor(t, k), wasm, Config{})
		if !res.OK() {
			t.Errorf("%s: %d element items: %s %s", k, maxElemItems, res.Outcome, res.Message)
		}
	}
}
