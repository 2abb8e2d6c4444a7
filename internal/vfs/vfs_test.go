package vfs

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/truce-project/truce/capability"
)

type clock struct{ t time.Time }

func (c *clock) now() time.Time { c.t = c.t.Add(time.Second); return c.t }

func newFS(t *testing.T, l Limits) (*FS, *View) {
	t.Helper()
	c := &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	f := New(l, c.now)
	return f, f.Unchecked()
}

func mustWrite(t *testing.T, v *View, p, s string) {
	t.Helper()
	if _, err := v.WriteFile(p, strings.NewReader(s)); err != nil {
		t.Fatalf("WriteFile(%s): %v", p, err)
	}
}

func readAll(t *testing.T, v *View, p string) string {
	t.Helper()
	s, err := v.Open(p)
	if err != nil {
		t.Fatalf("Open(%s): %v", p, err)
	}
	b, err := io.ReadAll(s)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestErrorsWrapIOFS(t *testing.T) {
	for _, c := range []struct{ err, target error }{
		{ErrNotExist, fs.ErrNotExist},
		{ErrExist, fs.ErrExist},
		{ErrPermission, fs.ErrPermission},
		{ErrInvalid, fs.ErrInvalid},
		{ErrClosed, fs.ErrClosed},
		{&QuotaError{Limit: 1, Want: 2}, ErrQuota},
		{pathErr("open", "/x", ErrIsDir), ErrIsDir},
		{&LinkError{Op: "rename", Err: ErrNotEmpty}, ErrNotEmpty},
	} {
		if !errors.Is(c.err, c.target) {
			t.Errorf("errors.Is(%v, %v) = false", c.err, c.target)
		}
	}
	if (&QuotaError{Total: true, Limit: 1, Want: 2}).Error() == (&QuotaError{Limit: 1, Want: 2}).Error() {
		t.Error("quota errors do not say which limit was hit")
	}
}

func TestClean(t *testing.T) {
	for _, c := range []struct {
		in, want string
		err      error
	}{
		{"/", "/", nil},
		{"a", "/a", nil},
		{"/a/b/", "/a/b", nil},
		{"//a//b", "/a/b", nil},
		{"/a/./b/../c", "/a/c", nil},
		{"/a/..", "/", nil},
		{"/..", "", ErrEscape},
		{"a/../../b", "", ErrEscape},
		{"", "", ErrNotExist},
		{"a\x00b", "", ErrInvalid},
		{"/" + strings.Repeat("x", MaxName+1), "", ErrNameTooLong},
		{strings.Repeat("/x", MaxPath), "", ErrNameTooLong},
	} {
		got, err := Clean(c.in)
		if !errors.Is(err, c.err) || got != c.want {
			t.Errorf("Clean(%q) = %q, %v; want %q, %v", c.in, got, err, c.want, c.err)
		}
	}
}

// TestSemantics runs operations on a fixed tree and checks each result.
func TestSemantics(t *testing.T) {
	setup := func(t *testing.T) *View {
		_, v := newFS(t, Limits{})
		mustWrite(t, v, "/d/f", "hello")
		mustWrite(t, v, "/d/sub/g", "x")
		if err := v.Mkdir("/empty"); err != nil {
			t.Fatal(err)
		}
		return v
	}
	cases := []struct {
		name string
		op   func(v *View) error
		want error
	}{
		{"stat file", func(v *View) error { _, err := v.Stat("/d/f"); return err }, nil},
		{"stat missing", func(v *View) error { _, err := v.Stat("/d/nope"); return err }, ErrNotExist},
		{"stat through file", func(v *View) error { _, err := v.Stat("/d/f/x"); return err }, ErrNotDir},
		{"stat file trailing slash", func(v *View) error { _, err := v.Stat("/d/f/"); return err }, ErrNotDir},
		{"stat dir trailing slash", func(v *View) error { _, err := v.Stat("/d/"); return err }, nil},
		{"stat escape", func(v *View) error { _, err := v.Stat("/../d"); return err }, ErrEscape},
		{"stat nul", func(v *View) error { _, err := v.Stat("/d/\x00"); return err }, ErrInvalid},
		{"mkdir exists", func(v *View) error { return v.Mkdir("/d") }, ErrExist},
		{"mkdir over file", func(v *View) error { return v.Mkdir("/d/f") }, ErrExist},
		{"mkdir no parent", func(v *View) error { return v.Mkdir("/x/y") }, ErrNotExist},
		{"mkdir dot", func(v *View) error { return v.Mkdir("/d/.") }, ErrExist},
		{"mkdir root", func(v *View) error { return v.Mkdir("/") }, ErrExist},
		{"mkdirall", func(v *View) error { return v.MkdirAll("/x/y/z") }, nil},
		{"mkdirall through file", func(v *View) error { return v.MkdirAll("/d/f/z") }, ErrNotDir},
		{"remove file", func(v *View) error { return v.Remove("/d/f") }, nil},
		{"remove dir", func(v *View) error { return v.Remove("/d") }, ErrIsDir},
		{"remove missing", func(v *View) error { return v.Remove("/nope") }, ErrNotExist},
		{"remove file trailing slash", func(v *View) error { return v.Remove("/d/f/") }, ErrNotDir},
		{"rmdir empty", func(v *View) error { return v.Rmdir("/empty") }, nil},
		{"rmdir empty trailing slash", func(v *View) error { return v.Rmdir("/empty/") }, nil},
		{"rmdir not empty", func(v *View) error { return v.Rmdir("/d") }, ErrNotEmpty},
		{"rmdir file", func(v *View) error { return v.Rmdir("/d/f") }, ErrNotDir},
		{"rmdir root", func(v *View) error { return v.Rmdir("/") }, ErrBusy},
		{"rmdir dot", func(v *View) error { return v.Rmdir("/empty/.") }, ErrInvalid},
		{"rename file", func(v *View) error { return v.Rename("/d/f", "/empty/f2") }, nil},
		{"rename over file", func(v *View) error { return v.Rename("/d/sub/g", "/d/f") }, nil},
		{"rename file over dir", func(v *View) error { return v.Rename("/d/f", "/empty") }, ErrIsDir},
		{"rename dir over file", func(v *View) error { return v.Rename("/empty", "/d/f") }, ErrNotDir},
		{"rename dir over empty dir", func(v *View) error { return v.Rename("/d/sub", "/empty") }, nil},
		{"rename dir over full dir", func(v *View) error { return v.Rename("/empty", "/d") }, ErrNotEmpty},
		{"rename into itself", func(v *View) error { return v.Rename("/d", "/d/sub/d") }, ErrInvalid},
		{"rename root", func(v *View) error { return v.Rename("/", "/x") }, ErrBusy},
		{"rename missing", func(v *View) error { return v.Rename("/nope", "/x") }, ErrNotExist},
		{"rename to missing dir", func(v *View) error { return v.Rename("/d/f", "/nope/x") }, ErrNotExist},
		{"rename file to trailing slash", func(v *View) error { return v.Rename("/d/f", "/g/") }, ErrNotDir},
		{"rename onto itself", func(v *View) error { return v.Rename("/d/f", "/d/f") }, nil},
		{"link", func(v *View) error { return v.Link("/d/f", "/d/f2") }, nil},
		{"link exists", func(v *View) error { return v.Link("/d/f", "/d/sub/g") }, ErrExist},
		{"link dir", func(v *View) error { return v.Link("/d", "/d2") }, ErrNotPermitted},
		{"symlink", func(v *View) error { return v.Symlink("/d/f", "/s") }, ErrNotSupported},
		{"write dir", func(v *View) error { _, err := v.WriteFile("/d", strings.NewReader("x")); return err }, ErrIsDir},
		{"write trailing slash", func(v *View) error { _, err := v.WriteFile("/d/new/", strings.NewReader("x")); return err }, ErrIsDir},
		{"append trailing slash", func(v *View) error { _, err := v.AppendFile("/d/f/", strings.NewReader("x")); return err }, ErrIsDir},
		{"write root", func(v *View) error { _, err := v.WriteFile("/", strings.NewReader("x")); return err }, ErrIsDir},
		{"write under file", func(v *View) error { _, err := v.WriteFile("/d/f/x", strings.NewReader("x")); return err }, ErrNotDir},
		{"append dir", func(v *View) error { _, err := v.AppendFile("/d", strings.NewReader("x")); return err }, ErrIsDir},
		{"open dir snapshot", func(v *View) error { _, err := v.Open("/d"); return err }, ErrIsDir},
		{"open excl exists", func(v *View) error { _, err := v.OpenFile("/d/f", FlagCreate|FlagExcl|FlagWrite); return err }, ErrExist},
		{"open dir for write", func(v *View) error { _, err := v.OpenFile("/d", FlagWrite); return err }, ErrIsDir},
		{"open dir create", func(v *View) error { _, err := v.OpenFile("/d", FlagCreate|FlagRead); return err }, ErrIsDir},
		{"open file as dir", func(v *View) error { _, err := v.OpenFile("/d/f", FlagDirectory); return err }, ErrNotDir},
		{"create trailing slash", func(v *View) error { _, err := v.OpenFile("/d/new/", FlagCreate|FlagWrite); return err }, ErrIsDir},
		{"create in missing dir", func(v *View) error { _, err := v.OpenFile("/nope/new", FlagCreate|FlagWrite); return err }, ErrNotExist},
		{"open missing", func(v *View) error { _, err := v.OpenFile("/d/new", FlagRead); return err }, ErrNotExist},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			v := setup(t)
			err := c.op(v)
			if c.want == nil && err != nil || c.want != nil && !errors.Is(err, c.want) {
				t.Fatalf("got %v, want %v", err, c.want)
			}
		})
	}
}

func TestRenameMovesContent(t *testing.T) {
	f, v := newFS(t, Limits{})
	mustWrite(t, v, "/a/f", "one")
	mustWrite(t, v, "/b/f", "two")
	if err := v.Rename("/a/f", "/b/f"); err != nil {
		t.Fatal(err)
	}
	if got := readAll(t, v, "/b/f"); got != "one" {
		t.Errorf("after rename /b/f = %q", got)
	}
	if _, err := v.Stat("/a/f"); !errors.Is(err, ErrNotExist) {
		t.Errorf("old name still there: %v", err)
	}
	if f.Used() != 3 {
		t.Errorf("Used = %d, want 3", f.Used())
	}
	if err := v.Rename("/a", "/b/a"); err != nil {
		t.Fatal(err)
	}
	if _, err := v.Stat("/b/a"); err != nil {
		t.Error(err)
	}
}

func TestStatLinksInodesTimes(t *testing.T) {
	_, v := newFS(t, Limits{})
	mustWrite(t, v, "/d/f", "hello")
	if err := v.Mkdir("/d/s"); err != nil {
		t.Fatal(err)
	}
	fi, _ := v.Stat("/d/f")
	di, _ := v.Stat("/d")
	if fi.Size != 5 || fi.Dir || fi.Links != 1 {
		t.Errorf("file info %+v", fi)
	}
	if !di.Dir || di.Links != 3 || di.Size != 0 {
		t.Errorf("dir info %+v", di)
	}
	if fi.Inode == di.Inode || fi.Inode == 0 {
		t.Errorf("inodes not distinct: %d %d", fi.Inode, di.Inode)
	}
	if err := v.Link("/d/f", "/d/g"); err != nil {
		t.Fatal(err)
	}
	gi, _ := v.Stat("/d/g")
	if gi.Inode != fi.Inode || gi.Links != 2 {
		t.Errorf("link: %+v vs %+v", gi, fi)
	}
	a := time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)
	if err := v.SetTimes("/d/f", &a, nil); err != nil {
		t.Fatal(err)
	}
	fi2, _ := v.Stat("/d/f")
	if !fi2.AccessTime.Equal(a) || !fi2.ModTime.Equal(fi.ModTime) {
		t.Errorf("SetTimes: %+v", fi2)
	}
	h, err := v.OpenFile("/d/f", FlagWrite)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	if _, err := h.WriteAt([]byte("J"), 0); err != nil {
		t.Fatal(err)
	}
	fi3, _ := h.Stat()
	if !fi3.ModTime.After(fi2.ModTime) {
		t.Errorf("write did not advance mtime: %v then %v", fi2.ModTime, fi3.ModTime)
	}
	if got := readAll(t, v, "/d/g"); got != "Jello" {
		t.Errorf("hard link sees %q", got)
	}
}

func TestHandleIO(t *testing.T) {
	_, v := newFS(t, Limits{})
	h, err := v.OpenFile("/f", FlagCreate|FlagRead|FlagWrite)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.WriteAt([]byte("abc"), 5); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 10)
	k, err := h.ReadAt(buf, 0)
	if k != 8 || err != io.EOF || !bytes.Equal(buf[:k], []byte("\x00\x00\x00\x00\x00abc")) {
		t.Errorf("ReadAt = %d %v %q", k, err, buf[:k])
	}
	if _, err := h.ReadAt(buf, 100); err != io.EOF {
		t.Errorf("read past end: %v", err)
	}
	if _, err := h.ReadAt(buf, -1); !errors.Is(err, ErrInvalid) {
		t.Errorf("negative offset: %v", err)
	}
	if err := h.Truncate(2); err != nil {
		t.Fatal(err)
	}
	if err := h.Truncate(4); err != nil {
		t.Fatal(err)
	}
	k, _ = h.ReadAt(buf, 0)
	if k != 4 || !bytes.Equal(buf[:4], make([]byte, 4)) {
		t.Errorf("after truncate: %q", buf[:k])
	}
	size, err := h.Append([]byte("zz"))
	if err != nil || size != 6 {
		t.Errorf("Append = %d, %v", size, err)
	}
	if err := h.Close(); err != nil {
		t.Fatal(err)
	}
	if err := h.Close(); !errors.Is(err, ErrClosed) {
		t.Errorf("second close: %v", err)
	}
	if _, err := h.ReadAt(buf, 0); !errors.Is(err, ErrClosed) {
		t.Errorf("read after close: %v", err)
	}

	r, _ := v.OpenFile("/f", FlagRead)
	defer r.Close()
	if _, err := r.WriteAt([]byte("x"), 0); !errors.Is(err, ErrBadHandle) {
		t.Errorf("write on read handle: %v", err)
	}
	if err := r.Truncate(0); !errors.Is(err, ErrBadHandle) {
		t.Errorf("truncate on read handle: %v", err)
	}
	a, _ := v.OpenFile("/f", FlagAppend)
	defer a.Close()
	if _, err := a.WriteAt([]byte("x"), 0); !errors.Is(err, ErrBadHandle) {
		t.Errorf("WriteAt on append-only handle: %v", err)
	}
	if _, err := a.ReadAt(buf, 0); !errors.Is(err, ErrBadHandle) {
		t.Errorf("read on append-only handle: %v", err)
	}
	tr, _ := v.OpenFile("/f", FlagWrite|FlagTrunc)
	defer tr.Close()
	if tr.Size() != 0 {
		t.Errorf("FlagTrunc left %d bytes", tr.Size())
	}
	d, _ := v.OpenFile("/", FlagRead)
	defer d.Close()
	if _, err := d.ReadAt(buf, 0); !errors.Is(err, ErrIsDir) {
		t.Errorf("read a directory: %v", err)
	}
	if _, err := h.ReadDir(0, -1); !errors.Is(err, ErrClosed) {
		t.Errorf("readdir on closed: %v", err)
	}
	if _, err := r.ReadDir(0, -1); !errors.Is(err, ErrNotDir) {
		t.Errorf("readdir on file: %v", err)
	}
}

func TestUnlinkedOpenFileLives(t *testing.T) {
	f, v := newFS(t, Limits{})
	mustWrite(t, v, "/f", "data")
	h, _ := v.OpenFile("/f", FlagRead)
	if err := v.Remove("/f"); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4)
	if k, _ := h.ReadAt(buf, 0); string(buf[:k]) != "data" {
		t.Errorf("unlinked open file reads %q", buf[:k])
	}
	if f.Used() != 4 {
		t.Errorf("Used while open = %d", f.Used())
	}
	h.Close()
	if f.Used() != 0 {
		t.Errorf("Used after close = %d", f.Used())
	}
}

func TestReadDirCookies(t *testing.T) {
	_, v := newFS(t, Limits{})
	for _, n := range []string{"c", "a", "b", "d"} {
		mustWrite(t, v, "/"+n, n)
	}
	v.Mkdir("/e")
	d := v.Root()
	defer d.Close()
	all, err := d.ReadDir(0, -1)
	if err != nil {
		t.Fatal(err)
	}
	names := func(es []DirEntry) string {
		var s []string
		for _, e := range es {
			s = append(s, e.Name)
		}
		return strings.Join(s, ",")
	}
	if got := names(all); got != "c,a,b,d,e" {
		t.Fatalf("ReadDir = %s", got)
	}
	if !all[4].Dir || all[0].Dir {
		t.Errorf("types wrong: %+v", all)
	}
	first, _ := d.ReadDir(0, 2)
	// Remove an entry already returned and one not yet, add one: the
	// cookie still continues where it was.
	v.Remove("/a")
	v.Remove("/d")
	mustWrite(t, v, "/f", "f")
	rest, _ := d.ReadDir(first[1].Next, -1)
	if got := names(rest); got != "b,e,f" {
		t.Errorf("continued listing = %s", got)
	}
	// Many removals compact the order; cookies still work.
	for i := range 40 {
		mustWrite(t, v, "/t"+string(rune('A'+i)), "")
	}
	mid, _ := d.ReadDir(0, 3)
	for i := range 40 {
		v.Remove("/t" + string(rune('A'+i)))
	}
	rest, _ = d.ReadDir(mid[2].Next, -1)
	if got := names(rest); got != "f" {
		t.Errorf("after compaction = %s", got)
	}
	empty, _ := d.ReadDir(1<<60, -1)
	if len(empty) != 0 {
		t.Errorf("cookie past end = %v", empty)
	}
}

func TestCapabilities(t *testing.T) {
	f, admin := newFS(t, Limits{})
	mustWrite(t, admin, "/in/a.csv", "a")
	mustWrite(t, admin, "/in/b.csv", "b")
	mustWrite(t, admin, "/secret/k", "k")
	mustWrite(t, admin, "/log", "")
	mustWrite(t, admin, "/prog.wasm", "\x00asm")
	v := f.View(capability.Set{
		"/in/a.csv":  capability.Read,
		"/out/":      capability.Read | capability.Write,
		"/log":       capability.Append,
		"/prog.wasm": capability.Execute,
	})
	cases := []struct {
		name string
		op   func() error
		want error
	}{
		{"read granted", func() error { _, err := v.Open("/in/a.csv"); return err }, nil},
		{"read hidden file", func() error { _, err := v.Open("/in/b.csv"); return err }, ErrNotExist},
		{"stat hidden dir", func() error { _, err := v.Stat("/secret"); return err }, ErrNotExist},
		{"stat through hidden dir", func() error { _, err := v.Stat("/secret/k"); return err }, ErrNotExist},
		{"stat visible dir", func() error { _, err := v.Stat("/in"); return err }, nil},
		{"write read-only", func() error { _, err := v.WriteFile("/in/a.csv", strings.NewReader("x")); return err }, ErrPermission},
		{"open read-only for write", func() error { _, err := v.OpenFile("/in/a.csv", FlagWrite); return err }, ErrPermission},
		{"create next to read-only", func() error { _, err := v.OpenFile("/in/c.csv", FlagCreate|FlagWrite); return err }, ErrPermission},
		{"create over hidden", func() error { _, err := v.OpenFile("/in/b.csv", FlagCreate|FlagWrite); return err }, ErrPermission},
		{"write out makes parent", func() error { _, err := v.WriteFile("/out/x/y", strings.NewReader("y")); return err }, nil},
		{"mkdir out", func() error { return v.Mkdir("/out/new") }, nil},
		{"mkdir in", func() error { return v.Mkdir("/in/z") }, ErrPermission},
		{"mkdir over hidden", func() error { return v.Mkdir("/secret") }, ErrPermission},
		{"append log", func() error { _, err := v.AppendFile("/log", strings.NewReader("l")); return err }, nil},
		{"append-only cannot replace", func() error { _, err := v.WriteFile("/log", strings.NewReader("l")); return err }, ErrPermission},
		{"append-only cannot read", func() error { _, err := v.Open("/log"); return err }, ErrPermission},
		{"append-only open append", func() error { _, err := v.OpenFile("/log", FlagAppend); return err }, nil},
		{"append-only open write", func() error { _, err := v.OpenFile("/log", FlagWrite); return err }, ErrPermission},
		{"append-only truncate", func() error { _, err := v.OpenFile("/log", FlagAppend|FlagTrunc); return err }, ErrPermission},
		{"exec-only invisible", func() error { _, err := v.Open("/prog.wasm"); return err }, ErrNotExist},
		{"remove read-only", func() error { return v.Remove("/in/a.csv") }, ErrPermission},
		{"rename out of read-only", func() error { return v.Rename("/in/a.csv", "/out/a.csv") }, ErrPermission},
		{"rename hidden", func() error { return v.Rename("/secret/k", "/out/k") }, ErrNotExist},
		{"link read-only", func() error { return v.Link("/in/a.csv", "/out/a.csv") }, ErrPermission},
		{"settimes read-only", func() error { return v.SetTimes("/in/a.csv", nil, nil) }, ErrPermission},
	}
	for _, c := range cases {
		err := c.op()
		if c.want == nil && err != nil || c.want != nil && !errors.Is(err, c.want) {
			t.Errorf("%s: got %v, want %v", c.name, err, c.want)
		}
	}
	list := func(p string) string {
		es, err := v.ReadDir(p)
		if err != nil {
			return err.Error()
		}
		var s []string
		for _, e := range es {
			s = append(s, e.Name)
		}
		return strings.Join(s, ",")
	}
	if got := list("/"); got != "in,log,out" {
		t.Errorf("root listing = %q", got)
	}
	if got := list("/in"); got != "a.csv" {
		t.Errorf("/in listing = %q", got)
	}
	// Renaming a directory needs rights on everything in it.
	mustWrite(t, admin, "/out/ro/locked", "z")
	admin.Mkdir("/dst")
	v2 := f.View(capability.Set{"/out/": capability.Write, "/out/ro/": capability.Read, "/dst/": capability.Write})
	if err := v2.Rename("/out/x", "/dst/x"); err != nil {
		t.Errorf("rename writable dir: %v", err)
	}
	v3 := f.View(capability.Set{"/out/ro": capability.Write, "/out/ro/locked": capability.Read, "/dst/": capability.Write})
	if err := v3.Rename("/out/ro", "/dst/ro"); !errors.Is(err, ErrPermission) {
		t.Errorf("rename dir holding unwritable file: %v", err)
	}
}

func TestRelativeHandles(t *testing.T) {
	_, v := newFS(t, Limits{})
	mustWrite(t, v, "/a/b/f", "f")
	mustWrite(t, v, "/top", "t")
	d, err := v.OpenFile("/a", FlagDirectory)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	for _, c := range []struct {
		rel  string
		want error
	}{
		{"b/f", nil},
		{"./b/../b/f", nil},
		{"..", ErrEscape},
		{"../top", ErrEscape},
		{"b/../../top", ErrEscape},
		{"/top", ErrEscape},
		{"", ErrNotExist},
	} {
		_, err := d.StatAt(c.rel)
		if c.want == nil && err != nil || c.want != nil && !errors.Is(err, c.want) {
			t.Errorf("StatAt(%q) = %v, want %v", c.rel, err, c.want)
		}
	}
	// The handle follows its directory across a rename.
	if err := v.Rename("/a", "/z"); err != nil {
		t.Fatal(err)
	}
	h, err := d.Open("b/f", FlagRead)
	if err != nil {
		t.Fatalf("open through renamed dir: %v", err)
	}
	h.Close()
	if err := d.Mkdir("m"); err != nil {
		t.Fatal(err)
	}
	if _, err := v.Stat("/z/m"); err != nil {
		t.Error(err)
	}
	root := v.Root()
	defer root.Close()
	if err := d.Rename("m", root, "m2"); err != nil {
		t.Fatal(err)
	}
	if err := root.Link("top", d, "top2"); err != nil {
		t.Fatal(err)
	}
	if err := d.Remove("top2"); err != nil {
		t.Fatal(err)
	}
	if err := root.Rmdir("m2"); err != nil {
		t.Fatal(err)
	}
	t0 := time.Unix(5, 0)
	if err := d.SetTimesAt("b", &t0, &t0); err != nil {
		t.Fatal(err)
	}
	// A removed directory can hold nothing new.
	e, _ := v.OpenFile("/z/b", FlagDirectory)
	defer e.Close()
	v.Remove("/z/b/f")
	v.Rmdir("/z/b")
	if _, err := e.Open("new", FlagCreate|FlagWrite); !errors.Is(err, ErrNotExist) {
		t.Errorf("create in removed dir: %v", err)
	}
	if es, err := e.ReadDir(0, -1); err != nil || len(es) != 0 {
		t.Errorf("readdir removed dir: %v %v", es, err)
	}
}

func TestWriteFileAtomic(t *testing.T) {
	f, v := newFS(t, Limits{FileBytes: 10, TotalBytes: 15 + 2*(EntryCost+1)}) // two one-letter names
	mustWrite(t, v, "/f", "old")
	// A reader failing midway leaves the old content.
	r := io.MultiReader(strings.NewReader("new"), iotest.ErrReader(errors.New("disk on fire")))
	if _, err := v.WriteFile("/f", r); err == nil || !strings.Contains(err.Error(), "disk on fire") {
		t.Fatalf("WriteFile with failing reader: %v", err)
	}
	if got := readAll(t, v, "/f"); got != "old" {
		t.Errorf("after failed write: %q", got)
	}
	if _, err := v.AppendFile("/f", io.MultiReader(strings.NewReader("x"), iotest.ErrReader(io.ErrUnexpectedEOF))); err == nil {
		t.Fatal("AppendFile with failing reader succeeded")
	}
	if got := readAll(t, v, "/f"); got != "old" {
		t.Errorf("after failed append: %q", got)
	}
	// Per-file quota.
	if _, err := v.WriteFile("/f", strings.NewReader("01234567890")); !errors.Is(err, ErrQuota) {
		t.Errorf("over file limit: %v", err)
	}
	var qe *QuotaError
	if _, err := v.AppendFile("/f", strings.NewReader("01234567")); !errors.As(err, &qe) || qe.Total {
		t.Errorf("append over file limit: %v", err)
	}
	if got := readAll(t, v, "/f"); got != "old" {
		t.Errorf("after quota refusal: %q", got)
	}
	// Total quota: 3 used; 10 more fits, then 3 more does not.
	mustWrite(t, v, "/g", "0123456789")
	if _, err := v.WriteFile("/h", strings.NewReader("abc")); !errors.As(err, &qe) || !qe.Total {
		t.Errorf("over total: %v", err)
	}
	// Replacing counts the freed bytes.
	mustWrite(t, v, "/g", "01234567")
	if f.Used() != 11 {
		t.Errorf("Used = %d, want 11", f.Used())
	}
	h, _ := v.OpenFile("/f", FlagWrite)
	defer h.Close()
	if _, err := h.WriteAt([]byte("12345"), 3); !errors.Is(err, ErrQuota) {
		t.Errorf("handle write over total: %v", err)
	}
	if err := h.Truncate(11); !errors.Is(err, ErrQuota) {
		t.Errorf("truncate over file limit: %v", err)
	}
	if got := readAll(t, v, "/f"); got != "old" {
		t.Errorf("after refused handle write: %q", got)
	}
	if _, err := h.WriteAt([]byte("x"), 1<<40); !errors.Is(err, ErrQuota) {
		t.Errorf("write at huge offset: %v", err)
	}
}

func TestSnapshotIsolated(t *testing.T) {
	_, v := newFS(t, Limits{})
	mustWrite(t, v, "/f", "abcdef")
	s, err := v.Open("/f")
	if err != nil {
		t.Fatal(err)
	}
	h, _ := v.OpenFile("/f", FlagWrite)
	h.WriteAt([]byte("XY"), 0)
	h.Append([]byte("gh"))
	h.Truncate(1)
	h.Close()
	v.AppendFile("/f", strings.NewReader("more"))
	mustWrite(t, v, "/f", "replaced")
	if s.Size() != 6 {
		t.Errorf("Size = %d", s.Size())
	}
	b, _ := io.ReadAll(s)
	if string(b) != "abcdef" {
		t.Errorf("snapshot reads %q", b)
	}
	if off, err := s.Seek(-2, io.SeekEnd); off != 4 || err != nil {
		t.Errorf("Seek = %d %v", off, err)
	}
	var out bytes.Buffer
	s.WriteTo(&out)
	if out.String() != "ef" {
		t.Errorf("WriteTo = %q", out.String())
	}
	if _, err := s.Seek(-10, io.SeekCurrent); err == nil {
		t.Error("seek before start allowed")
	}
	if _, err := s.Seek(0, 7); err == nil {
		t.Error("bad whence allowed")
	}
	p := make([]byte, 3)
	if k, err := s.ReadAt(p, 4); k != 2 || err != io.EOF {
		t.Errorf("ReadAt = %d %v", k, err)
	}
	if got := readAll(t, v, "/f"); got != "replaced" {
		t.Errorf("file = %q", got)
	}
}

func TestFilesWipe(t *testing.T) {
	f, v := newFS(t, Limits{})
	mustWrite(t, v, "/b/x", "12")
	mustWrite(t, v, "/a", "1")
	v.Link("/a", "/c")
	fs := f.Files()
	var got []string
	for _, i := range fs {
		got = append(got, i.Path)
	}
	if strings.Join(got, ",") != "/a,/b/x,/c" {
		t.Errorf("Files = %v", got)
	}
	s, _ := v.Open("/b/x")
	f.Wipe()
	// The open snapshot still holds its (zeroed) two bytes, charged
	// until it is closed.
	if f.Used() != 2 || len(f.Files()) != 0 {
		t.Errorf("after Wipe: used %d, files %v", f.Used(), f.Files())
	}
	b, _ := io.ReadAll(s)
	if len(b) != 2 || b[0] != 0 || b[1] != 0 {
		t.Errorf("snapshot after wipe reads %q, want zeros", b)
	}
	s.Close()
	if f.Used() != 0 {
		t.Errorf("after Wipe and the snapshot's Close: used %d", f.Used())
	}
	if _, err := v.Stat("/b"); !errors.Is(err, ErrNotExist) {
		t.Errorf("dir after wipe: %v", err)
	}
}

func TestSmallAccessors(t *testing.T) {
	f, admin := newFS(t, Limits{FileBytes: 7})
	if f.Limits().FileBytes != 7 || admin.FS() != f {
		t.Error("Limits or FS wrong")
	}
	caps := capability.Set{"/out/": capability.Write}
	v := f.View(caps)
	c := v.Caps()
	c["/"] = capability.All
	if v.Can("/x", capability.Write) {
		t.Error("changing Caps' copy changed the view")
	}
	caps["/"] = capability.All
	if v.Can("/x", capability.Write) {
		t.Error("changing the caller's set changed the view")
	}
	mustWrite(t, admin, "/out/f", "x")
	s, _ := admin.Open("/out/f")
	if s.Path() != "/out/f" || s.ModTime().IsZero() {
		t.Errorf("snapshot path %q time %v", s.Path(), s.ModTime())
	}
	err := admin.Rename("/nope", "/x")
	if err == nil || !strings.Contains(err.Error(), "rename /nope /x") {
		t.Errorf("LinkError text: %v", err)
	}
	// Handle.SetTimes needs a writable file handle, or a directory the
	// holder may write.
	at := time.Unix(100, 0)
	h, _ := v.OpenFile("/out/f", FlagWrite)
	defer h.Close()
	if h.Flags() != FlagWrite || h.View() != v || h.Path() != "/out/f" || h.IsDir() {
		t.Error("handle accessors")
	}
	if err := h.SetTimes(&at, &at); err != nil {
		t.Fatal(err)
	}
	if i, _ := h.Stat(); !i.AccessTime.Equal(at) || !i.ModTime.Equal(at) {
		t.Errorf("SetTimes: %+v", i)
	}
	r, _ := admin.OpenFile("/out/f", FlagRead)
	if err := r.SetTimes(&at, nil); !errors.Is(err, ErrBadHandle) {
		t.Errorf("SetTimes on read handle: %v", err)
	}
	r.Close()
	if err := r.SetTimes(&at, nil); !errors.Is(err, ErrClosed) {
		t.Errorf("SetTimes on closed handle: %v", err)
	}
	if _, err := r.Stat(); !errors.Is(err, ErrClosed) {
		t.Errorf("Stat on closed handle: %v", err)
	}
	d, _ := v.OpenFile("/out", FlagDirectory)
	defer d.Close()
	if err := d.SetTimes(nil, &at); err != nil {
		t.Errorf("SetTimes on writable dir: %v", err)
	}
	if d.ParentInode() != 1 {
		t.Errorf("parent of /out is inode %d, want the root's 1", d.ParentInode())
	}
	root := f.View(capability.Set{"/out/": capability.Read}).Root()
	defer root.Close()
	if err := root.SetTimes(nil, &at); !errors.Is(err, ErrPermission) {
		t.Errorf("SetTimes on root without w: %v", err)
	}
	if root.ParentInode() != 1 {
		t.Error("the root's parent is not itself")
	}
	if _, err := root.Open("/abs", FlagRead); !errors.Is(err, ErrEscape) {
		t.Errorf("absolute path from a handle: %v", err)
	}
	if err := root.Rename("out", nil, "x"); !errors.Is(err, ErrBadHandle) {
		t.Errorf("rename to nil dir: %v", err)
	}
	if err := h.Rmdir("x"); !errors.Is(err, ErrNotDir) {
		t.Errorf("Rmdir through a file handle: %v", err)
	}
	if err := h.SetTimesAt("x", nil, nil); !errors.Is(err, ErrNotDir) {
		t.Errorf("SetTimesAt through a file handle: %v", err)
	}
	if _, err := s.ReadAt(make([]byte, 1), -1); !errors.Is(err, ErrInvalid) {
		t.Errorf("snapshot ReadAt negative: %v", err)
	}
}

func TestEntriesCharged(t *testing.T) {
	f, v := newFS(t, Limits{TotalBytes: 10 * (EntryCost + 4)})
	var err error
	n := 0
	for ; n < 100 && err == nil; n++ {
		_, err = v.OpenFile(fmt.Sprintf("/e%03d", n), FlagCreate|FlagWrite)
	}
	if !errors.Is(err, ErrQuota) || n != 11 {
		t.Errorf("empty files stopped after %d by %v, want 10 then ErrQuota", n-1, err)
	}
	if err := v.Mkdir("/dir"); !errors.Is(err, ErrQuota) {
		t.Errorf("mkdir when full: %v", err)
	}
	if err := v.Link("/e000", "/l"); !errors.Is(err, ErrQuota) {
		t.Errorf("link when full: %v", err)
	}
	// A directory costs DirCost more than a file: two removals make room.
	for _, p := range []string{"/e000", "/e001"} {
		if err := v.Remove(p); err != nil {
			t.Fatal(err)
		}
	}
	if err := v.Mkdir("/dir"); err != nil {
		t.Errorf("mkdir after two removals: %v", err)
	}
	if f.Used() != 0 {
		t.Errorf("Used counts entries: %d", f.Used())
	}
}

// TestAppendMakesParents: appending to a new file in a missing directory
// creates both, as writing does, for a holder of the append right only;
// directories hidden from the holder stay hidden.
func TestAppendMakesParents(t *testing.T) {
	f, admin := newFS(t, Limits{})
	mustWrite(t, admin, "/secret/k", "k")
	v := f.View(capability.Set{"/stream/": capability.Append, "/secret/new": capability.Append})
	if _, err := v.AppendFile("/stream/day/1", strings.NewReader("ab")); err != nil {
		t.Fatalf("first append: %v", err)
	}
	if _, err := v.AppendFile("/stream/day/1", strings.NewReader("cd")); err != nil {
		t.Fatalf("second append: %v", err)
	}
	r, err := admin.Open("/stream/day/1")
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := io.ReadAll(r); string(b) != "abcd" {
		t.Errorf("content %q, want abcd", b)
	}
	if _, err := v.AppendFile("/secret/new", strings.NewReader("x")); err != nil {
		t.Errorf("append into a directory holding a grant: %v", err)
	}
	if _, err := v.AppendFile("/other/x", strings.NewReader("x")); !errors.Is(err, ErrPermission) {
		t.Errorf("append without the right: %v, want %v", err, ErrPermission)
	}
}
