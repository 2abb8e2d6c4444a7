//go:build !wasip1

package huffman

import (
	"github.com/truce-project/truce/capability"
	"github.com/truce-project/truce/examples/bench/kit"
)

// Example describes the example for its tests and the benchmark command.
func Example() kit.Example {
	return kit.Example{
		Name: "huffman-encoding",
		Steps: []kit.Program{{Path: "/program/huffman.wasm", GoDir: "program", Native: Main,
			Caps: capability.Set{TextPath: capability.Read, "/output/": capability.Write}}},
		Inputs: Inputs,
	}
}
