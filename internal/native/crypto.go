package native

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/sha256"
	"crypto/sha512"
	"hash"
	"math/big"

	"golang.org/x/crypto/chacha20poly1305"

	"github.com/truce-project/truce/internal/abi"
)

// ModuleCrypto is the import module of the cryptographic native module.
const ModuleCrypto = abi.CryptoModule

// Sizes of the fixed-size buffers of truce_crypto.
const (
	SHA256Size        = sha256.Size
	SHA512Size        = sha512.Size
	AEADTagSize       = 16
	AEADNonceSize     = 12
	ChaChaKeySize     = chacha20poly1305.KeySize
	P256PublicKeySize = 65 // uncompressed SEC 1 point: 0x04 ‖ X ‖ Y
	P256RawSigSize    = 64 // r ‖ s, big-endian, 32 bytes each
	Ed25519SeedSize   = ed25519.SeedSize
	Ed25519PublicSize = ed25519.PublicKeySize
	Ed25519SigSize    = ed25519.SignatureSize
)

// cryptoModule is truce_crypto. The functions, in C terms (every
// parameter and the result are i32; lengths are in bytes):
//
//	sha256(in, in_len, out32)                                   -> errno
//	sha512(in, in_len, out64)                                   -> errno
//	aes_gcm_seal(key, key_len, nonce, nonce_len, aad, aad_len, in, in_len, out)  -> errno
//	aes_gcm_open(…same…)                                        -> errno
//	chacha20poly1305_seal(…same…)                               -> errno
//	chacha20poly1305_open(…same…)                               -> errno
//	ecdsa_p256_sha256_verify(pub, pub_len, msg, msg_len, sig, sig_len) -> errno
//	ed25519_public_key(seed, seed_len, out32)                   -> errno
//	ed25519_sign(seed, seed_len, msg, msg_len, out64)           -> errno
//	ed25519_verify(pub, pub_len, msg, msg_len, sig, sig_len)    -> errno
var cryptoModule = &Module{
	Name:    ModuleCrypto,
	Summary: "hashing (SHA-256, SHA-512), authenticated encryption (AES-GCM, ChaCha20-Poly1305), signatures (ECDSA P-256 verify, Ed25519)",
	Functions: []Function{
		define("sha256", 3, hashFunc(sha256.New, SHA256Size)),
		define("sha512", 3, hashFunc(sha512.New, SHA512Size)),
		define("aes_gcm_seal", 9, aeadFunc(newAESGCM, true)),
		define("aes_gcm_open", 9, aeadFunc(newAESGCM, false)),
		define("chacha20poly1305_seal", 9, aeadFunc(newChaCha, true)),
		define("chacha20poly1305_open", 9, aeadFunc(newChaCha, false)),
		define("ecdsa_p256_sha256_verify", 6, ecdsaP256Verify),
		define("ed25519_public_key", 3, ed25519PublicKey),
		define("ed25519_sign", 5, ed25519Sign),
		define("ed25519_verify", 6, ed25519Verify),
	},
}

// hashInto hashes in with h, checking ctx between chunks.
func hashInto(ctx context.Context, h hash.Hash, in []byte) error {
	for len(in) > 0 {
		if err := ctx.Err(); err != nil {
			return err
		}
		n := min(len(in), HashChunk)
		h.Write(in[:n])
		in = in[n:]
	}
	return nil
}

// hashFunc is (in, in_len, out) -> errno. The output may overlap the
// input: the digest is computed before it is written.
func hashFunc(newHash func() hash.Hash, size uint32) impl {
	return func(ctx context.Context, m mem, p []uint32) (Errno, error) {
		in, ok1 := m.get(buf{p[0], p[1]})
		out, ok2 := m.get(buf{p[2], size})
		if !ok1 || !ok2 {
			return ErrnoFault, nil
		}
		h := newHash()
		if err := hashInto(ctx, h, in); err != nil {
			return 0, err
		}
		var sum [64]byte
		copy(out, h.Sum(sum[:0]))
		return ErrnoSuccess, nil
	}
}

func newAESGCM(key []byte) (cipher.AEAD, error) {
	b, err := aes.NewCipher(key) // 16, 24 or 32 bytes
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(b)
}

func newChaCha(key []byte) (cipher.AEAD, error) { return chacha20poly1305.New(key) }

// aeadFunc is (key, key_len, nonce, nonce_len, aad, aad_len, in, in_len,
// out) -> errno. Sealing writes in_len+16 bytes (ciphertext ‖ tag);
// opening takes ciphertext ‖ tag and writes in_len-16 bytes. The output
// may be the input itself (same pointer: in place) but must not otherwise
// overlap the input, key, nonce or additional data.
func aeadFunc(newAEAD func([]byte) (cipher.AEAD, error), seal bool) impl {
	return func(ctx context.Context, m mem, p []uint32) (Errno, error) {
		kb, nb, ab, ib := buf{p[0], p[1]}, buf{p[2], p[3]}, buf{p[4], p[5]}, buf{p[6], p[7]}
		if ib.n > MaxMessage+AEADTagSize || ab.n > MaxMessage {
			return Errno2big, nil
		}
		if !seal && ib.n < AEADTagSize {
			return ErrnoInval, nil
		}
		ob := buf{p[8], ib.n + AEADTagSize}
		if !seal {
			ob.n = ib.n - AEADTagSize
		}
		key, ok1 := m.get(kb)
		nonce, ok2 := m.get(nb)
		aad, ok3 := m.get(ab)
		in, ok4 := m.get(ib)
		out, ok5 := m.get(ob)
		if !ok1 || !ok2 || !ok3 || !ok4 || !ok5 {
			return ErrnoFault, nil
		}
		if nb.n != AEADNonceSize {
			return ErrnoInval, nil
		}
		if ob.overlaps(kb) || ob.overlaps(nb) || ob.overlaps(ab) || ob.overlaps(ib) && ob.ptr != ib.ptr {
			return ErrnoInval, nil
		}
		a, err := newAEAD(key)
		if err != nil {
			return ErrnoInval, nil
		}
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		if seal {
			a.Seal(out[:0], nonce, in, aad)
			return ErrnoSuccess, nil
		}
		if _, err := a.Open(out[:0], nonce, in, aad); err != nil {
			return ErrnoBadmsg, nil
		}
		return ErrnoSuccess, nil
	}
}

// ecdsaP256Verify is (pub, pub_len, msg, msg_len, sig, sig_len) -> errno:
// ESUCCESS if sig is a valid ECDSA signature with SHA-256 of msg under
// pub, EBADMSG if not. pub is an uncompressed SEC 1 point (65 bytes); sig
// is r ‖ s (64 bytes) or ASN.1 DER (any other length).
func ecdsaP256Verify(ctx context.Context, m mem, p []uint32) (Errno, error) {
	pb, mb, sb := buf{p[0], p[1]}, buf{p[2], p[3]}, buf{p[4], p[5]}
	if mb.n > MaxMessage || sb.n > 1024 {
		return Errno2big, nil
	}
	pubBytes, ok1 := m.get(pb)
	msg, ok2 := m.get(mb)
	sig, ok3 := m.get(sb)
	if !ok1 || !ok2 || !ok3 {
		return ErrnoFault, nil
	}
	if pb.n != P256PublicKeySize {
		return ErrnoInval, nil
	}
	pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), pubBytes)
	if err != nil {
		return ErrnoInval, nil
	}
	h := sha256.New()
	if err := hashInto(ctx, h, msg); err != nil {
		return 0, err
	}
	digest := h.Sum(nil)
	var valid bool
	if len(sig) == P256RawSigSize {
		r := new(big.Int).SetBytes(sig[:32])
		s := new(big.Int).SetBytes(sig[32:])
		valid = ecdsa.Verify(pub, digest, r, s)
	} else {
		valid = ecdsa.VerifyASN1(pub, digest, sig)
	}
	if !valid {
		return ErrnoBadmsg, nil
	}
	return ErrnoSuccess, nil
}

// ed25519PublicKey is (seed, seed_len, out) -> errno: the 32-byte public
// key of a 32-byte private key seed (RFC 8032).
func ed25519PublicKey(_ context.Context, m mem, p []uint32) (Errno, error) {
	seed, ok1 := m.get(buf{p[0], p[1]})
	out, ok2 := m.get(buf{p[2], Ed25519PublicSize})
	if !ok1 || !ok2 {
		return ErrnoFault, nil
	}
	if len(seed) != Ed25519SeedSize {
		return ErrnoInval, nil
	}
	priv := ed25519.NewKeyFromSeed(seed)
	copy(out, priv[Ed25519SeedSize:])
	clear(priv)
	return ErrnoSuccess, nil
}

// ed25519Sign is (seed, seed_len, msg, msg_len, out) -> errno: the 64-byte
// Ed25519 signature of msg (RFC 8032) by the key of the 32-byte seed. Only
// seeds are taken, never a 64-byte seed ‖ public key, so a program cannot
// sign with a mismatched public key and leak its private key.
func ed25519Sign(_ context.Context, m mem, p []uint32) (Errno, error) {
	sb, mb := buf{p[0], p[1]}, buf{p[2], p[3]}
	if mb.n > MaxMessage {
		return Errno2big, nil
	}
	seed, ok1 := m.get(sb)
	msg, ok2 := m.get(mb)
	out, ok3 := m.get(buf{p[4], Ed25519SigSize})
	if !ok1 || !ok2 || !ok3 {
		return ErrnoFault, nil
	}
	if len(seed) != Ed25519SeedSize {
		return ErrnoInval, nil
	}
	priv := ed25519.NewKeyFromSeed(seed)
	sig := ed25519.Sign(priv, msg)
	clear(priv)
	copy(out, sig)
	return ErrnoSuccess, nil
}

// ed25519Verify is (pub, pub_len, msg, msg_len, sig, sig_len) -> errno:
// ESUCCESS if sig is a valid Ed25519 signature of msg under pub (RFC 8032,
// as crypto/ed25519 checks it), EBADMSG if not.
func ed25519Verify(_ context.Context, m mem, p []uint32) (Errno, error) {
	pb, mb, sb := buf{p[0], p[1]}, buf{p[2], p[3]}, buf{p[4], p[5]}
	if mb.n > MaxMessage {
		return Errno2big, nil
	}
	pub, ok1 := m.get(pb)
	msg, ok2 := m.get(mb)
	sig, ok3 := m.get(sb)
	if !ok1 || !ok2 || !ok3 {
		return ErrnoFault, nil
	}
	if len(pub) != Ed25519PublicSize || len(sig) != Ed25519SigSize {
		return ErrnoInval, nil
	}
	if !ed25519.Verify(pub, msg, sig) {
		return ErrnoBadmsg, nil
	}
	return ErrnoSuccess, nil
}
