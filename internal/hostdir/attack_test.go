//go:build unix

package hostdir

import (
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/truce-project/truce/internal/vfs"
)

// TestAttackSparseFile: a hostile directory holding a sparse file of a
// gigabyte (which takes no disk) under a file system limit of 1 MiB is
// refused with ErrQuota after reading about the limit, not read whole
// into memory first.
func TestAttackSparseFile(t *testing.T) {
	host := t.TempDir()
	f, err := os.Create(filepath.Join(host, "sparse"))
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(1 << 30); err != nil {
		t.Fatal(err)
	}
	f.Close()
	m, err := New(host, "/data")
	if err != nil {
		t.Fatal(err)
	}
	fsys := vfs.New(vfs.Limits{FileBytes: 1 << 20, TotalBytes: 4 << 20}, nil)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	err = m.CopyIn(fsys.Unchecked())
	runtime.ReadMemStats(&after)
	if !errors.Is(err, vfs.ErrQuota) {
		t.Errorf("CopyIn: %v, want the quota's refusal", err)
	}
	if d := after.TotalAlloc - before.TotalAlloc; d > 64<<20 {
		t.Errorf("CopyIn allocated %d MiB for a file over a 1 MiB limit", d>>20)
	}
}

// TestAttackFIFO: a file listed as regular and replaced by a named pipe
// before it is opened (here: opened directly, as after the swap) is not
// waited on forever: the open must not block for a writer.
func TestAttackFIFO(t *testing.T) {
	host := t.TempDir()
	if err := syscall.Mkfifo(filepath.Join(host, "pipe"), 0o644); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	root, err := os.OpenRoot(host)
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	done := make(chan error, 1)
	go func() {
		f, err := openRegular(root, "pipe")
		if f != nil {
			f.Close()
			err = errors.New("a named pipe opened as a regular file")
		}
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Error(err)
		}
	case <-time.After(2 * time.Second):
		// Unblock the open so the goroutine ends.
		if w, err := os.OpenFile(filepath.Join(host, "pipe"), os.O_WRONLY, 0); err == nil {
			w.Close()
		}
		t.Fatal("opening a named pipe in the host directory blocked")
	}
}
