;; nativeimports.wat: imports from the native module truce_crypto, one
;; right, one of the wrong type, one that does not exist.
;; Build: wat2wasm nativeimports.wat -o nativeimports.wasm
(module
  (import "truce_crypto" "sha256" (func (param i32 i32 i32) (result i32)))
  (import "truce_crypto" "sha512" (func (param i32 i32) (result i32)))
  (import "truce_crypto" "md5" (func (param i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "_start")))
