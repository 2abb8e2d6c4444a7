//go:build !wasip1

package fdcreate

import (
	"github.com/truce-project/truce/capability"
	"github.com/truce-project/truce/examples/bench/kit"
)

// Example describes the example for its tests and the benchmark command.
func Example() kit.Example {
	return kit.Example{
		Name: "fd-create",
		Steps: []kit.Program{{Path: "/program/fd-create.wasm", GoDir: "program", Native: Main,
			Caps: capability.Set{LayoutPath: capability.Read, "/output/": capability.Read | capability.Write}}},
		Inputs: Inputs,
	}
}
