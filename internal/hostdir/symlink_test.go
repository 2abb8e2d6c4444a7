package hostdir

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/truce-project/truce/internal/vfs"
)

// TestSymlinkEscape: symbolic links inside the host directory, pointing
// out of it, are never followed: not when copying in (they are skipped
// and listed), and not when writing back, where the program's new
// directory or file at a link's name is refused with ErrSymlink and
// nothing is written outside.
func TestSymlinkEscape(t *testing.T) {
	base := t.TempDir()
	host, outside := filepath.Join(base, "host"), filepath.Join(base, "outside")
	for _, d := range []string{host, outside} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(outside, "secret"), []byte("outside"), 0o644); err != nil {
		t.Fatal(err)
	}
	for name, target := range map[string]string{"dirlink": outside, "filelink": filepath.Join(outside, "secret"), "rel": "../outside"} {
		if err := os.Symlink(target, filepath.Join(host, name)); err != nil {
			t.Fatal(err)
		}
	}
	m, err := New(host, "/data")
	if err != nil {
		t.Fatal(err)
	}
	fsys := vfs.New(vfs.Limits{}, nil)
	v := fsys.Unchecked()
	if err := m.CopyIn(v); err != nil {
		t.Fatal(err)
	}
	if len(m.Skipped) != 3 || !strings.Contains(strings.Join(m.Skipped, "\n"), "symbolic link") {
		t.Fatalf("skipped: %q", m.Skipped)
	}
	if _, err := v.Stat("/data/filelink"); err == nil {
		t.Fatal("a link was copied in")
	}
	// The program makes, at the links' names, a directory with a file and
	// a file.
	for _, d := range []string{"/data/dirlink", "/data/rel"} {
		if err := v.MkdirAll(d); err != nil {
			t.Fatal(err)
		}
		if _, err := v.WriteFile(d+"/evil", strings.NewReader("evil")); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := v.WriteFile("/data/filelink", strings.NewReader("evil")); err != nil {
		t.Fatal(err)
	}
	if _, err := v.WriteFile("/data/fine", strings.NewReader("fine")); err != nil {
		t.Fatal(err)
	}
	err = m.CopyOut(v)
	if !errors.Is(err, ErrSymlink) {
		t.Fatalf("CopyOut: %v, want ErrSymlink", err)
	}
	ents, _ := os.ReadDir(outside)
	if len(ents) != 1 {
		t.Errorf("written outside the directory: %v", ents)
	}
	if b, _ := os.ReadFile(filepath.Join(outside, "secret")); string(b) != "outside" {
		t.Errorf("the file outside is now %q", b)
	}
	if b, _ := os.ReadFile(filepath.Join(host, "fine")); string(b) != "fine" {
		t.Errorf("the program's own file was not written back: %q", b)
	}
	if st, err := os.Lstat(filepath.Join(host, "filelink")); err != nil || st.Mode()&os.ModeSymlink == 0 {
		t.Errorf("the link was replaced: %v", err)
	}
}
