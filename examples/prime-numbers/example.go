//go:build !wasip1

package primes

import (
	"github.com/truce-project/truce/capability"
	"github.com/truce-project/truce/examples/bench/kit"
)

// Example describes the example for its tests and the benchmark command.
func Example() kit.Example {
	return kit.Example{
		Name: "prime-numbers",
		Steps: []kit.Program{
			{Path: "/program/primes-generate.wasm", GoDir: "generate", Native: Generate,
				Caps: capability.Set{RangePath: capability.Read, "/pipeline/": capability.Write}},
			{Path: "/program/primes-filter.wasm", GoDir: "filter", Native: Filter,
				Caps: capability.Set{"/pipeline/": capability.Read, "/output/": capability.Write}},
		},
		Inputs: Inputs,
	}
}
