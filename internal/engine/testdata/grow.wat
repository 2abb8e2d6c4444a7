;; A WASI command that grows its memory one page at a time until
;; memory.grow fails, then traps with unreachable.
(module
  (memory (export "memory") 1)
  (func (export "_start")
    (loop $l
      (br_if $l (i32.ne (memory.grow (i32.const 16)) (i32.const -1))))
    unreachable))
