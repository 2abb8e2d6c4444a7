package wasi

import (
	"context"
	"encoding/binary"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/truce-project/truce/capability"
	"github.com/truce-project/truce/internal/abi"
	"github.com/truce-project/truce/internal/vfs"
)

// FuzzCall calls WASI functions with arbitrary parameters on a small
// memory holding arbitrary bytes, over a file system with some files,
// and checks that nothing panics, that every result is an errno or a
// proc_exit, and that files the program may not write never change.
func FuzzCall(f *testing.F) {
	seed := func(fn byte, params ...uint64) []byte {
		b := []byte{fn}
		for _, p := range params {
			b = binary.LittleEndian.AppendUint64(b, p)
		}
		return b
	}
	idx := map[string]byte{}
	for i, n := range Names() {
		idx[n] = byte(i)
	}
	mem := make([]byte, 256)
	copy(mem[100:], "ro/secret")
	copy(mem[120:], "rw/new")
	le.PutUint32(mem[200:], 0)
	le.PutUint32(mem[204:], 16)
	f.Add(seed(idx["path_open"], 3, 0, 100, 9, 9, ^uint64(0), ^uint64(0), 1, 240), mem)
	f.Add(seed(idx["path_open"], 3, 0, 120, 6, 1, ^uint64(0), 0, 0, 240), mem)
	f.Add(seed(idx["fd_write"], 1, 200, 1, 250), mem)
	f.Add(seed(idx["fd_read"], 0, 200, 1, 250), mem)
	f.Add(seed(idx["fd_readdir"], 3, 0, 256, 0, 252), mem)
	f.Add(seed(idx["path_rename"], 3, 100, 9, 3, 120, 6), mem)
	f.Add(seed(idx["poll_oneoff"], 0, 100, 2, 252), mem)
	f.Add(seed(idx["args_get"], 0, 64), mem)
	f.Add(seed(idx["fd_prestat_dir_name"], 3, 255, 1), mem)
	f.Add(seed(idx["path_unlink_file"], 3, 100, 9), mem)
	f.Add(seed(idx["fd_pwrite"], 4, 200, 1, 1<<40, 0), mem)
	f.Add(seed(idx["proc_exit"], 7), mem)
	f.Fuzz(func(t *testing.T, call, memory []byte) {
		if len(call) == 0 || len(memory) > 1<<12 {
			return
		}
		fsys := vfs.New(vfs.Limits{FileBytes: 1 << 12, TotalBytes: 1 << 14}, nil)
		admin := fsys.Unchecked()
		admin.WriteFile("/ro/secret", strings.NewReader("secret"))
		admin.WriteFile("/rw/file", strings.NewReader("file"))
		s := New(Config{
			Args: []string{"p", "a"}, Env: []string{"K=V"},
			Stdin: strings.NewReader("in"), FS: fsys.View(capability.Set{
				"/ro/": capability.Read, "/rw/": capability.Read | capability.Write,
			}),
			Sleep: func(context.Context, time.Duration) error { return nil },
		})
		defer s.Close()
		fns := Functions()
		// Several calls in a row, so fds opened by one are used by the next.
		for len(call) > 0 {
			fn := fns[int(call[0])%len(fns)]
			call = call[1:]
			stack := make([]uint64, max(len(fn.Params), 1))
			for i := range fn.Params {
				if len(call) >= 8 {
					stack[i] = binary.LittleEndian.Uint64(call)
					call = call[8:]
				} else if len(call) > 0 {
					stack[i] = uint64(call[0])
					call = call[1:]
				}
				if fn.Params[i] == abi.I32 {
					stack[i] = uint64(uint32(stack[i]))
				}
			}
			err := fn.Call(context.Background(), s, memory, stack)
			var ee *ExitError
			if err != nil && !errors.As(err, &ee) {
				t.Fatalf("%s%v: %v", fn.Name, stack, err)
			}
			if err == nil && len(fn.Results) == 1 && stack[0] > uint64(ErrnoNotcapable) {
				t.Fatalf("%s returned %d, not an errno", fn.Name, stack[0])
			}
		}
		if b := readFile(admin, "/ro/secret"); b != "secret" {
			t.Fatalf("read-only file is now %q", b)
		}
	})
}

func readFile(v *vfs.View, p string) string {
	s, err := v.Open(p)
	if err != nil {
		return err.Error()
	}
	b := make([]byte, s.Size())
	s.ReadAt(b, 0)
	return string(b)
}
