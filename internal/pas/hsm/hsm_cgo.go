//go:build cgo

package hsm

import (
	"crypto"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"fmt"
	"io"

	"github.com/ThalesGroup/crypto11"
)

// Key is a signing key in a PKCS#11 token. Close it when done.
type Key struct {
	crypto.Signer
	ctx *crypto11.Context
}

// Close ends the session with the module.
func (k *Key) Close() error { return k.ctx.Close() }

func configure(c Config) (*crypto11.Context, error) {
	if c.Module == "" || c.Token == "" || c.Key == "" {
		return nil, errors.New("a PKCS#11 key needs the module, the token label and the key label")
	}
	ctx, err := crypto11.Configure(&crypto11.Config{Path: c.Module, TokenLabel: c.Token, Pin: c.PIN})
	if err != nil {
		return nil, fmt.Errorf("opening PKCS#11 token %q with %s: %w", c.Token, c.Module, err)
	}
	return ctx, nil
}

// Open finds the key pair labelled c.Key in the token.
func Open(c Config) (*Key, error) {
	ctx, err := configure(c)
	if err != nil {
		return nil, err
	}
	ks, err := ctx.FindKeyPairs(nil, []byte(c.Key))
	switch {
	case err != nil:
		ctx.Close()
		return nil, fmt.Errorf("finding key %q in PKCS#11 token %q: %w", c.Key, c.Token, err)
	case len(ks) == 0:
		ctx.Close()
		return nil, fmt.Errorf("%w: %q in token %q", ErrNoKey, c.Key, c.Token)
	case len(ks) > 1:
		ctx.Close()
		return nil, fmt.Errorf("PKCS#11 token %q holds %d key pairs labelled %q: label the CA key uniquely", c.Token, len(ks), c.Key)
	}
	return &Key{Signer: ks[0], ctx: ctx}, nil
}

// Generate makes a P-256 key pair labelled c.Key in the token, inside it
// (sensitive, not extractable), refusing a label already in use.
func Generate(c Config) (*Key, error) {
	ctx, err := configure(c)
	if err != nil {
		return nil, err
	}
	if ks, err := ctx.FindKeyPairs(nil, []byte(c.Key)); err != nil || len(ks) > 0 {
		ctx.Close()
		if err != nil {
			return nil, fmt.Errorf("looking for key %q in PKCS#11 token %q: %w", c.Key, c.Token, err)
		}
		return nil, fmt.Errorf("PKCS#11 token %q already holds a key %q: use it, or choose another label", c.Token, c.Key)
	}
	id := make([]byte, 16)
	if _, err := io.ReadFull(rand.Reader, id); err != nil {
		ctx.Close()
		return nil, err
	}
	s, err := ctx.GenerateECDSAKeyPairWithLabel(id, []byte(c.Key), elliptic.P256())
	if err != nil {
		ctx.Close()
		return nil, fmt.Errorf("generating key %q in PKCS#11 token %q: %w", c.Key, c.Token, err)
	}
	return &Key{Signer: s, ctx: ctx}, nil
}
