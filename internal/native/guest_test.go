package native_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/truce-project/truce/capability"
	"github.com/truce-project/truce/internal/abi"
	"github.com/truce-project/truce/internal/engine"
	"github.com/truce-project/truce/internal/guests"
	"github.com/truce-project/truce/internal/native"
	"github.com/truce-project/truce/internal/trucetest"
	"github.com/truce-project/truce/internal/vfs"
	"github.com/truce-project/truce/internal/wasi"
)

var grant = []string{native.ModuleCrypto}

// runGuest runs wasm on a fresh engine of kind k with /vectors.json
// holding vectors, and returns the result and what it printed.
func runGuest(t *testing.T, e engine.Engine, wasm, vectors []byte, granted []string) (*engine.Result, string, error) {
	t.Helper()
	fs := vfs.New(vfs.Limits{}, nil)
	if _, err := fs.Unchecked().WriteFile("/vectors.json", bytes.NewReader(vectors)); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	res, err := e.Run(context.Background(), engine.Program{Wasm: wasm}, engine.Config{
		WASI:   wasi.Config{Args: []string{"kat"}, Stdout: &out, Stderr: &out, FS: fs.View(capability.Set{"/": capability.Read})},
		Native: granted,
	})
	return res, out.String(), err
}

// One engine per backend, shared by the tests so that each compiles the
// guest once.
var (
	enginesMu sync.Mutex
	shared    map[engine.Kind]engine.Engine
)

func engines(t testing.TB) map[engine.Kind]engine.Engine {
	enginesMu.Lock()
	defer enginesMu.Unlock()
	if shared == nil {
		shared = map[engine.Kind]engine.Engine{}
		for _, k := range engine.Kinds() {
			e, err := engine.New(engine.Options{Kind: k})
			if err != nil {
				t.Fatal(err)
			}
			shared[k] = e
		}
	}
	return shared
}

func TestMain(m *testing.M) {
	code := m.Run()
	for _, e := range shared {
		e.Close()
	}
	os.Exit(code)
}

// TestGuestKnownAnswers runs every published vector through a Go wasip1
// program calling truce_crypto, on every backend, and checks that a
// changed vector fails there too.
func TestGuestKnownAnswers(t *testing.T) {
	wasm := trucetest.BuildGo(t, "testdata/kat")
	vectors, err := os.ReadFile("testdata/vectors.json")
	if err != nil {
		t.Fatal(err)
	}
	// A changed expected answer: the GCM specification's tag.
	bad := bytes.Replace(vectors, []byte("5bc94fbc3221a5db94fae95ae7121a47"), []byte("5bc94fbc3221a5db94fae95ae7121a48"), 1)
	if bytes.Equal(bad, vectors) {
		t.Fatal("the vector to change is not in vectors.json")
	}
	rep, err := engine.Check(wasm)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Runnable() || len(rep.Native) != 1 || rep.Native[0] != native.ModuleCrypto {
		t.Fatalf("Check: runnable %v, native %v: %s", rep.Runnable(), rep.Native, rep.Problem())
	}
	for k, e := range engines(t) {
		t.Run(string(k), func(t *testing.T) {
			res, out, err := runGuest(t, e, wasm, vectors, grant)
			if err != nil {
				t.Fatal(err)
			}
			if !res.OK() || !strings.Contains(out, "21 of 21 vectors passed") {
				t.Fatalf("%v %d %s\n%s", res.Outcome, res.ExitCode, res.Message, out)
			}
			res, out, err = runGuest(t, e, wasm, bad, grant)
			if err != nil {
				t.Fatal(err)
			}
			if res.ExitCode != 1 || !strings.Contains(out, "FAIL GCM specification test case 4") || !strings.Contains(out, "20 of 21") {
				t.Fatalf("changed vector: %v %d\n%s", res.Outcome, res.ExitCode, out)
			}
		})
	}
}

// TestNotGranted checks that a program importing truce_crypto does not
// start unless its run grants the module, on every backend.
func TestNotGranted(t *testing.T) {
	wasm := trucetest.BuildGo(t, "testdata/kat")
	for k, e := range engines(t) {
		t.Run(string(k), func(t *testing.T) {
			for _, g := range [][]string{nil, {}} {
				_, out, err := runGuest(t, e, wasm, nil, g)
				if !errors.Is(err, engine.ErrNotGranted) || !strings.Contains(err.Error(), native.ModuleCrypto) {
					t.Fatalf("granted %v: err %v", g, err)
				}
				if out != "" {
					t.Fatalf("the program ran: %q", out)
				}
			}
			if _, _, err := runGuest(t, e, wasm, nil, []string{"truce_nope"}); !errors.Is(err, abi.ErrUnknownModule) {
				t.Fatalf("unknown module granted: %v", err)
			}
		})
	}
}

// TestHostileGuest runs a hand-written module that passes pointers and
// lengths outside its memory and overlapping buffers, on every backend.
func TestHostileGuest(t *testing.T) {
	wasm, err := os.ReadFile("testdata/hostile.wasm")
	if err != nil {
		t.Fatal(err)
	}
	for k, e := range engines(t) {
		t.Run(string(k), func(t *testing.T) {
			res, out, err := runGuest(t, e, wasm, nil, grant)
			if err != nil {
				t.Fatal(err)
			}
			if !res.OK() {
				t.Fatalf("%v: exit code %d (the step whose errno was wrong) %s %s", res.Outcome, res.ExitCode, res.Message, out)
			}
		})
	}
}

// TestCGuest runs a C program that calls truce_crypto through
// include/truce_crypto.h, with published vectors and hostile calls, on
// every backend. It skips when clang-14 and wasi-libc are absent.
func TestCGuest(t *testing.T) {
	wasm := guests.BuildC(t, "testdata/c/kat.c")
	for k, e := range engines(t) {
		t.Run(string(k), func(t *testing.T) {
			res, out, err := runGuest(t, e, wasm, nil, grant)
			if err != nil {
				t.Fatal(err)
			}
			if !res.OK() || !strings.Contains(out, "all passed") {
				t.Fatalf("%v: exit code %d (the failed check) %s\n%s", res.Outcome, res.ExitCode, res.Message, out)
			}
		})
	}
}
