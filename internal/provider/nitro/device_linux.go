//go:build linux

package nitro

import (
	"fmt"
	"os"
	"runtime"
	"syscall"
	"unsafe"
)

// iovec and nsmMessage mirror the kernel driver's struct nsm_message.
type iovec struct {
	base uintptr
	len  uint64
}

type nsmMessage struct {
	request  iovec
	response iovec
}

// ioctlCommand is _IOWR(0x0A, 0, struct nsm_message).
const ioctlCommand = 3<<30 | uintptr(unsafe.Sizeof(nsmMessage{}))<<16 | 0x0A<<8 | 0

type fileDevice struct{ f *os.File }

// OpenDevice opens the NSM at path (DevicePath inside an enclave).
func OpenDevice(path string) (Device, error) {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return nil, fmt.Errorf("nitro: opening the secure module: %w (is this a Nitro enclave?)", err)
	}
	return &fileDevice{f: f}, nil
}

// Exchange sends one request through the driver's ioctl.
func (d *fileDevice) Exchange(req []byte) ([]byte, error) {
	if len(req) == 0 || len(req) > MaxRequestSize {
		return nil, fmt.Errorf("nitro: request size %d out of range", len(req))
	}
	resp := make([]byte, MaxResponseSize)
	msg := nsmMessage{
		request:  iovec{base: uintptr(unsafe.Pointer(&req[0])), len: uint64(len(req))},
		response: iovec{base: uintptr(unsafe.Pointer(&resp[0])), len: uint64(len(resp))},
	}
	rc, err := d.f.SyscallConn()
	if err != nil {
		return nil, err
	}
	var errno syscall.Errno
	if cerr := rc.Control(func(fd uintptr) {
		_, _, errno = syscall.Syscall(syscall.SYS_IOCTL, fd, ioctlCommand, uintptr(unsafe.Pointer(&msg)))
	}); cerr != nil {
		return nil, cerr
	}
	runtime.KeepAlive(req)
	runtime.KeepAlive(resp)
	if errno != 0 {
		return nil, fmt.Errorf("nitro: ioctl: %w", errno)
	}
	if msg.response.len > uint64(len(resp)) {
		return nil, fmt.Errorf("nitro: driver reported a %d-byte response", msg.response.len)
	}
	return resp[:msg.response.len], nil
}
