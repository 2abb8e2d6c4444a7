package wasi

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/truce-project/truce/capability"
	"github.com/truce-project/truce/internal/abi"
	"github.com/truce-project/truce/internal/vfs"
)

// bombMem is the guest memory of the bomb tests: every iovec of a bomb
// names all of it, so a gather of 1024 of them would ask for 1 GiB.
const bombMem = 1 << 20

// allocated returns the bytes the Go heap handed out while fn ran
// (TotalAlloc counts every allocation, collected or not).
func allocated(fn func()) uint64 {
	var a, b runtime.MemStats
	runtime.ReadMemStats(&a)
	fn()
	runtime.ReadMemStats(&b)
	return b.TotalAlloc - a.TotalAlloc
}

// bomb lays n iovecs at iovs, each naming the whole of m.
func bomb(m []byte, iovs, n uint32) {
	for i := range n {
		le.PutUint32(m[iovs+8*i:], 0)
		le.PutUint32(m[iovs+8*i+4:], uint32(len(m)))
	}
}

// TestWriteBombs: fd_write and fd_pwrite of 1024 iovecs, each as large
// as the guest's memory, are refused by the quota (EFBIG, ENOSPC) before
// anything is written or allocated, on every kind of fd; writes that fit
// go straight from guest memory to the file, allocating no more than the
// file's own growth.
func TestWriteBombs(t *testing.T) {
	const fileLimit, totalLimit = 4 << 20, 6 << 20
	cases := []struct {
		name    string
		fn      string
		fdflags uint32
		oflags  uint32
		iovs    uint32 // how many iovecs (each bombMem bytes)
		pre     int    // bytes the file system holds before, in another file
		want    Errno
		wantN   uint32 // bytes written on success
	}{
		{"write past the file limit", "fd_write", 0, oflagCreat, 1024, 0, ErrnoFbig, 0},
		{"append past the file limit", "fd_write", fdflagAppend, oflagCreat, 1024, 0, ErrnoFbig, 0},
		{"pwrite past the file limit", "fd_pwrite", 0, oflagCreat, 1024, 0, ErrnoFbig, 0},
		{"write past the total", "fd_write", 0, oflagCreat, 3, 4 << 20, ErrnoNospc, 0},
		{"append past the total", "fd_write", fdflagAppend, oflagCreat, 3, 4 << 20, ErrnoNospc, 0},
		{"write that fits", "fd_write", 0, oflagCreat, 4, 0, ErrnoSuccess, 4 << 20},
		{"append that fits", "fd_write", fdflagAppend, oflagCreat, 3, 0, ErrnoSuccess, 3 << 20},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			fsys := vfs.New(vfs.Limits{FileBytes: fileLimit, TotalBytes: totalLimit}, nil)
			if c.pre > 0 {
				if _, err := fsys.Unchecked().WriteFile("/other", bytes.NewReader(make([]byte, c.pre))); err != nil {
					t.Fatal(err)
				}
			}
			s := New(Config{FS: fsys.View(capability.Set{"/": capability.Read | capability.Write})})
			defer s.Close()
			m := make([]byte, bombMem)
			call := func(name string, params ...uint64) Errno {
				f, _ := Lookup(name)
				stack := make([]uint64, max(len(params), 1))
				copy(stack, params)
				if err := f.Call(context.Background(), s, m, stack); err != nil {
					t.Fatalf("%s: %v", name, err)
				}
				return Errno(stack[0])
			}
			copy(m[100:], "f")
			if e := call("path_open", 3, 0, 100, 1, uint64(c.oflags), rw, rw, uint64(c.fdflags), 200); e != 0 {
				t.Fatalf("path_open: %v", e)
			}
			fd := le.Uint32(m[200:])
			used := fsys.Used()
			// The guest's data: a pattern, then the iovecs and result at the end.
			for i := range 1 << 19 {
				m[i] = byte(i % 251)
			}
			iovs := uint32(bombMem - 8*1024 - 64)
			res := uint32(bombMem - 16)
			bomb(m, iovs, c.iovs)
			var e Errno
			got := allocated(func() {
				if c.fn == "fd_pwrite" {
					e = call(c.fn, uint64(fd), uint64(iovs), uint64(c.iovs), 0, uint64(res))
				} else {
					e = call(c.fn, uint64(fd), uint64(iovs), uint64(c.iovs), uint64(res))
				}
			})
			if e != c.want {
				t.Fatalf("%s of %d iovecs of %d bytes = %v, want %v", c.fn, c.iovs, bombMem, e, c.want)
			}
			// The file's own growth (at most its limit, with Go's
			// geometric slack) is all a write may allocate.
			if bound := uint64(fileLimit)*2 + 1<<20; got > bound {
				t.Errorf("%s allocated %d bytes, more than the %d the file may grow by", c.fn, got, bound)
			}
			t.Logf("%s: %v, %d bytes allocated", c.name, e, got)
			if e != 0 {
				if fsys.Used() != used {
					t.Errorf("a refused write changed the file system: %d bytes used, %d before", fsys.Used(), used)
				}
				return
			}
			if n := le.Uint32(m[res:]); n != c.wantN {
				t.Fatalf("nwritten = %d, want %d", n, c.wantN)
			}
			st, err := fsys.Unchecked().Stat("/f")
			if err != nil || st.Size != int64(c.wantN) {
				t.Fatalf("file is %d bytes (%v), want %d", st.Size, err, c.wantN)
			}
			snap, err := fsys.Unchecked().Open("/f")
			if err != nil {
				t.Fatal(err)
			}
			b := make([]byte, bombMem)
			for off := int64(0); off < int64(c.wantN); off += bombMem {
				snap.ReadAt(b, off)
				// All but the result, written after the file was.
				if !bytes.Equal(b[:res], m[:res]) {
					t.Fatalf("the file's bytes at %d are not the guest's", off)
				}
			}
		})
	}
}

// TestWriteBombStdout: a bomb at stdout passes each iovec to the writer
// as it is, gathering nothing, and stops at the writer's error.
func TestWriteBombStdout(t *testing.T) {
	var sizes []int
	w := writerFunc(func(p []byte) (int, error) {
		sizes = append(sizes, len(p))
		if len(sizes) == 3 {
			return 0, vfs.ErrInvalid
		}
		return len(p), nil
	})
	s := New(Config{Stdout: w})
	defer s.Close()
	m := make([]byte, bombMem)
	iovs := uint32(bombMem - 8*1024 - 64)
	bomb(m, iovs, 1024)
	f, _ := Lookup("fd_write")
	stack := []uint64{1, uint64(iovs), 1024, bombMem - 16}
	got := allocated(func() {
		if err := f.Call(context.Background(), s, m, stack); err != nil {
			t.Fatal(err)
		}
	})
	if Errno(stack[0]) != ErrnoInval || len(sizes) != 3 || sizes[0] != bombMem {
		t.Fatalf("fd_write to stdout = %v after writes of %v", Errno(stack[0]), sizes)
	}
	if got > 1<<20 {
		t.Errorf("fd_write to stdout allocated %d bytes", got)
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// TestReaddirBatches: a huge buffer over a directory of many entries
// lists them all, fetching at most maxDirBatch at a time.
func TestReaddirBatches(t *testing.T) {
	h := newHarness(t, nil, Config{})
	const n = 3*maxDirBatch + 7
	for i := range n {
		if err := h.admin().Mkdir("/d" + itoa(uint64(i))); err != nil {
			t.Fatal(err)
		}
	}
	buf := h.alloc(40000)
	res := h.alloc(4)
	h.must("fd_readdir", 3, uint64(buf), 40000, 0, uint64(res))
	used := h.u32(res)
	count := 0
	for off := uint32(0); off+direntSize <= used; {
		nl := le.Uint32(h.m[buf+off+16:])
		off += direntSize + nl
		count++
	}
	if count != n+2 {
		t.Fatalf("fd_readdir listed %d entries, want %d", count, n+2)
	}
}

// TestRandomGetStops: random_get of a large buffer stops when the run's
// context ends, rather than filling it all first.
func TestRandomGetStops(t *testing.T) {
	calls := 0
	s := New(Config{Rand: readerFunc(func(p []byte) (int, error) {
		calls++
		clear(p)
		return len(p), nil
	})})
	defer s.Close()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	m := make([]byte, 8*randomChunk)
	f, _ := Lookup("random_get")
	stack := []uint64{0, uint64(len(m))}
	if err := f.Call(ctx, s, m, stack); err == nil || calls != 0 {
		t.Fatalf("random_get after the run ended: %v after %d reads", err, calls)
	}
	stack = []uint64{0, uint64(len(m))}
	if err := f.Call(context.Background(), s, m, stack); err != nil || stack[0] != 0 || calls != 8 {
		t.Fatalf("random_get: %v, errno %d, %d reads", err, stack[0], calls)
	}
}

type readerFunc func([]byte) (int, error)

func (f readerFunc) Read(p []byte) (int, error) { return f(p) }

// FuzzWriteIovecs writes hostile iovec arrays (lengths and pointers from
// the fuzzer, over a 1 MiB memory) with fd_write and fd_pwrite under real
// quotas, and checks that a write never allocates more than the file's
// growth, never passes the quotas, leaves the file system as it was when
// refused, and puts exactly the guest's bytes in the file when not.
func FuzzWriteIovecs(f *testing.F) {
	seed := func(pwrite, app bool, off uint64, iovs ...uint32) []byte {
		b := []byte{0}
		if pwrite {
			b[0] |= 1
		}
		if app {
			b[0] |= 2
		}
		b = binary.LittleEndian.AppendUint64(b, off)
		for _, v := range iovs {
			b = binary.LittleEndian.AppendUint32(b, v)
		}
		return b
	}
	f.Add(seed(false, false, 0, 0, bombMem, 0, bombMem))
	f.Add(seed(true, false, 1<<20, 5, 100, 7, 0))
	f.Add(seed(false, true, 0, 0, 1<<16, 1<<19, 1<<19))
	f.Add(seed(false, false, 0, bombMem-1, 2))
	f.Fuzz(func(t *testing.T, in []byte) {
		if len(in) < 9 {
			return
		}
		mode, off := in[0], binary.LittleEndian.Uint64(in[1:9])
		in = in[9:]
		const fileLimit, totalLimit = 1 << 20, 3 << 19
		fsys := vfs.New(vfs.Limits{FileBytes: fileLimit, TotalBytes: totalLimit}, nil)
		admin := fsys.Unchecked()
		admin.WriteFile("/f", strings.NewReader("existing"))
		admin.WriteFile("/other", bytes.NewReader(make([]byte, 1<<18)))
		var fdflags uint64
		if mode&2 != 0 {
			fdflags = fdflagAppend
		}
		s := New(Config{FS: fsys.View(capability.Set{"/": capability.Read | capability.Write})})
		defer s.Close()
		m := make([]byte, bombMem)
		for i := range 1 << 16 {
			m[i] = byte(i*7 + 3)
		}
		call := func(name string, params ...uint64) (Errno, error) {
			fn, _ := Lookup(name)
			stack := make([]uint64, max(len(params), 1))
			copy(stack, params)
			err := fn.Call(context.Background(), s, m, stack)
			return Errno(stack[0]), err
		}
		copy(m[bombMem-100:], "f")
		if e, err := call("path_open", 3, 0, bombMem-100, 1, 0, rw, rw, fdflags, bombMem-96); e != 0 || err != nil {
			t.Fatalf("path_open: %v %v", e, err)
		}
		fd := uint64(le.Uint32(m[bombMem-96:]))
		// The iovecs: pairs of (ptr, len) from the fuzzer, at the end of
		// memory, at most 1024 of them.
		n := min(len(in)/8, maxIOVecs)
		iovs := uint32(bombMem - 100 - 8*maxIOVecs - 8)
		for i := range n {
			copy(m[iovs+uint32(8*i):], in[8*i:8*i+8])
		}
		// What the file should hold where the write went, taken before the
		// call (nwritten may land inside an iovec); a write that succeeds
		// writes at most the file's limit.
		var want []byte
		for i := range n {
			p, l := le.Uint32(m[iovs+uint32(8*i):]), le.Uint32(m[iovs+uint32(8*i)+4:])
			if uint64(p)+uint64(l) > bombMem || len(want) > fileLimit {
				break
			}
			want = append(want, m[p:p+min(l, uint32(fileLimit+1-len(want)))]...)
		}
		before := readFile(admin, "/f")
		usedBefore := fsys.Used()
		res := uint64(bombMem - 92)
		var e Errno
		var err error
		got := allocated(func() {
			if mode&1 != 0 {
				e, err = call("fd_pwrite", fd, uint64(iovs), uint64(n), off, res)
			} else {
				e, err = call("fd_write", fd, uint64(iovs), uint64(n), res)
			}
		})
		if err != nil {
			t.Fatalf("write: %v", err)
		}
		if bound := uint64(fileLimit)*2 + 1<<20; got > bound {
			t.Fatalf("a write allocated %d bytes, more than the file's growth allows", got)
		}
		if fsys.Used() > totalLimit {
			t.Fatalf("%d bytes used, over the total of %d", fsys.Used(), totalLimit)
		}
		after := readFile(admin, "/f")
		if len(after) > fileLimit {
			t.Fatalf("file is %d bytes, over its limit", len(after))
		}
		if e != 0 {
			if after != before || fsys.Used() != usedBefore {
				t.Fatalf("refused write (%v) changed the file", e)
			}
			return
		}
		nw := int(le.Uint32(m[res:]))
		if nw > len(want) {
			t.Fatalf("nwritten %d, but the iovecs hold %d", nw, len(want))
		}
		want = want[:nw]
		at := int(off)
		if mode&1 == 0 {
			at = 0
			if mode&2 != 0 {
				at = len(before)
			}
		}
		if nw > 0 && after[at:at+nw] != string(want) {
			t.Fatalf("the file does not hold the guest's bytes at %d", at)
		}
	})
}

// maxCallAlloc bounds what one WASI call may allocate besides the growth
// of a file (which the quotas bound): poll_oneoff's copy of 65,536
// subscriptions and their events is the largest, about 6 MiB.
const maxCallAlloc = 8 << 20

// FuzzCallBig calls every WASI function with the fuzzer's parameters over
// a 4 MiB memory that starts with the fuzzer's bytes (iovec arrays, path
// strings, subscriptions), under real quotas, and checks that no call
// allocates more than maxCallAlloc beyond the file growth the quotas
// allow, that the quotas hold, and that every result is an errno.
func FuzzCallBig(f *testing.F) {
	idx := map[string]byte{}
	for i, n := range Names() {
		idx[n] = byte(i)
	}
	seed := func(mem []byte, calls ...[]uint64) []byte {
		b := binary.LittleEndian.AppendUint16(nil, uint16(len(mem)))
		b = append(b, mem...)
		for _, c := range calls {
			b = append(b, byte(c[0]))
			for _, p := range c[1:] {
				b = binary.LittleEndian.AppendUint64(b, p)
			}
		}
		return b
	}
	// 64 iovecs over the whole memory.
	var iovs []byte
	for range 64 {
		iovs = binary.LittleEndian.AppendUint32(iovs, 0)
		iovs = binary.LittleEndian.AppendUint32(iovs, 4<<20)
	}
	name := append(iovs, "rw/f"...)
	f.Add(seed(name,
		[]uint64{uint64(idx["path_open"]), 3, 0, 512, 4, 1, ^uint64(0), ^uint64(0), 0, 600},
		[]uint64{uint64(idx["fd_write"]), 4, 0, 64, 600},
		[]uint64{uint64(idx["fd_pwrite"]), 4, 0, 64, 1 << 20, 600},
		[]uint64{uint64(idx["fd_read"]), 4, 0, 64, 600},
		[]uint64{uint64(idx["fd_pread"]), 4, 0, 64, 0, 600}))
	f.Add(seed(nil, []uint64{uint64(idx["fd_readdir"]), 3, 0, 4 << 20, 0, 8}))
	f.Add(seed(nil, []uint64{uint64(idx["random_get"]), 0, 4 << 20}))
	f.Add(seed(nil, []uint64{uint64(idx["poll_oneoff"]), 0, 0, 1 << 16, 8}))
	f.Add(seed(nil, []uint64{uint64(idx["fd_write"]), 1, 0, 1024, 8}))
	f.Fuzz(func(t *testing.T, in []byte) {
		if len(in) < 2 {
			return
		}
		m := make([]byte, 4<<20)
		n := min(int(binary.LittleEndian.Uint16(in)), len(in)-2)
		copy(m, in[2:2+n])
		call := in[2+n:]
		const fileLimit, totalLimit = 1 << 20, 3 << 19
		fsys := vfs.New(vfs.Limits{FileBytes: fileLimit, TotalBytes: totalLimit}, nil)
		admin := fsys.Unchecked()
		admin.WriteFile("/ro/secret", strings.NewReader("secret"))
		admin.WriteFile("/rw/f", strings.NewReader("file"))
		s := New(Config{
			Args: []string{"p"}, Stdin: strings.NewReader("in"),
			FS:    fsys.View(capability.Set{"/ro/": capability.Read, "/rw/": capability.Read | capability.Write}),
			Sleep: func(context.Context, time.Duration) error { return nil },
		})
		defer s.Close()
		fns := Functions()
		for steps := 0; len(call) > 0 && steps < 8; steps++ {
			fn := fns[int(call[0])%len(fns)]
			call = call[1:]
			stack := make([]uint64, max(len(fn.Params), 1))
			for i := range fn.Params {
				if len(call) >= 8 {
					stack[i] = binary.LittleEndian.Uint64(call)
					call = call[8:]
				}
				if fn.Params[i] == abi.I32 {
					stack[i] = uint64(uint32(stack[i]))
				}
			}
			used := fsys.Used()
			var err error
			got := allocated(func() { err = fn.Call(context.Background(), s, m, stack) })
			var ee *ExitError
			if err != nil && !errors.As(err, &ee) {
				t.Fatalf("%s%v: %v", fn.Name, stack, err)
			}
			if err == nil && len(fn.Results) == 1 && stack[0] > uint64(ErrnoNotcapable) {
				t.Fatalf("%s returned %d, not an errno", fn.Name, stack[0])
			}
			grown := max(fsys.Used()-used, 0)
			if bound := uint64(maxCallAlloc + 2*grown + 2*fileLimit); got > bound {
				t.Fatalf("%s%v allocated %d bytes (the files grew by %d)", fn.Name, stack, got, grown)
			}
			if fsys.Used() > totalLimit {
				t.Fatalf("%d bytes used, over the total of %d", fsys.Used(), totalLimit)
			}
		}
		if b := readFile(admin, "/ro/secret"); b != "secret" {
			t.Fatalf("read-only file is now %q", b)
		}
	})
}
