package main

import "fmt"

//go:wasmimport wasi_snapshot_preview1 fd_write
func fdWrite(fd int32, iovs, iovsLen, nwritten uint32) uint32

//go:wasmimport wasi_snapshot_preview1 fd_read
func fdRead(fd int32, iovs, iovsLen, nread uint32) uint32

//go:wasmimport wasi_snapshot_preview1 path_open
func pathOpen(fd int32, dirflags uint32, path, pathLen uint32, oflags uint32, base, inheriting uint64, fdflags uint32, opened uint32) uint32

//go:wasmimport wasi_snapshot_preview1 random_get
func randomGet(buf, n uint32) uint32

//go:wasmimport wasi_snapshot_preview1 args_get
func argsGet(argv, buf uint32) uint32

//go:wasmimport wasi_snapshot_preview1 environ_sizes_get
func environSizesGet(count, size uint32) uint32

//go:wasmimport wasi_snapshot_preview1 clock_time_get
func clockTimeGet(id uint32, precision uint64, out uint32) uint32

//go:wasmimport wasi_snapshot_preview1 fd_prestat_dir_name
func fdPrestatDirName(fd int32, buf, n uint32) uint32

//go:wasmimport wasi_snapshot_preview1 fd_readdir
func fdReaddir(fd int32, buf, n uint32, cookie uint64, used uint32) uint32

// pointers calls WASI with addresses beyond or wrapping around the end of
// the 32-bit address space, and huge lengths. Every call must fail with an
// errno (EFAULT is 21) or stop the program; none may touch memory outside
// the guest's own.
func pointers() {
	const end = 0xFFFFFFF0
	calls := []struct {
		name string
		f    func() uint32
	}{
		{"fd_write iovs out of memory", func() uint32 { return fdWrite(1, end, 1, end) }},
		{"fd_write huge iovs_len", func() uint32 { return fdWrite(1, 0, 0x7FFFFFFF, 0) }},
		{"fd_read iovs out of memory", func() uint32 { return fdRead(0, end, 2, end) }},
		{"path_open path out of memory", func() uint32 { return pathOpen(3, 0, end, 0x1000, 0, ^uint64(0), ^uint64(0), 0, end) }},
		{"path_open huge path_len", func() uint32 { return pathOpen(3, 0, 16, 0xFFFFFFFF, 0, 0, 0, 0, 0) }},
		{"random_get out of memory", func() uint32 { return randomGet(end, 0x100) }},
		{"random_get huge length", func() uint32 { return randomGet(0, 0xFFFFFFFF) }},
		{"args_get out of memory", func() uint32 { return argsGet(0xFFFFFFFF, 0xFFFFFFFF) }},
		{"environ_sizes_get out of memory", func() uint32 { return environSizesGet(0xFFFFFFFE, 0xFFFFFFFE) }},
		{"clock_time_get out of memory", func() uint32 { return clockTimeGet(0, 0, 0xFFFFFFFF) }},
		{"fd_prestat_dir_name out of memory", func() uint32 { return fdPrestatDirName(3, end, 0x100) }},
		{"fd_readdir out of memory", func() uint32 { return fdReaddir(3, end, 0x1000, 0, end) }},
	}
	for _, c := range calls {
		if e := c.f(); e == 0 {
			fmt.Printf("LEAK %s succeeded\n", c.name)
		} else {
			fmt.Printf("%s: errno %d\n", c.name, e)
		}
	}
}
