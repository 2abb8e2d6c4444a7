package wasi

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/truce-project/truce/capability"
	"github.com/truce-project/truce/internal/vfs"
)

// harness calls functions on a System with a fake 64 KiB memory.
type harness struct {
	t      testing.TB
	s      *System
	m      []byte
	fs     *vfs.FS
	stdout bytes.Buffer
	stderr bytes.Buffer
	brk    uint32 // next free byte for alloc
}

const memSize = 1 << 16

func newHarness(t testing.TB, caps capability.Set, cfg Config) *harness {
	t.Helper()
	h := &harness{t: t, m: make([]byte, memSize), brk: 1024}
	h.fs = vfs.New(vfs.Limits{FileBytes: 1 << 20, TotalBytes: 4 << 20}, nil)
	if caps == nil {
		caps = capability.Set{"/": capability.Read | capability.Write}
	}
	cfg.FS = h.fs.View(caps)
	if cfg.Stdout == nil {
		cfg.Stdout = &h.stdout
	}
	if cfg.Stderr == nil {
		cfg.Stderr = &h.stderr
	}
	h.s = New(cfg)
	t.Cleanup(func() { h.s.Close() })
	return h
}

func (h *harness) admin() *vfs.View { return h.fs.Unchecked() }

// call runs name with params and returns its errno.
func (h *harness) call(name string, params ...uint64) Errno {
	h.t.Helper()
	f, ok := Lookup(name)
	if !ok {
		h.t.Fatalf("no function %s", name)
	}
	if len(params) != len(f.Params) {
		h.t.Fatalf("%s takes %d params, got %d", name, len(f.Params), len(params))
	}
	stack := make([]uint64, max(len(params), 1))
	copy(stack, params)
	if err := f.Call(context.Background(), h.s, h.m, stack); err != nil {
		h.t.Fatalf("%s: %v", name, err)
	}
	return Errno(stack[0])
}

func (h *harness) must(name string, params ...uint64) {
	h.t.Helper()
	if e := h.call(name, params...); e != ErrnoSuccess {
		h.t.Fatalf("%s%v = %v", name, params, e)
	}
}

// alloc reserves n bytes of memory and returns their address.
func (h *harness) alloc(n uint32) uint32 {
	p := h.brk
	h.brk += (n + 7) &^ 7
	if h.brk > memSize {
		h.t.Fatal("harness memory exhausted")
	}
	return p
}

// str puts s in memory and returns (ptr, len).
func (h *harness) str(s string) (uint64, uint64) {
	p := h.alloc(uint32(len(s)))
	copy(h.m[p:], s)
	return uint64(p), uint64(len(s))
}

func (h *harness) u32(p uint32) uint32 { return le.Uint32(h.m[p:]) }
func (h *harness) u64(p uint32) uint64 { return le.Uint64(h.m[p:]) }

// open opens path relative to fd 3 and returns the new fd, or the errno.
func (h *harness) open(path string, oflags uint32, rights uint64, fdflags uint32) (uint32, Errno) {
	p, n := h.str(path)
	res := h.alloc(4)
	e := h.call("path_open", 3, 1, p, n, uint64(oflags), rights, rights, uint64(fdflags), uint64(res))
	return h.u32(res), e
}

// iov puts one iovec for buf (of n bytes at a fresh address) and returns
// the iovec's address and the buffer's.
func (h *harness) iov(data []byte, n uint32) (iovs, buf uint32) {
	buf = h.alloc(n)
	copy(h.m[buf:], data)
	iovs = h.alloc(8)
	le.PutUint32(h.m[iovs:], buf)
	le.PutUint32(h.m[iovs+4:], n)
	return iovs, buf
}

func (h *harness) write(fd uint32, s string) Errno {
	iovs, _ := h.iov([]byte(s), uint32(len(s)))
	res := h.alloc(4)
	return h.call("fd_write", uint64(fd), uint64(iovs), 1, uint64(res))
}

func (h *harness) read(fd uint32, n uint32) (string, Errno) {
	iovs, buf := h.iov(nil, n)
	res := h.alloc(4)
	e := h.call("fd_read", uint64(fd), uint64(iovs), 1, uint64(res))
	return string(h.m[buf : buf+h.u32(res)]), e
}

func (h *harness) file(p string) string {
	s, err := h.admin().Open(p)
	if err != nil {
		return "<" + err.Error() + ">"
	}
	b := make([]byte, s.Size())
	s.ReadAt(b, 0)
	return string(b)
}

const rw = rightFdRead | rightFdWrite | rightFdSeek | rightFdTell | rightFdFilestatGet | rightFdFilestatSetSize

func TestFunctionsTable(t *testing.T) {
	names := Names()
	if len(names) != 46 || len(Functions()) != 46 {
		t.Fatalf("%d functions, want the 46 of preview 1", len(names))
	}
	if &Functions()[0] != &Functions()[0] {
		t.Error("Functions returns a new slice each time")
	}
	seen := map[string]bool{}
	for _, f := range Functions() {
		if seen[f.Name] {
			t.Errorf("%s twice", f.Name)
		}
		seen[f.Name] = true
		want := 1
		if f.Name == "proc_exit" {
			want = 0
		}
		if len(f.Results) != want {
			t.Errorf("%s has %d results", f.Name, len(f.Results))
		}
	}
	for name, sig := range map[string]string{
		"fd_write":       "(i32, i32, i32, i32) -> i32",
		"path_open":      "(i32, i32, i32, i32, i32, i64, i64, i32, i32) -> i32",
		"proc_exit":      "(i32) -> ()",
		"sched_yield":    "() -> i32",
		"fd_seek":        "(i32, i64, i32, i32) -> i32",
		"clock_time_get": "(i32, i64, i32) -> i32",
	} {
		f, ok := Lookup(name)
		if !ok || f.Signature() != sig {
			t.Errorf("%s: %q, want %q", name, f.Signature(), sig)
		}
	}
	if _, ok := Lookup("fd_nope"); ok {
		t.Error("Lookup found a function that does not exist")
	}
	if names[0] != "args_get" || names[45] != "sock_shutdown" {
		t.Errorf("not in spec order: %v", names)
	}
}

func TestErrnoOf(t *testing.T) {
	for _, c := range []struct {
		err  error
		want Errno
	}{
		{nil, ErrnoSuccess},
		{vfs.ErrNotExist, ErrnoNoent},
		{&vfs.PathError{Op: "open", Path: "x", Err: vfs.ErrExist}, ErrnoExist},
		{vfs.ErrPermission, ErrnoAcces},
		{&vfs.QuotaError{Limit: 1, Want: 2}, ErrnoFbig},
		{&vfs.QuotaError{Total: true, Limit: 1, Want: 2}, ErrnoNospc},
		{vfs.ErrIsDir, ErrnoIsdir},
		{vfs.ErrNotDir, ErrnoNotdir},
		{&vfs.LinkError{Err: vfs.ErrNotEmpty}, ErrnoNotempty},
		{vfs.ErrInvalid, ErrnoInval},
		{vfs.ErrEscape, ErrnoPerm},
		{vfs.ErrNotPermitted, ErrnoPerm},
		{vfs.ErrNotSupported, ErrnoNotsup},
		{vfs.ErrBusy, ErrnoBusy},
		{vfs.ErrClosed, ErrnoBadf},
		{vfs.ErrBadHandle, ErrnoBadf},
		{vfs.ErrNameTooLong, ErrnoNametoolong},
		{fmt.Errorf("wrapped: %w", ErrnoXdev), ErrnoXdev},
		{errors.New("other"), ErrnoIo},
	} {
		if got := ErrnoOf(c.err); got != c.want {
			t.Errorf("ErrnoOf(%v) = %v, want %v", c.err, got, c.want)
		}
	}
	if ErrnoNotcapable != 76 || ErrnoNoent != 44 || ErrnoFault != 21 || ErrnoNotsock != 57 {
		t.Error("errno values do not match the spec")
	}
	if ErrnoNoent.String() != "NOENT" || Errno(999).String() != "errno(999)" {
		t.Error("errno names")
	}
}

func TestArgsEnv(t *testing.T) {
	h := newHarness(t, nil, Config{Args: []string{"prog", "a b", ""}, Env: []string{"K=V", "X="}})
	cnt, size := h.alloc(4), h.alloc(4)
	h.must("args_sizes_get", uint64(cnt), uint64(size))
	if h.u32(cnt) != 3 || h.u32(size) != 5+4+1 {
		t.Fatalf("args sizes %d %d", h.u32(cnt), h.u32(size))
	}
	ptrs, buf := h.alloc(12), h.alloc(10)
	h.must("args_get", uint64(ptrs), uint64(buf))
	if string(h.m[buf:buf+10]) != "prog\x00a b\x00\x00" || h.u32(ptrs+4) != buf+5 || h.u32(ptrs+8) != buf+9 {
		t.Errorf("args: %q", h.m[buf:buf+10])
	}
	h.must("environ_sizes_get", uint64(cnt), uint64(size))
	if h.u32(cnt) != 2 || h.u32(size) != 7 {
		t.Fatalf("env sizes %d %d", h.u32(cnt), h.u32(size))
	}
	h.must("environ_get", uint64(ptrs), uint64(buf))
	if string(h.m[buf:buf+7]) != "K=V\x00X=\x00" {
		t.Errorf("env: %q", h.m[buf:buf+7])
	}
	if e := h.call("args_get", memSize-4, uint64(buf)); e != ErrnoFault {
		t.Errorf("args_get past memory: %v", e)
	}
	if e := h.call("args_get", uint64(ptrs), memSize-3); e != ErrnoFault {
		t.Errorf("args_get buf past memory: %v", e)
	}
	if e := h.call("environ_sizes_get", memSize, 0); e != ErrnoFault {
		t.Errorf("environ_sizes_get past memory: %v", e)
	}
}

func TestClocksRandom(t *testing.T) {
	at := time.Date(2026, 5, 6, 7, 8, 9, 10, time.UTC)
	h := newHarness(t, nil, Config{
		Now:      func() time.Time { return at },
		Nanotime: func() int64 { return 12345 },
		Rand:     bytes.NewReader(bytes.Repeat([]byte{7}, 64)),
	})
	p := h.alloc(8)
	for _, c := range []struct {
		id   uint64
		want uint64
		e    Errno
	}{
		{0, uint64(at.UnixNano()), 0},
		{1, 12345, 0},
		{2, 0, ErrnoNotsup},
		{3, 0, ErrnoNotsup},
		{4, 0, ErrnoInval},
	} {
		e := h.call("clock_time_get", c.id, 1, uint64(p))
		if e != c.e || e == 0 && h.u64(p) != c.want {
			t.Errorf("clock %d: %v %d", c.id, e, h.u64(p))
		}
		if e := h.call("clock_res_get", c.id, uint64(p)); e != c.e || e == 0 && h.u64(p) != 1 {
			t.Errorf("clock_res %d: %v", c.id, e)
		}
	}
	if e := h.call("clock_time_get", 0, 0, memSize-7); e != ErrnoFault {
		t.Errorf("clock_time_get past memory: %v", e)
	}
	b := h.alloc(16)
	h.must("random_get", uint64(b), 16)
	if !bytes.Equal(h.m[b:b+16], bytes.Repeat([]byte{7}, 16)) {
		t.Error("random_get did not use Config.Rand")
	}
	if e := h.call("random_get", memSize-8, 9); e != ErrnoFault {
		t.Errorf("random_get past memory: %v", e)
	}
	if e := h.call("random_get", uint64(b), 64); e != ErrnoIo {
		t.Errorf("random_get with exhausted source: %v", e)
	}
	h2 := newHarness(t, nil, Config{})
	h2.must("random_get", uint64(b), 32)
	if bytes.Equal(h2.m[b:b+32], make([]byte, 32)) {
		t.Error("default random source gave zeros")
	}
}

func TestStdio(t *testing.T) {
	h := newHarness(t, nil, Config{Stdin: strings.NewReader("input!")})
	h.must("fd_write", 1, 0, 0, uint64(h.alloc(4))) // no iovecs
	if e := h.write(1, "out"); e != 0 {
		t.Fatal(e)
	}
	if e := h.write(2, "err"); e != 0 {
		t.Fatal(e)
	}
	if h.stdout.String() != "out" || h.stderr.String() != "err" {
		t.Errorf("stdout %q stderr %q", h.stdout.String(), h.stderr.String())
	}
	if s, e := h.read(0, 4); s != "inpu" || e != 0 {
		t.Errorf("stdin read %q %v", s, e)
	}
	if s, e := h.read(0, 10); s != "t!" || e != 0 {
		t.Errorf("stdin read %q %v", s, e)
	}
	if s, e := h.read(0, 10); s != "" || e != 0 {
		t.Errorf("stdin at EOF %q %v", s, e)
	}
	if e := h.write(0, "x"); e != ErrnoBadf {
		t.Errorf("write stdin: %v", e)
	}
	if _, e := h.read(1, 1); e != ErrnoBadf {
		t.Errorf("read stdout: %v", e)
	}
	st := h.alloc(24)
	h.must("fd_fdstat_get", 1, uint64(st))
	if h.m[st] != filetypeCharacterDevice || le.Uint16(h.m[st+2:]) != fdflagAppend {
		t.Errorf("stdout fdstat %v", h.m[st:st+24])
	}
	if e := h.call("fd_seek", 1, 0, 0, uint64(h.alloc(8))); e != ErrnoSpipe {
		t.Errorf("seek stdout: %v", e)
	}
	if e := h.call("fd_prestat_get", 1, uint64(h.alloc(8))); e != ErrnoBadf {
		t.Errorf("prestat stdout: %v", e)
	}
	fst := h.alloc(64)
	h.must("fd_filestat_get", 0, uint64(fst))
	if h.m[fst+16] != filetypeCharacterDevice {
		t.Error("stdin filestat type")
	}
	// A failing writer is EIO; a quota error is NOSPC.
	h2 := newHarness(t, nil, Config{Stdout: failWriter{errors.New("broken")}, Stderr: failWriter{&vfs.QuotaError{Total: true}}})
	if e := h2.write(1, "x"); e != ErrnoIo {
		t.Errorf("failing stdout: %v", e)
	}
	if e := h2.write(2, "x"); e != ErrnoNospc {
		t.Errorf("full stderr: %v", e)
	}
}

type failWriter struct{ err error }

func (f failWriter) Write([]byte) (int, error) { return 0, f.err }

func TestPrestat(t *testing.T) {
	h := newHarness(t, nil, Config{})
	b := h.alloc(8)
	h.must("fd_prestat_get", 3, uint64(b))
	if h.m[b] != 0 || h.u32(b+4) != 1 {
		t.Errorf("prestat %v", h.m[b:b+8])
	}
	name := h.alloc(8)
	h.must("fd_prestat_dir_name", 3, uint64(name), 1)
	if h.m[name] != '/' {
		t.Errorf("preopen name %q", h.m[name])
	}
	if e := h.call("fd_prestat_dir_name", 3, uint64(name), 0); e != ErrnoNametoolong {
		t.Errorf("short buffer: %v", e)
	}
	if e := h.call("fd_prestat_get", 4, uint64(b)); e != ErrnoBadf {
		t.Errorf("fd 4: %v", e)
	}
	st := h.alloc(24)
	h.must("fd_fdstat_get", 3, uint64(st))
	if h.m[st] != filetypeDirectory {
		t.Errorf("preopen type %d", h.m[st])
	}
	// Without a file system there is no preopen.
	s := New(Config{})
	defer s.Close()
	f, _ := Lookup("fd_prestat_get")
	stack := []uint64{3, uint64(b)}
	f.Call(context.Background(), s, h.m, stack)
	if Errno(stack[0]) != ErrnoBadf {
		t.Errorf("no FS: prestat fd 3 = %v", Errno(stack[0]))
	}
}

func TestFileIO(t *testing.T) {
	h := newHarness(t, nil, Config{})
	fd, e := h.open("f", oflagCreat, rw, 0)
	if e != 0 {
		t.Fatal(e)
	}
	if fd != 4 {
		t.Errorf("first fd = %d, want 4", fd)
	}
	if e := h.write(fd, "hello world"); e != 0 {
		t.Fatal(e)
	}
	pos := h.alloc(8)
	h.must("fd_tell", uint64(fd), uint64(pos))
	if h.u64(pos) != 11 {
		t.Errorf("tell = %d", h.u64(pos))
	}
	h.must("fd_seek", uint64(fd), uint64(6), whenceSet, uint64(pos))
	if s, _ := h.read(fd, 100); s != "world" {
		t.Errorf("read after seek: %q", s)
	}
	neg := int64(-5)
	h.must("fd_seek", uint64(fd), uint64(neg), whenceEnd, uint64(pos))
	if h.u64(pos) != 6 {
		t.Errorf("seek end-5 = %d", h.u64(pos))
	}
	neg = -100
	if e := h.call("fd_seek", uint64(fd), uint64(neg), whenceCur, uint64(pos)); e != ErrnoInval {
		t.Errorf("seek before start: %v", e)
	}
	if e := h.call("fd_seek", uint64(fd), 0, 3, uint64(pos)); e != ErrnoInval {
		t.Errorf("bad whence: %v", e)
	}
	if e := h.call("fd_seek", uint64(fd), 0, 0, memSize-4); e != ErrnoFault {
		t.Errorf("seek result past memory: %v", e)
	}
	// Seek past the end and write: a gap of zeros.
	h.must("fd_seek", uint64(fd), 13, whenceSet, uint64(pos))
	h.write(fd, "!")
	if got := h.file("/f"); got != "hello world\x00\x00!" {
		t.Errorf("file = %q", got)
	}
	// pread / pwrite do not move the position.
	iovs, buf := h.iov(nil, 5)
	n := h.alloc(4)
	h.must("fd_pread", uint64(fd), uint64(iovs), 1, 0, uint64(n))
	if string(h.m[buf:buf+h.u32(n)]) != "hello" {
		t.Errorf("pread %q", h.m[buf:buf+5])
	}
	wiov, _ := h.iov([]byte("J"), 1)
	h.must("fd_pwrite", uint64(fd), uint64(wiov), 1, 0, uint64(n))
	h.must("fd_tell", uint64(fd), uint64(pos))
	if h.u64(pos) != 14 || !strings.HasPrefix(h.file("/f"), "Jello") {
		t.Errorf("after pwrite: pos %d, %q", h.u64(pos), h.file("/f"))
	}
	if e := h.call("fd_pread", uint64(fd), uint64(iovs), 1, 1<<63, uint64(n)); e != ErrnoInval {
		t.Errorf("pread at offset > int64: %v", e)
	}
	// Several iovecs in one call.
	iovs2 := h.alloc(16)
	b1, b2 := h.alloc(3), h.alloc(3)
	le.PutUint32(h.m[iovs2:], b1)
	le.PutUint32(h.m[iovs2+4:], 3)
	le.PutUint32(h.m[iovs2+8:], b2)
	le.PutUint32(h.m[iovs2+12:], 3)
	h.must("fd_pread", uint64(fd), uint64(iovs2), 2, 0, uint64(n))
	if h.u32(n) != 6 || string(h.m[b1:b1+3])+string(h.m[b2:b2+3]) != "Jello " {
		t.Errorf("scatter read %d", h.u32(n))
	}
	// Size, stat, times.
	h.must("fd_filestat_set_size", uint64(fd), 5)
	st := h.alloc(64)
	h.must("fd_filestat_get", uint64(fd), uint64(st))
	if h.m[st+16] != filetypeRegularFile || h.u64(st+32) != 5 || h.u64(st+24) != 1 || h.u64(st+8) == 0 {
		t.Errorf("filestat %v", h.m[st:st+64])
	}
	h.must("fd_filestat_set_times", uint64(fd), 1e9, 2e9, fstflagAtim|fstflagMtim)
	h.must("fd_filestat_get", uint64(fd), uint64(st))
	if h.u64(st+40) != 1e9 || h.u64(st+48) != 2e9 {
		t.Errorf("times %d %d", h.u64(st+40), h.u64(st+48))
	}
	if e := h.call("fd_filestat_set_times", uint64(fd), 0, 0, fstflagAtim|fstflagAtimNow); e != ErrnoInval {
		t.Errorf("ATIM|ATIM_NOW: %v", e)
	}
	h.must("fd_allocate", uint64(fd), 10, 10)
	if len(h.file("/f")) != 20 {
		t.Errorf("allocate: %d bytes", len(h.file("/f")))
	}
	h.must("fd_advise", uint64(fd), 0, 0, 2)
	if e := h.call("fd_advise", uint64(fd), 0, 0, 9); e != ErrnoInval {
		t.Errorf("bad advice: %v", e)
	}
	h.must("fd_sync", uint64(fd))
	h.must("fd_datasync", uint64(fd))
	h.must("fd_close", uint64(fd))
	if e := h.call("fd_close", uint64(fd)); e != ErrnoBadf {
		t.Errorf("second close: %v", e)
	}
	if e := h.write(fd, "x"); e != ErrnoBadf {
		t.Errorf("write closed fd: %v", e)
	}
}

func TestAccessModes(t *testing.T) {
	h := newHarness(t, nil, Config{})
	h.admin().WriteFile("/f", strings.NewReader("abc"))
	ro, _ := h.open("f", 0, rightFdRead, 0)
	if e := h.write(ro, "x"); e != ErrnoBadf {
		t.Errorf("write read-only fd: %v", e)
	}
	if e := h.call("fd_filestat_set_size", uint64(ro), 0); e != ErrnoBadf {
		t.Errorf("truncate read-only fd: %v", e)
	}
	wo, _ := h.open("f", 0, rightFdWrite, 0)
	if _, e := h.read(wo, 1); e != ErrnoBadf {
		t.Errorf("read write-only fd: %v", e)
	}
	// O_APPEND: writes go to the end whatever the position.
	ap, _ := h.open("f", 0, rw, fdflagAppend)
	pos := h.alloc(8)
	h.must("fd_seek", uint64(ap), 0, whenceSet, uint64(pos))
	h.write(ap, "de")
	h.must("fd_tell", uint64(ap), uint64(pos))
	if h.file("/f") != "abcde" || h.u64(pos) != 5 {
		t.Errorf("append: %q at %d", h.file("/f"), h.u64(pos))
	}
	st := h.alloc(24)
	h.must("fd_fdstat_get", uint64(ap), uint64(st))
	if le.Uint16(h.m[st+2:]) != fdflagAppend || h.m[st] != filetypeRegularFile {
		t.Errorf("fdstat flags %d", le.Uint16(h.m[st+2:]))
	}
	h.must("fd_fdstat_set_flags", uint64(ap), 0)
	h.must("fd_seek", uint64(ap), 0, whenceSet, uint64(pos))
	h.write(ap, "X")
	if h.file("/f") != "Xbcde" {
		t.Errorf("after clearing append: %q", h.file("/f"))
	}
	if e := h.call("fd_fdstat_set_flags", uint64(ap), 64); e != ErrnoInval {
		t.Errorf("unknown fdflag: %v", e)
	}
	// Rights only shrink.
	h.must("fd_fdstat_set_rights", uint64(ap), rightFdRead, 0)
	if e := h.call("fd_fdstat_set_rights", uint64(ap), rightFdRead|rightFdWrite, 0); e != ErrnoNotcapable {
		t.Errorf("growing rights: %v", e)
	}
	// Truncate on open.
	tr, e := h.open("f", oflagTrunc, rw, 0)
	if e != 0 || h.file("/f") != "" {
		t.Errorf("O_TRUNC: %v %q", e, h.file("/f"))
	}
	h.must("fd_close", uint64(tr))
}

func TestPathOpenErrors(t *testing.T) {
	h := newHarness(t, nil, Config{})
	a := h.admin()
	a.WriteFile("/dir/file", strings.NewReader("x"))
	a.MkdirAll("/dir/sub")
	for _, c := range []struct {
		path   string
		oflags uint32
		rights uint64
		want   Errno
	}{
		{"dir/file", 0, rw, 0},
		{"dir/file/", 0, rightFdRead, ErrnoNotdir},
		{"dir/file", oflagDirectory, 0, ErrnoNotdir},
		{"dir/file/x", 0, rightFdRead, ErrnoNotdir},
		{"dir/nope", 0, rightFdRead, ErrnoNoent},
		{"nope/x", oflagCreat, rw, ErrnoNoent},
		{"", 0, rightFdRead, ErrnoNoent},
		{"/dir/file", 0, rightFdRead, ErrnoPerm},
		{"..", 0, rightFdRead, ErrnoPerm},
		{"dir/../../x", 0, rightFdRead, ErrnoPerm},
		{"dir/./sub/../file", 0, rightFdRead, 0},
		{"dir", 0, rightFdRead, 0},
		{"dir", 0, rightFdWrite, ErrnoIsdir},
		{"dir/", oflagDirectory, rightFdReaddir, 0},
		{"dir/file", oflagCreat | oflagExcl, rw, ErrnoExist},
		{"dir/new/", oflagCreat, rw, ErrnoIsdir},
		{"dir/new", oflagCreat | oflagDirectory, rw, ErrnoInval},
		{"dir/file", 64, rw, ErrnoInval},
		{"dir/\xff", oflagCreat, rw, ErrnoIlseq},
		{"dir/a\x00b", oflagCreat, rw, ErrnoInval},
		{"dir/" + strings.Repeat("n", 300), oflagCreat, rw, ErrnoNametoolong},
		{".", 0, rightFdRead, 0},
	} {
		fd, e := h.open(c.path, c.oflags, c.rights, 0)
		if e != c.want {
			t.Errorf("path_open(%q, %d, %x) = %v, want %v", c.path, c.oflags, c.rights, e, c.want)
		}
		if e == 0 {
			h.must("fd_close", uint64(fd))
		}
	}
	if e := h.call("path_open", 3, 0, 0, memSize, 0, rightFdRead, 0, 0, 0); e != ErrnoNametoolong {
		t.Errorf("path of the whole memory: %v", e)
	}
	p, n := h.str("dir/file")
	if e := h.call("path_open", 3, 0, p, n, 0, rightFdRead, 0, 0, memSize); e != ErrnoFault {
		t.Errorf("result past memory: %v", e)
	}
	if e := h.call("path_open", 3, 0, memSize-2, 8, 0, rightFdRead, 0, 0, 0); e != ErrnoFault {
		t.Errorf("path past memory: %v", e)
	}
	if e := h.call("path_open", 1, 0, p, n, 0, rightFdRead, 0, 0, 0); e != ErrnoBadf {
		t.Errorf("path_open on stdout: %v", e)
	}
	if e := h.call("path_open", 99, 0, p, n, 0, rightFdRead, 0, 0, 0); e != ErrnoBadf {
		t.Errorf("path_open on bad fd: %v", e)
	}
	fd, _ := h.open("dir/file", 0, rightFdRead, 0)
	res := h.alloc(4)
	if e := h.call("path_open", uint64(fd), 0, p, n, 0, rightFdRead, 0, 0, uint64(res)); e != ErrnoNotdir {
		t.Errorf("path_open on a file fd: %v", e)
	}
	// Relative to a directory fd, ".." cannot climb above it.
	d, _ := h.open("dir", oflagDirectory, rightFdReaddir, 0)
	p2, n2 := h.str("../dir/file")
	if e := h.call("path_open", uint64(d), 0, p2, n2, 0, rightFdRead, 0, 0, uint64(res)); e != ErrnoPerm {
		t.Errorf("escape from dir fd: %v", e)
	}
	p3, n3 := h.str("sub/../file")
	if e := h.call("path_open", uint64(d), 0, p3, n3, 0, rightFdRead, 0, 0, uint64(res)); e != 0 {
		t.Errorf("inside dir fd: %v", e)
	}
	// Directory fds do not read, write or seek.
	if _, e := h.read(d, 4); e != ErrnoBadf {
		t.Errorf("read dir: %v", e)
	}
	if e := h.write(d, "x"); e != ErrnoBadf {
		t.Errorf("write dir: %v", e)
	}
	if e := h.call("fd_seek", uint64(d), 0, 0, uint64(h.alloc(8))); e != ErrnoBadf {
		t.Errorf("seek dir: %v", e)
	}
}

func TestPathOps(t *testing.T) {
	h := newHarness(t, nil, Config{})
	a := h.admin()
	a.WriteFile("/d/f", strings.NewReader("x"))
	a.MkdirAll("/e")
	p := func(s string) (uint64, uint64) { return h.str(s) }
	op1 := func(name, path string) Errno {
		pp, n := p(path)
		return h.call(name, 3, pp, n)
	}
	two := func(name, from, to string) Errno {
		fp, fn := p(from)
		tp, tn := p(to)
		if name == "path_link" {
			return h.call(name, 3, 0, fp, fn, 3, tp, tn)
		}
		return h.call(name, 3, fp, fn, 3, tp, tn)
	}
	for _, c := range []struct {
		name string
		got  func() Errno
		want Errno
	}{
		{"mkdir", func() Errno { return op1("path_create_directory", "n") }, 0},
		{"mkdir trailing slash", func() Errno { return op1("path_create_directory", "m/") }, 0},
		{"mkdir exists", func() Errno { return op1("path_create_directory", "d") }, ErrnoExist},
		{"mkdir no parent", func() Errno { return op1("path_create_directory", "x/y") }, ErrnoNoent},
		{"unlink dir", func() Errno { return op1("path_unlink_file", "d") }, ErrnoIsdir},
		{"unlink file/", func() Errno { return op1("path_unlink_file", "d/f/") }, ErrnoNotdir},
		{"unlink missing", func() Errno { return op1("path_unlink_file", "zz") }, ErrnoNoent},
		{"rmdir file", func() Errno { return op1("path_remove_directory", "d/f") }, ErrnoNotdir},
		{"rmdir full", func() Errno { return op1("path_remove_directory", "d") }, ErrnoNotempty},
		{"rmdir .", func() Errno { return op1("path_remove_directory", ".") }, ErrnoBusy},
		{"rmdir empty", func() Errno { return op1("path_remove_directory", "m") }, 0},
		{"rename file to dir", func() Errno { return two("path_rename", "d/f", "e") }, ErrnoIsdir},
		{"rename dir to file", func() Errno { return two("path_rename", "e", "d/f") }, ErrnoNotdir},
		{"rename file to x/", func() Errno { return two("path_rename", "d/f", "g/") }, ErrnoNotdir},
		{"rename dir over full", func() Errno { return two("path_rename", "e", "d") }, ErrnoNotempty},
		{"rename dir into itself", func() Errno { return two("path_rename", "d", "d/in") }, ErrnoInval},
		{"rename dir/ to n2/", func() Errno { return two("path_rename", "n/", "n2/") }, 0},
		{"link", func() Errno { return two("path_link", "d/f", "d/g") }, 0},
		{"link exists", func() Errno { return two("path_link", "d/f", "d/g") }, ErrnoExist},
		{"link dir", func() Errno { return two("path_link", "d", "dl") }, ErrnoPerm},
		{"rename file", func() Errno { return two("path_rename", "d/g", "e/g") }, 0},
		{"unlink", func() Errno { return op1("path_unlink_file", "e/g") }, 0},
		{"symlink", func() Errno { return two("path_symlink_", "d/f", "s") }, ErrnoNotsup},
		{"symlink exists", func() Errno { return two("path_symlink_", "x", "d/f") }, ErrnoExist},
		{"readlink file", func() Errno { return two("path_readlink_", "d/f", "") }, ErrnoInval},
		{"readlink missing", func() Errno { return two("path_readlink_", "nope", "") }, ErrnoNoent},
	} {
		var got Errno
		switch {
		case strings.HasPrefix(c.name, "symlink"):
			c.got = nil
			from, to := "d/f", "s"
			if c.name == "symlink exists" {
				from, to = "x", "d/f"
			}
			fp, fn := p(from)
			tp, tn := p(to)
			got = h.call("path_symlink", fp, fn, 3, tp, tn)
		case strings.HasPrefix(c.name, "readlink"):
			path := "d/f"
			if c.name == "readlink missing" {
				path = "nope"
			}
			pp, n := p(path)
			got = h.call("path_readlink", 3, pp, n, uint64(h.alloc(16)), 16, uint64(h.alloc(4)))
		default:
			got = c.got()
		}
		if got != c.want {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
	st := h.alloc(64)
	pp, n := p("d/f")
	h.must("path_filestat_get", 3, 0, pp, n, uint64(st))
	if h.u64(st+24) != 1 || h.u64(st+32) != 1 || h.m[st+16] != filetypeRegularFile {
		t.Errorf("path_filestat_get %v", h.m[st:st+64])
	}
	h.must("path_filestat_set_times", 3, 0, pp, n, 0, 5e9, fstflagMtim|fstflagAtimNow)
	h.must("path_filestat_get", 3, 0, pp, n, uint64(st))
	if h.u64(st+48) != 5e9 || h.u64(st+40) == 0 {
		t.Errorf("set_times: atim %d mtim %d", h.u64(st+40), h.u64(st+48))
	}
	dp, dn := p("d")
	h.must("path_filestat_get", 3, 0, dp, dn, uint64(st))
	if h.m[st+16] != filetypeDirectory || h.u64(st+24) != 2 {
		t.Errorf("dir stat %v", h.m[st:st+64])
	}
	if e := h.call("path_filestat_get", 3, 0, pp, n, memSize-63); e != ErrnoFault {
		t.Errorf("filestat past memory: %v", e)
	}
}

func TestCapabilities(t *testing.T) {
	h := newHarness(t, capability.Set{
		"/in/":    capability.Read,
		"/out/":   capability.Read | capability.Write,
		"/log":    capability.Append,
		"/secret": capability.Execute,
	}, Config{})
	a := h.admin()
	a.WriteFile("/in/data", strings.NewReader("data"))
	a.WriteFile("/log", strings.NewReader("L"))
	a.WriteFile("/secret", strings.NewReader("s"))
	a.WriteFile("/hidden/x", strings.NewReader("h"))
	a.MkdirAll("/out")
	if _, e := h.open("in/data", 0, rightFdRead, 0); e != 0 {
		t.Errorf("read granted file: %v", e)
	}
	if _, e := h.open("in/data", 0, rw, 0); e != ErrnoAcces {
		t.Errorf("write read-only file: %v", e)
	}
	if _, e := h.open("in/new", oflagCreat, rw, 0); e != ErrnoAcces {
		t.Errorf("create in read-only dir: %v", e)
	}
	if _, e := h.open("secret", 0, rightFdRead, 0); e != ErrnoNoent {
		t.Errorf("exec-only file: %v", e)
	}
	if _, e := h.open("hidden/x", 0, rightFdRead, 0); e != ErrnoNoent {
		t.Errorf("hidden dir: %v", e)
	}
	// Append-only: O_WRONLY|O_APPEND works, plain write does not.
	lg, e := h.open("log", 0, rightFdWrite, fdflagAppend)
	if e != 0 {
		t.Fatalf("append-only open: %v", e)
	}
	h.write(lg, "+1")
	if h.file("/log") != "L+1" {
		t.Errorf("log = %q", h.file("/log"))
	}
	if e := h.call("fd_filestat_set_size", uint64(lg), 0); e != ErrnoBadf {
		t.Errorf("truncate append-only: %v", e)
	}
	iovs, _ := h.iov([]byte("x"), 1)
	if e := h.call("fd_pwrite", uint64(lg), uint64(iovs), 1, 0, uint64(h.alloc(4))); e != ErrnoBadf {
		t.Errorf("pwrite append-only: %v", e)
	}
	h.must("fd_fdstat_set_flags", uint64(lg), 0)
	if e := h.write(lg, "x"); e != ErrnoBadf {
		t.Errorf("write after clearing append on append-only: %v", e)
	}
	if _, e := h.open("log", 0, rightFdWrite, 0); e != ErrnoAcces {
		t.Errorf("write without append: %v", e)
	}
	if _, e := h.open("log", 0, rightFdRead, 0); e != ErrnoAcces {
		t.Errorf("read append-only: %v", e)
	}
	out, e := h.open("out/r.txt", oflagCreat|oflagTrunc, rw, 0)
	if e != 0 {
		t.Fatalf("create output: %v", e)
	}
	h.write(out, "result")
	if h.file("/out/r.txt") != "result" {
		t.Errorf("output = %q", h.file("/out/r.txt"))
	}
	rename := func(from, to string) Errno {
		fp, fn := h.str(from)
		tp, tn := h.str(to)
		return h.call("path_rename", 3, fp, fn, 3, tp, tn)
	}
	if e := rename("in/data", "out/data"); e != ErrnoAcces {
		t.Errorf("rename read-only: %v", e)
	}
	if e := rename("out/r.txt", "in/r.txt"); e != ErrnoAcces {
		t.Errorf("rename into read-only: %v", e)
	}
	if e := rename("out/r.txt", "out/s.txt"); e != 0 {
		t.Errorf("rename in out: %v", e)
	}
	// The root listing shows only what the program may see.
	if got := h.list(3); got != ".,..,in,log,out" {
		t.Errorf("root listing %q", got)
	}
}

// list reads a whole directory with a small buffer, following cookies.
func (h *harness) list(fd uint32) string {
	var names []string
	cookie := uint64(0)
	buf := h.alloc(64)
	used := h.alloc(4)
	for range 100 {
		h.must("fd_readdir", uint64(fd), uint64(buf), 64, cookie, uint64(used))
		b := h.m[buf : buf+h.u32(used)]
		for len(b) >= direntSize {
			next, nl := le.Uint64(b), le.Uint32(b[16:])
			if uint32(len(b)) < direntSize+nl {
				break // cut: read again from cookie
			}
			names = append(names, string(b[direntSize:direntSize+nl]))
			cookie = next
			b = b[direntSize+nl:]
		}
		if h.u32(used) < 64 {
			break
		}
	}
	return strings.Join(names, ",")
}

func TestReaddir(t *testing.T) {
	h := newHarness(t, nil, Config{})
	a := h.admin()
	var want []string
	for i := range 20 {
		n := fmt.Sprintf("file-with-a-long-name-%02d", i)
		a.WriteFile("/d/"+n, strings.NewReader(""))
		want = append(want, n)
	}
	a.MkdirAll("/d/sub")
	want = append([]string{".", ".."}, append(want, "sub")...)
	d, _ := h.open("d", oflagDirectory, rightFdReaddir, 0)
	if got := h.list(d); got != strings.Join(want, ",") {
		t.Errorf("listing\n got %s\nwant %s", got, strings.Join(want, ","))
	}
	// Entry types and inodes.
	buf, used := h.alloc(4096), h.alloc(4)
	h.must("fd_readdir", uint64(d), uint64(buf), 4096, 0, uint64(used))
	b := h.m[buf:]
	if le.Uint64(b) != 1 || b[20] != filetypeDirectory || string(b[24:25]) != "." {
		t.Errorf("first entry %v", b[:25])
	}
	st := h.alloc(64)
	h.must("fd_filestat_get", uint64(d), uint64(st))
	if le.Uint64(b[8:]) != h.u64(st+8) {
		t.Error(`"." has another inode than the directory`)
	}
	// A tiny buffer is filled exactly.
	h.must("fd_readdir", uint64(d), uint64(buf), 10, 0, uint64(used))
	if h.u32(used) != 10 {
		t.Errorf("tiny buffer used %d", h.u32(used))
	}
	// Past the end: nothing.
	h.must("fd_readdir", uint64(d), uint64(buf), 4096, 1<<40, uint64(used))
	if h.u32(used) != 0 {
		t.Errorf("past end used %d", h.u32(used))
	}
	f, _ := h.open("d/sub", 0, rightFdRead, 0)
	_ = f
	ff, _ := h.open("d/file-with-a-long-name-00", 0, rightFdRead, 0)
	if e := h.call("fd_readdir", uint64(ff), uint64(buf), 100, 0, uint64(used)); e != ErrnoNotdir {
		t.Errorf("readdir on file: %v", e)
	}
	if e := h.call("fd_readdir", 1, uint64(buf), 100, 0, uint64(used)); e != ErrnoBadf {
		t.Errorf("readdir on stdout: %v", e)
	}
	if e := h.call("fd_readdir", uint64(d), memSize-10, 100, 0, uint64(used)); e != ErrnoFault {
		t.Errorf("readdir past memory: %v", e)
	}
}

func TestRenumberAndLimits(t *testing.T) {
	h := newHarness(t, nil, Config{MaxFiles: 6})
	a, _ := h.open(".", 0, rightFdRead, 0)
	b, _ := h.open(".", 0, rightFdRead, 0)
	if _, e := h.open(".", 0, rightFdRead, 0); e != ErrnoMfile {
		t.Errorf("past MaxFiles: %v", e)
	}
	h.must("fd_renumber", uint64(a), uint64(b))
	if e := h.call("fd_close", uint64(a)); e != ErrnoBadf {
		t.Errorf("renumbered fd still open: %v", e)
	}
	if e := h.call("fd_renumber", uint64(b), 77); e != ErrnoBadf {
		t.Errorf("renumber to closed fd: %v", e)
	}
	if e := h.call("fd_renumber", 77, uint64(b)); e != ErrnoBadf {
		t.Errorf("renumber from closed fd: %v", e)
	}
	h.must("fd_renumber", uint64(b), uint64(b))
	if h.s.OpenFiles() != 5 {
		t.Errorf("open files %d", h.s.OpenFiles())
	}
	h.s.Close()
	if h.s.OpenFiles() != 0 {
		t.Errorf("after Close: %d open", h.s.OpenFiles())
	}
}

func TestQuota(t *testing.T) {
	h := newHarness(t, nil, Config{})
	h.fs = vfs.New(vfs.Limits{FileBytes: 8, TotalBytes: 12 + 2*(vfs.EntryCost+1)}, nil)
	h.s = New(Config{FS: h.fs.View(capability.Set{"/": capability.Read | capability.Write})})
	fd, _ := h.open("f", oflagCreat, rw, 0)
	if e := h.write(fd, "123456789"); e != ErrnoFbig {
		t.Errorf("over file limit: %v", e)
	}
	if h.file("/f") != "" {
		t.Error("refused write wrote something")
	}
	h.write(fd, "12345678")
	g, _ := h.open("g", oflagCreat, rw, 0)
	if e := h.write(g, "12345"); e != ErrnoNospc {
		t.Errorf("over total: %v", e)
	}
}

func TestMiscFunctions(t *testing.T) {
	h := newHarness(t, nil, Config{})
	for _, c := range []struct {
		name   string
		params []uint64
		want   Errno
	}{
		{"sched_yield", nil, 0},
		{"proc_raise", []uint64{9}, ErrnoNotsup},
		{"sock_accept", []uint64{3, 0, 0}, ErrnoNotsock},
		{"sock_accept", []uint64{50, 0, 0}, ErrnoBadf},
		{"sock_recv", []uint64{0, 0, 0, 0, 0, 0}, ErrnoNotsock},
		{"sock_send", []uint64{1, 0, 0, 0, 0}, ErrnoNotsock},
		{"sock_shutdown", []uint64{2, 0}, ErrnoNotsock},
		{"sock_shutdown", []uint64{9, 0}, ErrnoBadf},
		{"fd_sync", []uint64{9}, ErrnoBadf},
		{"fd_fdstat_get", []uint64{9, 0}, ErrnoBadf},
		{"fd_fdstat_get", []uint64{3, memSize - 23}, ErrnoFault},
		{"fd_filestat_set_size", []uint64{3, 0}, ErrnoBadf},
		{"fd_allocate", []uint64{1, 0, 1}, ErrnoBadf},
		{"fd_advise", []uint64{3, 0, 0, 0}, ErrnoBadf},
		{"fd_advise", []uint64{1, 0, 0, 0}, ErrnoSpipe},
		{"fd_tell", []uint64{1, 0}, ErrnoSpipe},
		{"fd_pread", []uint64{0, 0, 0, 0, 0}, ErrnoSpipe},
		{"fd_pwrite", []uint64{3, 0, 0, 0, 0}, ErrnoBadf},
		{"fd_read", []uint64{0, 0, 2000, 0}, ErrnoInval},
		{"fd_write", []uint64{1, memSize - 4, 1, 0}, ErrnoFault},
		{"fd_write", []uint64{1, 0, 1, memSize}, ErrnoFault},
		{"poll_oneoff", []uint64{0, 0, 0, 0}, ErrnoInval},
		{"poll_oneoff", []uint64{memSize - 10, 0, 1, 0}, ErrnoFault},
	} {
		if got := h.call(c.name, c.params...); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.params, got, c.want)
		}
	}
	f, _ := Lookup("proc_exit")
	err := f.Call(context.Background(), h.s, h.m, []uint64{3})
	var ee *ExitError
	if !errors.As(err, &ee) || ee.Code != 3 || ee.Error() != "program exited with code 3" {
		t.Errorf("proc_exit: %v", err)
	}
	if err := f.Call(context.Background(), h.s, h.m, nil); err == nil {
		t.Error("short stack accepted")
	}
}

func TestPollOneoff(t *testing.T) {
	var slept time.Duration
	sleep := func(ctx context.Context, d time.Duration) error {
		slept += d
		return ctx.Err()
	}
	h := newHarness(t, nil, Config{Sleep: sleep, Nanotime: func() int64 { return 1000 }})
	in := h.alloc(3 * subscriptionSize)
	out := h.alloc(3 * eventSize)
	n := h.alloc(4)
	sub := func(i int, userdata uint64, tag byte, a uint32, timeout uint64, flags uint16) {
		b := h.m[in+uint32(i)*subscriptionSize:][:subscriptionSize]
		clear(b)
		le.PutUint64(b, userdata)
		b[8] = tag
		le.PutUint32(b[16:], a)
		le.PutUint64(b[24:], timeout)
		le.PutUint16(b[40:], flags)
	}
	// Two relative clocks: sleeps for the shorter, reports it.
	sub(0, 11, eventtypeClock, clockMonotonic, 5e6, 0)
	sub(1, 22, eventtypeClock, clockMonotonic, 9e6, 0)
	h.must("poll_oneoff", uint64(in), uint64(out), 2, uint64(n))
	if h.u32(n) != 1 || h.u64(out) != 11 || slept != 5*time.Millisecond {
		t.Errorf("clocks: %d events, first %d, slept %v", h.u32(n), h.u64(out), slept)
	}
	// Absolute time already past: no sleep.
	slept = 0
	sub(0, 33, eventtypeClock, clockMonotonic, 500, subclockflagAbstime)
	h.must("poll_oneoff", uint64(in), uint64(out), 1, uint64(n))
	if h.u32(n) != 1 || slept != 0 {
		t.Errorf("past abstime: %d events, slept %v", h.u32(n), slept)
	}
	// An fd ready and a clock: the fd is reported without waiting.
	h.admin().WriteFile("/f", strings.NewReader("12345"))
	fd, _ := h.open("f", 0, rightFdRead, 0)
	sub(0, 44, eventtypeFdRead, fd, 0, 0)
	sub(1, 55, eventtypeClock, clockMonotonic, 1e9, 0)
	sub(2, 66, eventtypeFdWrite, 99, 0, 0)
	h.must("poll_oneoff", uint64(in), uint64(out), 3, uint64(n))
	if h.u32(n) != 2 || slept != 0 {
		t.Fatalf("fd ready: %d events, slept %v", h.u32(n), slept)
	}
	if h.u64(out) != 44 || h.u64(out+16) != 5 || h.m[out+10] != eventtypeFdRead {
		t.Errorf("read event %v", h.m[out:out+32])
	}
	if h.u64(out+32) != 66 || le.Uint16(h.m[out+40:]) != uint16(ErrnoBadf) {
		t.Errorf("bad fd event %v", h.m[out+32:out+64])
	}
	// Unknown clock: an event with EINVAL.
	sub(0, 77, eventtypeClock, 9, 1, 0)
	h.must("poll_oneoff", uint64(in), uint64(out), 1, uint64(n))
	if h.u32(n) != 1 || le.Uint16(h.m[out+8:]) != uint16(ErrnoInval) {
		t.Errorf("bad clock event %v", h.m[out:out+32])
	}
	// Unknown tag.
	sub(0, 1, 7, 0, 0, 0)
	if e := h.call("poll_oneoff", uint64(in), uint64(out), 1, uint64(n)); e != ErrnoInval {
		t.Errorf("unknown tag: %v", e)
	}
	// A cancelled context aborts the sleep and the program.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	sub(0, 1, eventtypeClock, clockMonotonic, 1e9, 0)
	f, _ := Lookup("poll_oneoff")
	if err := f.Call(ctx, h.s, h.m, []uint64{uint64(in), uint64(out), 1, uint64(n)}); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled poll: %v", err)
	}
	h2 := newHarness(t, nil, Config{})
	start := time.Now()
	if err := f.Call(ctx, h2.s, h.m, []uint64{uint64(in), uint64(out), 1, uint64(n)}); !errors.Is(err, context.Canceled) {
		t.Errorf("default sleep ignores the context: %v", err)
	}
	if time.Since(start) > 500*time.Millisecond {
		t.Error("default sleep did not stop early")
	}
}

func TestGatherAllocateDefaults(t *testing.T) {
	h := newHarness(t, nil, Config{})
	fd, _ := h.open("f", oflagCreat, rw, 0)
	iovs := h.alloc(24)
	parts := []string{"ab", "", "cde"}
	for i, s := range parts {
		p, n := h.str(s)
		le.PutUint32(h.m[iovs+uint32(i)*8:], uint32(p))
		le.PutUint32(h.m[iovs+uint32(i)*8+4:], uint32(n))
	}
	res := h.alloc(4)
	h.must("fd_write", uint64(fd), uint64(iovs), 3, uint64(res))
	if h.u32(res) != 5 || h.file("/f") != "abcde" {
		t.Errorf("gathered write: %d %q", h.u32(res), h.file("/f"))
	}
	h.must("fd_pwrite", uint64(fd), uint64(iovs), 3, 5, uint64(res))
	if h.file("/f") != "abcdeabcde" {
		t.Errorf("gathered pwrite: %q", h.file("/f"))
	}
	h.must("fd_allocate", uint64(fd), 0, 4) // already big enough
	if e := h.call("fd_allocate", uint64(fd), 1<<63, 1<<63); e != ErrnoInval {
		t.Errorf("allocate overflow: %v", e)
	}
	ro, _ := h.open("f", 0, rightFdRead, 0)
	if e := h.call("fd_allocate", uint64(ro), 0, 4); e != ErrnoBadf {
		t.Errorf("allocate on read-only fd: %v", e)
	}
	if e := h.call("fd_allocate", uint64(ro), 0, 100); e != ErrnoBadf {
		t.Errorf("growing allocate on read-only fd: %v", e)
	}
	// No stdin configured: reads as empty.
	if s, e := h.read(0, 8); s != "" || e != 0 {
		t.Errorf("default stdin: %q %v", s, e)
	}
	// A time before 1970 reads as 0.
	h2 := newHarness(t, nil, Config{Now: func() time.Time { return time.Unix(-5, 0) }})
	p := h2.alloc(8)
	h2.must("clock_time_get", 0, 0, uint64(p))
	if h2.u64(p) != 0 {
		t.Errorf("pre-1970 clock = %d", h2.u64(p))
	}
	if errStack.Error() == "" {
		t.Error("empty stack error text")
	}
}
