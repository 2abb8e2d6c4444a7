package shamir

import (
	"bytes"
	goruntime "runtime"
	"testing"

	"github.com/truce-project/truce/trucetest"
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
