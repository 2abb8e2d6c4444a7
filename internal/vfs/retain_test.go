package vfs

import (
	"errors"
	"strings"
	"testing"
)

// TestRetain keeps exactly the files accepted: a wiped file's content is
// zeroed unless another, kept name links it; emptied directories go.
func TestRetain(t *testing.T) {
	f, v := newFS(t, Limits{})
	mustWrite(t, v, "/a/x", "keep me")
	mustWrite(t, v, "/a/y", "wipe me")
	mustWrite(t, v, "/b/deep/z", "linked")
	if err := v.MkdirAll("/c"); err != nil {
		t.Fatal(err)
	}
	if err := v.Link("/b/deep/z", "/c/z"); err != nil {
		t.Fatal(err)
	}
	if err := v.MkdirAll("/empty/dir"); err != nil {
		t.Fatal(err)
	}
	wiped := f.root.entries["a"].n.entries["y"].n
	old := wiped.data[:cap(wiped.data)]
	kept, gone := f.Retain(func(p string) bool { return p == "/a/x" || strings.HasPrefix(p, "/c/") })
	if kept != 2 || gone != 2 {
		t.Fatalf("kept %d, wiped %d; want 2 and 2", kept, gone)
	}
	if got := readAll(t, v, "/a/x"); got != "keep me" {
		t.Fatalf("/a/x = %q", got)
	}
	if got := readAll(t, v, "/c/z"); got != "linked" {
		t.Fatalf("/c/z (linked to a wiped name) = %q", got)
	}
	for _, p := range []string{"/a/y", "/b/deep/z", "/b", "/empty"} {
		if _, err := v.Stat(p); !errors.Is(err, ErrNotExist) {
			t.Errorf("%s after Retain: %v", p, err)
		}
	}
	if wiped.data != nil || strings.Trim(string(old), "\x00") != "" {
		t.Fatalf("wiped content still held or not zeroed: %q", old)
	}
	if f.Used() != int64(len("keep me")+len("linked")) {
		t.Fatalf("used %d bytes after Retain", f.Used())
	}
}

// checkAccounting checks that the file system charges exactly the
// buffers alive: each file's own by capacity, each shared buffer once.
// Every handle must be closed (an unlinked open file is not in the tree).
func checkAccounting(t *testing.T, f *FS) {
	t.Helper()
	f.mu.RLock()
	defer f.mu.RUnlock()
	var sum, retired, meta int64
	seen := map[*node]bool{}
	var walk func(d *node, shared map[*node]bool)
	walk = func(d *node, shared map[*node]bool) {
		for name, e := range d.entries {
			if shared[e.n] {
				continue // the file system's own, counted there
			}
			meta += entryCost(name, e.n.dir)
			if e.n.dir {
				walk(e.n, shared)
				continue
			}
			if seen[e.n] {
				continue
			}
			seen[e.n] = true
			if e.n.b == nil {
				sum += int64(cap(e.n.data))
			} else if _, ok := f.blobs[e.n.b]; !ok {
				t.Errorf("file %s shares a buffer the file system does not know", name)
			}
		}
	}
	walk(f.root, nil)
	for o := range f.overlays {
		walk(o.fs.root, o.shared)
	}
	for b := range f.blobs {
		sum += int64(len(b.buf))
		if b.files == 0 {
			retired += int64(len(b.buf))
		}
		if b.files == 0 && b.readers == 0 {
			t.Errorf("a buffer of %d bytes nobody holds is still charged", len(b.buf))
		}
	}
	if sum != f.used || retired != f.retired || meta != f.meta {
		t.Errorf("buffers alive hold %d bytes (%d retired), entries cost %d; the file system charges %d (%d retired) and %d",
			sum, retired, meta, f.used, f.retired, f.meta)
	}
}
