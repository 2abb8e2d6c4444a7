;; A module whose start function (run at instantiation) loops forever.
(module
  (memory (export "memory") 1)
  (func $init (loop $l (br $l)))
  (start $init)
  (func (export "_start")))
