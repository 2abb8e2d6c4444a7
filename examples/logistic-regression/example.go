//go:build !wasip1

package logreg

import (
	"github.com/truce-project/truce/capability"
	"github.com/truce-project/truce/examples/bench/kit"
)

// Example describes the example for its tests and the benchmark command.
func Example() kit.Example {
	return kit.Example{
		Name: "logistic-regression",
		Steps: []kit.Program{{Path: ProgramPath, GoDir: "program", Native: Main,
			Caps: capability.Set{InputDir: capability.Read, "/output/": capability.Write}}},
		Inputs: Inputs,
	}
}
