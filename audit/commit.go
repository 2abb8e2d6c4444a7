package audit

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
)

// SaltSize is the size of a commitment's salt in bytes.
const SaltSize = 32

// CommitDomain prefixes the bytes whose SHA-256 is a commitment.
const CommitDomain = "truce-commit-v1\n"

// ErrOpening is returned (wrapped) by Open when bytes and salt do not open
// a commitment.
var ErrOpening = errors.New("commitment does not open to these bytes")

// NewCommitter returns a hash that, once the content is written to it,
// sums to the commitment to that content under salt:
// SHA-256(CommitDomain ‖ salt ‖ content).
func NewCommitter(salt []byte) hash.Hash {
	h := sha256.New()
	h.Write([]byte(CommitDomain))
	h.Write(salt)
	return h
}

// Commit returns the hex commitment to content under salt. The enclave
// draws a fresh random salt for every version of a file and gives it only
// to those who may see that version (its writer, its readers); to everyone
// else the commitment is an opaque value from which no guess of the
// content can be checked, however short the content.
func Commit(salt, content []byte) string {
	h := NewCommitter(salt)
	h.Write(content)
	return hex.EncodeToString(h.Sum(nil))
}

// Open checks that the content read from r under the hex salt opens the
// hex commitment; the error wraps ErrOpening when it does not.
func Open(commitment, saltHex string, r io.Reader) error {
	salt, err := hex.DecodeString(saltHex)
	if err != nil || len(salt) != SaltSize {
		return fmt.Errorf("salt %q: give the %d-byte salt in hex that the enclave answered", saltHex, SaltSize)
	}
	want, err := hex.DecodeString(commitment)
	if err != nil || len(want) != sha256.Size {
		return fmt.Errorf("commitment %q is not a hex SHA-256", commitment)
	}
	h := NewCommitter(salt)
	if _, err := io.Copy(h, r); err != nil {
		return fmt.Errorf("reading the content: %w", err)
	}
	if subtle.ConstantTimeCompare(h.Sum(nil), want) != 1 {
		return fmt.Errorf("%w: %s", ErrOpening, commitment)
	}
	return nil
}
