package vfs_test

import (
	"fmt"
	"io"
	"strings"

	"github.com/truce-project/truce/capability"
	"github.com/truce-project/truce/internal/vfs"
)

func Example() {
	fs := vfs.New(vfs.Limits{FileBytes: 1 << 20, TotalBytes: 16 << 20}, nil)

	// A data provider may write its input; a result reader may only read
	// the output.
	provider := fs.View(capability.Set{"/input/": capability.Write})
	reader := fs.View(capability.Set{"/output/": capability.Read})

	if _, err := provider.WriteFile("/input/data.csv", strings.NewReader("1,2,3\n")); err != nil {
		fmt.Println(err)
	}
	_, err := reader.Open("/input/data.csv")
	fmt.Println("reader opens the input:", err)

	// The program's own writes, then the reader's snapshot.
	prog := fs.View(capability.Set{"/input/": capability.Read, "/output/": capability.Write})
	if err := prog.MkdirAll("/output"); err != nil {
		fmt.Println(err)
	}
	h, err := prog.OpenFile("/output/sum", vfs.FlagCreate|vfs.FlagWrite)
	if err != nil {
		fmt.Println(err)
		return
	}
	h.WriteAt([]byte("6\n"), 0)
	h.Close()
	s, _ := reader.Open("/output/sum")
	b, _ := io.ReadAll(s)
	fmt.Printf("reader reads the output: %q\n", b)
	// Output:
	// reader opens the input: open /input/data.csv: no such file or directory: file does not exist
	// reader reads the output: "6\n"
}
