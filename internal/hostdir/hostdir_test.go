package hostdir

import (
	"errors"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/truce-project/truce/capability"
	"github.com/truce-project/truce/internal/vfs"
)

func TestParse(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	for _, d := range []string{"data", "other", "data/sub"} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile("file", nil, 0o644); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		specs  []string
		guests []string
		bad    bool   // ErrBadSpec
		err    string // any other error
	}{
		{specs: []string{"data"}, guests: []string{"/data"}},
		{specs: []string{"./data/"}, guests: []string{"/data"}},
		{specs: []string{"data:/in"}, guests: []string{"/in"}},
		{specs: []string{"data:in/x/.."}, guests: []string{"/in"}},
		{specs: []string{"."}, guests: []string{"/"}},
		{specs: []string{dir + "/data"}, guests: []string{dir + "/data"}},
		{specs: []string{"data:/a", "other:/b"}, guests: []string{"/a", "/b"}},
		{specs: []string{"data:/a", "other:/ab"}, guests: []string{"/a", "/ab"}},
		{specs: []string{":/x"}, bad: true},
		{specs: []string{"../x"}, bad: true},
		{specs: []string{"data:/.."}, bad: true},
		{specs: []string{"data:/a", "other:/a/b"}, bad: true},
		{specs: []string{"data:/a/b", "other:/a"}, bad: true},
		{specs: []string{"data:/a", "other:/a"}, bad: true},
		{specs: []string{"data:/", "other:/b"}, bad: true},
		{specs: []string{"nosuch:/x"}, err: "no such file"},
		{specs: []string{"file:/x"}, err: "is not a directory"},
	}
	for _, c := range cases {
		ms, err := Parse(c.specs)
		switch {
		case c.bad:
			if !errors.Is(err, ErrBadSpec) {
				t.Errorf("%q: %v, want ErrBadSpec", c.specs, err)
			}
		case c.err != "":
			if err == nil || errors.Is(err, ErrBadSpec) || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%q: %v, want an error about %q", c.specs, err, c.err)
			}
		case err != nil:
			t.Errorf("%q: %v", c.specs, err)
		default:
			var got []string
			for _, m := range ms {
				got = append(got, m.Guest)
			}
			if strings.Join(got, " ") != strings.Join(c.guests, " ") {
				t.Errorf("%q: guests %q, want %q", c.specs, got, c.guests)
			}
		}
	}
}

func write(t *testing.T, p, s string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}

func tree(t *testing.T, dir string) string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if d.IsDir() {
			out = append(out, rel+"/")
			return nil
		}
		b, err := os.ReadFile(p)
		out = append(out, rel+"="+string(b))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(out)
	return strings.Join(out, " ")
}

// TestRoundTrip copies a directory in, changes it as a program would
// (through the program's view), and checks what is written back.
func TestRoundTrip(t *testing.T) {
	host := t.TempDir()
	write(t, filepath.Join(host, "keep.txt"), "keep")
	write(t, filepath.Join(host, "change.txt"), "old")
	write(t, filepath.Join(host, "remove.txt"), "bye")
	write(t, filepath.Join(host, "from.txt"), "moved")
	write(t, filepath.Join(host, "olddir", "inner.txt"), "inner")
	write(t, filepath.Join(host, "emptied", "x.txt"), "x")
	if err := os.Symlink("keep.txt", filepath.Join(host, "link")); err != nil {
		t.Fatal(err)
	}
	keepInfo, _ := os.Stat(filepath.Join(host, "keep.txt"))

	m, err := New(host, "/data")
	if err != nil {
		t.Fatal(err)
	}
	fs := vfs.New(vfs.Limits{}, nil)
	if err := m.CopyIn(fs.Unchecked()); err != nil {
		t.Fatal(err)
	}
	if _, err := fs.Unchecked().Stat("/data/link"); !errors.Is(err, vfs.ErrNotExist) {
		t.Errorf("the symbolic link was copied in: %v", err)
	}
	v := fs.View(Caps([]*Mount{m}))
	steps := []error{
		func() error { _, err := v.WriteFile("/data/change.txt", strings.NewReader("new")); return err }(),
		v.Remove("/data/remove.txt"),
		v.Rename("/data/from.txt", "/data/to.txt"),
		v.Remove("/data/olddir/inner.txt"),
		v.Rmdir("/data/olddir"),
		v.Remove("/data/emptied/x.txt"),
		v.MkdirAll("/data/new/deeper"),
		func() error { _, err := v.WriteFile("/data/new/deeper/f.txt", strings.NewReader("f")); return err }(),
	}
	if err := errors.Join(steps...); err != nil {
		t.Fatal(err)
	}
	// A file made on the host during the run is left alone.
	write(t, filepath.Join(host, "during.txt"), "during")
	time.Sleep(10 * time.Millisecond)
	if err := m.CopyOut(fs.Unchecked()); err != nil {
		t.Fatal(err)
	}
	want := "./ change.txt=new during.txt=during emptied/ keep.txt=keep link=keep new/ new/deeper/ new/deeper/f.txt=f to.txt=moved"
	if got := tree(t, host); got != want {
		t.Errorf("host after the run:\n%s\nwant\n%s", got, want)
	}
	if st, _ := os.Stat(filepath.Join(host, "keep.txt")); !os.SameFile(st, keepInfo) || !st.ModTime().Equal(keepInfo.ModTime()) {
		t.Error("an unchanged file was written again")
	}
}

// TestCopyOutGuestRemoved: a program that removes its whole (empty) guest
// directory does not make the host directory go away.
func TestCopyOutGuestRemoved(t *testing.T) {
	host := t.TempDir()
	m, err := New(host, "/data")
	if err != nil {
		t.Fatal(err)
	}
	fs := vfs.New(vfs.Limits{}, nil)
	if err := m.CopyIn(fs.Unchecked()); err != nil {
		t.Fatal(err)
	}
	if err := fs.View(capability.Set{"/": capability.All}).Rmdir("/data"); err != nil {
		t.Fatal(err)
	}
	if err := m.CopyOut(fs.Unchecked()); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(host); err != nil {
		t.Fatalf("host directory removed: %v", err)
	}
}

// TestReplaceKinds: a file replaced by a directory of the same name and
// the other way round.
func TestReplaceKinds(t *testing.T) {
	host := t.TempDir()
	write(t, filepath.Join(host, "a"), "file")
	write(t, filepath.Join(host, "b", "x"), "x")
	m, err := New(host, "/d")
	if err != nil {
		t.Fatal(err)
	}
	fs := vfs.New(vfs.Limits{}, nil)
	if err := m.CopyIn(fs.Unchecked()); err != nil {
		t.Fatal(err)
	}
	v := fs.View(Caps([]*Mount{m}))
	_, werr := v.WriteFile("/d/b2", strings.NewReader("b"))
	if err := errors.Join(v.Remove("/d/a"), v.MkdirAll("/d/a"), v.Remove("/d/b/x"), v.Rmdir("/d/b"), werr, v.Rename("/d/b2", "/d/b")); err != nil {
		t.Fatal(err)
	}
	if err := m.CopyOut(fs.Unchecked()); err != nil {
		t.Fatal(err)
	}
	if got, want := tree(t, host), "./ a/ b=b"; got != want {
		t.Errorf("host: %s, want %s", got, want)
	}
}
