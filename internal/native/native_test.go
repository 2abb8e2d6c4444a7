package native

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"os"
	"slices"
	"testing"

	"github.com/truce-project/truce/internal/abi"
)

// Vector is one known-answer test of testdata/vectors.json.
type Vector struct {
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

func loadVectors(t testing.TB) []Vector {
	b, err := os.ReadFile("testdata/vectors.json")
	if err != nil {
		t.Fatal(err)
	}
	var f struct{ Vectors []Vector }
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatal(err)
	}
	return f.Vectors
}

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatalf("bad hex %q: %v", s, err)
	}
	return b
}

// guest is a fake guest: a linear memory with a bump allocator.
type guest struct {
	t   testing.TB
	mem []byte
	top uint32
}

func newGuest(t testing.TB, size int) *guest { return &guest{t: t, mem: make([]byte, size), top: 8} }

// put copies b into memory and returns its pointer and length.
func (g *guest) put(b []byte) (uint64, uint64) {
	p := g.alloc(len(b))
	copy(g.mem[p:], b)
	return p, uint64(len(b))
}

func (g *guest) alloc(n int) uint64 {
	p := g.top
	g.top += uint32(n+7) &^ 7
	if int(g.top) > len(g.mem) {
		g.t.Fatalf("fake guest memory of %d bytes is full", len(g.mem))
	}
	return uint64(p)
}

func (g *guest) read(p uint64, n int) []byte { return append([]byte(nil), g.mem[p:p+uint64(n)]...) }

// call calls a truce_crypto function and returns its errno.
func (g *guest) call(name string, params ...uint64) Errno {
	g.t.Helper()
	m, _ := Lookup(ModuleCrypto)
	f, ok := m.Lookup(name)
	if !ok {
		g.t.Fatalf("no function %s", name)
	}
	if len(params) != len(f.Params) {
		g.t.Fatalf("%s takes %d parameters, given %d", name, len(f.Params), len(params))
	}
	stack := append([]uint64(nil), params...)
	if len(stack) == 0 {
		stack = make([]uint64, 1)
	}
	if err := f.Call(context.Background(), g.mem, stack); err != nil {
		g.t.Fatalf("%s: %v", name, err)
	}
	return Errno(stack[0])
}

// runVector runs one vector through the module's functions on a fake
// guest, as a program would.
func runVector(t *testing.T, v Vector) {
	in := bytes.Repeat(unhex(t, v.In), max(v.Repeat, 1))
	g := newGuest(t, len(in)+1<<16)
	ip, il := g.put(in)
	switch v.Op {
	case "sha256", "sha512":
		want := unhex(t, v.Out)
		out := g.alloc(len(want))
		if e := g.call(v.Op, ip, il, out); e != ErrnoSuccess {
			t.Fatalf("errno %v", e)
		}
		if got := g.read(out, len(want)); !bytes.Equal(got, want) {
			t.Fatalf("digest %x, want %x", got, want)
		}
	case "aes_gcm", "chacha20poly1305":
		kp, kl := g.put(unhex(t, v.Key))
		np, nl := g.put(unhex(t, v.Nonce))
		ap, al := g.put(unhex(t, v.AAD))
		want := unhex(t, v.Out)
		out := g.alloc(len(want))
		if e := g.call(v.Op+"_seal", kp, kl, np, nl, ap, al, ip, il, out); e != ErrnoSuccess {
			t.Fatalf("seal: errno %v", e)
		}
		if got := g.read(out, len(want)); !bytes.Equal(got, want) {
			t.Fatalf("sealed %x, want %x", got, want)
		}
		back := g.alloc(len(in))
		if e := g.call(v.Op+"_open", kp, kl, np, nl, ap, al, out, uint64(len(want)), back); e != ErrnoSuccess {
			t.Fatalf("open: errno %v", e)
		}
		if got := g.read(back, len(in)); !bytes.Equal(got, in) {
			t.Fatalf("opened %x, want %x", got, in)
		}
		// In place: open the ciphertext over itself.
		if e := g.call(v.Op+"_open", kp, kl, np, nl, ap, al, out, uint64(len(want)), out); e != ErrnoSuccess || !bytes.Equal(g.read(out, len(in)), in) {
			t.Fatalf("open in place: errno %v, %x", e, g.read(out, len(in)))
		}
		// Any changed bit of the ciphertext, tag or additional data fails.
		sealed := g.alloc(len(want))
		copy(g.mem[sealed:], want)
		for _, flip := range []uint64{sealed, sealed + uint64(len(want)) - 1, ap} {
			if flip == ap && al == 0 {
				continue
			}
			g.mem[flip] ^= 1
			if e := g.call(v.Op+"_open", kp, kl, np, nl, ap, al, sealed, uint64(len(want)), back); e != ErrnoBadmsg {
				t.Fatalf("open of a changed byte: errno %v, want EBADMSG", e)
			}
			g.mem[flip] ^= 1
		}
	case "ecdsa_p256_sha256_verify":
		pp, pl := g.put(unhex(t, v.Pub))
		sp, sl := g.put(unhex(t, v.Sig))
		want := ErrnoSuccess
		if v.Result == "badmsg" {
			want = ErrnoBadmsg
		}
		if e := g.call(v.Op, pp, pl, ip, il, sp, sl); e != want {
			t.Fatalf("errno %v, want %v", e, want)
		}
	case "ed25519":
		seed := unhex(t, v.Key)
		sp, sl := g.put(seed)
		pub := g.alloc(Ed25519PublicSize)
		if e := g.call("ed25519_public_key", sp, sl, pub); e != ErrnoSuccess {
			t.Fatalf("public key: errno %v", e)
		}
		if got, want := g.read(pub, Ed25519PublicSize), unhex(t, v.Pub); !bytes.Equal(got, want) {
			t.Fatalf("public key %x, want %x", got, want)
		}
		sig := g.alloc(Ed25519SigSize)
		if e := g.call("ed25519_sign", sp, sl, ip, il, sig); e != ErrnoSuccess {
			t.Fatalf("sign: errno %v", e)
		}
		if got, want := g.read(sig, Ed25519SigSize), unhex(t, v.Sig); !bytes.Equal(got, want) {
			t.Fatalf("signature %x, want %x", got, want)
		}
		if e := g.call("ed25519_verify", pub, Ed25519PublicSize, ip, il, sig, Ed25519SigSize); e != ErrnoSuccess {
			t.Fatalf("verify: errno %v", e)
		}
		g.mem[sig+10] ^= 0x40
		if e := g.call("ed25519_verify", pub, Ed25519PublicSize, ip, il, sig, Ed25519SigSize); e != ErrnoBadmsg {
			t.Fatalf("verify of a changed signature: errno %v, want EBADMSG", e)
		}
	default:
		t.Fatalf("unknown op %q", v.Op)
	}
}

func TestKnownAnswers(t *testing.T) {
	vs := loadVectors(t)
	if len(vs) < 20 {
		t.Fatalf("only %d vectors", len(vs))
	}
	for _, v := range vs {
		t.Run(v.Name, func(t *testing.T) { runVector(t, v) })
	}
}

func TestHostileArguments(t *testing.T) {
	const size = 4096
	key32 := bytes.Repeat([]byte{7}, 32)
	cases := []struct {
		name string
		fn   string
		// params builds the parameters on a fresh guest.
		params func(g *guest) []uint64
		want   Errno
	}{
		{"hash input past the end", "sha256", func(g *guest) []uint64 { return []uint64{size - 4, 5, 0} }, ErrnoFault},
		{"hash input length wraps", "sha256", func(g *guest) []uint64 { return []uint64{16, 0xffffffff, 0} }, ErrnoFault},
		{"hash output past the end", "sha512", func(g *guest) []uint64 { return []uint64{0, 4, size - 63} }, ErrnoFault},
		{"hash output at the very end", "sha256", func(g *guest) []uint64 { return []uint64{0, 4, size - 32} }, ErrnoSuccess},
		{"hash output over the input", "sha256", func(g *guest) []uint64 { return []uint64{0, 64, 16} }, ErrnoSuccess},
		{"empty input at the end", "sha256", func(g *guest) []uint64 { return []uint64{size, 0, 0} }, ErrnoSuccess},
		{"pointer past the end, empty", "sha256", func(g *guest) []uint64 { return []uint64{size + 1, 0, 0} }, ErrnoFault},
		{"gcm bad key size", "aes_gcm_seal", func(g *guest) []uint64 {
			k, _ := g.put(key32[:15])
			n, _ := g.put(key32[:12])
			return []uint64{k, 15, n, 12, 0, 0, 0, 16, 1024}
		}, ErrnoInval},
		{"gcm bad nonce size", "aes_gcm_seal", func(g *guest) []uint64 {
			k, _ := g.put(key32)
			n, _ := g.put(key32[:12])
			return []uint64{k, 16, n, 8, 0, 0, 0, 16, 1024}
		}, ErrnoInval},
		{"seal output overlapping the input", "aes_gcm_seal", func(g *guest) []uint64 {
			k, _ := g.put(key32)
			n, _ := g.put(key32[:12])
			return []uint64{k, 16, n, 12, 0, 0, 1024, 64, 1030}
		}, ErrnoInval},
		{"seal in place", "chacha20poly1305_seal", func(g *guest) []uint64 {
			k, _ := g.put(key32)
			n, _ := g.put(key32[:12])
			return []uint64{k, 32, n, 12, 0, 0, 1024, 64, 1024}
		}, ErrnoSuccess},
		{"seal output over the key", "chacha20poly1305_seal", func(g *guest) []uint64 {
			k, _ := g.put(key32)
			n, _ := g.put(key32[:12])
			return []uint64{k, 32, n, 12, 0, 0, 1024, 64, k - 8}
		}, ErrnoInval},
		{"seal output over the additional data", "aes_gcm_seal", func(g *guest) []uint64 {
			k, _ := g.put(key32)
			n, _ := g.put(key32[:12])
			return []uint64{k, 32, n, 12, 2000, 10, 1024, 64, 1990}
		}, ErrnoInval},
		{"seal output past the end by its tag", "aes_gcm_seal", func(g *guest) []uint64 {
			k, _ := g.put(key32)
			n, _ := g.put(key32[:12])
			return []uint64{k, 16, n, 12, 0, 0, 1024, 64, size - 64}
		}, ErrnoFault},
		{"open shorter than a tag", "aes_gcm_open", func(g *guest) []uint64 {
			k, _ := g.put(key32)
			n, _ := g.put(key32[:12])
			return []uint64{k, 16, n, 12, 0, 0, 1024, 15, 2048}
		}, ErrnoInval},
		{"open of garbage", "chacha20poly1305_open", func(g *guest) []uint64 {
			k, _ := g.put(key32)
			n, _ := g.put(key32[:12])
			return []uint64{k, 32, n, 12, 0, 0, 1024, 40, 2048}
		}, ErrnoBadmsg},
		{"seal too long", "aes_gcm_seal", func(g *guest) []uint64 {
			return []uint64{0, 16, 0, 12, 0, 0, 0, MaxMessage + 17, 0}
		}, Errno2big},
		{"ecdsa key not on the curve", "ecdsa_p256_sha256_verify", func(g *guest) []uint64 {
			p, _ := g.put(append([]byte{4}, bytes.Repeat([]byte{1}, 64)...))
			return []uint64{p, 65, 0, 10, 0, 64}
		}, ErrnoInval},
		{"ecdsa key of the wrong size", "ecdsa_p256_sha256_verify", func(g *guest) []uint64 { return []uint64{0, 33, 0, 10, 0, 64} }, ErrnoInval},
		{"ed25519 seed of the wrong size", "ed25519_sign", func(g *guest) []uint64 { return []uint64{0, 64, 0, 10, 100} }, ErrnoInval},
		{"ed25519 signature past the end", "ed25519_sign", func(g *guest) []uint64 { return []uint64{0, 32, 0, 10, size - 1} }, ErrnoFault},
		{"ed25519 verify short signature", "ed25519_verify", func(g *guest) []uint64 { return []uint64{0, 32, 0, 10, 100, 63} }, ErrnoInval},
		{"ed25519 public key past the end", "ed25519_public_key", func(g *guest) []uint64 { return []uint64{0, 32, size - 31} }, ErrnoFault},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			g := newGuest(t, size)
			g.top = 256
			if e := g.call(c.fn, c.params(g)...); e != c.want {
				t.Fatalf("errno %v, want %v", e, c.want)
			}
		})
	}
}

func TestNoMemory(t *testing.T) {
	for _, m := range Modules() {
		for _, f := range m.Functions {
			stack := make([]uint64, len(f.Params))
			for i := range stack {
				stack[i] = 20
			}
			if err := f.Call(context.Background(), nil, stack); err != nil {
				t.Fatalf("%s: %v", f.Name, err)
			}
			if Errno(stack[0]) != ErrnoFault {
				t.Errorf("%s with no memory: errno %v, want EFAULT", f.Name, Errno(stack[0]))
			}
			if err := f.Call(context.Background(), nil, stack[:0]); err == nil {
				t.Errorf("%s with a short stack: no error", f.Name)
			}
		}
	}
}

func TestHashStopsWhenCancelled(t *testing.T) {
	g := newGuest(t, 8<<20)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	m, _ := Lookup(ModuleCrypto)
	f, _ := m.Lookup("sha256")
	stack := []uint64{0, 4 << 20, 0}
	if err := f.Call(ctx, g.mem, stack); err == nil {
		t.Fatal("hashing went on after the context was done")
	}
}

func TestRegistry(t *testing.T) {
	if got := Names(); len(got) != 1 || got[0] != ModuleCrypto {
		t.Fatalf("Names() = %v", got)
	}
	if err := abi.CheckNativeNames([]string{ModuleCrypto}); err != nil {
		t.Fatal(err)
	}
	for _, bad := range [][]string{{"truce_nope"}, {ModuleCrypto, ModuleCrypto}, {""}} {
		if err := abi.CheckNativeNames(bad); err == nil {
			t.Errorf("abi.CheckNativeNames(%q) accepted", bad)
		}
	}
	m, _ := Lookup(ModuleCrypto)
	f, ok := m.Lookup("aes_gcm_seal")
	if !ok || f.Signature() != "(i32, i32, i32, i32, i32, i32, i32, i32, i32) -> i32" {
		t.Fatalf("aes_gcm_seal: %v %s", ok, f.Signature())
	}
	for _, e := range []Errno{ErrnoSuccess, Errno2big, ErrnoBadmsg, ErrnoFault, ErrnoInval, 99} {
		if e.String() == "" {
			t.Errorf("errno %d has no name", e)
		}
	}
}

// TestNamesMatchABI: the names the policy may grant (abi.NativeModules)
// are exactly the modules the runtime has.
func TestNamesMatchABI(t *testing.T) {
	if got := Names(); !slices.Equal(got, abi.NativeModules) {
		t.Fatalf("native modules %v, abi.NativeModules %v: add the module's name to package abi", got, abi.NativeModules)
	}
}
