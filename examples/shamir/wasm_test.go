package shamir

import (
	"bytes"
	"context"
	"encoding/hex"
	"fmt"
	"io"
	goruntime "runtime"
	"testing"

	"github.com/truce-project/truce/capability"
	"github.com/truce-project/truce/internal/engine"
	"github.com/truce-project/truce/internal/trucetest"
	"github.com/truce-project/truce/internal/vfs"
	"github.com/truce-project/truce/internal/wasi"
)

func TestWasmReproducible(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the guest program")
	}
	if goruntime.Version() != GoVersion {
		t.Skipf("shamir.wasm was built with %s, this is %s: rebuild with go generate to compare", GoVersion, goruntime.Version())
	}
	got := trucetest.BuildGo(t, "program")
	if !bytes.Equal(got, Wasm) {
		t.Fatal("shamir.wasm differs from a fresh build of ./program: run go generate in examples/shamir and commit it")
	}
}

// TestWasmUnderEngine runs the prebuilt program the way the runtime does:
// under the engine, over the in-memory file system, with the program's
// capabilities from the example policy, on the shares published in
// Veracruz's command-line walkthrough (vc-client submitting
// /input/shamir-0.dat … /input/shamir-2.dat, which combine to
// "Hello World!\n").
func TestWasmUnderEngine(t *testing.T) {
	shares := []string{"01dc061a7bdaf77616dd5915f3b4", "027f38e27b5a02a288d064965364", "03eb5b946cefd583f17f51e781da"}
	fs := vfs.New(vfs.Limits{FileBytes: 1 << 20, TotalBytes: 8 << 20}, nil)
	admin := fs.View(capability.Set{"/": capability.All})
	for i, h := range shares {
		b, err := hex.DecodeString(h)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := admin.WriteFile(fmt.Sprintf("/input/shamir-%d.dat", i), bytes.NewReader(b)); err != nil {
			t.Fatal(err)
		}
	}
	if err := admin.MkdirAll("/output"); err != nil {
		t.Fatal(err)
	}
	for _, kind := range engine.Kinds() {
		t.Run(string(kind), func(t *testing.T) {
			eng, err := engine.New(engine.Options{Kind: kind})
			if err != nil {
				t.Fatal(err)
			}
			defer eng.Close()
			if kind == engine.WazeroInterp && testing.Short() {
				t.Skip("interpreter is slow")
			}
			var stdout, stderr bytes.Buffer
			res, err := eng.Run(context.Background(), engine.Program{Wasm: Wasm}, engine.Config{WASI: wasi.Config{
				Args: []string{Path}, Stdout: &stdout, Stderr: &stderr,
				FS: fs.View(capability.Set{"/input/": capability.Read, "/output/": capability.Write}),
			}})
			if err != nil {
				t.Fatal(err)
			}
			if !res.OK() {
				t.Fatalf("%s: %s (exit %d) %s; stderr %q", kind, res.Outcome, res.ExitCode, res.Message, stderr.String())
			}
			s, err := admin.Open("/output/shamir.dat")
			if err != nil {
				t.Fatal(err)
			}
			got, _ := io.ReadAll(s)
			if string(got) != "Hello World!\n" || stdout.String() != "combined 3 shares\n" {
				t.Fatalf("output %q, stdout %q", got, stdout.String())
			}
		})
	}
}
