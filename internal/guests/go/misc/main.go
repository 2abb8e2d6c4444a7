// Command misc does one thing an engine must survive or report, chosen by
// its first argument:
//
//	exit N      exit with code N
//	loop        loop forever without calling the host
//	sleeploop   loop forever, sleeping (calling the host) each round
//	grow MIB    allocate memory 1 MiB at a time until MIB MiB are held
//	big MIB     allocate MIB MiB at once
//	spew MIB    write MIB MiB to stdout
//	panic       panic (Go exits with code 2)
//	echo        copy stdin to stdout
//	hello       print a line
package main

import (
	"fmt"
	"io"
	"os"
	"strconv"
	"time"
)

var sink [][]byte

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: misc exit N | loop | sleeploop | grow MIB | big MIB | spew MIB | panic | echo | hello")
		os.Exit(64)
	}
	arg := func() int {
		if len(os.Args) < 3 {
			fmt.Fprintln(os.Stderr, "missing number")
			os.Exit(64)
		}
		n, err := strconv.Atoi(os.Args[2])
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(64)
		}
		return n
	}
	switch os.Args[1] {
	case "exit":
		os.Exit(arg())
	case "loop":
		x := uint64(1)
		for x != 0 {
			x = x*6364136223846793005 + 1442695040888963407
		}
		fmt.Println(x)
	case "sleeploop":
		for {
			time.Sleep(time.Millisecond)
		}
	case "grow":
		n := arg()
		for i := range n {
			b := make([]byte, 1<<20)
			for j := 0; j < len(b); j += 4096 {
				b[j] = byte(i + j) // touch every page
			}
			sink = append(sink, b)
		}
		fmt.Printf("held %d MiB\n", n)
	case "big":
		b := make([]byte, arg()<<20)
		b[len(b)-1] = 1
		sink = append(sink, b)
		fmt.Printf("held %d MiB\n", len(b)>>20)
	case "spew":
		line := make([]byte, 1024)
		for i := range line {
			line[i] = 'a' + byte(i%26)
		}
		line[len(line)-1] = '\n'
		for range arg() * 1024 {
			if _, err := os.Stdout.Write(line); err != nil {
				os.Exit(3)
			}
		}
	case "panic":
		panic("on purpose")
	case "echo":
		if _, err := io.Copy(os.Stdout, os.Stdin); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	case "hello":
		fmt.Println("hello from wasm")
	default:
		fmt.Fprintf(os.Stderr, "unknown command %q\n", os.Args[1])
		os.Exit(64)
	}
}
