package vfs

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"runtime"
	"strings"
	"testing"

	"github.com/truce-project/truce/capability"
)

// TestSnapshotsCharged: a version a snapshot still reads stays charged
// after the file is replaced, changed in place, truncated or removed, so
// that stalled readers cannot pin memory outside the total limit; the
// refusal says why, and closing the snapshot gives the bytes back.
func TestSnapshotsCharged(t *testing.T) {
	const size = 1000
	lim := Limits{TotalBytes: 2*size + 3*(EntryCost+4) + DirCost + EntryCost + 1}
	cases := []struct {
		name   string
		change func(v *View) error
	}{
		{"replace", func(v *View) error {
			_, err := v.WriteFile("/d/f", bytes.NewReader(bytes.Repeat([]byte("B"), size)))
			return err
		}},
		{"write in place", func(v *View) error {
			h, err := v.OpenFile("/d/f", FlagWrite)
			if err != nil {
				return err
			}
			defer h.Close()
			_, err = h.WriteAt([]byte("B"), 0)
			return err
		}},
		{"append", func(v *View) error {
			_, err := v.AppendFile("/d/f", strings.NewReader("B"))
			return err
		}},
		{"remove", func(v *View) error { return v.Remove("/d/f") }},
		{"truncate", func(v *View) error {
			h, err := v.OpenFile("/d/f", FlagWrite|FlagTrunc)
			if err == nil {
				h.Close()
			}
			return err
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f, v := newFS(t, lim)
			mustWrite(t, v, "/d/f", strings.Repeat("A", size))
			s, err := v.Open("/d/f")
			if err != nil {
				t.Fatal(err)
			}
			if err := c.change(v); err != nil {
				t.Fatalf("the first change: %v", err)
			}
			// The old version is still charged: a file that would fit
			// were it not no longer does.
			if f.Retired() != size {
				t.Fatalf("retired %d bytes, want %d", f.Retired(), size)
			}
			live := f.Used() - f.Retired()
			gSize := lim.TotalBytes - f.meta - entryCost("g", false) - live
			_, err = v.WriteFile("/d/g", bytes.NewReader(bytes.Repeat([]byte("C"), int(gSize))))
			var qe *QuotaError
			if !errors.As(err, &qe) || !qe.Total || qe.Retired != size {
				t.Fatalf("a write while the old version is read: %v (%+v), want a total refusal naming %d retired bytes", err, qe, size)
			}
			if !strings.Contains(err.Error(), "old versions still being read") {
				t.Errorf("the refusal does not say why: %v", err)
			}
			if _, err := v.Stat("/d/g"); !errors.Is(err, ErrNotExist) {
				t.Errorf("the refused write left /d/g: %v", err)
			}
			if b, _ := io.ReadAll(s); string(b) != strings.Repeat("A", size) {
				t.Errorf("the snapshot reads %q…", b[:min(len(b), 8)])
			}
			checkAccounting(t, f)
			s.Close()
			if f.Retired() != 0 {
				t.Errorf("retired %d after the snapshot closed", f.Retired())
			}
			checkAccounting(t, f)
			if _, err := v.WriteFile("/d/g", bytes.NewReader(bytes.Repeat([]byte("C"), int(gSize)))); err != nil {
				t.Errorf("the write once the snapshot closed: %v", err)
			}
			checkAccounting(t, f)
		})
	}
}

// TestStalledSnapshotsBounded is the attack: many readers each hold a
// version open while the file is replaced again and again. The versions
// alive never exceed the total limit.
func TestStalledSnapshotsBounded(t *testing.T) {
	const size, total = 4096, 4 * 4096
	f, v := newFS(t, Limits{TotalBytes: total + 4*EntryCost})
	var snaps []*Snapshot
	accepted, refused := 0, 0
	for i := range 64 {
		if _, err := v.WriteFile("/f", bytes.NewReader(bytes.Repeat([]byte{byte(i)}, size))); err != nil {
			if !errors.Is(err, ErrQuota) {
				t.Fatal(err)
			}
			refused++
		} else {
			accepted++
		}
		s, err := v.Open("/f")
		if err != nil {
			t.Fatal(err)
		}
		snaps = append(snaps, s)
		if f.Used() > total {
			t.Fatalf("after %d writes the file system holds %d bytes, over its limit of %d", i+1, f.Used(), total)
		}
	}
	t.Logf("%d replacements accepted, %d refused while 64 snapshots were open", accepted, refused)
	for _, s := range snaps {
		s.Close()
	}
	if f.Used() != size || f.Retired() != 0 {
		t.Errorf("after the snapshots closed: used %d, retired %d", f.Used(), f.Retired())
	}
}

// TestSnapshotReleasedByGC: a snapshot dropped without Close gives its
// bytes back once the garbage collector finds it.
func TestSnapshotReleasedByGC(t *testing.T) {
	f, v := newFS(t, Limits{})
	mustWrite(t, v, "/f", "old version")
	func() {
		s, err := v.Open("/f")
		if err != nil {
			t.Fatal(err)
		}
		_ = s.Size()
	}()
	mustWrite(t, v, "/f", "new")
	for i := 0; i < 20 && f.Retired() != 0; i++ {
		runtime.GC()
	}
	if f.Retired() != 0 || f.Used() != 3 {
		t.Errorf("after GC: used %d, retired %d", f.Used(), f.Retired())
	}
}

// TestCheckName: names that are not valid UTF-8, or hold control
// characters or direction marks, are refused everywhere, with ErrBadName
// (which is ErrInvalid); other Unicode is accepted.
func TestCheckName(t *testing.T) {
	cases := []struct {
		name string
		ok   bool
	}{
		{"plain.txt", true},
		{"données-été.csv", true},
		{"日本語", true},
		{"emoji-🙂", true},
		{"\uFFFD", true}, // the replacement character itself is a valid name
		{"a\xff", false},
		{"\xfe", false},
		{"\xc3", false},         // truncated sequence
		{"\xed\xa0\x80", false}, // a surrogate
		{"\xc0\xaf", false},     // overlong "/"
		{"tab\there", false},
		{"new\nline", false},
		{"esc\x1b[31m", false},
		{"del\x7f", false},
		{"c1\u0085", false},
		{"rlo\u202etxt.exe", false},
		{"lri\u2066", false},
		{"rlm\u200f", false},
		{"bom\ufeff", false},
	}
	for _, c := range cases {
		t.Run(fmt.Sprintf("%q", c.name), func(t *testing.T) {
			_, v := newFS(t, Limits{})
			p := "/d/" + c.name
			errs := map[string]error{}
			_, errs["WriteFile"] = v.WriteFile(p, strings.NewReader("x"))
			_, errs["AppendFile"] = v.AppendFile(p+"2", strings.NewReader("x"))
			errs["Mkdir"] = v.MkdirAll(p + "-dir")
			root := v.Root()
			defer root.Close()
			h, err := root.Open("d/"+c.name+"-h", FlagCreate|FlagWrite)
			if err == nil {
				h.Close()
			}
			errs["Handle.Open"] = err
			errs["Rename"] = v.Rename("/d/"+c.name+"-h", "/d/"+c.name+"-r")
			for op, err := range errs {
				if c.ok && err != nil {
					t.Errorf("%s: %v", op, err)
				}
				if !c.ok && op != "Rename" && (!errors.Is(err, ErrBadName) || !errors.Is(err, ErrInvalid)) {
					t.Errorf("%s: %v, want ErrBadName", op, err)
				}
			}
			if !c.ok {
				if _, err := v.Stat(p); !errors.Is(err, ErrBadName) {
					t.Errorf("Stat: %v", err)
				}
			}
		})
	}
}

// TestEntryCostCoversHeap measures what empty files and directories take
// on the heap and checks that the charges cover it, so that total_mib
// bounds real memory whatever the files hold.
func TestEntryCostCoversHeap(t *testing.T) {
	const n = 20000
	cases := []struct {
		name string
		make func(v *View, i int) error
	}{
		{"empty files in one directory", func(v *View, i int) error {
			h, err := v.OpenFile(fmt.Sprintf("/d/f%07d", i), FlagCreate|FlagWrite)
			if err == nil {
				h.Close()
			}
			return err
		}},
		{"empty directories", func(v *View, i int) error { return v.Mkdir(fmt.Sprintf("/d/f%07d", i)) }},
		{"one file per directory", func(v *View, i int) error {
			if err := v.Mkdir(fmt.Sprintf("/d/f%07d", i)); err != nil {
				return err
			}
			h, err := v.OpenFile(fmt.Sprintf("/d/f%07d/x", i), FlagCreate|FlagWrite)
			if err == nil {
				h.Close()
			}
			return err
		}},
		{"hard links", func(v *View, i int) error {
			return v.Link("/d/target", fmt.Sprintf("/d/f%07d", i))
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := New(Limits{}, nil)
			v := f.Unchecked()
			if err := v.Mkdir("/d"); err != nil {
				t.Fatal(err)
			}
			mustWrite(t, v, "/d/target", "")
			var m0, m1 runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&m0)
			meta0 := f.meta
			for i := range n {
				if err := c.make(v, i); err != nil {
					t.Fatal(err)
				}
			}
			runtime.GC()
			runtime.ReadMemStats(&m1)
			heap := int64(m1.HeapAlloc) - int64(m0.HeapAlloc)
			charged := f.meta - meta0
			t.Logf("%s: %d bytes of heap each, %d charged", c.name, heap/n, charged/n)
			if charged < heap {
				t.Errorf("%d entries take %d bytes of heap but are charged %d", n, heap, charged)
			}
			runtime.KeepAlive(f)
		})
	}
}

// TestOverlay: a run's changes are private until Commit, which publishes
// them all at once; its inputs stay as they were when it began; paths
// outside its write grants are left to others.
func TestOverlay(t *testing.T) {
	f, admin := newFS(t, Limits{})
	mustWrite(t, admin, "/input/secret", "private input")
	mustWrite(t, admin, "/output/old", "previous result")
	mustWrite(t, admin, "/output/sub/keep", "kept")
	mustWrite(t, admin, "/other/x", "not the run's")
	caps := capability.Set{"/input/secret": capability.Read, "/output/": capability.Read | capability.Write}
	o, err := f.Overlay(caps)
	if err != nil {
		t.Fatal(err)
	}
	rv := o.FS().View(caps)
	// The run writes the secret to its output, then overwrites it.
	mustWrite(t, rv, "/output/result", readAll(t, rv, "/input/secret"))
	if _, err := admin.Stat("/output/result"); !errors.Is(err, ErrNotExist) {
		t.Fatalf("a reader sees the run's intermediate output: %v", err)
	}
	h, err := rv.OpenFile("/output/result", FlagWrite|FlagTrunc)
	if err != nil {
		t.Fatal(err)
	}
	h.WriteAt([]byte("public"), 0)
	h.Close()
	if err := rv.Remove("/output/old"); err != nil {
		t.Fatal(err)
	}
	if got := readAll(t, admin, "/output/old"); got != "previous result" {
		t.Fatalf("the run's removal shows before commit: %q", got)
	}
	// Meanwhile others write the input and an unrelated file.
	mustWrite(t, admin, "/input/secret", "changed")
	mustWrite(t, admin, "/other/x", "written during the run")
	if got := readAll(t, rv, "/input/secret"); got != "private input" {
		t.Errorf("the run sees a change of its input: %q", got)
	}
	if _, err := rv.Stat("/other/x"); !errors.Is(err, ErrNotExist) {
		t.Errorf("the run sees a file outside its grants: %v", err)
	}
	if err := o.Commit(); err != nil {
		t.Fatal(err)
	}
	for p, want := range map[string]string{"/output/result": "public", "/output/sub/keep": "kept",
		"/input/secret": "changed", "/other/x": "written during the run"} {
		if got := readAll(t, admin, p); got != want {
			t.Errorf("after commit %s = %q, want %q", p, got, want)
		}
	}
	if _, err := admin.Stat("/output/old"); !errors.Is(err, ErrNotExist) {
		t.Errorf("the run's removal is not committed: %v", err)
	}
	if err := o.Commit(); !errors.Is(err, ErrClosed) {
		t.Errorf("second commit: %v", err)
	}
	checkAccounting(t, f)
	if len(f.overlays) != 0 {
		t.Errorf("%d overlays left", len(f.overlays))
	}
}

// TestOverlaySharesReadOnly: what a run may only read is not copied (no
// charge), yet reads through it, relative to its directories too, work as
// in the file system.
func TestOverlaySharesReadOnly(t *testing.T) {
	f, admin := newFS(t, Limits{})
	for i := range 100 {
		mustWrite(t, admin, fmt.Sprintf("/lib/sub/f%03d", i), fmt.Sprint(i))
	}
	meta := f.meta
	caps := capability.Set{"/lib/": capability.Read, "/out/": capability.Write}
	o, err := f.Overlay(caps)
	if err != nil {
		t.Fatal(err)
	}
	if f.meta != meta {
		t.Errorf("a read-only grant of 100 files was charged %d bytes of copies", f.meta-meta)
	}
	v := o.FS().View(caps)
	d, err := v.OpenFile("/lib/sub", FlagDirectory)
	if err != nil {
		t.Fatal(err)
	}
	h, err := d.Open("f042", FlagRead)
	if err != nil {
		t.Fatalf("a file relative to a shared directory: %v", err)
	}
	b := make([]byte, 8)
	if k, _ := h.ReadAt(b, 0); string(b[:k]) != "42" {
		t.Errorf("read %q", b[:k])
	}
	if _, err := d.Open("f043", FlagWrite); !errors.Is(err, ErrPermission) {
		t.Errorf("writing a shared file: %v", err)
	}
	if err := d.Mkdir("new"); !errors.Is(err, ErrPermission) {
		t.Errorf("mkdir in a shared directory: %v", err)
	}
	if es, err := d.ReadDir(0, -1); err != nil || len(es) != 100 {
		t.Errorf("listing a shared directory: %d entries, %v", len(es), err)
	}
	h.Close()
	d.Close()
	if err := o.Commit(); err != nil {
		t.Fatal(err)
	}
	if got := readAll(t, admin, "/lib/sub/f007"); got != "7" || len(f.Files()) != 100 {
		t.Errorf("after commit: %q, %d files", got, len(f.Files()))
	}
	checkAccounting(t, f)
}

// TestOverlayDiscardWipeQuota: a discarded overlay leaves nothing; one
// whose file system is wiped meanwhile cannot commit; copies and the
// entries copied are charged.
func TestOverlayDiscardWipeQuota(t *testing.T) {
	f, admin := newFS(t, Limits{})
	mustWrite(t, admin, "/out/a", "a")
	caps := capability.Set{"/out/": capability.Write | capability.Read}
	o, err := f.Overlay(caps)
	if err != nil {
		t.Fatal(err)
	}
	mustWrite(t, o.FS().View(caps), "/out/b", "b")
	o.Discard()
	if _, err := admin.Stat("/out/b"); !errors.Is(err, ErrNotExist) {
		t.Errorf("discarded write visible: %v", err)
	}
	checkAccounting(t, f)

	o, _ = f.Overlay(caps)
	mustWrite(t, o.FS().View(caps), "/out/c", "c")
	held, err := o.FS().View(caps).OpenFile("/out/c", FlagRead)
	if err != nil {
		t.Fatal(err)
	}
	f.Wipe()
	if k, _ := held.ReadAt(make([]byte, 1), 0); k != 0 {
		buf := make([]byte, 1)
		held.ReadAt(buf, 0)
		if buf[0] != 0 {
			t.Errorf("a run's file held open reads %q after Wipe", buf)
		}
	}
	held.Close()
	if err := o.Commit(); !errors.Is(err, ErrStale) {
		t.Errorf("commit after wipe: %v", err)
	}
	if len(f.Files()) != 0 {
		t.Errorf("a commit after Wipe resurrected %v", f.Files())
	}
	checkAccounting(t, f)

	// Quota: the copy of a shared file is charged; entries copied too.
	const size = 100
	entries := entryCost("out", true) + entryCost("f", false)
	g, v := newFS(t, Limits{TotalBytes: size + 2*entries + size/2})
	mustWrite(t, v, "/out/f", strings.Repeat("x", size))
	o, err = g.Overlay(capability.Set{"/out/": capability.Write | capability.Read})
	if err != nil {
		t.Fatalf("overlay within the limit: %v", err)
	}
	h, err := o.FS().View(caps).OpenFile("/out/f", FlagWrite)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.WriteAt([]byte("y"), 0); !errors.Is(err, ErrQuota) {
		t.Errorf("copy-on-write past the total: %v", err)
	}
	h.Close()
	o.Discard()
	checkAccounting(t, g)
	if _, err := g.Overlay(capability.Set{"/out/": capability.Write}); err != nil {
		t.Fatal(err)
	}
	if _, err := g.Overlay(capability.Set{"/out/": capability.Write}); !errors.Is(err, ErrQuota) {
		t.Errorf("a second overlay past the total: %v", err)
	}
}

// TestOverlayLinksAndInodes: hard links inside a run's grants stay links
// after commit; a file linked from outside them gets a new inode number
// when the run's copy replaces its name.
func TestOverlayLinksAndInodes(t *testing.T) {
	f, admin := newFS(t, Limits{})
	mustWrite(t, admin, "/out/a", "shared")
	if err := admin.Link("/out/a", "/out/b"); err != nil {
		t.Fatal(err)
	}
	if err := admin.MkdirAll("/keep"); err != nil {
		t.Fatal(err)
	}
	if err := admin.Link("/out/a", "/keep/a"); err != nil {
		t.Fatal(err)
	}
	caps := capability.Set{"/out/": capability.Read | capability.Write}
	o, _ := f.Overlay(caps)
	h, err := o.FS().View(caps).OpenFile("/out/a", FlagWrite)
	if err != nil {
		t.Fatal(err)
	}
	h.WriteAt([]byte("S"), 0)
	h.Close()
	if err := o.Commit(); err != nil {
		t.Fatal(err)
	}
	if a, b := readAll(t, admin, "/out/a"), readAll(t, admin, "/out/b"); a != "Shared" || b != "Shared" {
		t.Errorf("links inside the grant: %q %q", a, b)
	}
	if k := readAll(t, admin, "/keep/a"); k != "shared" {
		t.Errorf("the name outside the grant: %q", k)
	}
	ia, _ := admin.Stat("/out/a")
	ik, _ := admin.Stat("/keep/a")
	if ia.Inode == ik.Inode || ia.Links != 2 || ik.Links != 1 {
		t.Errorf("inodes %d and %d, links %d and %d", ia.Inode, ik.Inode, ia.Links, ik.Links)
	}
	checkAccounting(t, f)
}

// FuzzCheckName: every name CheckName accepts survives a JSON round trip
// unchanged (so that no two accepted names print alike in the audit log
// or receipts) and holds no control character or direction mark.
func FuzzCheckName(f *testing.F) {
	for _, s := range []string{"plain", "a\xff", "données", "tab\t", "\u202e", "\xed\xa0\x80", "\uFFFD", "日本"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		if CheckName(name) != nil {
			return
		}
		b, err := json.Marshal(name)
		if err != nil {
			t.Fatal(err)
		}
		var back string
		if err := json.Unmarshal(b, &back); err != nil || back != name {
			t.Fatalf("accepted %q prints as %s and reads back as %q", name, b, back)
		}
		for _, r := range name {
			if r < 0x20 || r == 0x7f || badRune(r) {
				t.Fatalf("accepted %q holding %U", name, r)
			}
		}
	})
}

// FuzzOverlay drives a run's overlay with arbitrary operations while
// snapshots of the file system come and go, then commits or discards it.
// The file system must not change before the commit, must hold exactly
// the overlay's files under the run's write grant after it, must charge
// exactly the buffers and entries alive, and must stay within its limit.
func FuzzOverlay(f *testing.F) {
	f.Add([]byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}, true)
	f.Add([]byte{3, 3, 3, 9, 9, 9, 0, 0, 1, 7}, false)
	f.Add(bytes.Repeat([]byte{2, 200, 5}, 20), true)
	f.Fuzz(func(t *testing.T, ops []byte, doCommit bool) {
		if len(ops) > 200 {
			ops = ops[:200]
		}
		const total = 16 << 10
		fsys := New(Limits{FileBytes: 2048, TotalBytes: total}, nil)
		admin := fsys.Unchecked()
		mustWrite(t, admin, "/in/a", "input a")
		mustWrite(t, admin, "/out/x", strings.Repeat("x", 300))
		mustWrite(t, admin, "/out/d/y", "y")
		mustWrite(t, admin, "/other", "other")
		caps := capability.Set{"/in/": capability.Read, "/out/": capability.Read | capability.Write}
		before := contents(t, fsys)
		o, err := fsys.Overlay(caps)
		if err != nil {
			t.Fatal(err)
		}
		v := o.FS().View(caps)
		names := []string{"/out/x", "/out/d/y", "/out/n", "/out/d/m", "/in/a", "/out/d"}
		var snaps []*Snapshot
		var handles []*Handle
		for i, op := range ops {
			p := names[int(op>>4)%len(names)]
			q := names[(int(op>>4)+i)%len(names)]
			switch op % 12 {
			case 0:
				v.WriteFile(p, bytes.NewReader(bytes.Repeat([]byte{op}, int(op)*4)))
			case 1:
				v.AppendFile(p, strings.NewReader("app"))
			case 2:
				if h, err := v.OpenFile(p, FlagWrite|FlagCreate); err == nil {
					h.WriteAt([]byte("w"), int64(op))
					handles = append(handles, h)
				}
			case 3:
				if h, err := v.OpenFile(p, FlagWrite|FlagTrunc); err == nil {
					h.Close()
				}
			case 4:
				v.Remove(p)
			case 5:
				v.Rename(p, q)
			case 6:
				v.Link(p, q)
			case 7:
				v.MkdirAll(p + "/sub")
			case 8:
				if s, err := admin.Open(p); err == nil {
					snaps = append(snaps, s)
				}
			case 9:
				if s, err := v.Open(p); err == nil {
					snaps = append(snaps, s)
				}
			case 10:
				if len(snaps) > 0 {
					snaps[0].Close()
					snaps = snaps[1:]
				}
			case 11:
				for _, h := range handles {
					h.Close()
				}
				handles = nil
			}
			if got := fsys.used + fsys.meta; got > total {
				t.Fatalf("after op %d the file system holds %d bytes, over its limit of %d", i, got, total)
			}
		}
		for _, h := range handles {
			h.Close()
		}
		if got := contents(t, fsys); !equalMaps(got, before) {
			t.Fatalf("the file system changed before the commit:\n%v\n%v", before, got)
		}
		run := contents(t, o.FS())
		if doCommit {
			if err := o.Commit(); err != nil {
				t.Fatal(err)
			}
			after := contents(t, fsys)
			for p, c := range after {
				if strings.HasPrefix(p, "/out/") && run[p] != c {
					t.Fatalf("after commit %s = %q, the run left %q", p, c, run[p])
				}
				if !strings.HasPrefix(p, "/out/") && before[p] != c {
					t.Fatalf("the commit changed %s outside the run's write grant", p)
				}
			}
			for p := range run {
				if _, ok := after[p]; !ok && strings.HasPrefix(p, "/out/") {
					t.Fatalf("the commit lost %s", p)
				}
			}
		} else {
			o.Discard()
			if got := contents(t, fsys); !equalMaps(got, before) {
				t.Fatal("the file system changed after a discard")
			}
		}
		checkAccounting(t, fsys)
		for _, s := range snaps {
			s.Close()
		}
		checkAccounting(t, fsys)
		if fsys.Retired() != 0 {
			t.Fatalf("%d bytes retired with no snapshot open", fsys.Retired())
		}
	})
}

// contents maps every file of fsys to its content.
func contents(t *testing.T, fsys *FS) map[string]string {
	t.Helper()
	m := map[string]string{}
	admin := fsys.Unchecked()
	for _, i := range fsys.Files() {
		m[i.Path] = readSnapClosed(admin, i.Path)
	}
	return m
}

func readSnapClosed(v *View, p string) string {
	s, err := v.Open(p)
	if err != nil {
		return err.Error()
	}
	defer s.Close()
	b, _ := io.ReadAll(s)
	return string(b)
}

func equalMaps(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// trickle reads n bytes of 'z', at most 100 at a time, counting them.
type trickle struct{ n, read int }

func (r *trickle) Read(p []byte) (int, error) {
	if r.read >= r.n {
		return 0, io.EOF
	}
	k := min(len(p), 100, r.n-r.read)
	for i := range k {
		p[i] = 'z'
	}
	r.read += k
	return k, nil
}

// TestUploadRefusedEarly: an upload that cannot fit the total with what
// is stored is refused as soon as that is certain, having buffered no more
// than the room there was; replacing a file counts its bytes as free.
func TestUploadRefusedEarly(t *testing.T) {
	f, v := newFS(t, Limits{TotalBytes: 10000})
	mustWrite(t, v, "/big", strings.Repeat("b", 6000))
	room := 10000 - f.Used() - f.meta
	r := &trickle{n: 8000}
	if _, err := v.WriteFile("/other", r); !errors.Is(err, ErrQuota) {
		t.Fatalf("an upload past the total: %v", err)
	}
	if int64(r.read) > room+100 {
		t.Errorf("read %d bytes of an upload that could not fit, with room for %d", r.read, room)
	}
	if _, err := v.WriteFile("/big", &trickle{n: 8000}); err != nil {
		t.Errorf("replacing the big file with a bigger one that fits once it is gone: %v", err)
	}
	checkAccounting(t, f)
}
