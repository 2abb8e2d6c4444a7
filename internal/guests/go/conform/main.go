// Command conform prints a deterministic transcript of WASI preview 1
// behaviour as seen through Go's wasip1 port: arguments, environment,
// files, directories, seeking, appending, renaming, listing, stat, error
// numbers, clocks and randomness. The same transcript is expected from
// every WASI implementation that gives it a directory to work in.
//
// Usage: conform DIR [ARGS...]; it works inside DIR, which must be empty.
package main

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"sort"
	"strings"
	"syscall"
	"time"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: conform DIR [ARGS...]")
		os.Exit(64)
	}
	dir := os.Args[1]
	fmt.Printf("args: %q\n", os.Args[2:])
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "CONFORM_") {
			env = append(env, kv)
		}
	}
	sort.Strings(env)
	fmt.Printf("env: %q\n", env)
	fmt.Printf("getenv CONFORM_A=%q missing=%q\n", os.Getenv("CONFORM_A"), os.Getenv("CONFORM_MISSING"))

	p := func(name string) string { return dir + "/" + name }

	// Files: create, write, read back, stat.
	must("write a.txt", os.WriteFile(p("a.txt"), []byte("hello, world\n"), 0o644))
	b, err := os.ReadFile(p("a.txt"))
	show("read a.txt", err, fmt.Sprintf("%q", b))
	st, err := os.Stat(p("a.txt"))
	if err == nil {
		show("stat a.txt", nil, fmt.Sprintf("size=%d dir=%v regular=%v", st.Size(), st.IsDir(), st.Mode().IsRegular()))
	} else {
		show("stat a.txt", err, "")
	}

	// Seek and positional I/O.
	f, err := os.OpenFile(p("a.txt"), os.O_RDWR, 0)
	must("open a.txt rw", err)
	off, err := f.Seek(7, io.SeekStart)
	show("seek set 7", err, fmt.Sprint(off))
	buf := make([]byte, 5)
	n, err := f.Read(buf)
	show("read 5", err, fmt.Sprintf("%d %q", n, buf[:n]))
	off, err = f.Seek(-3, io.SeekCurrent)
	show("seek cur -3", err, fmt.Sprint(off))
	off, err = f.Seek(0, io.SeekEnd)
	show("seek end 0", err, fmt.Sprint(off))
	_, err = f.Seek(-100, io.SeekCurrent)
	show("seek before start", err, "")
	n, err = f.WriteAt([]byte("WORLD"), 7)
	show("pwrite 7", err, fmt.Sprint(n))
	n, err = f.ReadAt(buf, 0)
	show("pread 0", err, fmt.Sprintf("%d %q", n, buf[:n]))
	n, err = f.ReadAt(buf, 100)
	show("pread past end", err, fmt.Sprint(n))
	must("truncate 5", f.Truncate(5))
	must("close", f.Close())
	b, err = os.ReadFile(p("a.txt"))
	show("after truncate", err, fmt.Sprintf("%q", b))
	// Extending with a write past the end fills with zeros.
	f, err = os.OpenFile(p("a.txt"), os.O_WRONLY, 0)
	must("open a.txt w", err)
	_, err = f.WriteAt([]byte("!"), 8)
	show("pwrite past end", err, "")
	must("close", f.Close())
	b, err = os.ReadFile(p("a.txt"))
	show("after hole", err, fmt.Sprintf("%q", b))

	// Append.
	for _, s := range []string{"one\n", "two\n"} {
		f, err := os.OpenFile(p("log.txt"), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
		must("open log append", err)
		_, err = f.WriteString(s)
		must("append", err)
		must("close", f.Close())
	}
	f, err = os.OpenFile(p("log.txt"), os.O_RDWR|os.O_APPEND, 0)
	must("open log rw append", err)
	_, _ = f.Seek(0, io.SeekStart)
	_, err = f.WriteString("three\n")
	show("append after seek 0", err, "")
	must("close", f.Close())
	b, err = os.ReadFile(p("log.txt"))
	show("read log", err, fmt.Sprintf("%q", b))

	// O_EXCL, O_TRUNC.
	_, err = os.OpenFile(p("log.txt"), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	show("create excl existing", err, "")
	f, err = os.OpenFile(p("log.txt"), os.O_WRONLY|os.O_TRUNC, 0)
	must("open trunc", err)
	must("close", f.Close())
	st, err = os.Stat(p("log.txt"))
	if err == nil {
		show("size after trunc", nil, fmt.Sprint(st.Size()))
	}

	// Directories.
	must("mkdir d", os.Mkdir(p("d"), 0o755))
	show("mkdir d again", os.Mkdir(p("d"), 0o755), "")
	must("mkdir d/e", os.Mkdir(p("d/e"), 0o755))
	for _, name := range []string{"d/z.txt", "d/b.txt", "d/m.txt"} {
		must("write "+name, os.WriteFile(p(name), []byte(name), 0o644))
	}
	list("list d", p("d"))
	st, err = os.Stat(p("d"))
	if err == nil {
		show("stat d", nil, fmt.Sprintf("dir=%v", st.IsDir()))
	}
	show("rmdir d not empty", syscall.Rmdir(p("d")), "")
	show("unlink dir", syscall.Unlink(p("d")), "")
	show("rmdir a file", syscall.Rmdir(p("a.txt")), "")
	_, err = os.ReadFile(p("d"))
	show("read a dir", err, "")
	_, err = os.OpenFile(p("d"), os.O_WRONLY, 0)
	show("open dir for write", err, "")
	_, err = os.Stat(p("a.txt/x"))
	show("stat through a file", err, "")
	_, err = os.Stat(p("missing"))
	show("stat missing", err, "")
	_, err = os.Stat(p("missing/x"))
	show("stat missing/x", err, "")
	_, err = os.ReadFile(p("missing"))
	show("open missing", err, "")
	show("mkdir under missing", os.Mkdir(p("missing/x"), 0o755), "")

	// Rename.
	must("rename", os.Rename(p("d/z.txt"), p("d/e/y.txt")))
	list("list d after rename", p("d"))
	list("list d/e", p("d/e"))
	b, err = os.ReadFile(p("d/e/y.txt"))
	show("read renamed", err, fmt.Sprintf("%q", b))
	show("rename missing", os.Rename(p("d/nope"), p("d/x")), "")
	must("rename over file", os.Rename(p("d/b.txt"), p("d/m.txt")))
	b, err = os.ReadFile(p("d/m.txt"))
	show("read replaced", err, fmt.Sprintf("%q", b))
	must("mkdir f", os.Mkdir(p("f"), 0o755))
	must("write f/x", os.WriteFile(p("f/x"), nil, 0o644))
	show("rename dir over non-empty dir", os.Rename(p("d/e"), p("f")), "")
	show("rename dir over file", os.Rename(p("d/e"), p("a.txt")), "")
	show("rename file over dir", os.Rename(p("a.txt"), p("f")), "")
	must("remove f", os.RemoveAll(p("f")))
	must("rename dir", os.Rename(p("d/e"), p("e2")))
	list("list root", dir)

	// Remove.
	must("remove file", os.Remove(p("d/m.txt")))
	show("remove file again", os.Remove(p("d/m.txt")), "")
	must("rmdir d", syscall.Rmdir(p("d")))
	must("remove all e2", os.RemoveAll(p("e2")))
	list("list root after remove", dir)

	// Many entries, to exercise readdir cookies.
	must("mkdir many", os.Mkdir(p("many"), 0o755))
	for i := range 100 {
		must("create", os.WriteFile(p(fmt.Sprintf("many/file-%03d-%s", i, strings.Repeat("x", 40))), nil, 0o644))
	}
	ents, err := os.ReadDir(p("many"))
	show("readdir many", err, fmt.Sprint(len(ents)))
	must("remove many", os.RemoveAll(p("many")))

	// Clocks.
	t0 := time.Now()
	show("realtime after 2020", nil, fmt.Sprint(t0.Year() >= 2020))
	m0 := time.Now()
	time.Sleep(10 * time.Millisecond)
	el := time.Since(m0)
	show("sleep 10ms", nil, fmt.Sprint(el >= 10*time.Millisecond && el < 5*time.Second))

	// Randomness.
	r1, r2 := make([]byte, 32), make([]byte, 32)
	_, err1 := rand.Read(r1)
	_, err2 := rand.Read(r2)
	show("random", errors.Join(err1, err2), fmt.Sprint(string(r1) != string(r2) && string(r1) != string(make([]byte, 32))))

	// Standard streams.
	fmt.Fprintln(os.Stderr, "to stderr")
	in, err := io.ReadAll(os.Stdin)
	show("stdin", err, fmt.Sprintf("%q", in))

	fmt.Println("done")
	code := 0
	if len(os.Args) > 2 && os.Args[2] == "exit7" {
		code = 7
	}
	os.Exit(code)
}

func list(label, dir string) {
	ents, err := os.ReadDir(dir)
	var names []string
	for _, e := range ents {
		s := e.Name()
		if e.IsDir() {
			s += "/"
		}
		names = append(names, s)
	}
	show(label, err, strings.Join(names, " "))
}

// show prints one line: label, the error number if any, and a value.
func show(label string, err error, v string) {
	if err != nil {
		fmt.Printf("%s: error %s\n", label, errName(err))
		return
	}
	fmt.Printf("%s: %s\n", label, v)
}

func must(label string, err error) {
	if err != nil {
		fmt.Printf("%s: FAILED %s\n", label, errName(err))
		fmt.Printf("%s: %v\n", label, err)
		os.Exit(1)
	}
}

func errName(err error) string {
	var e syscall.Errno
	if errors.As(err, &e) {
		return fmt.Sprintf("errno %d (%s)", uintptr(e), classify(err))
	}
	return fmt.Sprintf("%s (%s)", err, classify(err))
}

func classify(err error) string {
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return "not exist"
	case errors.Is(err, fs.ErrExist):
		return "exist"
	case errors.Is(err, fs.ErrPermission):
		return "permission"
	}
	return "other"
}
