package wasi_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"os"

	"github.com/truce-project/truce/internal/wasi"
)

// An engine binds each function and passes the guest's memory and stack.
func ExampleFunctions() {
	s := wasi.New(wasi.Config{Stdout: os.Stdout})
	defer s.Close()

	mem := make([]byte, 64)
	copy(mem[16:], "hello\n")
	binary.LittleEndian.PutUint32(mem[0:], 16) // iovec: buf
	binary.LittleEndian.PutUint32(mem[4:], 6)  // iovec: len
	fdWrite, _ := wasi.Lookup("fd_write")
	stack := []uint64{1, 0, 1, 8} // fd 1, iovs at 0, 1 iovec, nwritten at 8
	if err := fdWrite.Call(context.Background(), s, mem, stack); err != nil {
		fmt.Println(err)
	}
	fmt.Println(wasi.Errno(stack[0]).String(), binary.LittleEndian.Uint32(mem[8:]))
	// Output:
	// hello
	// SUCCESS 6
}
