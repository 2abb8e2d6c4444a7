package engine

import (
	"bytes"
	"strings"
	"testing"
)

// TestWriteText marks what the runtime does not provide as MISSING, with
// why, and says whether the module exports _start.
func TestWriteText(t *testing.T) {
	r, err := Check(file("badimport.wasm")(t))
	if err != nil {
		t.Fatal(err)
	}
	var w bytes.Buffer
	r.WriteText(&w, "bad.wasm", 123)
	for _, want := range []string{"bad.wasm: valid WebAssembly module, 123 bytes\n", "exports _start: yes\n", "  MISSING env.now", "native modules: none\n"} {
		if !strings.Contains(w.String(), want) {
			t.Errorf("text lacks %q:\n%s", want, w.String())
		}
	}
}
