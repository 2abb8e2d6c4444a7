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
	mu       sync.RWMutex
	root     *node
	lim      Limits
	now      func() time.Time
	nextIno  uint64
	used     int64 // bytes held by live files
	meta     int64 // what directory entries are charged (see EntryCost)
	reserved int64 // bytes buffered by whole-file writes in flight
}

// node is a file or directory. Guarded by FS.mu.
type node struct {
	ino uint64
	dir bool

	// Regular files.
	data   []byte
	shared bool // data is referenced by a Snapshot: copy before changing it in place
	links  uint64
	opens  int

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
	f := &FS{lim: l, now: now}
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
// limit, besides its name: about what a node, its entry and its map slot
// take, so that a program cannot exhaust memory with empty files.
const EntryCost = 128

// checkEntry reports whether a new entry called name fits the total limit.
func (f *FS) checkEntry(name string) error {
	if f.lim.TotalBytes > 0 {
		want := f.used + f.meta + EntryCost + int64(len(name))
		if want > f.lim.TotalBytes {
			return &QuotaError{Total: true, Limit: f.lim.TotalBytes, Want: want}
		}
	}
	return nil
}

// link adds name → c to directory d.
func (f *FS) link(d *node, name string, c *node) {
	f.meta += EntryCost + int64(len(name))
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
	delete(d.entries, name)
	f.meta -= EntryCost + int64(len(name))
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
	t := f.now()
	d.mtime, d.ctime = t, t
	if c.dir {
		d.subdirs--
		if c.parent == d {
			c.parent = nil
		}
		return
	}
	c.links--
	c.ctime = t
	f.maybeRelease(c)
}

// maybeRelease frees a file no directory names and no handle holds.
func (f *FS) maybeRelease(c *node) {
	if c.dir || c.links > 0 || c.opens > 0 {
		return
	}
	f.used -= int64(len(c.data))
	if !c.shared {
		clear(c.data[:cap(c.data)])
	}
	c.data = nil
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
	for d != f.root {
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

// Used returns the bytes held by file contents. The total limit also
// counts a small charge per directory entry, so it is reached a little
// before Used reaches it.
func (f *FS) Used() int64 {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.used
}

// Limits returns the quotas the file system was created with.
func (f *FS) Limits() Limits { return f.lim }

// Wipe zeroes the content of every file and drops every file and
// directory, leaving an empty root. Snapshots and handles still open
// afterwards read zeros or nothing. It is meant for shutdown.
func (f *FS) Wipe() {
	f.mu.Lock()
	defer f.mu.Unlock()
	var walk func(d *node)
	walk = func(d *node) {
		for _, e := range d.entries {
			if e.n.dir {
				walk(e.n)
				e.n.parent = nil
			} else {
				clear(e.n.data[:cap(e.n.data)])
				e.n.data = nil
				e.n.links = 0
			}
		}
		clear(d.entries)
		clear(d.order)
		d.order = nil
		d.gone, d.subdirs = 0, 0
	}
	walk(f.root)
	f.used, f.meta = 0, 0
}

// Retain keeps the files whose path keep accepts and wipes every other:
// its names are removed and, once no kept name links it, its content is
// zeroed (as Wipe does). Directories left without files are removed too.
// It returns how many file names were kept and how many wiped. It is
// meant for a change of policy, with no run or request in flight.
func (f *FS) Retain(keep func(path string) bool) (kept, wiped int) {
	f.mu.Lock()
	defer f.mu.Unlock()
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
			f.used -= int64(len(c.data))
			clear(c.data[:cap(c.data)])
			c.data = nil
		}
	}
	return kept, wiped
}

// checkGrow reports whether a file of size old may grow to size want.
func (f *FS) checkGrow(old, want int64) error {
	if want < 0 || want > MaxFileBytes {
		return &QuotaError{Limit: MaxFileBytes, Want: want}
	}
	if f.lim.FileBytes > 0 && want > f.lim.FileBytes && want > old {
		return &QuotaError{Limit: f.lim.FileBytes, Want: want}
	}
	if f.lim.TotalBytes > 0 && want > old && f.used+f.meta+want-old > f.lim.TotalBytes {
		return &QuotaError{Total: true, Limit: f.lim.TotalBytes, Want: f.used + f.meta + want - old}
	}
	return nil
}

// resize sets the length of a file's content to size, zero-filling new
// bytes and copying first if a snapshot shares the content. Quota must have
// been checked.
func (f *FS) resize(n *node, size int64) {
	old := int64(len(n.data))
	switch {
	case size == old:
		return
	case size < old:
		if n.shared {
			n.data = n.data[:size:size]
		} else {
			clear(n.data[size:old])
			n.data = n.data[:size]
		}
	case size > int64(cap(n.data)):
		// Grow geometrically, but not past the per-file limit.
		c := int64(cap(n.data))
		nc := max(size, 2*c, 64)
		if f.lim.FileBytes > 0 {
			nc = min(nc, max(f.lim.FileBytes, size))
		}
		nd := make([]byte, size, nc)
		copy(nd, n.data)
		if !n.shared {
			clear(n.data[:cap(n.data)]) // leave no copy of the content behind
		}
		n.data = nd
		n.shared = false
	default:
		// In place: the bytes past the old length are seen by no
		// snapshot, since a shared file that shrinks loses its spare
		// capacity.
		n.data = n.data[:size]
		clear(n.data[old:size])
	}
	f.used += size - old
}

// own makes sure n's content is not shared with a snapshot before it is
// changed in place.
func (f *FS) own(n *node) {
	if n.shared {
		nd := make([]byte, len(n.data))
		copy(nd, n.data)
		n.data = nd
		n.shared = false
	}
}

// touch records a change of content.
func (f *FS) touch(n *node) {
	t := f.now()
	n.mtime, n.ctime = t, t
}
