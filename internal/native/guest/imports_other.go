//go:build !wasip1

package guest

// Outside wasip1 the same results come from the standard library and
// golang.org/x/crypto, with the runtime's argument checks, so that code
// using this package can be tested natively.

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	stdsha256 "crypto/sha256"
	stdsha512 "crypto/sha512"
	"math/big"

	"golang.org/x/crypto/chacha20poly1305"
)

func sha256(in, out []byte) uint32 {
	if len(out) < 32 {
		return uint32(ErrnoFault)
	}
	s := stdsha256.Sum256(in)
	copy(out, s[:])
	return 0
}

func sha512(in, out []byte) uint32 {
	if len(out) < 64 {
		return uint32(ErrnoFault)
	}
	s := stdsha512.Sum512(in)
	copy(out, s[:])
	return 0
}

func newGCM(key []byte) (cipher.AEAD, error) {
	b, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(b)
}

func sealWith(newAEAD func([]byte) (cipher.AEAD, error), key, nonce, aad, in, out []byte) uint32 {
	a, err := newAEAD(key)
	if err != nil || len(nonce) != NonceSize || len(out) != len(in)+Overhead {
		return uint32(ErrnoInval)
	}
	a.Seal(out[:0], nonce, in, aad)
	return 0
}

func openWith(newAEAD func([]byte) (cipher.AEAD, error), key, nonce, aad, in, out []byte) uint32 {
	a, err := newAEAD(key)
	if err != nil || len(nonce) != NonceSize || len(in) < Overhead || len(out) != len(in)-Overhead {
		return uint32(ErrnoInval)
	}
	if _, err := a.Open(out[:0], nonce, in, aad); err != nil {
		return uint32(ErrnoBadmsg)
	}
	return 0
}

func aesGCMSeal(key, nonce, aad, in, out []byte) uint32 {
	return sealWith(newGCM, key, nonce, aad, in, out)
}

func aesGCMOpen(key, nonce, aad, in, out []byte) uint32 {
	return openWith(newGCM, key, nonce, aad, in, out)
}

func chachaSeal(key, nonce, aad, in, out []byte) uint32 {
	return sealWith(chacha20poly1305.New, key, nonce, aad, in, out)
}

func chachaOpen(key, nonce, aad, in, out []byte) uint32 {
	return openWith(chacha20poly1305.New, key, nonce, aad, in, out)
}

func ecdsaP256Verify(pub, msg, sig []byte) uint32 {
	if len(pub) != P256PublicKeySize {
		return uint32(ErrnoInval)
	}
	k, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), pub)
	if err != nil {
		return uint32(ErrnoInval)
	}
	d := stdsha256.Sum256(msg)
	ok := false
	if len(sig) == 64 {
		ok = ecdsa.Verify(k, d[:], new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:]))
	} else {
		ok = ecdsa.VerifyASN1(k, d[:], sig)
	}
	if !ok {
		return uint32(ErrnoBadmsg)
	}
	return 0
}

func ed25519PublicKey(seed, out []byte) uint32 {
	if len(seed) != Ed25519SeedSize {
		return uint32(ErrnoInval)
	}
	copy(out, ed25519.NewKeyFromSeed(seed)[32:])
	return 0
}

func ed25519Sign(seed, msg, out []byte) uint32 {
	if len(seed) != Ed25519SeedSize {
		return uint32(ErrnoInval)
	}
	copy(out, ed25519.Sign(ed25519.NewKeyFromSeed(seed), msg))
	return 0
}

func ed25519Verify(pub, msg, sig []byte) uint32 {
	if len(pub) != Ed25519PublicSize || len(sig) != Ed25519SigSize {
		return uint32(ErrnoInval)
	}
	if !ed25519.Verify(pub, msg, sig) {
		return uint32(ErrnoBadmsg)
	}
	return 0
}
