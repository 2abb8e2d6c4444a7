;; A module whose initial memory is 512 MiB.
(module (memory (export "memory") 8192) (func (export "_start")))
