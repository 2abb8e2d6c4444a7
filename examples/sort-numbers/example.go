//go:build !wasip1

package sortnumbers

import (
	"github.com/truce-project/truce/capability"
	"github.com/truce-project/truce/examples/bench/kit"
)

// Example describes the example for its tests and the benchmark command.
func Example() kit.Example {
	caps := capability.Set{InputPath: capability.Read, "/output/": capability.Write}
	return kit.Example{
		Name:     "sort-numbers",
		Steps:    []kit.Program{{Path: "/program/sort-numbers.wasm", GoDir: "program", Caps: caps, Native: Main}},
		Variants: []kit.Program{{Path: "/program/sort-numbers-c.wasm", CSource: "program-c/sort.c", Caps: caps}},
		Inputs:   Inputs,
	}
}
