// Command bench times one cryptographic operation inside a WebAssembly
// program, either through the truce_crypto native module or computed in
// WebAssembly by the Go standard library, and prints the nanoseconds one
// operation took (the best of the iterations).
//
//	bench OP native|wasm SIZE ITERATIONS
//
// OP is sha256, sha512, aes-gcm-seal, chacha-seal, ed25519-sign,
// ed25519-verify or ecdsa-verify; SIZE is the message size in bytes.
package main

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/sha256"
	"crypto/sha512"
	"fmt"
	"math/big"
	"os"
	"strconv"
	"time"

	"golang.org/x/crypto/chacha20poly1305"

	"github.com/truce-project/truce/internal/native/guest"
)

// A fixed P-256 key pair and signature (made once with crypto/ecdsa over
// an all-0x61 message of the benchmark's size is not possible ahead of
// time, so the signature is made here, in WebAssembly, before timing).
func p256(msg []byte) (pub, sig []byte, k *ecdsa.PublicKey) {
	d := new(big.Int).SetBytes(bytes32(7))
	c := elliptic.P256()
	x, y := c.ScalarBaseMult(d.Bytes())
	priv := &ecdsa.PrivateKey{PublicKey: ecdsa.PublicKey{Curve: c, X: x, Y: y}, D: d}
	h := sha256.Sum256(msg)
	r, s, err := ecdsa.Sign(zeroReader{}, priv, h[:])
	if err != nil {
		panic(err)
	}
	sig = append(r.FillBytes(make([]byte, 32)), s.FillBytes(make([]byte, 32))...)
	pub = elliptic.Marshal(c, x, y) //nolint:staticcheck // the uncompressed SEC 1 form is what is wanted
	return pub, sig, &priv.PublicKey
}

type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) { clear(p); return len(p), nil }

func bytes32(b byte) []byte {
	out := make([]byte, 32)
	out[31] = b
	return out
}

func main() {
	if len(os.Args) != 5 {
		fmt.Fprintln(os.Stderr, "usage: bench OP native|wasm SIZE ITERATIONS")
		os.Exit(2)
	}
	op, mode := os.Args[1], os.Args[2]
	size, _ := strconv.Atoi(os.Args[3])
	iters, _ := strconv.Atoi(os.Args[4])
	nat := mode == "native"
	msg := make([]byte, size)
	for i := range msg {
		msg[i] = byte(i)
	}
	key := make([]byte, 32)
	nonce := make([]byte, 12)
	out := make([]byte, 0, size+16)
	var f func()
	switch op {
	case "sha256":
		if nat {
			f = func() { guest.Sum256(msg) }
		} else {
			f = func() { sha256.Sum256(msg) }
		}
	case "sha512":
		if nat {
			f = func() { guest.Sum512(msg) }
		} else {
			f = func() { sha512.Sum512(msg) }
		}
	case "aes-gcm-seal", "chacha-seal":
		var a cipher.AEAD
		var err error
		switch {
		case op == "aes-gcm-seal" && nat:
			a, err = guest.NewAESGCM(key)
		case op == "aes-gcm-seal":
			var b cipher.Block
			if b, err = aes.NewCipher(key); err == nil {
				a, err = cipher.NewGCM(b)
			}
		case nat:
			a, err = guest.NewChaCha20Poly1305(key)
		default:
			a, err = chacha20poly1305.New(key)
		}
		if err != nil {
			panic(err)
		}
		f = func() { a.Seal(out[:0], nonce, msg, nil) }
	case "ed25519-sign":
		seed := bytes32(9)
		priv := ed25519.NewKeyFromSeed(seed)
		if nat {
			f = func() { guest.Ed25519Sign(seed, msg) }
		} else {
			f = func() { ed25519.Sign(priv, msg) }
		}
	case "ed25519-verify":
		priv := ed25519.NewKeyFromSeed(bytes32(9))
		pub := priv.Public().(ed25519.PublicKey)
		sig := ed25519.Sign(priv, msg)
		if nat {
			f = func() { must(guest.Ed25519Verify(pub, msg, sig)) }
		} else {
			f = func() { must(ed25519.Verify(pub, msg, sig), nil) }
		}
	case "ecdsa-verify":
		pub, sig, k := p256(msg)
		r, s := new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])
		if nat {
			f = func() { must(guest.VerifyP256(pub, msg, sig)) }
		} else {
			f = func() {
				h := sha256.Sum256(msg)
				must(ecdsa.Verify(k, h[:], r, s), nil)
			}
		}
	default:
		fmt.Fprintf(os.Stderr, "unknown op %q\n", op)
		os.Exit(2)
	}
	f() // warm up
	best := time.Duration(1<<63 - 1)
	for range max(iters, 1) {
		t := time.Now()
		f()
		best = min(best, time.Since(t))
	}
	fmt.Println(best.Nanoseconds())
}

func must(ok bool, err error) {
	if !ok || err != nil {
		panic(fmt.Sprintf("verification failed: %v %v", ok, err))
	}
}
