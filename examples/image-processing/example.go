//go:build !wasip1

package imageproc

import (
	"github.com/truce-project/truce/capability"
	"github.com/truce-project/truce/examples/bench/kit"
)

// Example describes the example for its tests and the benchmark command.
func Example() kit.Example {
	return kit.Example{
		Name: "image-processing",
		Steps: []kit.Program{{Path: "/program/image-processing.wasm", GoDir: "program", Native: Main,
			Caps: capability.Set{InputPath: capability.Read, "/output/": capability.Write}}},
		Inputs: Inputs,
	}
}
