;; hostile.wat: calls truce_crypto with pointers and lengths outside its
;; one page of memory and with overlapping buffers; exits with the number
;; of the first call whose errno is not the expected one, or 0.
;; Build: wat2wasm hostile.wat -o hostile.wasm
(module
  (import "truce_crypto" "sha256" (func $sha256 (param i32 i32 i32) (result i32)))
  (import "truce_crypto" "aes_gcm_seal"
    (func $seal (param i32 i32 i32 i32 i32 i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (memory (export "memory") 1)
  (func $expect (param $step i32) (param $got i32) (param $want i32)
    (if (i32.ne (local.get $got) (local.get $want))
      (then (call $exit (local.get $step)))))
  (func (export "_start")
    ;; 1: input pointer near 4 GiB
    (call $expect (i32.const 1) (call $sha256 (i32.const 0xfffffff0) (i32.const 32) (i32.const 0)) (i32.const 21))
    ;; 2: output running past the end of memory
    (call $expect (i32.const 2) (call $sha256 (i32.const 0) (i32.const 16) (i32.const 65535)) (i32.const 21))
    ;; 3: input length far past memory
    (call $expect (i32.const 3) (call $sha256 (i32.const 0) (i32.const 0x7fffffff) (i32.const 0)) (i32.const 21))
    ;; 4: sealing into a buffer that overlaps the plaintext
    (call $expect (i32.const 4)
      (call $seal (i32.const 0) (i32.const 16) (i32.const 16) (i32.const 12)
                  (i32.const 0) (i32.const 0) (i32.const 100) (i32.const 32) (i32.const 110))
      (i32.const 28))
    ;; 5: a key of the wrong size
    (call $expect (i32.const 5)
      (call $seal (i32.const 0) (i32.const 17) (i32.const 16) (i32.const 12)
                  (i32.const 0) (i32.const 0) (i32.const 100) (i32.const 32) (i32.const 200))
      (i32.const 28))
    ;; 6: a proper call succeeds
    (call $expect (i32.const 6) (call $sha256 (i32.const 0) (i32.const 16) (i32.const 32)) (i32.const 0))
    ;; 7: the digest of 16 zero bytes starts 37 47 08 ff
    (call $expect (i32.const 7) (i32.load (i32.const 32)) (i32.const 0xff084737))
    (call $exit (i32.const 0)))
)
