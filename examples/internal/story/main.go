// Package story runs an example's computation through the real Truce system,
// as its parties would: it builds the truce binary once per test binary
// (cached on disk, keyed by the module's source, so all examples share it),
// starts one attestation service ("truce pas serve --allow-sim") per test
// binary and one host ("truce host serve", which starts "truce runtime")
// per example, writes identities and a policy from a small declarative Spec,
// and hands the test a verified client session per principal.
//
// Use it from an example's test:
//
//	func TestMain(m *testing.M) { story.Main(m) }
//
//	func TestExample(t *testing.T) {
//		wasm := story.BuildGo(t, "program")
//		s := story.Start(t, story.Spec{
//			Name: "linear-regression",
//			Parties: []story.Party{
//				{Name: "owner", Caps: map[string]string{"/input/data.dat": "w", "/program/lr.wasm": "w"}},
//				{Name: "reader", Caps: map[string]string{"/program/lr.wasm": "x", "/output/": "r"}},
//			},
//			Programs: []story.Program{{Path: "/program/lr.wasm", Wasm: wasm,
//				Caps: map[string]string{"/input/": "r", "/output/": "w"}}},
//		})
//		s.UploadPrograms(t)
//		s.Put(t, "owner", "/input/data.dat", data)
//		s.Run(t, "reader", "/program/lr.wasm")
//		got := s.Get(t, "reader", "/output/result.dat")
//		…
//	}
//
// Every run's receipt is checked against the policy. The host is shut down
// through the API at the end of the test (by a principal who may), and the
// attestation service when the test binary ends.
//
// This package is for tests only. It must never reach into a process's
// memory or files to make a test pass: everything goes through the client
// SDK, as a party would; nor may it leave a child process running after the
// test binary ends.
package story

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/truce-project/truce/internal/deployment"
)

// world is what one test binary shares between its examples: the truce
// binary (with its measurement) and the attestation service.
type world struct {
	dir string // temporary; removed by Main
	bin *deployment.Binary

	pasOnce sync.Once
	pas     *deployment.AttestationService
	pasErr  error
}

var (
	mainMu  sync.Mutex
	current *world
)

// Main runs the tests of an example package, from its TestMain: it builds
// the truce binary (once; cached on disk across test binaries, see
// deployment.Build), runs the tests, then stops the attestation service if
// one was started and removes the temporary files. It exits the process
// with the tests' code.
func Main(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	dir, err := os.MkdirTemp("", "truce-story-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "story:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	w := &world{dir: dir}
	root, err := deployment.ModuleRoot()
	if err == nil {
		w.bin, err = deployment.Build(context.Background(), root)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "story:", err)
		return 1
	}
	mainMu.Lock()
	current = w
	mainMu.Unlock()
	code := m.Run()
	if w.pas != nil {
		w.pas.Stop()
	}
	return code
}

// theWorld returns the test binary's shared state, failing t if the
// package's TestMain does not call Main.
func theWorld(t testing.TB) *world {
	t.Helper()
	mainMu.Lock()
	defer mainMu.Unlock()
	if current == nil {
		t.Fatal("story: the package's TestMain must call story.Main(m)")
	}
	return current
}

// Binary returns the path of the truce binary built for this test binary,
// for tests that also drive the CLI. The package's TestMain must call Main.
func Binary(t testing.TB) string {
	t.Helper()
	return theWorld(t).bin.Path
}

// attestationService starts the test binary's attestation service on first
// use and returns it.
func (w *world) attestationService() (*deployment.AttestationService, error) {
	w.pasOnce.Do(func() {
		w.pas, w.pasErr = w.bin.StartAttestationService(context.Background(),
			deployment.AttestationServiceOptions{Dir: filepath.Join(w.dir, "pas"), Init: true})
	})
	return w.pas, w.pasErr
}
