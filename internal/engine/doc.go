// Package engine runs WebAssembly command programs (WASI preview 1) for
// Truce: the runtime inside the enclave uses it to run the programs a
// policy names, and "truce run" uses it to run a program freestanding.
//
// One Engine interface has two backends: wasmtime (through wasmtime-go,
// cgo; the default when built with cgo) and wazero (pure Go, with its
// optimising compiler or its interpreter; the backend when built with
// CGO_ENABLED=0). Both bind the same host functions, those of package
// wasi, which implements WASI preview 1 once over the in-memory file
// system of package vfs.
//
// Each run has limits on linear memory, wall time and output bytes. A
// program that traps, exits, loops forever, grows its memory past the
// limit or writes too much comes back as a Result with a distinct
// Outcome; the Engine stays usable afterwards. Compiled modules are
// cached by the SHA-256 of the program, so a program that runs again is
// not compiled again. Runs of different programs, or of the same program,
// may proceed in parallel on one Engine.
//
// This package must never give a program any access to the host beyond
// what its wasi.Config provides: no host files, no network, no host
// environment, and it must never let a program's failure or hostile
// input crash the process that embeds it.
package engine
