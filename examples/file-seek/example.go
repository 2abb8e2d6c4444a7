//go:build !wasip1

package fileseek

import (
	"github.com/truce-project/truce/capability"
	"github.com/truce-project/truce/examples/bench/kit"
)

// Example describes the example for its tests and the benchmark command.
func Example() kit.Example {
	return kit.Example{
		Name: "file-seek",
		Steps: []kit.Program{{Path: "/program/file-seek.wasm", GoDir: "program", Native: Main,
			Caps: capability.Set{RecordsPath: capability.Read, QueriesPath: capability.Read, "/output/": capability.Write}}},
		Inputs: Inputs,
	}
}
