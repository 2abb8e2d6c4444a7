// Package guests holds the test programs Truce's engine runs: Go programs
// built for GOOS=wasip1 (guests/go/...) and C programs built with clang
// and wasi-libc (guests/c/...). Each prints a deterministic transcript or
// does one thing the engine must survive (loop forever, grab memory,
// write too much), so the same program can be compared across backends
// and against other WASI implementations.
//
// BuildC compiles a C guest for tests. Nothing here may be imported by
// code that ships in the truce binary.
package guests
