package vfs

import (
	"errors"
	"io"
	"strings"
	"time"
)

// Handle is an open file or directory, as a WASI file descriptor holds
// one. Its rights were checked when it was opened; its operations only
// check the flags it was opened with. A Handle is safe for concurrent use.
type Handle struct {
	v      *View
	n      *node
	path   string // path at open time
	flags  Flags
	closed bool // guarded by v.fs.mu
}

// Path returns the path the handle was opened by.
func (h *Handle) Path() string { return h.path }

// Flags returns the flags the handle was opened with.
func (h *Handle) Flags() Flags { return h.flags }

// IsDir reports whether the handle is a directory.
func (h *Handle) IsDir() bool { return h.n.dir }

// View returns the view the handle was opened through.
func (h *Handle) View() *View { return h.v }

// Close releases the handle. Closing twice returns ErrClosed.
func (h *Handle) Close() error {
	f := h.v.fs
	f.mu.Lock()
	defer f.mu.Unlock()
	if h.closed {
		return ErrClosed
	}
	h.closed = true
	h.n.opens--
	f.maybeRelease(h.n)
	return nil
}

// file checks that h is an open regular file with one of the flags in
// want. Must be called with f.mu held.
func (h *Handle) file(want Flags) error {
	switch {
	case h.closed:
		return ErrClosed
	case h.n.dir:
		return ErrIsDir
	case want != 0 && h.flags&want == 0:
		return ErrBadHandle
	}
	return nil
}

// ReadAt reads len(p) bytes at offset off, as io.ReaderAt.
func (h *Handle) ReadAt(p []byte, off int64) (int, error) {
	f := h.v.fs
	f.mu.RLock()
	defer f.mu.RUnlock()
	if err := h.file(FlagRead); err != nil {
		return 0, err
	}
	if off < 0 {
		return 0, ErrInvalid
	}
	d := h.n.data
	if off >= int64(len(d)) {
		return 0, io.EOF
	}
	k := copy(p, d[off:])
	if k < len(p) {
		return k, io.EOF
	}
	return k, nil
}

// WriteAt writes p at offset off, growing the file (with zeros in any
// gap) as needed. A write the quota refuses writes nothing. A handle
// opened with FlagAppend but not FlagWrite cannot write at an offset.
func (h *Handle) WriteAt(p []byte, off int64) (int, error) {
	f := h.v.fs
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := h.file(FlagWrite); err != nil {
		return 0, err
	}
	if off < 0 {
		return 0, ErrInvalid
	}
	return f.writeAt(h.n, p, off)
}

func (f *FS) writeAt(n *node, p []byte, off int64) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	end := off + int64(len(p))
	if end < off {
		return 0, &QuotaError{Limit: MaxFileBytes, Want: end}
	}
	if err := f.prepare(n, max(end, int64(len(n.data)))); err != nil {
		return 0, err
	}
	copy(n.data[off:], p)
	f.touch(n)
	return len(p), nil
}

// Append writes p at the end of the file in one step and returns the new
// size. The handle needs FlagAppend or FlagWrite.
func (h *Handle) Append(p []byte) (int64, error) {
	f := h.v.fs
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := h.file(FlagAppend | FlagWrite); err != nil {
		return 0, err
	}
	_, err := f.writeAt(h.n, p, int64(len(h.n.data)))
	return int64(len(h.n.data)), err
}

// Truncate sets the file's size, cutting it or extending it with zeros.
func (h *Handle) Truncate(size int64) error {
	f := h.v.fs
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := h.file(FlagWrite); err != nil {
		return err
	}
	if size < 0 {
		return ErrInvalid
	}
	if err := f.resize(h.n, size); err != nil {
		return err
	}
	f.touch(h.n)
	return nil
}

// Size returns the file's current size.
func (h *Handle) Size() int64 {
	f := h.v.fs
	f.mu.RLock()
	defer f.mu.RUnlock()
	return int64(len(h.n.data))
}

// Stat describes the open file or directory.
func (h *Handle) Stat() (Info, error) {
	f := h.v.fs
	f.mu.RLock()
	defer f.mu.RUnlock()
	if h.closed {
		return Info{}, ErrClosed
	}
	return h.n.info(h.path), nil
}

// SetTimes sets the access and modification times; a nil time is left as
// it is. The handle must have been opened for writing, or be a directory
// the holder may write.
func (h *Handle) SetTimes(atime, mtime *time.Time) error {
	f := h.v.fs
	f.mu.Lock()
	defer f.mu.Unlock()
	if h.closed {
		return ErrClosed
	}
	if h.n.dir {
		p, ok := f.pathOf(h.n)
		if !ok {
			return ErrNotExist
		}
		if !h.v.canWrite(p) {
			return ErrPermission
		}
	} else if h.flags&(FlagWrite|FlagAppend) == 0 {
		return ErrBadHandle
	}
	f.setTimes(h.n, atime, mtime)
	return nil
}

// dir checks that h is an open directory. Must be called with f.mu held.
func (h *Handle) dir() error {
	switch {
	case h.closed:
		return ErrClosed
	case !h.n.dir:
		return ErrNotDir
	}
	return nil
}

// ReadDir returns up to max entries (all if max < 0) that follow cookie
// (0 for the start), in a stable order: a cookie stays valid while the
// entry it came from exists, and entries added later come after those
// already there. Entries the holder cannot see are left out. "." and ".."
// are not returned.
func (h *Handle) ReadDir(cookie uint64, max int) ([]DirEntry, error) {
	f := h.v.fs
	f.mu.RLock()
	defer f.mu.RUnlock()
	if err := h.dir(); err != nil {
		return nil, err
	}
	dp, ok := f.pathOf(h.n)
	if !ok {
		return nil, nil // removed: empty
	}
	order := h.n.order
	// order is sorted by seq: find the first entry after cookie.
	lo, hi := 0, len(order)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if order[m].seq <= cookie {
			lo = m + 1
		} else {
			hi = m
		}
	}
	var out []DirEntry
	for _, e := range order[lo:] {
		if max >= 0 && len(out) >= max {
			break
		}
		if e.removed {
			continue
		}
		p := dp + "/" + e.name
		if dp == "/" {
			p = "/" + e.name
		}
		if !h.v.sees(p, e.n) {
			continue
		}
		out = append(out, DirEntry{Name: e.name, Dir: e.n.dir, Inode: e.n.ino, Next: e.seq})
	}
	return out, nil
}

// ParentInode returns the inode of the directory's parent (its own for
// the root), for the ".." entry of a listing.
func (h *Handle) ParentInode() uint64 {
	f := h.v.fs
	f.mu.RLock()
	defer f.mu.RUnlock()
	if h.n.parent == nil {
		return h.n.ino
	}
	return h.n.parent.ino
}

// Open opens rel, relative to the directory h.
func (h *Handle) Open(rel string, fl Flags) (*Handle, error) {
	if err := h.checkDirRel(rel); err != nil {
		return nil, pathErr("open", rel, err)
	}
	return h.v.openAt(h.n, rel, fl)
}

// checkDir locks to check that h is an open directory.
func (h *Handle) checkDir() error {
	return h.checkDirRel("")
}

// checkDirRel is checkDir, and also refuses an absolute rel: paths are
// relative to the directory.
func (h *Handle) checkDirRel(rel string) error {
	if strings.HasPrefix(rel, "/") {
		return ErrEscape
	}
	f := h.v.fs
	f.mu.RLock()
	defer f.mu.RUnlock()
	return h.dir()
}

// StatAt describes rel, relative to the directory h.
func (h *Handle) StatAt(rel string) (Info, error) {
	if err := h.checkDirRel(rel); err != nil {
		return Info{}, pathErr("stat", rel, err)
	}
	return h.v.statAt(h.n, rel)
}

// Mkdir makes the directory rel, relative to the directory h.
func (h *Handle) Mkdir(rel string) error {
	if err := h.checkDirRel(rel); err != nil {
		return pathErr("mkdir", rel, err)
	}
	return h.v.mkdirAt(h.n, rel)
}

// Remove removes the file rel, relative to the directory h.
func (h *Handle) Remove(rel string) error {
	if err := h.checkDirRel(rel); err != nil {
		return pathErr("unlink", rel, err)
	}
	return h.v.removeAt(h.n, rel)
}

// Rmdir removes the empty directory rel, relative to the directory h.
func (h *Handle) Rmdir(rel string) error {
	if err := h.checkDirRel(rel); err != nil {
		return pathErr("rmdir", rel, err)
	}
	return h.v.rmdirAt(h.n, rel)
}

// Rename moves rel (relative to h) to newRel (relative to the directory
// newDir). Both handles must come from the same view.
func (h *Handle) Rename(rel string, newDir *Handle, newRel string) error {
	if err := h.sameView(newDir, rel, newRel); err != nil {
		return &LinkError{Op: "rename", Old: rel, New: newRel, Err: err}
	}
	return h.v.renameAt(h.n, rel, newDir.n, newRel)
}

// Link gives the file rel (relative to h) the new name newRel (relative to
// the directory newDir).
func (h *Handle) Link(rel string, newDir *Handle, newRel string) error {
	if err := h.sameView(newDir, rel, newRel); err != nil {
		return &LinkError{Op: "link", Old: rel, New: newRel, Err: err}
	}
	return h.v.linkAt(h.n, rel, newDir.n, newRel)
}

func (h *Handle) sameView(o *Handle, rel, newRel string) error {
	if strings.HasPrefix(newRel, "/") {
		return ErrEscape
	}
	if err := h.checkDirRel(rel); err != nil {
		return err
	}
	if o == nil || o.v.fs != h.v.fs {
		return ErrBadHandle
	}
	if err := o.checkDir(); err != nil {
		return err
	}
	return nil
}

// SetTimesAt sets the times of rel, relative to the directory h.
func (h *Handle) SetTimesAt(rel string, atime, mtime *time.Time) error {
	if err := h.checkDirRel(rel); err != nil {
		return pathErr("utimes", rel, err)
	}
	return h.v.setTimesAt(h.n, rel, atime, mtime)
}

// Snapshot is the content of a file as it was when opened. It reads the
// same bytes whatever happens to the file afterwards (until the file
// system is wiped, or the snapshot closed). It implements io.Reader,
// io.ReaderAt and io.Seeker; it is not safe for concurrent Read and Seek.
//
// While a snapshot is open, the version of the file it reads stays
// charged against the file system's total limit, even once the file has
// been replaced or changed. Close it as soon as it has been read; one
// that is dropped unclosed is released when the garbage collector finds
// it.
type Snapshot struct {
	data []byte
	off  int64
	mod  time.Time
	path string
	ref  *snapRef
}

// snapRef is a snapshot's hold on its buffer, apart from the Snapshot so
// that a cleanup can release it once the Snapshot is unreachable.
type snapRef struct {
	c    *core
	b    *blob // nil for an empty file
	done bool  // guarded by c.mu
}

func (r *snapRef) release() {
	if r.b == nil {
		return
	}
	r.c.mu.Lock()
	defer r.c.mu.Unlock()
	if r.done {
		return
	}
	r.done = true
	b := r.b
	b.readers--
	if b.readers == 0 && b.files == 0 {
		r.c.retired -= int64(len(b.buf))
		r.c.freeBlob(b)
	}
}

// Close releases the snapshot's hold on the file's content; reading
// afterwards is not allowed. Closing twice does nothing.
func (s *Snapshot) Close() error {
	if s.ref != nil {
		s.ref.release()
	}
	s.data = nil
	return nil
}

// Size returns the length of the content.
func (s *Snapshot) Size() int64 { return int64(len(s.data)) }

// ModTime returns the file's modification time when it was opened.
func (s *Snapshot) ModTime() time.Time { return s.mod }

// Path returns the path the snapshot was opened by.
func (s *Snapshot) Path() string { return s.path }

// Read reads from the current offset.
func (s *Snapshot) Read(p []byte) (int, error) {
	if s.off >= int64(len(s.data)) {
		return 0, io.EOF
	}
	k := copy(p, s.data[s.off:])
	s.off += int64(k)
	return k, nil
}

// ReadAt reads at offset off without moving the current offset.
func (s *Snapshot) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, ErrInvalid
	}
	if off >= int64(len(s.data)) {
		return 0, io.EOF
	}
	k := copy(p, s.data[off:])
	if k < len(p) {
		return k, io.EOF
	}
	return k, nil
}

// Seek sets the offset for the next Read, as io.Seeker.
func (s *Snapshot) Seek(offset int64, whence int) (int64, error) {
	var base int64
	switch whence {
	case io.SeekStart:
	case io.SeekCurrent:
		base = s.off
	case io.SeekEnd:
		base = int64(len(s.data))
	default:
		return 0, errors.New("seek: whence must be io.SeekStart, io.SeekCurrent or io.SeekEnd")
	}
	n := base + offset
	if n < 0 {
		return 0, ErrInvalid
	}
	s.off = n
	return n, nil
}

// WriteTo writes the remaining content to w.
func (s *Snapshot) WriteTo(w io.Writer) (int64, error) {
	if s.off >= int64(len(s.data)) {
		return 0, nil
	}
	k, err := w.Write(s.data[s.off:])
	s.off += int64(k)
	return int64(k), err
}
