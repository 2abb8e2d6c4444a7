// Package native holds Truce's native modules: trusted functions of the
// runtime that a WebAssembly program calls, as ordinary imports, for work
// that is slow inside the sandbox — hashing, authenticated encryption and
// signatures, computed by Go's cryptography with the machine's hardware
// instructions.
//
// Each module is one WebAssembly import module (such as "truce_crypto",
// see ModuleCrypto) whose functions take i32 pointers and lengths into
// the caller's linear memory and return an errno-style i32 (see Errno).
// Functions have the same shape as those of package wasi — a name, value
// types and a Call over the guest's memory as a []byte and a
// parameter/result stack — so an engine binds both the same way. A policy
// names the modules each program may use; the engine refuses to run a
// program that imports a module it was not granted.
//
// Every function is a pure function of its arguments: it keeps no state
// between calls, reads only the buffers it is given and writes only its
// output buffer. Every buffer is checked to lie inside memory (EFAULT
// otherwise), lengths are checked against what the algorithm takes
// (EINVAL) and the module's bounds (E2BIG), and an output that overlaps an
// input in a way the algorithm cannot tolerate is refused (EINVAL), so a
// hostile argument can neither crash the host nor reach outside the
// guest's memory. Work is linear in the bytes given; hashing long inputs
// checks the run's context between chunks, so the run's time limit still
// stops it.
//
// This package must never keep state between calls, read or write memory
// outside the buffers a call names, panic on any argument, or give a
// program anything but the result of the computation it asked for.
package native
