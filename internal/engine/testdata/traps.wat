;; A WASI command that traps in the way its first argument's first letter
;; says: r recursion (stack overflow), o out-of-bounds load, d integer
;; division by zero, i indirect call to a null entry, u unreachable.
(module
  (import "wasi_snapshot_preview1" "args_sizes_get" (func $asz (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "args_get" (func $aget (param i32 i32) (result i32)))
  (memory (export "memory") 1)
  (table 1 funcref)
  (type $v (func))
  (func $recurse (param i64) (result i64)
    (i64.add (call $recurse (i64.add (local.get 0) (i64.const 1))) (i64.const 1)))
  (func (export "_start") (local $c i32)
    (drop (call $asz (i32.const 0) (i32.const 4)))
    (drop (call $aget (i32.const 16) (i32.const 64)))
    ;; argv[1][0]
    (local.set $c (i32.load8_u (i32.load (i32.const 20))))
    (if (i32.eq (local.get $c) (i32.const 114)) (then (drop (call $recurse (i64.const 0)))))
    (if (i32.eq (local.get $c) (i32.const 111)) (then (drop (i32.load (i32.const 70000)))))
    (if (i32.eq (local.get $c) (i32.const 100)) (then (drop (i32.div_s (i32.const 1) (i32.sub (local.get $c) (i32.const 100))))))
    (if (i32.eq (local.get $c) (i32.const 105)) (then (call_indirect (type $v) (i32.const 0))))
    unreachable))
