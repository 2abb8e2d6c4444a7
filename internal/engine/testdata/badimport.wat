;; A module importing what the runtime does not provide: a function from
;; another module, a WASI name that does not exist, a WASI function with
;; the wrong type, and a memory.
(module
  (import "env" "now" (func (result i64)))
  (import "wasi_snapshot_preview1" "no_such_call" (func (param i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func (param i32) (result i32)))
  (import "wasi_snapshot_preview1" "random_get" (func (param i32 i32) (result i32)))
  (import "env" "memory" (memory 1))
  (func (export "_start")))
