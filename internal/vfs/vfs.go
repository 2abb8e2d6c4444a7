package vfs

import (
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/truce-project/truce/capability"
)

// Limits are the size quotas of a file system, in bytes. A zero field
// means no limit for that field.
type Limits struct {
	// FileBytes bounds the size of any one file.
	FileBytes int64
	// TotalBytes bounds the bytes of all files together.
	TotalBytes int64
}

// MaxFileBytes is the largest size a file may ever have, whatever the
// limits say (4 GiB, what a 32-bit WASI program can address), so that no
// offset can make the file system try to allocate without bound. Set
// Limits for anything the file system must survive.
const MaxFileBytes = 1 << 32

// MaxPath is the longest path accepted, in bytes; MaxName is the longest
// path element.
const (
	MaxPath = 4096
	MaxName = 255
)

// FS is an in-memory file system. Create it with New; use it through
// Views. All methods are safe for concurrent use.
type FS struct {
	*core
	root *node
}

// core is what a file system shares with its overlays: the lock, the
// limits and the accounting of every byte the trees and their readers
// keep alive.
type core struct {
	mu      sync.RWMutex
	lim     Limits
	now     func() time.Time
	nextIno uint64
	// used is the bytes of every content buffer alive, by capacity: the
	// files' own, those shared with overlays, and earlier versions that
	// only snapshots still hold.
	used int64
	// retired is the part of used that only snapshots hold: versions of
	// files since replaced or changed, still being read.
	retired  int64
	meta     int64 // what directory entries are charged (see EntryCost)
	reserved int64 // bytes buffered by whole-file writes in flight
	// blobs are the buffers shared between files and snapshots or
	// overlays, so that Wipe can zero them.
	blobs map[*blob]struct{}
	// overlays are the private copies of runs in progress.
	overlays map[*Overlay]struct{}
	// gen changes with Wipe and Retain: an overlay made before cannot
	// commit afterwards.
	gen uint64
}

// blob is a content buffer shared by files (a file and its copies in
// overlays) and snapshots. Nobody changes it in place while more than one
// holds it: a holder that wants to write copies first. It is charged once,
// by len(buf), until the last holder lets go. Guarded by core.mu.
type blob struct {
	buf     []byte // the whole buffer: len(buf) is the capacity allocated
	files   int    // nodes whose content it is
	readers int    // open snapshots
}

// node is a file or directory. Guarded by FS.mu.
type node struct {
	ino uint64
	dir bool

	// Regular files. data is the content; when b is not nil it is a
	// prefix of b.buf, shared with snapshots or overlays.
	data  []byte
	b     *blob
	links uint64
	opens int

	// Directories.
	entries map[string]*dirent
	order   []*dirent // in seq order, including removed ones until compacted
	gone    int       // removed entries still in order
	nextSeq uint64
	subdirs uint64
	parent  *node  // nil once removed; the root is its own parent
	name    string // name in parent

	atime, mtime, ctime time.Time
}

// dirent is one name in a directory. seq orders entries for readdir and
// never changes while the entry exists, so readdir cookies stay valid.
type dirent struct {
	name    string
	n       *node
	seq     uint64
	removed bool
}

// New returns an empty file system (only the root directory "/") with the
// given limits. now gives the times recorded in files; nil means
// time.Now.
func New(l Limits, now func() time.Time) *FS {
	if now == nil {
		now = time.Now
	}
	f := &FS{core: &core{lim: l, now: now, blobs: map[*blob]struct{}{}, overlays: map[*Overlay]struct{}{}}}
	f.root = f.newDir()
	f.root.parent = f.root
	return f
}

func (f *FS) newNode(dir bool) *node {
	f.nextIno++
	t := f.now()
	n := &node{ino: f.nextIno, dir: dir, atime: t, mtime: t, ctime: t}
	if dir {
		n.entries = map[string]*dirent{}
		n.nextSeq = 1
	}
	return n
}

func (f *FS) newDir() *node { return f.newNode(true) }

// EntryCost is what each directory entry is charged against the total
// limit, besides its name, and DirCost what a directory is charged on top:
// at least what a node, its entry, its map slot and its place in the
// listing order take on the heap, so that the total limit bounds real
// memory however many empty files a program makes. Measured with
// runtime.MemStats (TestEntryCostCoversHeap): about 340 bytes per empty
// file and 600 per directory holding one file, on amd64 with Go 1.26;
// the charges leave a margin of half as much again.
const (
	EntryCost = 512
	DirCost   = 512
)

// entryCost is what an entry called name for a node (a directory if dir)
// is charged.
func entryCost(name string, dir bool) int64 {
	c := EntryCost + int64(len(name))
	if dir {
		c += DirCost
	}
	return c
}

// checkEntry reports whether a new entry called name fits the total limit.
func (f *FS) checkEntry(name string, dir bool) error {
	return f.fits(entryCost(name, dir))
}

// fits reports whether extra more bytes fit the total limit, with what
// the files hold and what uploads in flight have reserved (their bytes
// are in memory too, in their buffers).
func (c *core) fits(extra int64) error {
	if held := c.used + c.meta + c.reserved; c.lim.TotalBytes > 0 && extra > 0 && held+extra > c.lim.TotalBytes {
		return &QuotaError{Total: true, Limit: c.lim.TotalBytes, Want: held + extra, Retired: c.retired}
	}
	return nil
}

// link adds name → c to directory d.
func (f *FS) link(d *node, name string, c *node) {
	f.meta += entryCost(name, c.dir)
	e := &dirent{name: name, n: c, seq: d.nextSeq}
	d.nextSeq++
	d.entries[name] = e
	d.order = append(d.order, e)
	if c.dir {
		c.parent = d
		c.name = name
		d.subdirs++
	} else {
		c.links++
	}
	t := f.now()
	d.mtime, d.ctime = t, t
}

// unlink removes name from directory d and releases the node it named if
// nothing else holds it.
func (f *FS) unlink(d *node, name string) {
	e := d.entries[name]
	if e == nil {
		return
	}
	f.detach(d, e)
	c := e.n
	t := f.now()
	d.mtime, d.ctime = t, t
	if c.dir {
		return
	}
	c.ctime = t
	f.maybeRelease(c)
}

// detach takes entry e out of directory d without releasing the node it
// names, fixing the counts and the charge.
func (f *FS) detach(d *node, e *dirent) {
	delete(d.entries, e.name)
	f.meta -= entryCost(e.name, e.n.dir)
	e.removed = true
	d.gone++
	if d.gone > 16 && d.gone > len(d.order)/2 {
		kept := d.order[:0]
		for _, x := range d.order {
			if !x.removed {
				kept = append(kept, x)
			}
		}
		clear(d.order[len(kept):])
		d.order = kept
		d.gone = 0
	}
	c := e.n
	if c.dir {
		d.subdirs--
		if c.parent == d {
			c.parent = nil
		}
		return
	}
	c.links--
}

// maybeRelease frees a file no directory names and no handle holds.
func (f *FS) maybeRelease(c *node) {
	if c.dir || c.links > 0 || c.opens > 0 {
		return
	}
	f.drop(c)
}

// drop lets go of n's content: its buffer is zeroed and uncharged, unless
// another holder still has it (then it stays charged until the last one
// lets go).
func (c *core) drop(n *node) {
	if b := n.b; b != nil {
		n.b = nil
		b.files--
		if b.files == 0 {
			if b.readers == 0 {
				c.freeBlob(b)
			} else {
				c.retired += int64(len(b.buf))
			}
		}
	} else if cap(n.data) > 0 {
		c.used -= int64(cap(n.data))
		clear(n.data[:cap(n.data)])
	}
	n.data = nil
}

// freeBlob zeroes and uncharges a buffer nobody holds.
func (c *core) freeBlob(b *blob) {
	c.used -= int64(len(b.buf))
	clear(b.buf)
	b.buf = nil
	delete(c.blobs, b)
}

// share returns n's content as a shared blob, making one if needed. The
// caller adds itself to the blob's holders. n must have a buffer.
func (c *core) share(n *node) *blob {
	if n.b == nil {
		n.b = &blob{buf: n.data[:cap(n.data)], files: 1}
		c.blobs[n.b] = struct{}{}
	}
	return n.b
}

// exclusive reports whether n alone holds its buffer, so that it may
// change it in place; a blob nothing else holds any more is dropped.
func (c *core) exclusive(n *node) bool {
	b := n.b
	if b == nil {
		return true
	}
	if b.files == 1 && b.readers == 0 {
		n.data = b.buf[:len(n.data)]
		n.b = nil
		delete(c.blobs, b)
		return true
	}
	return false
}

// charge is what n's buffer costs, and what replacing n would give back
// if n is its only holder; 0 otherwise.
func (c *core) charge(n *node) int64 {
	if n.b != nil {
		if n.b.files == 1 && n.b.readers == 0 {
			return int64(len(n.b.buf))
		}
		return 0
	}
	return int64(cap(n.data))
}

// nlink is the link count WASI reports.
func (n *node) nlink() uint64 {
	if n.dir {
		return 2 + n.subdirs
	}
	return n.links
}

// pathOf returns the path of directory d, or false if d was removed.
func (f *FS) pathOf(d *node) (string, bool) {
	var els []string
	// An overlay shares directories with the file system it copies, whose
	// root is its own parent too.
	for d != f.root && d.parent != d {
		if d.parent == nil {
			return "", false
		}
		els = append(els, d.name)
		d = d.parent
	}
	if len(els) == 0 {
		return "/", true
	}
	var b strings.Builder
	for i := len(els) - 1; i >= 0; i-- {
		b.WriteByte('/')
		b.WriteString(els[i])
	}
	return b.String(), true
}

// Info describes a file or directory.
type Info struct {
	// Path is the clean absolute path the file was reached by.
	Path string
	// Size is the length of a file in bytes; 0 for directories.
	Size int64
	// Dir is true for directories.
	Dir bool
	// ModTime, AccessTime and ChangeTime are the times of the last change
	// of content, of the last time set for access, and of the last change
	// of content or metadata.
	ModTime, AccessTime, ChangeTime time.Time
	// Inode is unique among the files and directories alive in this file
	// system.
	Inode uint64
	// Links is the number of names a file has, or 2 plus the number of
	// subdirectories for a directory.
	Links uint64
}

func (n *node) info(p string) Info {
	return Info{Path: p, Size: int64(len(n.data)), Dir: n.dir, ModTime: n.mtime,
		AccessTime: n.atime, ChangeTime: n.ctime, Inode: n.ino, Links: n.nlink()}
}

// View returns the file system as seen by the holder of caps: every access
// through it is checked against caps.
func (f *FS) View(caps capability.Set) *View {
	c := make(capability.Set, len(caps))
	for k, v := range caps {
		c[k] = v
	}
	return &View{fs: f, caps: c}
}

// HasFile reports whether directory p holds a file at any depth (false
// if p is not a directory). It walks the directory's subtree once and
// builds no paths, so a deep or wide tree costs its size, not more.
func (f *FS) HasFile(p string) bool {
	f.mu.RLock()
	defer f.mu.RUnlock()
	l, err := f.walk(p, nil)
	if err != nil || l.n == nil || !l.n.dir {
		return false
	}
	stack := []*node{l.n}
	for len(stack) > 0 {
		d := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		for _, e := range d.entries {
			if !e.n.dir {
				return true
			}
			stack = append(stack, e.n)
		}
	}
	return false
}

// Files returns every regular file, sorted by path. A file with several
// names appears once per name. It checks no capability: it is for the
// runtime itself (hashing inputs and outputs), never for a principal.
func (f *FS) Files() []Info {
	f.mu.RLock()
	defer f.mu.RUnlock()
	var out []Info
	var walk func(d *node, p string)
	walk = func(d *node, p string) {
		for name, e := range d.entries {
			cp := p + "/" + name
			if e.n.dir {
				walk(e.n, cp)
			} else {
				out = append(out, e.n.info(cp))
			}
		}
	}
	walk(f.root, "")
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out
}

// Live returns the paths of the files of the file system and of every
// overlay of it in progress (what runs have written and not yet
// committed, or will discard).
func (f *FS) Live() map[string]bool {
	f.mu.RLock()
	defer f.mu.RUnlock()
	out := map[string]bool{}
	var walk func(d *node, p string)
	walk = func(d *node, p string) {
		for name, e := range d.entries {
			if cp := p + "/" + name; e.n.dir {
				walk(e.n, cp)
			} else {
				out[cp] = true
			}
		}
	}
	walk(f.root, "")
	for o := range f.overlays {
		walk(o.fs.root, "")
	}
	return out
}

// Used returns the bytes held for file contents: every buffer alive, by
// capacity, including the copies runs in progress made and earlier
// versions that open snapshots still read. The total limit also counts a
// charge per directory entry (EntryCost), so it is reached before Used
// reaches it.
func (f *FS) Used() int64 {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.used
}

// Retired returns the part of Used that only open snapshots hold:
// versions of files since replaced or changed, still being read.
func (f *FS) Retired() int64 {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.retired
}

// Limits returns the quotas the file system was created with.
func (f *FS) Limits() Limits { return f.lim }

// Wipe zeroes the content of every file and drops every file and
// directory, leaving an empty root; runs in progress lose their private
// copies and cannot commit. Snapshots and handles still open afterwards
// read zeros or nothing. It is meant for shutdown.
func (f *FS) Wipe() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.gen++
	for o := range f.overlays {
		o.zero(o.fs.root)
		o.dropTree(o.fs.root) // first: they may share directories with f
	}
	f.wipeTree(f.root)
	for b := range f.blobs {
		clear(b.buf)
	}
}

// wipeTree zeroes every file below directory d and removes every entry.
func (f *FS) wipeTree(d *node) {
	for _, e := range liveEntries(d.order) {
		if e.removed {
			continue
		}
		if e.n.dir {
			f.wipeTree(e.n)
		} else {
			clear(e.n.data[:cap(e.n.data)])
		}
		f.unlink(d, e.name)
	}
	clear(d.order)
	d.order, d.gone = nil, 0
}

// Retain keeps the files whose path keep accepts and wipes every other:
// its names are removed and, once no kept name links it, its content is
// zeroed (as Wipe does). Directories left without files are removed too.
// It returns how many file names were kept and how many wiped. It is
// meant for a change of policy, with no run or request in flight.
func (f *FS) Retain(keep func(path string) bool) (kept, wiped int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.gen++
	var gone []*node
	var walk func(d *node, p string)
	walk = func(d *node, p string) {
		for name, e := range d.entries {
			cp := p + "/" + name
			c := e.n
			if c.dir {
				walk(c, cp)
				if len(c.entries) == 0 {
					f.unlink(d, name)
				}
				continue
			}
			if keep(cp) {
				kept++
				continue
			}
			wiped++
			f.unlink(d, name)
			gone = append(gone, c)
		}
	}
	walk(f.root, "")
	for _, c := range gone {
		if c.links == 0 && c.data != nil {
			if c.b != nil {
				clear(c.b.buf) // snapshots of a wiped file read zeros
			}
			f.drop(c)
		}
	}
	return kept, wiped
}

// checkSize reports whether a file of size old may grow to size want.
func (f *FS) checkSize(old, want int64) error {
	if want < 0 || want > MaxFileBytes {
		return &QuotaError{Limit: MaxFileBytes, Want: want}
	}
	if f.lim.FileBytes > 0 && want > f.lim.FileBytes && want > old {
		return &QuotaError{Limit: f.lim.FileBytes, Want: want}
	}
	return nil
}

// growCap is the capacity of a new buffer for size bytes that replaces
// one of capacity c (freed afterwards): geometric growth, but never past
// the per-file limit nor what the total limit has room for.
func (f *FS) growCap(c, size int64) int64 {
	nc := max(size, 2*c)
	if f.lim.FileBytes > 0 {
		nc = min(nc, max(f.lim.FileBytes, size))
	}
	if f.lim.TotalBytes > 0 {
		room := f.lim.TotalBytes - f.used - f.meta - f.reserved + c
		nc = min(nc, max(room, size))
	}
	return nc
}

// resize sets the length of a file's content to size, zero-filling new
// bytes, for a truncation: a file shared with a snapshot or overlay that
// shrinks keeps sharing its buffer. A growth the limits refuse changes
// nothing.
func (f *FS) resize(n *node, size int64) error {
	old := int64(len(n.data))
	switch {
	case size == old:
		return nil
	case size == 0:
		f.drop(n)
		return nil
	case size < old && n.b != nil && !f.exclusive(n):
		// The buffer stays as others see it; this file sees less of it.
		n.data = n.data[:size:size]
		return nil
	}
	return f.prepare(n, size)
}

// prepare makes n's content size bytes long (zero-filling growth) in a
// buffer n alone holds, so that it may be written in place: a shared
// buffer is copied first, and the copy is charged. Any growth is checked
// against the limits first; a refusal changes nothing.
func (f *FS) prepare(n *node, size int64) error {
	old := int64(len(n.data))
	if size > old {
		if err := f.checkSize(old, size); err != nil {
			return err
		}
	}
	if f.exclusive(n) {
		c := int64(cap(n.data))
		if size <= c {
			if size < old {
				clear(n.data[size:old])
			}
			n.data = n.data[:size]
			if size > old {
				clear(n.data[old:size])
			}
			return nil
		}
		nc := f.growCap(c, size)
		if err := f.fits(nc - c); err != nil {
			return err
		}
		nd := make([]byte, size, nc)
		copy(nd, n.data)
		f.drop(n)
		f.used += nc
		n.data = nd
		return nil
	}
	// Shared: copy, leaving the old buffer to its other holders.
	nc := size
	if size > old {
		nc = f.growCap(0, size)
	}
	if err := f.fits(nc); err != nil {
		return err
	}
	nd := make([]byte, size, nc)
	copy(nd, n.data)
	f.drop(n)
	f.used += nc
	n.data = nd
	return nil
}

// touch records a change of content.
func (f *FS) touch(n *node) {
	t := f.now()
	n.mtime, n.ctime = t, t
}
