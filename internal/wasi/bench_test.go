package wasi

import (
	"bytes"
	"testing"
)

func BenchmarkFdWrite4KiB(b *testing.B) {
	h := newHarness(b, nil, Config{})
	fd, e := h.open("f", oflagCreat, rw, 0)
	if e != 0 {
		b.Fatal(e)
	}
	iovs, _ := h.iov(make([]byte, 4096), 4096)
	res := h.alloc(4)
	f, _ := Lookup("fd_write")
	pos := h.alloc(8)
	seek, _ := Lookup("fd_seek")
	stack := make([]uint64, 4)
	b.SetBytes(4096)
	i := 0
	for b.Loop() {
		stack[0], stack[1], stack[2], stack[3] = uint64(fd), uint64(iovs), 1, uint64(res)
		f.Call(b.Context(), h.s, h.m, stack)
		if stack[0] != 0 {
			b.Fatal(Errno(stack[0]))
		}
		if i++; i%128 == 0 {
			seek.Call(b.Context(), h.s, h.m, []uint64{uint64(fd), 0, 0, uint64(pos)})
		}
	}
}

func BenchmarkFdRead4KiB(b *testing.B) {
	h := newHarness(b, nil, Config{})
	h.admin().WriteFile("/f", bytes.NewReader(make([]byte, 1<<20)))
	fd, _ := h.open("f", 0, rightFdRead, 0)
	iovs, _ := h.iov(nil, 4096)
	res, pos := h.alloc(4), h.alloc(8)
	f, _ := Lookup("fd_read")
	seek, _ := Lookup("fd_seek")
	stack := make([]uint64, 4)
	b.SetBytes(4096)
	for b.Loop() {
		stack[0], stack[1], stack[2], stack[3] = uint64(fd), uint64(iovs), 1, uint64(res)
		f.Call(b.Context(), h.s, h.m, stack)
		if h.u32(res) == 0 {
			seek.Call(b.Context(), h.s, h.m, []uint64{uint64(fd), 0, 0, uint64(pos)})
		}
	}
}

func BenchmarkPathOpenClose(b *testing.B) {
	h := newHarness(b, nil, Config{})
	h.admin().WriteFile("/dir/sub/file", bytes.NewReader(make([]byte, 10)))
	p, n := h.str("dir/sub/file")
	res := h.alloc(4)
	open, _ := Lookup("path_open")
	closeFn, _ := Lookup("fd_close")
	stack := make([]uint64, 9)
	for b.Loop() {
		copy(stack, []uint64{3, 0, p, n, 0, rightFdRead, 0, 0, uint64(res)})
		open.Call(b.Context(), h.s, h.m, stack)
		if stack[0] != 0 {
			b.Fatal(Errno(stack[0]))
		}
		closeFn.Call(b.Context(), h.s, h.m, []uint64{uint64(h.u32(res))})
	}
}

func BenchmarkClockTimeGet(b *testing.B) {
	h := newHarness(b, nil, Config{})
	f, _ := Lookup("clock_time_get")
	p := h.alloc(8)
	stack := make([]uint64, 3)
	for b.Loop() {
		stack[0], stack[1], stack[2] = 1, 0, uint64(p)
		f.Call(b.Context(), h.s, h.m, stack)
	}
}
