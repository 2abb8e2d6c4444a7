package wasi_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/sys"

	"github.com/truce-project/truce/capability"
	"github.com/truce-project/truce/internal/abi"
	"github.com/truce-project/truce/internal/trucetest"
	"github.com/truce-project/truce/internal/vfs"
	"github.com/truce-project/truce/internal/wasi"
)

// runGuest runs a wasip1 module with wazero's interpreter, binding
// Functions as an engine does.
func runGuest(t *testing.T, wasm []byte, s *wasi.System) (exitCode uint32) {
	t.Helper()
	ctx := context.Background()
	rt := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfigInterpreter())
	defer rt.Close(ctx)
	b := rt.NewHostModuleBuilder(abi.WASIModule)
	types := func(vs []abi.ValueType) []api.ValueType {
		out := make([]api.ValueType, len(vs))
		for i, v := range vs {
			out[i] = api.ValueTypeI32
			if v == abi.I64 {
				out[i] = api.ValueTypeI64
			}
		}
		return out
	}
	for _, f := range wasi.Functions() {
		b.NewFunctionBuilder().WithGoModuleFunction(api.GoModuleFunc(func(ctx context.Context, mod api.Module, stack []uint64) {
			var m []byte
			if mem := mod.Memory(); mem != nil {
				m, _ = mem.Read(0, mem.Size())
			}
			if err := f.Call(ctx, s, m, stack); err != nil {
				var ee *wasi.ExitError
				if errors.As(err, &ee) {
					panic(sys.NewExitError(ee.Code))
				}
				panic(err)
			}
		}), types(f.Params), types(f.Results)).Export(f.Name)
	}
	if _, err := b.Instantiate(ctx); err != nil {
		t.Fatal(err)
	}
	_, err := rt.InstantiateWithConfig(ctx, wasm, wazero.NewModuleConfig().WithStartFunctions("_start"))
	var ee *sys.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	if err != nil {
		t.Fatalf("guest failed: %v", err)
	}
	return 0
}

// TestGoGuestCapabilities runs a Go program that uses the file system
// through package os under restricted capabilities.
func TestGoGuestCapabilities(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and interprets a Go guest")
	}
	wasm := trucetest.BuildGo(t, "testdata/capguest")
	fsys := vfs.New(vfs.Limits{FileBytes: 1 << 20, TotalBytes: 1 << 22}, nil)
	admin := fsys.Unchecked()
	for p, c := range map[string]string{
		"/in/data.csv": "a,b", "/in/other.csv": "hidden", "/secret/key": "k",
		"/log": "start", "/prog.wasm": "\x00asm",
	} {
		if _, err := admin.WriteFile(p, strings.NewReader(c)); err != nil {
			t.Fatal(err)
		}
	}
	var stdout, stderr bytes.Buffer
	s := wasi.New(wasi.Config{
		Args: []string{"capguest", "x", "y z"}, Env: []string{"K=V"},
		Stdin: strings.NewReader("from stdin"), Stdout: &stdout, Stderr: &stderr,
		FS: fsys.View(capability.Set{
			"/in/data.csv": capability.Read,
			"/out/":        capability.Read | capability.Write,
			"/log":         capability.Append,
			"/prog.wasm":   capability.Execute,
		}),
	})
	defer s.Close()
	code := runGuest(t, wasm, s)
	want := `args: x|y z env: V
stdin: from stdin
root: in/ log
in: data.csv
read in: a,b ok
write in: permission
read secret: notexist
read exec-only: notexist
open log append: ok
append log: ok
read log: permission
truncate log: permission
mkdir out: ok
write out: ok
rename: ok
stat: 12 true
rw: hello, truce
remove dirs: ok
out: result.txt
escape: notexist
slept: true
`
	if stdout.String() != want {
		t.Errorf("transcript:\n%s\nwant:\n%s", stdout.String(), want)
	}
	if code != 3 || stderr.String() != "done\n" {
		t.Errorf("exit code %d, stderr %q", code, stderr.String())
	}
	if got := readGuestFile(admin, "/log"); got != "start+run" {
		t.Errorf("log = %q", got)
	}
	if got := readGuestFile(admin, "/out/result.txt"); got != "hello, truce" {
		t.Errorf("result = %q", got)
	}
	if got := readGuestFile(admin, "/in/data.csv"); got != "a,b" {
		t.Errorf("input changed to %q", got)
	}
}

// readGuestFile returns the contents of p, or the error opening it.
func readGuestFile(v *vfs.View, p string) string {
	f, err := v.Open(p)
	if err != nil {
		return err.Error()
	}
	b := make([]byte, f.Size())
	f.ReadAt(b, 0)
	return string(b)
}
