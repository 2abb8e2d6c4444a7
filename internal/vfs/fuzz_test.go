package vfs

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"

	"github.com/truce-project/truce/capability"
)

// FuzzPathClean checks that Clean never panics and never returns a path
// that leaves the root or keeps "." or ".." elements.
func FuzzPathClean(f *testing.F) {
	for _, s := range []string{"/", "a/b", "../x", "/a/../..", "a//b/./c/", "\x00", "...", "/a/.../b", strings.Repeat("../", 50)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		c, err := Clean(p)
		if err != nil {
			return
		}
		if !strings.HasPrefix(c, "/") || strings.Contains(c, "//") || strings.ContainsRune(c, 0) {
			t.Fatalf("Clean(%q) = %q", p, c)
		}
		for _, el := range strings.Split(c[1:], "/") {
			if el == "." || el == ".." {
				t.Fatalf("Clean(%q) = %q keeps %q", p, c, el)
			}
		}
		if capability.CheckPath(c) != nil {
			t.Fatalf("Clean(%q) = %q, which capability rejects", p, c)
		}
	})
}

// FuzzPathResolve opens, stats and creates arbitrary paths relative to a
// subdirectory, through a restricted view, and checks that nothing outside
// the subdirectory or beyond the view's rights is ever reached.
func FuzzPathResolve(f *testing.F) {
	for _, s := range []string{"f", "../secret", "./f", "sub/../f", "/secret", "sub/", "f/", "..", ".", "new", "sub/new/", "a\x00b", "sub/../../top"} {
		f.Add(s, uint8(0))
		f.Add(s, uint8(FlagCreate|FlagWrite))
	}
	f.Fuzz(func(t *testing.T, p string, fl uint8) {
		fsys := New(Limits{FileBytes: 64, TotalBytes: 1 << 12}, nil)
		admin := fsys.Unchecked()
		admin.WriteFile("/secret", strings.NewReader("s"))
		admin.WriteFile("/top", strings.NewReader("t"))
		admin.WriteFile("/a/f", strings.NewReader("f"))
		admin.WriteFile("/a/ro", strings.NewReader("r"))
		admin.MkdirAll("/a/sub")
		v := fsys.View(capability.Set{"/a/": capability.Read | capability.Write, "/top": capability.Read, "/a/ro": capability.Read})
		d, err := v.OpenFile("/a", FlagDirectory)
		if err != nil {
			t.Fatal(err)
		}
		defer d.Close()
		inside := func(q string) bool { return q == "/a" || strings.HasPrefix(q, "/a/") }
		if i, err := d.StatAt(p); err == nil && !inside(i.Path) {
			t.Fatalf("StatAt(%q) reached %q", p, i.Path)
		}
		if h, err := d.Open(p, Flags(fl)); err == nil {
			if !inside(h.Path()) {
				t.Fatalf("Open(%q) reached %q", p, h.Path())
			}
			if Flags(fl)&(FlagWrite|FlagTrunc) != 0 && !v.Can(h.Path(), capability.Write) {
				t.Fatalf("Open(%q, %b) writable without the right", p, fl)
			}
			h.Close()
		}
		// Through the view from the root, only granted things open.
		if h, err := v.OpenFile(p, Flags(fl)); err == nil {
			if !h.IsDir() && !v.sees(h.Path(), h.n) {
				t.Fatalf("OpenFile(%q) opened hidden %q", p, h.Path())
			}
			h.Close()
		}
		d.Mkdir(p)
		d.Remove(p)
		d.Rename(p, d, "moved")
		d.Link("f", d, p)
		if b := readSnap(admin, "/secret"); b != "s" {
			t.Fatalf("secret changed to %q", b)
		}
		if b := readSnap(admin, "/top"); b != "t" {
			t.Fatalf("top changed to %q", b)
		}
		if b := readSnap(admin, "/a/ro"); b != "r" {
			t.Fatalf("read-only file changed to %q", b)
		}
	})
}

func readSnap(v *View, p string) string {
	s, err := v.Open(p)
	if err != nil {
		return err.Error()
	}
	b, _ := io.ReadAll(s)
	return string(b)
}

// TestConcurrent runs writers, appenders, handle writers, renamers and
// readers at once (run it with -race) and checks that every snapshot is
// whole: one writer's content, or whole appended records.
func TestConcurrent(t *testing.T) {
	f := New(Limits{FileBytes: 1 << 20, TotalBytes: 8 << 20}, nil)
	v := f.View(capability.Set{"/": capability.Read | capability.Write | capability.Append})
	const rounds = 200
	const rec = "record-0123456789\n"
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	fail := func(err error) {
		select {
		case errs <- err:
		default:
		}
	}
	for w := range 3 {
		wg.Go(func() {
			for i := range rounds {
				b := bytes.Repeat([]byte{byte('a' + w)}, 100+i*7)
				if _, err := v.WriteFile("/whole", bytes.NewReader(b)); err != nil {
					fail(err)
				}
			}
		})
	}
	for range 2 {
		wg.Go(func() {
			for range rounds {
				if _, err := v.AppendFile("/log", strings.NewReader(rec+rec)); err != nil {
					fail(err)
				}
			}
		})
	}
	wg.Go(func() {
		for i := range rounds {
			h, err := v.OpenFile("/scratch", FlagCreate|FlagRead|FlagWrite)
			if err != nil {
				fail(err)
				return
			}
			h.WriteAt([]byte(fmt.Sprint(i)), int64(i%50))
			h.Truncate(int64(i % 30))
			h.Close()
		}
	})
	wg.Go(func() {
		// In-place rewrites of a whole file through a handle.
		h, err := v.OpenFile("/cow", FlagCreate|FlagWrite)
		if err != nil {
			fail(err)
			return
		}
		defer h.Close()
		for i := range rounds {
			h.WriteAt(bytes.Repeat([]byte{byte(i)}, 4096), 0)
		}
	})
	wg.Go(func() {
		for i := range rounds {
			v.Rename("/scratch", "/scratch2")
			v.Rename("/scratch2", "/scratch")
			v.MkdirAll(fmt.Sprintf("/dirs/%d", i%5))
			v.Rmdir(fmt.Sprintf("/dirs/%d", (i+2)%5))
			v.ReadDir("/dirs")
		}
	})
	for range 3 {
		wg.Go(func() {
			for range rounds {
				if s, err := v.Open("/whole"); err == nil {
					b, _ := io.ReadAll(s)
					if len(b) > 0 && len(bytes.Trim(b, string(b[:1]))) != 0 {
						fail(errors.New("torn whole-file write seen"))
					}
				}
				if s, err := v.Open("/log"); err == nil {
					b, _ := io.ReadAll(s)
					if len(b)%(2*len(rec)) != 0 || strings.ReplaceAll(string(b), rec, "") != "" {
						fail(fmt.Errorf("torn append seen: %d bytes", len(b)))
					}
				}
				// Snapshots are read without the lock while handles
				// write in place: the race detector checks that
				// copy-on-write never changes bytes a snapshot holds.
				if s, err := v.Open("/cow"); err == nil {
					b, _ := io.ReadAll(s)
					if len(b) > 0 && len(bytes.Trim(b, string(b[:1]))) != 0 {
						fail(errors.New("snapshot changed under a handle write"))
					}
				}
				if s, err := v.Open("/scratch"); err == nil {
					b, _ := io.ReadAll(s)
					if int64(len(b)) != s.Size() {
						fail(errors.New("snapshot size changed"))
					}
				}
				f.Files()
				f.Used()
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	s, err := v.Open("/log")
	if err != nil {
		t.Fatal(err)
	}
	if s.Size() != 2*rounds*2*int64(len(rec)) {
		t.Errorf("log has %d bytes, want %d", s.Size(), 2*rounds*2*len(rec))
	}
	var sum int64
	for _, i := range f.Files() {
		sum += i.Size
	}
	if f.Used() < sum {
		t.Errorf("files hold %d bytes, Used says %d", sum, f.Used())
	}
	checkAccounting(t, f)
}
