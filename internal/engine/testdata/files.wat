;; A WASI command that changes files under /data, for "truce run --dir":
;; creates data/new.txt, removes data/old.txt, renames data/a.txt to
;; data/b.txt, makes data/sub, and copies data/in.txt to stdout. A failed
;; call exits with 100 + the step number.
(module
  (import "wasi_snapshot_preview1" "path_open" (func $open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_read" (func $read (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_close" (func $close (param i32) (result i32)))
  (import "wasi_snapshot_preview1" "path_unlink_file" (func $unlink (param i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "path_rename" (func $rename (param i32 i32 i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "path_create_directory" (func $mkdir (param i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (memory (export "memory") 1)
  (data (i32.const 100) "data/new.txt")
  (data (i32.const 120) "data/old.txt")
  (data (i32.const 140) "data/a.txt")
  (data (i32.const 160) "data/b.txt")
  (data (i32.const 180) "data/in.txt")
  (data (i32.const 200) "new\n")
  (data (i32.const 220) "data/sub")
  (func $check (param $errno i32) (param $step i32)
    (if (local.get $errno) (then (call $exit (i32.add (i32.const 100) (local.get $step))))))
  (func (export "_start")
    ;; 1: create data/new.txt and write "new\n".
    (call $check (call $open (i32.const 3) (i32.const 0) (i32.const 100) (i32.const 12)
      (i32.const 9) (i64.const 0x1fffffff) (i64.const 0x1fffffff) (i32.const 0) (i32.const 12)) (i32.const 1))
    (i32.store (i32.const 0) (i32.const 200))
    (i32.store (i32.const 4) (i32.const 4))
    (call $check (call $write (i32.load (i32.const 12)) (i32.const 0) (i32.const 1) (i32.const 8)) (i32.const 2))
    (call $check (call $close (i32.load (i32.const 12))) (i32.const 3))
    ;; 4: remove data/old.txt.
    (call $check (call $unlink (i32.const 3) (i32.const 120) (i32.const 12)) (i32.const 4))
    ;; 5: rename data/a.txt to data/b.txt.
    (call $check (call $rename (i32.const 3) (i32.const 140) (i32.const 10) (i32.const 3) (i32.const 160) (i32.const 10)) (i32.const 5))
    ;; 6: make data/sub.
    (call $check (call $mkdir (i32.const 3) (i32.const 220) (i32.const 8)) (i32.const 6))
    ;; 7: copy up to 100 bytes of data/in.txt to stdout.
    (call $check (call $open (i32.const 3) (i32.const 0) (i32.const 180) (i32.const 11)
      (i32.const 0) (i64.const 0x1fffffff) (i64.const 0x1fffffff) (i32.const 0) (i32.const 12)) (i32.const 7))
    (i32.store (i32.const 16) (i32.const 300))
    (i32.store (i32.const 20) (i32.const 100))
    (call $check (call $read (i32.load (i32.const 12)) (i32.const 16) (i32.const 1) (i32.const 24)) (i32.const 8))
    (i32.store (i32.const 20) (i32.load (i32.const 24)))
    (call $check (call $write (i32.const 1) (i32.const 16) (i32.const 1) (i32.const 8)) (i32.const 9))))
