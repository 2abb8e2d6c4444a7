package vfs

import (
	"errors"
	"io"
	"runtime"
	"strings"
	"time"

	"github.com/truce-project/truce/capability"
)

// View is the file system as seen by the holder of a capability.Set. Every
// access through a View, and through the Handles it opens, is checked
// against those capabilities. A View is safe for concurrent use.
type View struct {
	fs   *FS
	caps capability.Set
	all  bool // unchecked: the runtime's own view
}

// Unchecked returns a view that may do anything. It is for the runtime
// itself (loading programs, copying a host directory in for `truce run`),
// never for a principal or a program.
func (f *FS) Unchecked() *View {
	return &View{fs: f, caps: capability.Set{"/": capability.All}, all: true}
}

// FS returns the file system the view looks at.
func (v *View) FS() *FS { return v.fs }

// Caps returns a copy of the capabilities the view checks against.
func (v *View) Caps() capability.Set {
	c := make(capability.Set, len(v.caps))
	for k, r := range v.caps {
		c[k] = r
	}
	return c
}

// Can reports whether the holder has every right in want on the clean
// absolute path p.
func (v *View) Can(p string, want capability.Rights) bool {
	if v.all {
		return true
	}
	return v.caps.Allows(p, want)
}

// canWrite reports whether the holder may create, replace or remove p.
func (v *View) canWrite(p string) bool { return v.Can(p, capability.Write) }

// canAppend reports whether the holder may add bytes at the end of p.
func (v *View) canAppend(p string) bool {
	return v.Can(p, capability.Append) || v.Can(p, capability.Write)
}

// sees reports whether the holder may know that p exists.
func (v *View) sees(p string, n *node) bool {
	if v.all || p == "/" {
		return true
	}
	if n != nil && n.dir {
		return v.caps.Visible(p)
	}
	return v.caps.Rights(p)&(capability.Read|capability.Write|capability.Append) != 0
}

// seeFn is the visibility test walk applies to each directory it passes.
func (v *View) seeFn() func(string, *node) bool {
	if v.all {
		return nil
	}
	return v.sees
}

// Flags say how OpenFile opens a file.
type Flags uint32

// Open flags. At least one of FlagRead, FlagWrite and FlagAppend is needed
// to open a regular file; a directory opens with FlagRead or no access flag.
const (
	FlagRead      Flags = 1 << iota // read the content (right r)
	FlagWrite                       // write anywhere, truncate (right w)
	FlagAppend                      // writes go to the end (right a or w)
	FlagCreate                      // create the file if absent (right w; a with FlagAppend)
	FlagExcl                        // with FlagCreate: fail with ErrExist if present
	FlagTrunc                       // truncate to zero on open (right w)
	FlagDirectory                   // fail with ErrNotDir unless a directory
)

// resolve walks p from directory base (the root when base is nil) for
// holder v. A relative p is taken from base; an absolute p is accepted only
// from the root. Must be called with f.mu held.
func (v *View) resolve(base *node, p string) (loc, error) {
	f := v.fs
	if base == nil || base == f.root {
		return f.walk(p, v.seeFn())
	}
	if strings.HasPrefix(p, "/") {
		return loc{}, ErrEscape
	}
	bp, ok := f.pathOf(base)
	if !ok {
		return loc{}, ErrNotExist
	}
	// Walk from the root along base's own path, then p, refusing ".."
	// that climbs above base.
	depth := 0
	for el := range strings.SplitSeq(p, "/") {
		switch el {
		case "", ".":
		case "..":
			depth--
			if depth < 0 {
				return loc{}, ErrEscape
			}
		default:
			depth++
		}
	}
	if p == "" {
		return loc{}, ErrNotExist
	}
	return f.walk(bp+"/"+p, v.seeFn())
}

// checkSeen hides a path the holder cannot see behind ErrNotExist.
func (v *View) checkSeen(l loc) error {
	if l.n == nil || !v.sees(l.path, l.n) {
		return ErrNotExist
	}
	if l.trailing && !l.n.dir {
		return ErrNotDir
	}
	return nil
}

// Stat describes the file or directory at p.
func (v *View) Stat(p string) (Info, error) { return v.statAt(nil, p) }

func (v *View) statAt(base *node, p string) (Info, error) {
	f := v.fs
	f.mu.RLock()
	defer f.mu.RUnlock()
	l, err := v.resolve(base, p)
	if err == nil {
		err = v.checkSeen(l)
	}
	if err != nil {
		return Info{}, pathErr("stat", p, err)
	}
	return l.n.info(l.path), nil
}

// OpenFile opens the file or directory at p. See Flags for the rights each
// flag needs.
func (v *View) OpenFile(p string, fl Flags) (*Handle, error) { return v.openAt(nil, p, fl) }

// Root opens the root directory, as a program's preopened directory.
func (v *View) Root() *Handle {
	f := v.fs
	f.mu.Lock()
	defer f.mu.Unlock()
	f.root.opens++
	return &Handle{v: v, n: f.root, path: "/", flags: FlagRead}
}

func (v *View) openAt(base *node, p string, fl Flags) (*Handle, error) {
	f := v.fs
	f.mu.Lock()
	defer f.mu.Unlock()
	l, err := v.resolve(base, p)
	if err != nil {
		return nil, pathErr("open", p, err)
	}
	h, err := v.openLoc(l, fl)
	if err != nil {
		return nil, pathErr("open", p, err)
	}
	return h, nil
}

func (v *View) openLoc(l loc, fl Flags) (*Handle, error) {
	f := v.fs
	n := l.n
	if n != nil && !v.sees(l.path, n) {
		// Hidden from the holder: answer as if it were absent, which a
		// holder that cannot write the path cannot create either.
		if fl&FlagCreate != 0 {
			return nil, ErrPermission
		}
		return nil, ErrNotExist
	}
	if n == nil {
		if fl&FlagCreate == 0 {
			return nil, ErrNotExist
		}
		if l.trailing || fl&FlagDirectory != 0 {
			return nil, ErrIsDir
		}
		if l.parent == nil || l.dot {
			return nil, ErrExist
		}
		if l.parent.parent == nil && l.parent != f.root {
			return nil, ErrNotExist // the directory was removed
		}
		ok := v.canWrite(l.path) || fl&FlagAppend != 0 && v.canAppend(l.path)
		if !ok {
			return nil, ErrPermission
		}
		if err := v.checkAccess(l.path, fl&^(FlagCreate|FlagTrunc)); err != nil {
			return nil, err
		}
		if err := f.checkEntry(l.name, false); err != nil {
			return nil, err
		}
		n = f.newNode(false)
		f.link(l.parent, l.name, n)
		n.opens++
		return &Handle{v: v, n: n, path: l.path, flags: fl}, nil
	}
	if fl&FlagCreate != 0 && fl&FlagExcl != 0 {
		return nil, ErrExist
	}
	if n.dir {
		if fl&(FlagWrite|FlagAppend|FlagTrunc|FlagCreate) != 0 {
			return nil, ErrIsDir
		}
		n.opens++
		return &Handle{v: v, n: n, path: l.path, flags: fl & (FlagRead | FlagDirectory)}, nil
	}
	if l.trailing || fl&FlagDirectory != 0 {
		return nil, ErrNotDir
	}
	if err := v.checkAccess(l.path, fl); err != nil {
		return nil, err
	}
	if fl&FlagTrunc != 0 && len(n.data) > 0 {
		f.resize(n, 0) // shrinking: never refused
		f.touch(n)
	}
	n.opens++
	return &Handle{v: v, n: n, path: l.path, flags: fl}, nil
}

// checkAccess checks the rights the access flags of fl need on p.
func (v *View) checkAccess(p string, fl Flags) error {
	if fl&FlagRead != 0 && !v.Can(p, capability.Read) {
		return ErrPermission
	}
	if fl&(FlagWrite|FlagTrunc) != 0 && !v.canWrite(p) {
		return ErrPermission
	}
	if fl&FlagAppend != 0 && !v.canAppend(p) {
		return ErrPermission
	}
	return nil
}

// Mkdir makes the directory p. Its parent must exist.
func (v *View) Mkdir(p string) error { return v.mkdirAt(nil, p) }

// MkdirAll makes the directory p and any missing parents.
func (v *View) MkdirAll(p string) error {
	cp, err := Clean(p)
	if err != nil {
		return pathErr("mkdir", p, err)
	}
	if cp == "/" {
		return nil
	}
	f := v.fs
	f.mu.Lock()
	defer f.mu.Unlock()
	_, err = v.mkdirs(cp, true)
	if err != nil {
		return pathErr("mkdir", p, err)
	}
	return nil
}

// mkdirs makes directory cp (clean) and its missing parents, needing the
// right to write each new directory, or, when parentsOnly is set for a
// file's parents, that the directory be visible. Must be called with f.mu
// held.
func (v *View) mkdirs(cp string, self bool) (*node, error) {
	f := v.fs
	d := f.root
	cur := ""
	els := strings.Split(strings.TrimPrefix(cp, "/"), "/")
	for _, el := range els {
		if el == "" {
			continue
		}
		cur += "/" + el
		e := d.entries[el]
		if e != nil {
			if !v.sees(cur, e.n) {
				return nil, ErrNotExist
			}
			if !e.n.dir {
				return nil, ErrNotDir
			}
			d = e.n
			continue
		}
		if !v.canWrite(cur) && !(v.caps.Visible(cur) || v.all) {
			return nil, ErrPermission
		}
		if self && !v.canWrite(cur) {
			return nil, ErrPermission
		}
		if err := f.checkEntry(el, true); err != nil {
			return nil, err
		}
		n := f.newDir()
		f.link(d, el, n)
		d = n
	}
	return d, nil
}

func (v *View) mkdirAt(base *node, p string) error {
	f := v.fs
	f.mu.Lock()
	defer f.mu.Unlock()
	l, err := v.resolve(base, p)
	if err == nil {
		err = v.mkdirLoc(l)
	}
	if err != nil {
		return pathErr("mkdir", p, err)
	}
	return nil
}

func (v *View) mkdirLoc(l loc) error {
	f := v.fs
	if l.n != nil {
		if v.sees(l.path, l.n) {
			return ErrExist
		}
		return ErrPermission
	}
	if l.parent.parent == nil && l.parent != f.root {
		return ErrNotExist
	}
	if !v.canWrite(l.path) {
		return ErrPermission
	}
	if err := f.checkEntry(l.name, true); err != nil {
		return err
	}
	f.link(l.parent, l.name, f.newDir())
	return nil
}

// Remove removes the file p (unlink). Directories need Rmdir.
func (v *View) Remove(p string) error { return v.removeAt(nil, p) }

func (v *View) removeAt(base *node, p string) error {
	f := v.fs
	f.mu.Lock()
	defer f.mu.Unlock()
	l, err := v.resolve(base, p)
	if err == nil {
		err = v.checkSeen(l)
	}
	if err == nil {
		switch {
		case l.n.dir:
			err = ErrIsDir
		case !v.canWrite(l.path):
			err = ErrPermission
		default:
			f.unlink(l.parent, l.name)
		}
	}
	if err != nil {
		return pathErr("unlink", p, err)
	}
	return nil
}

// Rmdir removes the empty directory p.
func (v *View) Rmdir(p string) error { return v.rmdirAt(nil, p) }

func (v *View) rmdirAt(base *node, p string) error {
	f := v.fs
	f.mu.Lock()
	defer f.mu.Unlock()
	l, err := v.resolve(base, p)
	if err == nil {
		err = v.checkSeen(l)
	}
	if err == nil {
		switch {
		case !l.n.dir:
			err = ErrNotDir
		case l.n == f.root:
			err = ErrBusy
		case l.dot:
			err = ErrInvalid
		case len(l.n.entries) > 0:
			err = ErrNotEmpty
		case !v.canWrite(l.path):
			err = ErrPermission
		default:
			f.unlink(l.parent, l.name)
		}
	}
	if err != nil {
		return pathErr("rmdir", p, err)
	}
	return nil
}

// Rename moves oldp to newp, replacing a file or an empty directory at
// newp. The holder needs the right to write both paths and, for a
// directory, every path below both.
func (v *View) Rename(oldp, newp string) error { return v.renameAt(nil, oldp, nil, newp) }

func (v *View) renameAt(ob *node, oldp string, nb *node, newp string) error {
	f := v.fs
	f.mu.Lock()
	defer f.mu.Unlock()
	err := v.renameLocked(ob, oldp, nb, newp)
	if err != nil {
		return &LinkError{Op: "rename", Old: oldp, New: newp, Err: err}
	}
	return nil
}

func (v *View) renameLocked(ob *node, oldp string, nb *node, newp string) error {
	f := v.fs
	ol, err := v.resolve(ob, oldp)
	if err != nil {
		return err
	}
	if err := v.checkSeen(ol); err != nil {
		return err
	}
	nl, err := v.resolve(nb, newp)
	if err != nil {
		return err
	}
	if ol.n == f.root || nl.n == f.root {
		return ErrBusy
	}
	if ol.dot || nl.dot {
		return ErrBusy
	}
	if nl.n != nil && !v.sees(nl.path, nl.n) && !v.canWrite(nl.path) {
		return ErrPermission
	}
	if nl.trailing && !ol.n.dir {
		return ErrNotDir
	}
	if nl.parent.parent == nil && nl.parent != f.root {
		return ErrNotExist
	}
	if !v.canWrite(ol.path) || !v.canWrite(nl.path) {
		return ErrPermission
	}
	if ol.n.dir {
		// The new place must not be inside the directory moved.
		for d := nl.parent; ; d = d.parent {
			if d == ol.n {
				return ErrInvalid
			}
			if d == f.root || d == nil || d.parent == d {
				break
			}
		}
		if !v.all && !v.canWriteTree(ol.n, ol.path, nl.path) {
			return ErrPermission
		}
	}
	if nl.n != nil {
		if nl.n == ol.n {
			return nil
		}
		switch {
		case ol.n.dir && !nl.n.dir:
			return ErrNotDir
		case !ol.n.dir && nl.n.dir:
			return ErrIsDir
		case nl.n.dir && len(nl.n.entries) > 0:
			return ErrNotEmpty
		}
	}
	// An entry is charged by its name: a longer name must fit the total
	// limit, less what the entry replaced gives back.
	grow := entryCost(nl.name, ol.n.dir) - entryCost(ol.name, ol.n.dir)
	if nl.n != nil {
		grow -= entryCost(nl.name, nl.n.dir)
	}
	if err := f.fits(grow); err != nil {
		return err
	}
	if nl.n != nil {
		f.unlink(nl.parent, nl.name)
	}
	n := ol.n
	n.opens++ // keep it alive between unlink and link
	f.unlink(ol.parent, ol.name)
	f.link(nl.parent, nl.name, n)
	n.opens--
	n.ctime = f.now()
	return nil
}

// canWriteTree reports whether the holder may write every path below
// directory d, both where it is (from) and where it would go (to).
func (v *View) canWriteTree(d *node, from, to string) bool {
	for name, e := range d.entries {
		fp, tp := from+"/"+name, to+"/"+name
		if !v.canWrite(fp) || !v.canWrite(tp) {
			return false
		}
		if e.n.dir && !v.canWriteTree(e.n, fp, tp) {
			return false
		}
	}
	return true
}

// Link gives the file oldp the new name newp. The holder needs the rights
// to read and write oldp and to write newp.
func (v *View) Link(oldp, newp string) error { return v.linkAt(nil, oldp, nil, newp) }

func (v *View) linkAt(ob *node, oldp string, nb *node, newp string) error {
	f := v.fs
	f.mu.Lock()
	defer f.mu.Unlock()
	err := func() error {
		ol, err := v.resolve(ob, oldp)
		if err != nil {
			return err
		}
		if err := v.checkSeen(ol); err != nil {
			return err
		}
		nl, err := v.resolve(nb, newp)
		if err != nil {
			return err
		}
		if ol.n.dir {
			return ErrNotPermitted // no hard links to directories
		}
		if nl.n != nil {
			if v.sees(nl.path, nl.n) || v.canWrite(nl.path) {
				return ErrExist
			}
			return ErrPermission
		}
		if nl.trailing {
			return ErrNotDir
		}
		if nl.parent.parent == nil && nl.parent != f.root {
			return ErrNotExist
		}
		if !v.Can(ol.path, capability.Read|capability.Write) || !v.canWrite(nl.path) {
			return ErrPermission
		}
		if err := f.checkEntry(nl.name, false); err != nil {
			return err
		}
		f.link(nl.parent, nl.name, ol.n)
		ol.n.ctime = f.now()
		return nil
	}()
	if err != nil {
		return &LinkError{Op: "link", Old: oldp, New: newp, Err: err}
	}
	return nil
}

// SetTimes sets the access and modification times of p; a nil time is
// left as it is.
func (v *View) SetTimes(p string, atime, mtime *time.Time) error {
	return v.setTimesAt(nil, p, atime, mtime)
}

func (v *View) setTimesAt(base *node, p string, atime, mtime *time.Time) error {
	f := v.fs
	f.mu.Lock()
	defer f.mu.Unlock()
	l, err := v.resolve(base, p)
	if err == nil {
		err = v.checkSeen(l)
	}
	if err == nil && !v.canWrite(l.path) {
		err = ErrPermission
	}
	if err != nil {
		return pathErr("utimes", p, err)
	}
	f.setTimes(l.n, atime, mtime)
	return nil
}

func (f *FS) setTimes(n *node, atime, mtime *time.Time) {
	if atime != nil {
		n.atime = *atime
	}
	if mtime != nil {
		n.mtime = *mtime
	}
	n.ctime = f.now()
}

// DirEntry is one entry a directory listing returns.
type DirEntry struct {
	Name  string
	Dir   bool
	Inode uint64
	// Next is the cookie to pass to ReadDir to continue after this entry.
	Next uint64
}

// ReadDir lists directory p as ReadDir on a Handle does.
func (v *View) ReadDir(p string) ([]DirEntry, error) {
	h, err := v.OpenFile(p, FlagDirectory)
	if err != nil {
		return nil, err
	}
	defer h.Close()
	return h.ReadDir(0, -1)
}

// Symlink always fails: the file system has no symbolic links.
func (v *View) Symlink(target, p string) error {
	return &LinkError{Op: "symlink", Old: target, New: p, Err: ErrNotSupported}
}

// LinkError records an error from an operation on two paths.
type LinkError struct {
	Op, Old, New string
	Err          error
}

// Error names the operation, both paths and the cause.
func (e *LinkError) Error() string { return e.Op + " " + e.Old + " " + e.New + ": " + e.Err.Error() }

// Unwrap returns the underlying error.
func (e *LinkError) Unwrap() error { return e.Err }

// WriteFile creates or replaces the file p with the bytes of r, making
// missing parent directories the holder can see. The new content replaces
// the old in one step: on any error, including r failing midway, the file
// is left as it was. It returns the bytes written.
func (v *View) WriteFile(p string, r io.Reader) (int64, error) {
	return v.WriteFileChecked(p, r, nil)
}

// WriteFileChecked writes p as WriteFile does, but once all the bytes
// have arrived (reserved against the limits as they came) and before
// anything is stored, calls check, if not nil, with them: if it fails,
// nothing is stored and its error is returned (wrapped). It lets a caller
// refuse content it must see whole, a program not matching its pin, say,
// without buffering it anywhere the limits do not count.
func (v *View) WriteFileChecked(p string, r io.Reader, check func([]byte) error) (int64, error) {
	cp, err := Clean(p)
	if err == nil && (cp == "/" || strings.HasSuffix(p, "/")) {
		err = ErrIsDir
	}
	if err == nil && !v.canWrite(cp) {
		err = ErrPermission
	}
	if err != nil {
		return 0, pathErr("write", p, err)
	}
	data, err := v.fs.slurp(r, cp)
	if err != nil {
		return 0, pathErr("write", p, err)
	}
	f := v.fs
	if check != nil {
		if err := check(data); err != nil {
			f.release(int64(len(data)))
			clear(data)
			return 0, pathErr("write", p, err)
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	// The reservation becomes the file's charge, or goes: not both at once.
	f.reserved -= int64(len(data))
	err = v.replaceLocked(cp, data)
	if err != nil {
		clear(data)
		return 0, pathErr("write", p, err)
	}
	return int64(len(data)), nil
}

func (v *View) replaceLocked(cp string, data []byte) error {
	f := v.fs
	i := strings.LastIndexByte(cp, '/')
	d := f.root
	if i > 0 {
		var err error
		if d, err = v.mkdirsChecked(cp[:i]); err != nil {
			return err
		}
	}
	name := cp[i+1:]
	var old *node
	if e := d.entries[name]; e != nil {
		old = e.n
		if old.dir {
			return ErrIsDir
		}
	}
	// What the new content costs, less what the old gives back: nothing
	// if a snapshot, an overlay, another name or a handle keeps it.
	want := int64(cap(data))
	if old != nil && old.links == 1 && old.opens == 0 {
		want -= f.charge(old)
	}
	if old == nil {
		want += entryCost(name, false)
	}
	if err := f.checkSize(0, int64(len(data))); err != nil {
		return err
	}
	if err := f.fits(want); err != nil {
		return err
	}
	n := f.newNode(false)
	n.data = data
	f.used += int64(cap(data))
	if old != nil {
		f.unlink(d, name)
	}
	f.link(d, name, n)
	return nil
}

// mkdirsChecked is mkdirs for the parents of a file written whole: they
// may be made when visible to the holder.
func (v *View) mkdirsChecked(dir string) (*node, error) { return v.mkdirs(dir, false) }

// AppendFile adds the bytes of r at the end of the file p, creating it (and
// its missing parent directories, as WriteFile does) if absent. It needs
// the right a or w. All bytes are added at once or, on any
// error, none. It returns the bytes added.
func (v *View) AppendFile(p string, r io.Reader) (int64, error) {
	cp, err := Clean(p)
	if err == nil && (cp == "/" || strings.HasSuffix(p, "/")) {
		err = ErrIsDir
	}
	if err == nil && !v.canAppend(cp) {
		err = ErrPermission
	}
	if err != nil {
		return 0, pathErr("append", p, err)
	}
	data, err := v.fs.slurp(r, "")
	if err != nil {
		return 0, pathErr("append", p, err)
	}
	f := v.fs
	f.mu.Lock()
	defer f.mu.Unlock()
	defer clear(data)
	// The reservation becomes the file's charge, or goes: not both at once.
	f.reserved -= int64(len(data))
	err = func() error {
		l, err := f.walk(cp, v.seeFn())
		if errors.Is(err, ErrNotExist) {
			// A missing parent directory: create the file, and its
			// parents, as WriteFile would.
			return v.replaceLocked(cp, append([]byte(nil), data...))
		}
		if err != nil {
			return err
		}
		if l.n == nil {
			return v.replaceLocked(cp, append([]byte(nil), data...))
		}
		if l.n.dir {
			return ErrIsDir
		}
		n := l.n
		old := int64(len(n.data))
		if err := f.prepare(n, old+int64(len(data))); err != nil {
			return err
		}
		copy(n.data[old:], data)
		f.touch(n)
		return nil
	}()
	if err != nil {
		return 0, pathErr("append", p, err)
	}
	return int64(len(data)), nil
}

// slurp reads r whole into a buffer of exactly its length, reserving the
// bytes against the quotas as it goes (see reserve), so that uploads
// cannot buffer more than the total limit has room for. replace is the
// path the bytes will replace, if any. The caller must release the
// reservation.
func (f *FS) slurp(r io.Reader, replace string) ([]byte, error) {
	first := 32 << 10
	if l, ok := r.(interface{ Len() int }); ok && l.Len() > 0 {
		// A reader that knows its length (bytes.Reader, strings.Reader,
		// bytes.Buffer) is read into one allocation, if within limits.
		n := int64(l.Len())
		if f.lim.FileBytes > 0 {
			n = min(n, f.lim.FileBytes+1)
		}
		if f.lim.TotalBytes > 0 {
			n = min(n, f.lim.TotalBytes+1)
		}
		first = int(min(n, MaxFileBytes+1))
	}
	var chunks [][]byte
	cur := make([]byte, 0, first)
	total := int64(0)
	fail := func(err error) ([]byte, error) {
		f.release(total)
		for _, c := range chunks {
			clear(c)
		}
		clear(cur)
		return nil, err
	}
	add := func(k int) error {
		if err := f.reserve(total, total+int64(k), replace); err != nil {
			return err
		}
		total += int64(k)
		return nil
	}
	for {
		if len(cur) == cap(cur) {
			// Full: look for more before allocating for it.
			var probe [512]byte
			k, err := r.Read(probe[:])
			if k > 0 {
				if err := add(k); err != nil {
					return fail(err)
				}
				chunks = append(chunks, cur)
				next := min(max(2*cap(cur), 32<<10), 4<<20)
				cur = append(make([]byte, 0, max(next, k)), probe[:k]...)
			}
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				return fail(err)
			}
			continue
		}
		k, err := r.Read(cur[len(cur):cap(cur)])
		if k > 0 {
			if err := add(k); err != nil {
				return fail(err)
			}
			cur = cur[:len(cur)+k]
		}
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fail(err)
		}
	}
	if len(chunks) == 0 && len(cur) == cap(cur) {
		return cur, nil
	}
	// Gather the pieces into one buffer of the exact length, so that the
	// file is charged what it holds.
	out := make([]byte, 0, total)
	for _, c := range chunks {
		out = append(out, c...)
		clear(c)
	}
	out = append(out, cur...)
	clear(cur)
	return out, nil
}

// reserve grows a reservation from have to want bytes if the limits allow.
// An upload is refused as soon as it, the other uploads in flight and
// what the file system holds no longer fit the total, counting as free
// the file it replaces if nothing else holds that; the check is made again
// when it lands.
func (f *FS) reserve(have, want int64, replace string) error {
	if want > MaxFileBytes {
		return &QuotaError{Limit: MaxFileBytes, Want: want}
	}
	if f.lim.FileBytes > 0 && want > f.lim.FileBytes {
		return &QuotaError{Limit: f.lim.FileBytes, Want: want}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.lim.TotalBytes > 0 {
		held := f.used + f.meta
		if replace != "" {
			if l, err := f.walk(replace, nil); err == nil && l.n != nil && !l.n.dir && l.n.links == 1 && l.n.opens == 0 {
				held -= f.charge(l.n)
			}
		}
		if need := held + f.reserved + want - have; need > f.lim.TotalBytes {
			return &QuotaError{Total: true, Limit: f.lim.TotalBytes, Want: need, Retired: f.retired}
		}
	}
	f.reserved += want - have
	return nil
}

// release drops a reservation. The caller must not hold f.mu.
func (f *FS) release(n int64) {
	f.mu.Lock()
	f.reserved -= n
	f.mu.Unlock()
}

// Open returns a snapshot of the file p's content as it is now: later
// writes do not change what the snapshot reads. It needs the right r.
func (v *View) Open(p string) (*Snapshot, error) {
	f := v.fs
	f.mu.Lock()
	defer f.mu.Unlock()
	l, err := f.walk(p, v.seeFn())
	if err == nil {
		err = v.checkSeen(l)
	}
	if err == nil && l.n.dir {
		err = ErrIsDir
	}
	if err == nil && !v.Can(l.path, capability.Read) {
		err = ErrPermission
	}
	if err != nil {
		return nil, pathErr("open", p, err)
	}
	n := l.n
	s := &Snapshot{data: n.data[:len(n.data):len(n.data)], mod: n.mtime, path: l.path}
	if cap(n.data) > 0 {
		b := f.share(n)
		b.readers++
		s.ref = &snapRef{c: f.core, b: b}
		runtime.AddCleanup(s, func(r *snapRef) { r.release() }, s.ref)
	}
	return s, nil
}
