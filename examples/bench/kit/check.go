package kit

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/truce-project/truce/capability"
	"github.com/truce-project/truce/internal/engine"
)

// Check judges one run's files and standard output against the example's
// native reference; it reports through t.
type Check func(t *testing.T, inputs, files map[string][]byte, stdout string)

// Wasm builds the program (Go or C) from the example folder dir. A missing
// C compiler skips the test.
func Wasm(t testing.TB, dir string, p Program) []byte {
	t.Helper()
	var (
		b   []byte
		err error
	)
	if p.GoDir != "" {
		b, err = BuildGo(filepath.Join(dir, p.GoDir))
	} else {
		b, err = BuildC(filepath.Join(dir, p.CSource))
	}
	if errors.Is(err, ErrNoClang) {
		t.Skip(err.Error())
	}
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestAllWays runs the example's normal-size inputs natively and checks
// the run. With TRUCE_EXAMPLES_ENGINES=default (or =all) in the environment
// it also runs them under the default engine backend (or every backend),
// the steps as one chain and each variant on its own, and checks every run.
// The plain test run leaves the engines to the example's story test, which
// runs the programs in the real runtime: compiling a Go guest takes seconds
// (tens of seconds under wazero with -race), and the benchmark command
// compares every backend's output with the native run's anyway.
// The test's working directory must be the example's folder.
func TestAllWays(t *testing.T, ex Example, check Check) {
	inputs := ex.Inputs(false)
	t.Run("native", func(t *testing.T) {
		files, stdout, _, err := RunNative(t.TempDir(), ex.Steps, inputs)
		if err != nil {
			t.Fatal(err)
		}
		check(t, inputs, files, stdout)
	})
	chains := [][]Program{ex.Steps}
	for _, v := range ex.Variants {
		chains = append(chains, []Program{v})
	}
	var kinds []engine.Kind
	switch os.Getenv("TRUCE_EXAMPLES_ENGINES") {
	case "default":
		kinds = []engine.Kind{engine.Default()}
	case "all":
		kinds = engine.Kinds()
	}
	for _, kind := range kinds {
		t.Run(string(kind), func(t *testing.T) {
			eng, err := engine.New(engine.Options{Kind: kind})
			if err != nil {
				t.Fatal(err)
			}
			defer eng.Close()
			for _, chain := range chains {
				name := "go"
				if chain[0].CSource != "" {
					name = "c"
				}
				t.Run(name, func(t *testing.T) {
					var wasm [][]byte
					var caps []capability.Set
					for _, p := range chain {
						wasm = append(wasm, Wasm(t, ".", p))
						caps = append(caps, p.Caps)
					}
					run, err := RunEngine(context.Background(), eng, wasm, caps, inputs, nil)
					if err != nil {
						t.Fatal(err)
					}
					check(t, inputs, run.Files, run.Stdout)
				})
			}
		})
	}
}
