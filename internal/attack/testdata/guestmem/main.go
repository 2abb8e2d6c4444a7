// Command guestmem is a guest program of the attack suite that attacks
// the runtime's own memory through WASI. What it does depends on the
// name it was run as (the base name of its first argument):
//
//	fdbomb     fd_write and fd_pwrite of 1024 iovecs, each naming the same
//	           64 MiB buffer, to a file, in append mode, and to stdout: a
//	           runtime that gathered them would ask for 64 GiB
//	readbomb   fd_read and fd_pread of 1024 iovecs over a 64 MiB buffer,
//	           fd_readdir and random_get with the whole buffer
//	writeback  makes directory OUT/dirlink and file OUT/filelink, where
//	           the host directory of "truce run --dir" has symbolic links
//	           out of it (OUT is its second argument)
//
// Each WASI call prints its errno; it prints "done NAME" at the end.
package main

import (
	"fmt"
	"os"
	"path"
	"strings"
	"unsafe"
)

//go:wasmimport wasi_snapshot_preview1 fd_write
func fdWrite(fd int32, iovs, iovsLen, nwritten uint32) uint32

//go:wasmimport wasi_snapshot_preview1 fd_pwrite
func fdPwrite(fd int32, iovs, iovsLen uint32, off uint64, nwritten uint32) uint32

//go:wasmimport wasi_snapshot_preview1 fd_read
func fdRead(fd int32, iovs, iovsLen, nread uint32) uint32

//go:wasmimport wasi_snapshot_preview1 fd_pread
func fdPread(fd int32, iovs, iovsLen uint32, off uint64, nread uint32) uint32

//go:wasmimport wasi_snapshot_preview1 fd_readdir
func fdReaddir(fd int32, buf, n uint32, cookie uint64, used uint32) uint32

//go:wasmimport wasi_snapshot_preview1 random_get
func randomGet(buf, n uint32) uint32

//go:wasmimport wasi_snapshot_preview1 path_open
func pathOpen(fd int32, dirflags uint32, path, pathLen uint32, oflags uint32, base, inheriting uint64, fdflags uint32, opened uint32) uint32

const bufSize = 64 << 20

var (
	buf  []byte
	iovs [1024 * 2]uint32
	res  [2]uint32
)

func addr[T any](p *T) uint32 { return uint32(uintptr(unsafe.Pointer(p))) }

// open opens p relative to the preopened root, with oflags and fdflags.
func open(p string, oflags, fdflags uint32) int32 {
	p = strings.TrimPrefix(p, "/")
	b := []byte(p)
	if e := pathOpen(3, 0, addr(&b[0]), uint32(len(b)), oflags, 0x7f, 0x7f, fdflags, addr(&res[0])); e != 0 {
		fmt.Printf("path_open %s: errno %d\n", p, e)
		os.Exit(1)
	}
	return int32(res[0])
}

func main() {
	name := strings.TrimSuffix(path.Base(os.Args[0]), ".wasm")
	out := "/output/guestmem"
	if len(os.Args) > 1 {
		out = os.Args[1]
	}
	switch name {
	case "fdbomb", "readbomb":
		buf = make([]byte, bufSize)
		for i := range buf {
			buf[i] = byte(i)
		}
		for i := 0; i < 1024; i++ {
			iovs[2*i], iovs[2*i+1] = addr(&buf[0]), bufSize
		}
	}
	switch name {
	case "fdbomb":
		fd := open(out+"/bomb.dat", 1, 0)    // O_CREAT
		afd := open(out+"/append.dat", 1, 1) // O_CREAT, FDFLAGS_APPEND
		fmt.Printf("fd_write file: errno %d\n", fdWrite(fd, addr(&iovs[0]), 1024, addr(&res[1])))
		fmt.Printf("fd_write append: errno %d\n", fdWrite(afd, addr(&iovs[0]), 1024, addr(&res[1])))
		fmt.Printf("fd_pwrite file: errno %d\n", fdPwrite(fd, addr(&iovs[0]), 1024, 1<<40, addr(&res[1])))
		fmt.Printf("fd_pwrite file at 0: errno %d\n", fdPwrite(fd, addr(&iovs[0]), 1024, 0, addr(&res[1])))
		// Last: the output limit stops the program here.
		fmt.Printf("fd_write stdout: errno %d\n", fdWrite(1, addr(&iovs[0]), 1024, addr(&res[1])))
	case "readbomb":
		fd := open(out+"/read.dat", 1, 0)
		small := []byte("some bytes")
		iov := [2]uint32{addr(&small[0]), uint32(len(small))}
		fdWrite(fd, addr(&iov[0]), 1, addr(&res[1]))
		fmt.Printf("fd_read file: errno %d\n", fdRead(fd, addr(&iovs[0]), 1024, addr(&res[1])))
		fmt.Printf("fd_pread file: errno %d\n", fdPread(fd, addr(&iovs[0]), 1024, 0, addr(&res[1])))
		fmt.Printf("fd_read stdin: errno %d\n", fdRead(0, addr(&iovs[0]), 1024, addr(&res[1])))
		fmt.Printf("fd_readdir: errno %d\n", fdReaddir(3, addr(&buf[0]), bufSize, 0, addr(&res[1])))
		fmt.Printf("random_get: errno %d\n", randomGet(addr(&buf[0]), bufSize))
	case "writeback":
		if err := os.MkdirAll(out+"/dirlink", 0o755); err != nil {
			fmt.Println("mkdir:", err)
		}
		if err := os.WriteFile(out+"/dirlink/evil", []byte("evil"), 0o644); err != nil {
			fmt.Println("write:", err)
		}
		if err := os.WriteFile(out+"/filelink", []byte("evil"), 0o644); err != nil {
			fmt.Println("write:", err)
		}
		if err := os.WriteFile(out+"/fine", []byte("fine"), 0o644); err != nil {
			fmt.Println("write:", err)
		}
	}
	fmt.Println("done", name)
}
