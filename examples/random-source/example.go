//go:build !wasip1

package randomsource

import (
	"github.com/truce-project/truce/capability"
	"github.com/truce-project/truce/examples/bench/kit"
)

// Example describes the example for its tests and the benchmark command.
func Example() kit.Example {
	return kit.Example{
		Name: "random-source",
		Steps: []kit.Program{{Path: "/program/random-source.wasm", GoDir: "program", Native: Main,
			Caps: capability.Set{RequestPath: capability.Read, "/output/": capability.Write}}},
		Inputs: Inputs,
		Random: true,
	}
}
