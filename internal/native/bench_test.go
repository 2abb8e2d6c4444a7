package native_test

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/chacha20poly1305"

	"github.com/truce-project/truce/internal/engine"
	"github.com/truce-project/truce/internal/trucetest"
	"github.com/truce-project/truce/internal/wasi"
)

// benchOp is one operation of testdata/bench, and the same operation in
// Go outside WebAssembly.
type benchOp struct {
	name string
	size int
	// goFunc returns a function doing the operation once on msg.
	goFunc func(b *testing.B, msg []byte) func()
}

var benchOps = []benchOp{
	{"sha256", 64 << 20, func(b *testing.B, msg []byte) func() { return func() { sha256.Sum256(msg) } }},
	{"sha512", 64 << 20, func(b *testing.B, msg []byte) func() { return func() { sha512.Sum512(msg) } }},
	{"aes-gcm-seal", 1 << 20, func(b *testing.B, msg []byte) func() {
		blk, _ := aes.NewCipher(make([]byte, 32))
		a, _ := cipher.NewGCM(blk)
		out := make([]byte, 0, len(msg)+16)
		return func() { a.Seal(out[:0], make([]byte, 12), msg, nil) }
	}},
	{"chacha-seal", 1 << 20, func(b *testing.B, msg []byte) func() {
		a, _ := chacha20poly1305.New(make([]byte, 32))
		out := make([]byte, 0, len(msg)+16)
		return func() { a.Seal(out[:0], make([]byte, 12), msg, nil) }
	}},
	{"ed25519-sign", 1 << 10, func(b *testing.B, msg []byte) func() {
		priv := ed25519.NewKeyFromSeed(make([]byte, 32))
		return func() { ed25519.Sign(priv, msg) }
	}},
	{"ed25519-verify", 1 << 10, func(b *testing.B, msg []byte) func() {
		priv := ed25519.NewKeyFromSeed(make([]byte, 32))
		pub, sig := priv.Public().(ed25519.PublicKey), ed25519.Sign(priv, msg)
		return func() { ed25519.Verify(pub, msg, sig) }
	}},
	{"ecdsa-verify", 1 << 10, func(b *testing.B, msg []byte) func() {
		k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		h := sha256.Sum256(msg)
		sig, _ := ecdsa.SignASN1(rand.Reader, k, h[:])
		return func() {
			h := sha256.Sum256(msg)
			ecdsa.VerifyASN1(&k.PublicKey, h[:], sig)
		}
	}},
}

// best returns the shortest of n runs of f.
func best(n int, f func()) time.Duration {
	f()
	d := time.Duration(1<<63 - 1)
	for range n {
		t := time.Now()
		f()
		d = min(d, time.Since(t))
	}
	return d
}

// BenchmarkOps times each operation natively in Go, then from a
// WebAssembly program through the native module and computed in
// WebAssembly by Go's standard library, on each backend, in one run. Each
// sub-benchmark reports the best time of one operation as ns/op (the
// guest times itself, so compiling and starting it are not counted), and
// "x-go", its ratio to native Go measured in the same run.
//
//	go test -run XXX -bench Ops ./native/
func BenchmarkOps(b *testing.B) {
	wasm := trucetest.BuildGo(b, "testdata/bench")
	es := engines(b)
	for _, op := range benchOps {
		msg := make([]byte, op.size)
		for i := range msg {
			msg[i] = byte(i)
		}
		iters := 5
		if op.size >= 64<<20 {
			iters = 3
		}
		goTime := best(iters, op.goFunc(b, msg))
		b.Run(op.name+"/go", func(b *testing.B) {
			f := op.goFunc(b, msg)
			b.SetBytes(int64(op.size))
			for b.Loop() {
				f()
			}
		})
		for _, k := range []engine.Kind{engine.Wasmtime, engine.Wazero} {
			e, ok := es[k]
			if !ok {
				continue
			}
			for _, mode := range []string{"native", "wasm"} {
				b.Run(op.name+"/"+string(k)+"-"+mode, func(b *testing.B) {
					var out bytes.Buffer
					res, err := e.Run(context.Background(), engine.Program{Wasm: wasm}, engine.Config{
						WASI: wasi.Config{
							Args:   []string{"bench", op.name, mode, strconv.Itoa(op.size), strconv.Itoa(iters)},
							Stdout: &out, Stderr: &out,
						},
						MemoryBytes: 1 << 30,
						Timeout:     5 * time.Minute,
						Native:      grant,
					})
					if err != nil {
						b.Fatal(err)
					}
					if !res.OK() {
						b.Fatalf("%v %d %s: %s", res.Outcome, res.ExitCode, res.Message, out.String())
					}
					ns, err := strconv.ParseFloat(strings.TrimSpace(out.String()), 64)
					if err != nil {
						b.Fatalf("guest printed %q", out.String())
					}
					b.ReportMetric(ns, "ns/op")
					b.ReportMetric(float64(op.size)/ns*1e3, "MB/s")
					b.ReportMetric(ns/float64(goTime.Nanoseconds()), "x-go")
				})
			}
		}
	}
}
