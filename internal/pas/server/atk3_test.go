package server

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/truce-project/truce/attest"
	"github.com/truce-project/truce/attest/verifiers"
)

// TestAttack3VerifiersGarbage: what New serves by default (verifiers.All)
// refuses garbage evidence, as a network caller may send it, with an
// error: no panic, no claims, no hang.
func TestAttack3VerifiersGarbage(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 3))
	inputs := [][]byte{nil, {}, {0}, bytes.Repeat([]byte{0xff}, 4096), []byte("{}"), []byte("null"), []byte(`{"a":1}`),
		[]byte(`[]`), []byte(`""`), []byte(`{"report":"","cert_chain":"","vcek":""}`)}
	for range 300 {
		b := make([]byte, rng.IntN(6000))
		for i := range b {
			b[i] = byte(rng.UintN(256))
		}
		inputs = append(inputs, b)
	}
	// Some CBOR and COSE-ish prefixes, and base64 of random bytes.
	for _, pre := range [][]byte{{0xd2, 0x84}, {0xd9, 0xd9, 0xf7}, {0xa1}, {0x84, 0x43}, {0x30, 0x82}} {
		for range 30 {
			b := append([]byte{}, pre...)
			n := rng.IntN(200)
			for range n {
				b = append(b, byte(rng.UintN(256)))
			}
			inputs = append(inputs, b)
		}
	}
	b64, _ := json.Marshal(base64.StdEncoding.EncodeToString(inputs[len(inputs)-1]))
	inputs = append(inputs, b64)
	for p, v := range verifiers.All(verifiers.Options{}) {
		for i, in := range inputs {
			func() {
				defer func() {
					if r := recover(); r != nil {
						t.Errorf("%s: input %d (%d bytes, % x...) panics: %v", p, i, len(in), in[:min(len(in), 16)], r)
					}
				}()
				done := make(chan struct{})
				var c *attest.Claims
				var err error
				go func() {
					defer close(done)
					defer func() {
						if r := recover(); r != nil {
							err = fmt.Errorf("panic: %v", r)
						}
					}()
					c, err = v.Verify(in, attest.VerifyOptions{})
				}()
				select {
				case <-done:
				case <-time.After(10 * time.Second):
					t.Errorf("%s: input %d hangs", p, i)
					return
				}
				if err == nil || c != nil {
					t.Errorf("%s: input %d: claims %v, error %v", p, i, c, err)
				}
				if err != nil && bytes.HasPrefix([]byte(err.Error()), []byte("panic")) {
					t.Errorf("%s: input %d (%d bytes, % x...): %v", p, i, len(in), in[:min(len(in), 16)], err)
				}
			}()
		}
	}
}
