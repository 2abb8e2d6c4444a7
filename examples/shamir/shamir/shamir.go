// Package shamir splits a secret into shares and combines them again, with
// Shamir's scheme over GF(2^8) (the AES field, polynomial x^8+x^4+x^3+x+1).
// The share format is Veracruz's shamir-secret-sharing example: one byte
// for the x coordinate, then one byte per secret byte, so shares made by
// Veracruz's generator combine here and the other way round.
//
// It is example code for the Truce demo; it must never be used to protect
// real secrets without review (no share authentication: a wrong share
// gives a wrong secret, silently, as in Veracruz).
package shamir

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io"
)

var logT, expT [256]byte

func init() {
	// 3 generates the multiplicative group of the AES field.
	x := byte(1)
	for i := 0; i < 255; i++ {
		expT[i] = x
		logT[x] = byte(i)
		x = mul3(x)
	}
	expT[255] = expT[0]
}

// mul3 multiplies by 3 = x+1 modulo the AES polynomial.
func mul3(a byte) byte {
	b := a << 1
	if a&0x80 != 0 {
		b ^= 0x1b
	}
	return b ^ a
}

func mul(a, b byte) byte {
	if a == 0 || b == 0 {
		return 0
	}
	return expT[(int(logT[a])+int(logT[b]))%255]
}

func div(a, b byte) byte { // b != 0
	if a == 0 {
		return 0
	}
	return expT[(int(logT[a])+255-int(logT[b]))%255]
}

// ErrShares is returned (wrapped) for shares that cannot be combined.
var ErrShares = errors.New("bad shares")

// Split cuts secret into n shares of which any k reconstruct it, drawing
// polynomial coefficients from rand (crypto/rand when nil). Share i has x
// coordinate i+1. Like Veracruz's generator, coefficients are non-zero.
func Split(secret []byte, n, k int, rnd io.Reader) ([][]byte, error) {
	if n < 1 || n > 255 || k < 1 || k > n {
		return nil, fmt.Errorf("%w: need 1 <= k <= n <= 255, got n=%d k=%d", ErrShares, n, k)
	}
	if rnd == nil {
		rnd = rand.Reader
	}
	shares := make([][]byte, n)
	for i := range shares {
		shares[i] = make([]byte, 1, 1+len(secret))
		shares[i][0] = byte(i + 1)
	}
	coef := make([]byte, k)
	for _, s := range secret {
		coef[0] = s
		for j := 1; j < k; j++ {
			for {
				var b [1]byte
				if _, err := io.ReadFull(rnd, b[:]); err != nil {
					return nil, fmt.Errorf("drawing coefficients: %w", err)
				}
				if b[0] != 0 {
					coef[j] = b[0]
					break
				}
			}
		}
		for i := range shares {
			x := byte(i + 1)
			var y byte // Horner
			for j := k - 1; j >= 0; j-- {
				y = mul(y, x) ^ coef[j]
			}
			shares[i] = append(shares[i], y)
		}
	}
	return shares, nil
}

// Combine reconstructs the secret from shares by Lagrange interpolation at
// x = 0. Shares shorter than the longest are used up to the shortest, as in
// Veracruz. Empty input, an empty share, or two shares with the same x
// coordinate are errors.
func Combine(shares [][]byte) ([]byte, error) {
	if len(shares) == 0 {
		return nil, fmt.Errorf("%w: no shares", ErrShares)
	}
	n := len(shares[0])
	seen := map[byte]bool{}
	for i, s := range shares {
		if len(s) == 0 {
			return nil, fmt.Errorf("%w: share %d is empty", ErrShares, i)
		}
		if s[0] == 0 || seen[s[0]] {
			return nil, fmt.Errorf("%w: share %d has x coordinate %d, zero or repeated", ErrShares, i, s[0])
		}
		seen[s[0]] = true
		n = min(n, len(s))
	}
	// Lagrange basis at 0: l_i = prod_{j!=i} x_j / (x_i ^ x_j).
	l := make([]byte, len(shares))
	for i := range shares {
		li := byte(1)
		for j := range shares {
			if i != j {
				li = mul(li, div(shares[j][0], shares[i][0]^shares[j][0]))
			}
		}
		l[i] = li
	}
	secret := make([]byte, n-1)
	for b := 1; b < n; b++ {
		var y byte
		for i, s := range shares {
			y ^= mul(l[i], s[b])
		}
		secret[b-1] = y
	}
	return secret, nil
}
