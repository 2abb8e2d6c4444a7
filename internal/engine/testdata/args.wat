;; A WASI command that prints its arguments and environment, one per
;; line, then copies stdin to stdout.
(module
  (import "wasi_snapshot_preview1" "args_sizes_get" (func $asz (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "args_get" (func $aget (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "environ_sizes_get" (func $esz (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "environ_get" (func $eget (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_read" (func $read (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 8) "\n")
  ;; print writes the NUL-terminated string at $p and a newline.
  (func $print (param $p i32) (local $n i32)
    (block $done (loop $l
      (br_if $done (i32.eqz (i32.load8_u (i32.add (local.get $p) (local.get $n)))))
      (local.set $n (i32.add (local.get $n) (i32.const 1)))
      (br $l)))
    (i32.store (i32.const 16) (local.get $p))
    (i32.store (i32.const 20) (local.get $n))
    (i32.store (i32.const 24) (i32.const 8))
    (i32.store (i32.const 28) (i32.const 1))
    (drop (call $write (i32.const 1) (i32.const 16) (i32.const 2) (i32.const 32))))
  (func $each (param $ptrs i32) (param $count i32) (local $i i32)
    (block $done (loop $l
      (br_if $done (i32.ge_u (local.get $i) (local.get $count)))
      (call $print (i32.load (i32.add (local.get $ptrs) (i32.mul (local.get $i) (i32.const 4)))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $l))))
  (func (export "_start")
    (drop (call $asz (i32.const 0) (i32.const 4)))
    (drop (call $aget (i32.const 1024) (i32.const 2048)))
    (call $each (i32.const 1024) (i32.load (i32.const 0)))
    (drop (call $esz (i32.const 0) (i32.const 4)))
    (drop (call $eget (i32.const 4096) (i32.const 8192)))
    (call $each (i32.const 4096) (i32.load (i32.const 0)))
    ;; stdin to stdout, 256 bytes at a time.
    (block $eof (loop $l
      (i32.store (i32.const 40) (i32.const 16384))
      (i32.store (i32.const 44) (i32.const 256))
      (br_if $eof (call $read (i32.const 0) (i32.const 40) (i32.const 1) (i32.const 48)))
      (br_if $eof (i32.eqz (i32.load (i32.const 48))))
      (i32.store (i32.const 44) (i32.load (i32.const 48)))
      (drop (call $write (i32.const 1) (i32.const 40) (i32.const 1) (i32.const 52)))
      (br $l)))))
