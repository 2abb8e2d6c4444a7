// Package guest is how a Go program compiled for wasip1 calls Truce's
// native modules: fast cryptography computed by the runtime outside the
// sandbox. Import it in a program built with GOOS=wasip1 GOARCH=wasm; the
// program then imports the WebAssembly module "truce_crypto", and runs only
// where its policy grants that module (the program's "native_modules", or
// "truce run --native truce_crypto").
//
// The functions mirror the standard library: Sum256 and Sum512 as in
// crypto/sha256 and crypto/sha512, NewAESGCM and NewChaCha20Poly1305
// return a cipher.AEAD, and the signature functions take and return byte
// slices. Built for any other platform, the package computes the same
// results with the standard library, so code using it can be tested
// natively.
//
// This package must never hand the runtime a pointer and length that do
// not describe one of the caller's own slices.
package guest

import (
	"crypto/cipher"
	"errors"
	"fmt"
)

// Errno is a non-zero result of a native function (WASI errno values).
type Errno uint32

// The errno values native functions return.
const (
	Errno2big   Errno = 1  // a length is over the module's bound
	ErrnoBadmsg Errno = 9  // authentication or signature check failed
	ErrnoFault  Errno = 21 // a buffer lies outside memory
	ErrnoInval  Errno = 28 // a key, nonce or buffer of the wrong size, or overlapping buffers
)

// Error describes the errno.
func (e Errno) Error() string {
	switch e {
	case Errno2big:
		return "truce_crypto: input too large (E2BIG)"
	case ErrnoBadmsg:
		return "truce_crypto: message authentication failed (EBADMSG)"
	case ErrnoFault:
		return "truce_crypto: buffer outside memory (EFAULT)"
	case ErrnoInval:
		return "truce_crypto: invalid argument (EINVAL)"
	}
	return fmt.Sprintf("truce_crypto: errno %d", uint32(e))
}

// ErrOpen is returned by an AEAD's Open when the ciphertext, tag or
// additional data is not authentic.
var ErrOpen = errors.New("truce_crypto: message authentication failed")

func errnoErr(e uint32) error {
	if e == 0 {
		return nil
	}
	return Errno(e)
}

// Sizes of keys, nonces, tags and signatures.
const (
	NonceSize         = 12
	Overhead          = 16
	Ed25519SeedSize   = 32
	Ed25519PublicSize = 32
	Ed25519SigSize    = 64
	P256PublicKeySize = 65
	ChaCha20KeySize   = 32
)

// aead is a cipher.AEAD computed by a native function.
type aead struct {
	key  []byte
	seal func(key, nonce, aad, in, out []byte) uint32
	open func(key, nonce, aad, in, out []byte) uint32
}

// NewAESGCM returns AES-GCM with a 16-, 24- or 32-byte key and 12-byte
// nonces, computed natively.
func NewAESGCM(key []byte) (cipher.AEAD, error) {
	if n := len(key); n != 16 && n != 24 && n != 32 {
		return nil, fmt.Errorf("truce_crypto: AES key of %d bytes: use 16, 24 or 32", n)
	}
	return &aead{key: append([]byte(nil), key...), seal: aesGCMSeal, open: aesGCMOpen}, nil
}

// NewChaCha20Poly1305 returns ChaCha20-Poly1305 (RFC 8439) with a
// 32-byte key and 12-byte nonces, computed natively.
func NewChaCha20Poly1305(key []byte) (cipher.AEAD, error) {
	if len(key) != ChaCha20KeySize {
		return nil, fmt.Errorf("truce_crypto: ChaCha20-Poly1305 key of %d bytes: use 32", len(key))
	}
	return &aead{key: append([]byte(nil), key...), seal: chachaSeal, open: chachaOpen}, nil
}

func (a *aead) NonceSize() int { return NonceSize }
func (a *aead) Overhead() int  { return Overhead }

// grow returns dst extended by n bytes, and the n new bytes.
func grow(dst []byte, n int) ([]byte, []byte) {
	total := len(dst) + n
	if cap(dst) >= total {
		ret := dst[:total]
		return ret, ret[len(dst):]
	}
	ret := make([]byte, total)
	copy(ret, dst)
	return ret, ret[len(dst):]
}

// Seal implements cipher.AEAD.
func (a *aead) Seal(dst, nonce, plaintext, additionalData []byte) []byte {
	if len(nonce) != NonceSize {
		panic("truce_crypto: incorrect nonce length given to Seal")
	}
	ret, out := grow(dst, len(plaintext)+Overhead)
	if e := a.seal(a.key, nonce, additionalData, plaintext, out); e != 0 {
		panic(Errno(e).Error())
	}
	return ret
}

// Open implements cipher.AEAD.
func (a *aead) Open(dst, nonce, ciphertext, additionalData []byte) ([]byte, error) {
	if len(nonce) != NonceSize {
		panic("truce_crypto: incorrect nonce length given to Open")
	}
	if len(ciphertext) < Overhead {
		return nil, ErrOpen
	}
	ret, out := grow(dst, len(ciphertext)-Overhead)
	switch e := a.open(a.key, nonce, additionalData, ciphertext, out); e {
	case 0:
		return ret, nil
	case uint32(ErrnoBadmsg):
		clear(out)
		return nil, ErrOpen
	default:
		return nil, Errno(e)
	}
}

// Sum256 returns the SHA-256 digest of b.
func Sum256(b []byte) [32]byte {
	var out [32]byte
	if e := sha256(b, out[:]); e != 0 {
		panic(Errno(e).Error())
	}
	return out
}

// Sum512 returns the SHA-512 digest of b.
func Sum512(b []byte) [64]byte {
	var out [64]byte
	if e := sha512(b, out[:]); e != 0 {
		panic(Errno(e).Error())
	}
	return out
}

// VerifyP256 reports whether sig is a valid ECDSA P-256 signature with
// SHA-256 of msg under pub, an uncompressed SEC 1 point (65 bytes). sig is
// r ‖ s (64 bytes) or ASN.1 DER. A malformed key is an error.
func VerifyP256(pub, msg, sig []byte) (bool, error) {
	switch e := ecdsaP256Verify(pub, msg, sig); e {
	case 0:
		return true, nil
	case uint32(ErrnoBadmsg):
		return false, nil
	default:
		return false, Errno(e)
	}
}

// Ed25519PublicKey returns the public key of a 32-byte Ed25519 seed.
func Ed25519PublicKey(seed []byte) ([]byte, error) {
	out := make([]byte, Ed25519PublicSize)
	if err := errnoErr(ed25519PublicKey(seed, out)); err != nil {
		return nil, err
	}
	return out, nil
}

// Ed25519Sign signs msg with the key of a 32-byte seed (RFC 8032).
func Ed25519Sign(seed, msg []byte) ([]byte, error) {
	out := make([]byte, Ed25519SigSize)
	if err := errnoErr(ed25519Sign(seed, msg, out)); err != nil {
		return nil, err
	}
	return out, nil
}

// Ed25519Verify reports whether sig is a valid Ed25519 signature of msg
// under the 32-byte public key pub.
func Ed25519Verify(pub, msg, sig []byte) (bool, error) {
	switch e := ed25519Verify(pub, msg, sig); e {
	case 0:
		return true, nil
	case uint32(ErrnoBadmsg):
		return false, nil
	default:
		return false, Errno(e)
	}
}
