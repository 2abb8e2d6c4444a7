//go:build !wasip1

package macd

import (
	"github.com/truce-project/truce/capability"
	"github.com/truce-project/truce/examples/bench/kit"
)

// Example describes the example for its tests and the benchmark command.
func Example() kit.Example {
	return kit.Example{
		Name: "moving-average-convergence-divergence",
		Steps: []kit.Program{{Path: ProgramPath, GoDir: "program", Native: Main,
			Caps: capability.Set{PricesPath: capability.Read, "/output/macd/": capability.Write}}},
		Inputs: Inputs,
	}
}
