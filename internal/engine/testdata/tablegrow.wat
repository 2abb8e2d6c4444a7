;; A module that grows a table by 2^24 entries: more than the engine
;; allows. table.grow returns -1 when refused; the program then exits
;; with code 1, or 0 if the growth was allowed.
(module
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (memory (export "memory") 1)
  (table $t 1 funcref)
  (func (export "_start")
    (call $exit (i32.eq (table.grow $t (ref.null func) (i32.const 16777216)) (i32.const -1)))))
