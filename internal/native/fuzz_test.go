package native

import (
	"bytes"
	"context"
	"encoding/binary"
	"testing"
)

// outputOf returns the buffer a call may write, given its parameters, or
// false if it writes none.
func outputOf(name string, p []uint32) (buf, bool) {
	switch name {
	case "sha256":
		return buf{p[2], SHA256Size}, true
	case "sha512":
		return buf{p[2], SHA512Size}, true
	case "aes_gcm_seal", "chacha20poly1305_seal":
		return buf{p[8], p[7] + AEADTagSize}, true
	case "aes_gcm_open", "chacha20poly1305_open":
		return buf{p[8], p[7] - AEADTagSize}, true
	case "ed25519_public_key":
		return buf{p[2], Ed25519PublicSize}, true
	case "ed25519_sign":
		return buf{p[4], Ed25519SigSize}, true
	}
	return buf{}, false
}

// FuzzCall calls every native function with arbitrary parameters over a
// small memory of arbitrary bytes, and checks that nothing panics, that
// the result is one of the documented errno values, and that no byte
// outside the call's output buffer changes (none at all on failure of a
// function other than open).
func FuzzCall(f *testing.F) {
	seed := func(fn byte, params ...uint32) []byte {
		b := []byte{fn}
		for _, p := range params {
			b = binary.LittleEndian.AppendUint32(b, p)
		}
		return b
	}
	idx := map[string]byte{}
	m, _ := Lookup(ModuleCrypto)
	for i, fn := range m.Functions {
		idx[fn.Name] = byte(i)
	}
	mem := bytes.Repeat([]byte{0x5a}, 512)
	f.Add(seed(idx["sha256"], 0, 100, 200), mem)
	f.Add(seed(idx["sha512"], 500, 100, 0), mem)
	f.Add(seed(idx["aes_gcm_seal"], 0, 16, 16, 12, 28, 4, 32, 64, 96), mem)
	f.Add(seed(idx["aes_gcm_seal"], 0, 16, 16, 12, 28, 4, 32, 64, 40), mem)
	f.Add(seed(idx["aes_gcm_open"], 0, 32, 32, 12, 0, 0, 64, 80, 64), mem)
	f.Add(seed(idx["chacha20poly1305_seal"], 0, 32, 32, 12, 0, 0, 64, 80, 64), mem)
	f.Add(seed(idx["chacha20poly1305_open"], 0, 32, 32, 12, 0, 0, 64, 3, 64), mem)
	f.Add(seed(idx["ecdsa_p256_sha256_verify"], 0, 65, 100, 10, 200, 64), append([]byte{4}, mem...))
	f.Add(seed(idx["ed25519_public_key"], 0, 32, 16), mem)
	f.Add(seed(idx["ed25519_sign"], 0, 32, 0, 100, 480), mem)
	f.Add(seed(idx["ed25519_verify"], 0, 32, 0, 100, 300, 64), mem)
	f.Add(seed(idx["sha256"], 0xffffffff, 2, 0xfffffff0), mem)
	f.Fuzz(func(t *testing.T, call, memory []byte) {
		if len(call) == 0 || len(memory) > 1<<12 {
			return
		}
		fn := m.Functions[int(call[0])%len(m.Functions)]
		call = call[1:]
		stack := make([]uint64, max(len(fn.Params), 1))
		p := make([]uint32, len(fn.Params))
		for i := range p {
			if len(call) >= 4 {
				p[i] = binary.LittleEndian.Uint32(call)
				call = call[4:]
			}
			stack[i] = uint64(p[i]) | uint64(p[i])<<32 // high bits must be ignored
		}
		before := bytes.Clone(memory)
		if err := fn.Call(context.Background(), memory, stack); err != nil {
			t.Fatalf("%s: %v", fn.Name, err)
		}
		e := Errno(stack[0])
		switch e {
		case ErrnoSuccess, Errno2big, ErrnoBadmsg, ErrnoFault, ErrnoInval:
		default:
			t.Fatalf("%s returned %v", fn.Name, e)
		}
		out, writes := outputOf(fn.Name, p)
		mayWrite := writes && (e == ErrnoSuccess || e == ErrnoBadmsg)
		for i := range memory {
			if memory[i] == before[i] {
				continue
			}
			if !mayWrite || !out.overlaps(buf{uint32(i), 1}) {
				t.Fatalf("%s (errno %v) changed byte %d outside its output", fn.Name, e, i)
			}
		}
	})
}
