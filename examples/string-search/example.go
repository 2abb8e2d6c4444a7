//go:build !wasip1

package stringsearch

import (
	"github.com/truce-project/truce/capability"
	"github.com/truce-project/truce/examples/bench/kit"
)

// Example describes the example for its tests and the benchmark command.
func Example() kit.Example {
	caps := capability.Set{TextPath: capability.Read, PatternsPath: capability.Read, "/output/": capability.Write}
	return kit.Example{
		Name:     "string-search",
		Steps:    []kit.Program{{Path: "/program/string-search.wasm", GoDir: "program", Caps: caps, Native: Main}},
		Variants: []kit.Program{{Path: "/program/string-search-c.wasm", CSource: "program-c/search.c", Caps: caps}},
		Inputs:   Inputs,
	}
}
