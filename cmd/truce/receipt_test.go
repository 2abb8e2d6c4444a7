package main

import (
	"testing"

	"github.com/rogpeppe/go-internal/txtar"
)

// FuzzDecodeReceipt feeds arbitrary bytes to the receipt file decoder of
// "truce receipt verify": it must never panic, and what it returns is
// either an error or a receipt.
func FuzzDecodeReceipt(f *testing.F) {
	if a, err := txtar.ParseFile("testdata/script/receipt_verify.txtar"); err == nil {
		for _, file := range a.Files {
			f.Add(file.Data)
		}
	}
	f.Add([]byte(`{"receipt":null}`))
	f.Add([]byte(`{"result":{"receipt":{"version":1}}}`))
	f.Add([]byte(`{"version":1,"extra":true}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := decodeReceipt(b)
		if (r == nil) == (err == nil) {
			t.Fatalf("decodeReceipt(%q) = %v, %v", b, r, err)
		}
	})
}
