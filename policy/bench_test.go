package policy

import (
	"testing"

	"github.com/truce-project/truce/capability"
)

// BenchmarkParse parses and validates a two-party policy, as the runtime,
// the host and every client do once per policy.
func BenchmarkParse(b *testing.B) {
	data := encode(b, validPolicy(b))
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := Parse(data, testNow); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPrincipalAllows is the check made on every file request.
func BenchmarkPrincipalAllows(b *testing.B) {
	pol, err := Parse(encode(b, validPolicy(b)), testNow)
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if !pol.PrincipalAllows("bob", "/output/deep/result.txt", capability.Read) {
			b.Fatal("refused")
		}
	}
}

// BenchmarkImportVeracruz converts the hand-written Veracruz policy.
func BenchmarkImportVeracruz(b *testing.B) {
	data := readTestdata(b, "shamir.json")
	for b.Loop() {
		if _, _, err := ImportVeracruz(data); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkParseLarge parses a policy with 300 parties and 300 programs.
func BenchmarkParseLarge(b *testing.B) {
	data := encode(b, largePolicy(b, 300, 300))
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := Parse(data, testNow); err != nil {
			b.Fatal(err)
		}
	}
}
