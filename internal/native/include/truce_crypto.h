/*
 * truce_crypto.h: the truce_crypto native module for C programs built for
 * WASI preview 1 (clang --target=wasm32-wasi).
 *
 * The runtime computes these functions natively, outside the sandbox, with
 * the machine's hardware instructions. A program that includes this header
 * and calls them imports the WebAssembly module "truce_crypto", and runs
 * only where its policy grants that module (the program's
 * "native_modules": ["truce_crypto"], or "truce run --native truce_crypto").
 *
 * Every function returns 0 on success or one of the TRUCE_E* values.
 * Buffers are given as pointer and length; output buffers have the size
 * each function states and must lie inside the program's memory
 * (TRUCE_EFAULT otherwise). An AEAD output may be the input itself (same
 * pointer, in place) but must not otherwise overlap the input, key, nonce
 * or additional data (TRUCE_EINVAL). Messages given to AEAD and signature
 * functions are at most TRUCE_MAX_MESSAGE bytes (TRUCE_E2BIG).
 */
#ifndef TRUCE_CRYPTO_H
#define TRUCE_CRYPTO_H

#include <stdint.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Results (the errno values of WASI preview 1). */
#define TRUCE_OK      0
#define TRUCE_E2BIG   1  /* a length is over the module's bound */
#define TRUCE_EBADMSG 9  /* authentication or signature check failed */
#define TRUCE_EFAULT  21 /* a buffer lies outside the program's memory */
#define TRUCE_EINVAL  28 /* wrong key/nonce size or encoding; overlapping buffers */

#define TRUCE_MAX_MESSAGE (256u << 20)

#define TRUCE_SHA256_SIZE 32
#define TRUCE_SHA512_SIZE 64
#define TRUCE_AEAD_NONCE_SIZE 12
#define TRUCE_AEAD_TAG_SIZE 16
#define TRUCE_P256_PUBLIC_KEY_SIZE 65 /* uncompressed SEC 1: 0x04 || X || Y */
#define TRUCE_ED25519_SEED_SIZE 32
#define TRUCE_ED25519_PUBLIC_KEY_SIZE 32
#define TRUCE_ED25519_SIGNATURE_SIZE 64

#define TRUCE_IMPORT(name) __attribute__((import_module("truce_crypto"), import_name(name)))

/* out receives the 32-byte SHA-256 digest of in[0..in_len). out may overlap in. */
TRUCE_IMPORT("sha256")
uint32_t truce_sha256(const uint8_t *in, size_t in_len, uint8_t *out);

/* out receives the 64-byte SHA-512 digest of in[0..in_len). */
TRUCE_IMPORT("sha512")
uint32_t truce_sha512(const uint8_t *in, size_t in_len, uint8_t *out);

/*
 * AES-GCM with a 16-, 24- or 32-byte key and a 12-byte nonce. Sealing
 * writes in_len + 16 bytes to out (ciphertext || tag); opening reads
 * ciphertext || tag (in_len >= 16) and writes in_len - 16 bytes, or
 * returns TRUCE_EBADMSG if it is not authentic.
 */
TRUCE_IMPORT("aes_gcm_seal")
uint32_t truce_aes_gcm_seal(const uint8_t *key, size_t key_len, const uint8_t *nonce, size_t nonce_len,
                            const uint8_t *aad, size_t aad_len, const uint8_t *in, size_t in_len, uint8_t *out);
TRUCE_IMPORT("aes_gcm_open")
uint32_t truce_aes_gcm_open(const uint8_t *key, size_t key_len, const uint8_t *nonce, size_t nonce_len,
                            const uint8_t *aad, size_t aad_len, const uint8_t *in, size_t in_len, uint8_t *out);

/* ChaCha20-Poly1305 (RFC 8439): a 32-byte key, a 12-byte nonce; as AES-GCM. */
TRUCE_IMPORT("chacha20poly1305_seal")
uint32_t truce_chacha20poly1305_seal(const uint8_t *key, size_t key_len, const uint8_t *nonce, size_t nonce_len,
                                     const uint8_t *aad, size_t aad_len, const uint8_t *in, size_t in_len, uint8_t *out);
TRUCE_IMPORT("chacha20poly1305_open")
uint32_t truce_chacha20poly1305_open(const uint8_t *key, size_t key_len, const uint8_t *nonce, size_t nonce_len,
                                     const uint8_t *aad, size_t aad_len, const uint8_t *in, size_t in_len, uint8_t *out);

/*
 * TRUCE_OK if sig is a valid ECDSA P-256 signature over SHA-256(msg) by
 * pub (65 bytes, uncompressed), TRUCE_EBADMSG if not. sig is r || s (64
 * bytes) or ASN.1 DER (any other length, at most 1024 bytes).
 */
TRUCE_IMPORT("ecdsa_p256_sha256_verify")
uint32_t truce_ecdsa_p256_sha256_verify(const uint8_t *pub, size_t pub_len, const uint8_t *msg, size_t msg_len,
                                        const uint8_t *sig, size_t sig_len);

/* out receives the 32-byte Ed25519 public key of a 32-byte seed (RFC 8032). */
TRUCE_IMPORT("ed25519_public_key")
uint32_t truce_ed25519_public_key(const uint8_t *seed, size_t seed_len, uint8_t *out);

/* out receives the 64-byte Ed25519 signature of msg by the key of a 32-byte seed. */
TRUCE_IMPORT("ed25519_sign")
uint32_t truce_ed25519_sign(const uint8_t *seed, size_t seed_len, const uint8_t *msg, size_t msg_len, uint8_t *out);

/* TRUCE_OK if sig (64 bytes) is a valid Ed25519 signature of msg by pub (32 bytes), TRUCE_EBADMSG if not. */
TRUCE_IMPORT("ed25519_verify")
uint32_t truce_ed25519_verify(const uint8_t *pub, size_t pub_len, const uint8_t *msg, size_t msg_len,
                              const uint8_t *sig, size_t sig_len);

#undef TRUCE_IMPORT

#ifdef __cplusplus
}
#endif

#endif /* TRUCE_CRYPTO_H */
