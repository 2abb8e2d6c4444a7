//go:build wasip1

package guest

import "unsafe"

// ptr returns the address of b's first byte as the runtime expects it (0
// for an empty slice, which the runtime never reads).
func ptr(b []byte) unsafe.Pointer { return unsafe.Pointer(unsafe.SliceData(b)) }

func n(b []byte) uint32 { return uint32(len(b)) }

//go:wasmimport truce_crypto sha256
//go:noescape
func truceSHA256(in unsafe.Pointer, inLen uint32, out unsafe.Pointer) uint32

//go:wasmimport truce_crypto sha512
//go:noescape
func truceSHA512(in unsafe.Pointer, inLen uint32, out unsafe.Pointer) uint32

//go:wasmimport truce_crypto aes_gcm_seal
//go:noescape
func truceAESGCMSeal(key unsafe.Pointer, keyLen uint32, nonce unsafe.Pointer, nonceLen uint32, aad unsafe.Pointer, aadLen uint32, in unsafe.Pointer, inLen uint32, out unsafe.Pointer) uint32

//go:wasmimport truce_crypto aes_gcm_open
//go:noescape
func truceAESGCMOpen(key unsafe.Pointer, keyLen uint32, nonce unsafe.Pointer, nonceLen uint32, aad unsafe.Pointer, aadLen uint32, in unsafe.Pointer, inLen uint32, out unsafe.Pointer) uint32

//go:wasmimport truce_crypto chacha20poly1305_seal
//go:noescape
func truceChaChaSeal(key unsafe.Pointer, keyLen uint32, nonce unsafe.Pointer, nonceLen uint32, aad unsafe.Pointer, aadLen uint32, in unsafe.Pointer, inLen uint32, out unsafe.Pointer) uint32

//go:wasmimport truce_crypto chacha20poly1305_open
//go:noescape
func truceChaChaOpen(key unsafe.Pointer, keyLen uint32, nonce unsafe.Pointer, nonceLen uint32, aad unsafe.Pointer, aadLen uint32, in unsafe.Pointer, inLen uint32, out unsafe.Pointer) uint32

//go:wasmimport truce_crypto ecdsa_p256_sha256_verify
//go:noescape
func truceECDSAP256Verify(pub unsafe.Pointer, pubLen uint32, msg unsafe.Pointer, msgLen uint32, sig unsafe.Pointer, sigLen uint32) uint32

//go:wasmimport truce_crypto ed25519_public_key
//go:noescape
func truceEd25519PublicKey(seed unsafe.Pointer, seedLen uint32, out unsafe.Pointer) uint32

//go:wasmimport truce_crypto ed25519_sign
//go:noescape
func truceEd25519Sign(seed unsafe.Pointer, seedLen uint32, msg unsafe.Pointer, msgLen uint32, out unsafe.Pointer) uint32

//go:wasmimport truce_crypto ed25519_verify
//go:noescape
func truceEd25519Verify(pub unsafe.Pointer, pubLen uint32, msg unsafe.Pointer, msgLen uint32, sig unsafe.Pointer, sigLen uint32) uint32

func sha256(in, out []byte) uint32 { return truceSHA256(ptr(in), n(in), ptr(out)) }
func sha512(in, out []byte) uint32 { return truceSHA512(ptr(in), n(in), ptr(out)) }

func aesGCMSeal(key, nonce, aad, in, out []byte) uint32 {
	return truceAESGCMSeal(ptr(key), n(key), ptr(nonce), n(nonce), ptr(aad), n(aad), ptr(in), n(in), ptr(out))
}

func aesGCMOpen(key, nonce, aad, in, out []byte) uint32 {
	return truceAESGCMOpen(ptr(key), n(key), ptr(nonce), n(nonce), ptr(aad), n(aad), ptr(in), n(in), ptr(out))
}

func chachaSeal(key, nonce, aad, in, out []byte) uint32 {
	return truceChaChaSeal(ptr(key), n(key), ptr(nonce), n(nonce), ptr(aad), n(aad), ptr(in), n(in), ptr(out))
}

func chachaOpen(key, nonce, aad, in, out []byte) uint32 {
	return truceChaChaOpen(ptr(key), n(key), ptr(nonce), n(nonce), ptr(aad), n(aad), ptr(in), n(in), ptr(out))
}

func ecdsaP256Verify(pub, msg, sig []byte) uint32 {
	return truceECDSAP256Verify(ptr(pub), n(pub), ptr(msg), n(msg), ptr(sig), n(sig))
}

func ed25519PublicKey(seed, out []byte) uint32 {
	return truceEd25519PublicKey(ptr(seed), n(seed), ptr(out))
}

func ed25519Sign(seed, msg, out []byte) uint32 {
	return truceEd25519Sign(ptr(seed), n(seed), ptr(msg), n(msg), ptr(out))
}

func ed25519Verify(pub, msg, sig []byte) uint32 {
	return truceEd25519Verify(ptr(pub), n(pub), ptr(msg), n(msg), ptr(sig), n(sig))
}
