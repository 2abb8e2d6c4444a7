// Command kat runs the known-answer vectors of a JSON file (first
// argument; /vectors.json by default) through the truce_crypto native
// module, and exits 1 if any gives another answer.
package main

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"

	"github.com/truce-project/truce/internal/native/guest"
)

type vector struct {
	Name   string `json:"name"`
	Op     string `json:"op"`
	Key    string `json:"key"`
	Nonce  string `json:"nonce"`
	AAD    string `json:"aad"`
	In     string `json:"in"`
	Repeat int    `json:"repeat"`
	Out    string `json:"out"`
	Pub    string `json:"pub"`
	Sig    string `json:"sig"`
	Result string `json:"result"`
}

func h(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

func run(v vector) error {
	in := bytes.Repeat(h(v.In), max(v.Repeat, 1))
	switch v.Op {
	case "sha256":
		if got := guest.Sum256(in); !bytes.Equal(got[:], h(v.Out)) {
			return fmt.Errorf("digest %x", got)
		}
	case "sha512":
		if got := guest.Sum512(in); !bytes.Equal(got[:], h(v.Out)) {
			return fmt.Errorf("digest %x", got)
		}
	case "aes_gcm", "chacha20poly1305":
		newAEAD := guest.NewAESGCM
		if v.Op == "chacha20poly1305" {
			newAEAD = guest.NewChaCha20Poly1305
		}
		a, err := newAEAD(h(v.Key))
		if err != nil {
			return err
		}
		sealed := a.Seal(nil, h(v.Nonce), in, h(v.AAD))
		if !bytes.Equal(sealed, h(v.Out)) {
			return fmt.Errorf("sealed %x", sealed)
		}
		opened, err := a.Open(nil, h(v.Nonce), sealed, h(v.AAD))
		if err != nil || !bytes.Equal(opened, in) {
			return fmt.Errorf("open: %x, %v", opened, err)
		}
		sealed[len(sealed)-1] ^= 1
		if _, err := a.Open(nil, h(v.Nonce), sealed, h(v.AAD)); err != guest.ErrOpen {
			return fmt.Errorf("open of a changed tag: %v", err)
		}
	case "ecdsa_p256_sha256_verify":
		ok, err := guest.VerifyP256(h(v.Pub), in, h(v.Sig))
		if err != nil || ok != (v.Result == "ok") {
			return fmt.Errorf("verify: %v, %v", ok, err)
		}
	case "ed25519":
		pub, err := guest.Ed25519PublicKey(h(v.Key))
		if err != nil || !bytes.Equal(pub, h(v.Pub)) {
			return fmt.Errorf("public key %x, %v", pub, err)
		}
		sig, err := guest.Ed25519Sign(h(v.Key), in)
		if err != nil || !bytes.Equal(sig, h(v.Sig)) {
			return fmt.Errorf("signature %x, %v", sig, err)
		}
		if ok, err := guest.Ed25519Verify(pub, in, sig); !ok || err != nil {
			return fmt.Errorf("verify: %v, %v", ok, err)
		}
		sig[0] ^= 1
		if ok, err := guest.Ed25519Verify(pub, in, sig); ok || err != nil {
			return fmt.Errorf("verify of a changed signature: %v, %v", ok, err)
		}
	default:
		return fmt.Errorf("unknown op %q", v.Op)
	}
	return nil
}

func main() {
	path := "/vectors.json"
	if len(os.Args) > 1 {
		path = os.Args[1]
	}
	b, err := os.ReadFile(path)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	var f struct{ Vectors []vector }
	if err := json.Unmarshal(b, &f); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	failed := 0
	for _, v := range f.Vectors {
		if err := run(v); err != nil {
			failed++
			fmt.Printf("FAIL %s: %v\n", v.Name, err)
		} else {
			fmt.Printf("ok %s\n", v.Name)
		}
	}
	fmt.Printf("%d of %d vectors passed\n", len(f.Vectors)-failed, len(f.Vectors))
	if failed > 0 || len(f.Vectors) == 0 {
		os.Exit(1)
	}
}
