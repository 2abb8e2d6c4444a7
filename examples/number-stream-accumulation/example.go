//go:build !wasip1

package numberstream

import (
	"github.com/truce-project/truce/capability"
	"github.com/truce-project/truce/examples/bench/kit"
)

// Example describes the example for its tests and the benchmark command:
// one round over the whole stream.
func Example() kit.Example {
	return kit.Example{
		Name: "number-stream-accumulation",
		Steps: []kit.Program{{Path: ProgramPath, GoDir: "program", Native: Main,
			Caps: capability.Set{StreamPath: capability.Read, "/output/": capability.Read | capability.Write}}},
		Inputs: Inputs,
	}
}
