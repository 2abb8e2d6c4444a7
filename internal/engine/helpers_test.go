package engine

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/truce-project/truce/internal/abi"
	"github.com/truce-project/truce/internal/trucetest"
	"github.com/truce-project/truce/internal/wasi"
)

// One engine per backend, shared by the tests: wasmtime's compiler is
// slow to start, and sharing shows the engine survives every outcome.
var (
	enginesMu sync.Mutex
	engines   = map[Kind]Engine{}
)

func engineFor(t testing.TB, k Kind) Engine {
	t.Helper()
	enginesMu.Lock()
	defer enginesMu.Unlock()
	if e, ok := engines[k]; ok {
		return e
	}
	e, err := New(Options{Kind: k})
	if err != nil {
		t.Fatalf("New(%s): %v", k, err)
	}
	engines[k] = e
	return e
}

func TestMain(m *testing.M) {
	code := m.Run()
	for _, e := range engines {
		_ = e.Close()
	}
	os.Exit(code)
}

func testdata(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func goGuest(t testing.TB, name string) []byte {
	t.Helper()
	return trucetest.BuildGo(t, filepath.Join("..", "guests", "go", name))
}

// output is what a run wrote.
type output struct {
	stdout, stderr bytes.Buffer
}

// runIt runs wasm on e with args (program name first) and the given
// limits, over fs if not nil (the program may read and write /data/).
func runIt(t testing.TB, e Engine, wasm []byte, cfg Config, args ...string) (*Result, *output) {
	t.Helper()
	var out output
	cfg.WASI.Args = append([]string{"prog"}, args...)
	cfg.WASI.Stdout, cfg.WASI.Stderr = &out.stdout, &out.stderr
	res, err := e.Run(context.Background(), Program{Wasm: wasm}, cfg)
	if err != nil {
		t.Fatalf("%s: Run: %v", e.Kind(), err)
	}
	return res, &out
}

var _ = abi.WASIModule

func wasiArgs(args ...string) wasi.Config { return wasi.Config{Args: args} }

// guestKinds are the backends to run Go and C guests on: all of them,
// except wazero's compiler under the race detector.
func guestKinds(t testing.TB) []Kind {
	var ks []Kind
	for _, k := range Kinds() {
		if raceEnabled && k == Wazero {
			t.Logf("race detector on: Go and C guests skip %s (slow to compile under -race)", k)
			continue
		}
		ks = append(ks, k)
	}
	return ks
}
