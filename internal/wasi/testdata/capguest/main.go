// Command capguest is a test program for package wasi: it uses the
// file system through Go's os package under restricted capabilities and
// prints one line per step, for the test to compare.
package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
	"time"
)

func kind(err error) string {
	switch {
	case err == nil:
		return "ok"
	case errors.Is(err, fs.ErrNotExist):
		return "notexist"
	case errors.Is(err, fs.ErrPermission):
		return "permission"
	case errors.Is(err, fs.ErrExist):
		return "exist"
	}
	return "other: " + err.Error()
}

func names(dir string) string {
	es, err := os.ReadDir(dir)
	if err != nil {
		return kind(err)
	}
	var n []string
	for _, e := range es {
		s := e.Name()
		if e.IsDir() {
			s += "/"
		}
		n = append(n, s)
	}
	return strings.Join(n, " ")
}

func main() {
	fmt.Println("args:", strings.Join(os.Args[1:], "|"), "env:", os.Getenv("K"))
	in, _ := io.ReadAll(os.Stdin)
	fmt.Println("stdin:", string(in))
	fmt.Println("root:", names("/"))
	fmt.Println("in:", names("/in"))
	b, err := os.ReadFile("/in/data.csv")
	fmt.Println("read in:", string(b), kind(err))
	fmt.Println("write in:", kind(os.WriteFile("/in/data.csv", []byte("x"), 0o644)))
	_, err = os.ReadFile("/secret/key")
	fmt.Println("read secret:", kind(err))
	_, err = os.ReadFile("/prog.wasm")
	fmt.Println("read exec-only:", kind(err))
	f, err := os.OpenFile("/log", os.O_WRONLY|os.O_APPEND, 0)
	fmt.Println("open log append:", kind(err))
	if err == nil {
		_, err = f.WriteString("+run")
		fmt.Println("append log:", kind(err))
		f.Close()
	}
	_, err = os.ReadFile("/log")
	fmt.Println("read log:", kind(err))
	_, err = os.OpenFile("/log", os.O_WRONLY|os.O_TRUNC, 0)
	fmt.Println("truncate log:", kind(err))
	fmt.Println("mkdir out:", kind(os.MkdirAll("/out/a/b", 0o755)))
	fmt.Println("write out:", kind(os.WriteFile("/out/a/b/f.txt", []byte("hello, world"), 0o644)))
	fmt.Println("rename:", kind(os.Rename("/out/a/b/f.txt", "/out/result.txt")))
	st, err := os.Stat("/out/result.txt")
	if err == nil {
		fmt.Println("stat:", st.Size(), st.Mode().IsRegular())
	}
	g, err := os.OpenFile("/out/result.txt", os.O_RDWR, 0)
	if err == nil {
		g.Seek(7, io.SeekStart)
		g.WriteString("truce")
		g.Seek(0, io.SeekStart)
		b, _ := io.ReadAll(g)
		fmt.Println("rw:", string(b))
		g.Close()
	}
	fmt.Println("remove dirs:", kind(os.RemoveAll("/out/a")))
	fmt.Println("out:", names("/out"))
	fmt.Println("escape:", kind(os.WriteFile("/../../etc/x", []byte("x"), 0o644)))
	t0 := time.Now()
	time.Sleep(2 * time.Millisecond)
	fmt.Println("slept:", time.Since(t0) >= 2*time.Millisecond)
	fmt.Fprintln(os.Stderr, "done")
	os.Exit(3)
}
