//go:build race

package engine

// raceEnabled: the race detector slows wazero's compiler (Go code) about
// twentyfold, so Go guests (megabytes of code) skip that backend under
// -race; the plain test run covers it.
const raceEnabled = true
