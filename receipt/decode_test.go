package receipt

import (
	"os"
	"testing"

	"github.com/rogpeppe/go-internal/txtar"
)

// FuzzDecode feeds arbitrary bytes to the receipt file decoder of "truce
// receipt verify": it must never panic, and what it returns is either an
// error or a receipt.
func FuzzDecode(f *testing.F) {
	if a, err := txtar.ParseFile("../cmd/truce/testdata/script/receipt_verify.txtar"); err == nil {
		for _, file := range a.Files {
			f.Add(file.Data)
		}
	}
	if b, err := os.ReadFile("testdata/signed.json"); err == nil {
		f.Add(b)
	}
	f.Add([]byte(`{"receipt":null}`))
	f.Add([]byte(`{"result":{"receipt":{"version":1}}}`))
	f.Add([]byte(`{"version":1,"extra":true}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := Decode(b)
		if (r == nil) == (err == nil) {
			t.Fatalf("Decode(%q) = %v, %v", b, r, err)
		}
	})
}

// TestDecodeForms finds the receipt in every JSON shape the client
// commands write: a bare receipt, a run result, a pipeline result (whose
// "pipeline" is the pipeline's name) and a problem about a stopped pipeline.
func TestDecodeForms(t *testing.T) {
	tests := []struct {
		name, json string
		ok         bool
	}{
		{"bare", `{"version":1}`, true},
		{"run result", `{"program":"/p.wasm","receipt":{"version":1}}`, true},
		{"pipeline result", `{"pipeline":"primes","steps":[],"receipt":{"version":1}}`, true},
		{"stopped pipeline problem", `{"type":"x","pipeline":{"pipeline":"primes","receipt":{"version":1}}}`, true},
		{"failed run problem", `{"type":"x","result":{"receipt":{"version":1}}}`, true},
		{"no receipt", `{"pipeline":"primes"}`, false},
		{"not JSON", `receipt`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := Decode([]byte(tt.json))
			if tt.ok && (err != nil || r == nil || r.Version != 1) {
				t.Fatalf("Decode(%s) = %v, %v; want a version 1 receipt", tt.json, r, err)
			}
			if !tt.ok && err == nil {
				t.Fatalf("Decode(%s) = %v; want an error", tt.json, r)
			}
		})
	}
}
