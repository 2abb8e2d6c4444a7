//go:build cgo

package engine

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bytecodealliance/wasmtime-go/v39"
)

func init() { wasmtimeWASI = runWasmtimeWASI }

// runWasmtimeWASI runs a program with wasmtime's own WASI implementation
// over a host directory preopened as /data: the reference transcript.
func runWasmtimeWASI(t *testing.T, wasm []byte) (transcript, bool) {
	dir, tmp := t.TempDir(), t.TempDir()
	in, out, errf := filepath.Join(tmp, "in"), filepath.Join(tmp, "out"), filepath.Join(tmp, "err")
	if err := os.WriteFile(in, []byte(conformStdin), 0o644); err != nil {
		t.Fatal(err)
	}
	wc := wasmtime.NewWasiConfig()
	wc.SetArgv(append([]string{"conform"}, conformArgs...))
	var keys, vals []string
	for _, kv := range conformEnv {
		k, v, _ := strings.Cut(kv, "=")
		keys, vals = append(keys, k), append(vals, v)
	}
	wc.SetEnv(keys, vals)
	for _, err := range []error{wc.SetStdinFile(in), wc.SetStdoutFile(out), wc.SetStderrFile(errf),
		wc.PreopenDir(dir, "/data", wasmtime.DIR_READ|wasmtime.DIR_WRITE, wasmtime.FILE_READ|wasmtime.FILE_WRITE)} {
		if err != nil {
			t.Fatal(err)
		}
	}
	eng := wasmtime.NewEngine()
	defer eng.Close()
	store := wasmtime.NewStore(eng)
	defer store.Close()
	store.SetWasi(wc)
	linker := wasmtime.NewLinker(eng)
	defer linker.Close()
	if err := linker.DefineWasi(); err != nil {
		t.Fatal(err)
	}
	mod, err := wasmtime.NewModule(eng, wasm)
	if err != nil {
		t.Fatal(err)
	}
	inst, err := linker.Instantiate(store, mod)
	if err != nil {
		t.Fatal(err)
	}
	_, err = inst.GetFunc(store, "_start").Call(store)
	var code uint32
	if err != nil {
		var we *wasmtime.Error
		st, ok := int32(0), false
		if errors.As(err, &we) {
			st, ok = we.ExitStatus()
		}
		if !ok {
			t.Fatalf("wasmtime WASI: %v", err)
		}
		code = uint32(st)
	}
	so, _ := os.ReadFile(out)
	se, _ := os.ReadFile(errf)
	return transcript{stdout: string(so), stderr: string(se), code: code, files: hostFiles(t, dir)}, true
}
