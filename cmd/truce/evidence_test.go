package main

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"testing"
)

// TestDecodeEvidenceText accepts the native bytes, hex and base64 text of
// them (with line breaks, as tools print them).
func TestDecodeEvidenceText(t *testing.T) {
	raw := []byte{0xd2, 0x84, 0x43, 0xa1, 0x01, 0x26, 0xa0, 0x00, 0xff}
	tests := []struct {
		name string
		in   []byte
	}{
		{"native", raw},
		{"hex", []byte(hex.EncodeToString(raw) + "\n")},
		{"hex with breaks", []byte(hex.EncodeToString(raw[:4]) + "\n" + hex.EncodeToString(raw[4:]))},
		{"base64", []byte(base64.StdEncoding.EncodeToString(raw))},
		{"base64 raw url", []byte(base64.RawURLEncoding.EncodeToString(raw) + "\r\n")},
	}
	for _, tt := range tests {
		if got := decodeEvidenceText(tt.in); !bytes.Equal(got, raw) {
			t.Errorf("%s: decodeEvidenceText(%q) = %x, want %x", tt.name, tt.in, got, raw)
		}
	}
}
