package vfs

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/truce-project/truce/capability"
)

// ErrStale: the overlay's file system was wiped or changed policy since
// the overlay was made, so its changes were dropped.
var ErrStale = errors.New("the file system was wiped or replaced while the run was in progress: its changes were dropped")

// Overlay is a private copy of the part of a file system that a holder
// of some capabilities can see, for one run (or one pipeline): the run
// reads and writes the copy, and nobody else sees its changes until
// Commit publishes them, all at once. Readers of the file system thus see
// each file as it was before the run or as the run left it, never in
// between, and the run sees its inputs as they were when the overlay was
// made, whatever is written meanwhile.
//
// Only what the run may write is copied: a grant with no write right at or
// below it is shared with the file system as it is, since the run cannot
// change it. Copying costs no content either: the copy shares every
// file's buffer with the original, and whichever side changes a shared
// file first copies it (the copy is charged against the total limit like
// any other byte). Each entry copied is charged as an entry of the file
// system.
//
// Commit replaces, in the file system, every grant of the capabilities
// with a write right by what the overlay holds there; everything else the
// overlay holds is dropped. The caller must make sure no one else writes
// any path the capabilities name between the copy and the commit (the
// runtime's claims do): the commit would overwrite their writes, and the
// run would see writes to what it only reads.
type Overlay struct {
	fs    *FS // the private copy
	base  *FS
	caps  capability.Set
	roots []string // the grant paths copied, none inside another
	gen   uint64
	orig  map[*node]*node // copied file → the original, for inode numbers
	// shared are the nodes of read-only grants, linked into the copy as
	// they are in the file system: never changed, charged or released
	// through the overlay.
	shared map[*node]bool
	done   bool // guarded by base.mu
}

// Overlay copies, for a run holding caps, every file and directory those
// capabilities can name. It fails with a *QuotaError if the copied entries
// do not fit the total limit.
func (f *FS) Overlay(caps capability.Set) (*Overlay, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	o := &Overlay{base: f, caps: caps, roots: topGrants(caps), gen: f.gen, orig: map[*node]*node{}, shared: map[*node]bool{}}
	var cost int64
	for _, g := range o.roots {
		cost += f.copyCost(g, o.writable(g))
	}
	if err := f.fits(cost); err != nil {
		return nil, fmt.Errorf("copying the files the run may see: %w", err)
	}
	of := &FS{core: f.core, root: f.copyDir(f.root)}
	of.root.parent = of.root
	o.fs = of
	copies := map[*node]*node{}
	dirs := []*node{of.root}
	for _, g := range o.roots {
		dirs = append(dirs, o.copyGrant(g, copies, o.writable(g))...)
	}
	for _, d := range dirs {
		sort.Slice(d.order, func(i, j int) bool { return d.order[i].seq < d.order[j].seq })
	}
	f.overlays[o] = struct{}{}
	return o, nil
}

// FS returns the private copy, to open views of for the run's programs
// and to hash inputs and outputs from.
func (o *Overlay) FS() *FS { return o.fs }

// topGrants returns the grant paths of caps, cleaned ("/" for the root),
// leaving out those inside a directory grant.
func topGrants(caps capability.Set) []string {
	var dirs []string
	for _, g := range caps.Paths() {
		if strings.HasSuffix(g, "/") {
			dirs = append(dirs, g)
		}
	}
	var out []string
	for _, g := range caps.Paths() {
		inside := false
		for _, d := range dirs {
			if d != g && (d == "/" || strings.HasPrefix(g, d) || g == strings.TrimSuffix(d, "/")) {
				inside = true
				break
			}
		}
		if !inside {
			out = append(out, g)
		}
	}
	return out
}

// grantEls splits a grant path into its elements.
func grantEls(g string) []string {
	p := strings.Trim(g, "/")
	if p == "" {
		return nil
	}
	return strings.Split(p, "/")
}

// copyCost is what copying grant g charges: its directories on the way
// and, if the run may write there, what it names and, for a directory
// grant, everything below it.
func (f *FS) copyCost(g string, write bool) int64 {
	var cost int64
	d := f.root
	els := grantEls(g)
	for i, el := range els {
		e := d.entries[el]
		if e == nil {
			return cost
		}
		if i == len(els)-1 {
			if !write {
				return cost
			}
			cost += entryCost(el, e.n.dir)
			if strings.HasSuffix(g, "/") && e.n.dir {
				cost += treeCost(e.n)
			}
			return cost
		}
		if !e.n.dir {
			return cost
		}
		cost += entryCost(el, true)
		d = e.n
	}
	if write && strings.HasSuffix(g, "/") { // the root
		cost += treeCost(f.root)
	}
	return cost
}

// treeCost is what the entries below directory d are charged.
func treeCost(d *node) int64 {
	var c int64
	for name, e := range d.entries {
		c += entryCost(name, e.n.dir)
		if e.n.dir {
			c += treeCost(e.n)
		}
	}
	return c
}

// copyDir makes an empty copy of directory d, with its inode, times and
// sequence counter.
func (f *FS) copyDir(d *node) *node {
	return &node{ino: d.ino, dir: true, entries: make(map[string]*dirent, len(d.entries)),
		nextSeq: d.nextSeq, atime: d.atime, mtime: d.mtime, ctime: d.ctime}
}

// copyFile makes a copy of file n sharing its buffer.
func (o *Overlay) copyFile(n *node, copies map[*node]*node) *node {
	if c := copies[n]; c != nil {
		return c
	}
	c := &node{ino: n.ino, data: n.data, atime: n.atime, mtime: n.mtime, ctime: n.ctime}
	if cap(n.data) > 0 {
		b := o.base.share(n)
		b.files++
		c.b = b
	}
	if n.links > 1 {
		// Only a file with several names can be met again, or outlive
		// the commit under another name.
		copies[n] = c
		o.orig[c] = n
	}
	return c
}

// share links node n, of a read-only grant, into the copied directory d
// as it is.
func (o *Overlay) share(d *node, name string, n *node, seq uint64) {
	e := &dirent{name: name, n: n, seq: seq}
	d.entries[name] = e
	d.order = append(d.order, e)
	if n.dir {
		d.subdirs++
	} else {
		n.opens++ // held, as by an open handle, until the overlay goes
	}
	o.shared[n] = true
}

// put adds name → c to the copied directory d with sequence number seq,
// keeping d's times.
func (o *Overlay) put(d *node, name string, c *node, seq uint64) {
	o.fs.meta += entryCost(name, c.dir)
	e := &dirent{name: name, n: c, seq: seq}
	d.entries[name] = e
	d.order = append(d.order, e)
	if c.dir {
		c.parent, c.name = d, name
		d.subdirs++
	} else {
		c.links++
	}
}

// copyGrant copies grant g into the overlay: the directories leading to
// it, then what it names (all of it, for a directory grant), or, when the
// run may not write there, links what it names as it is. It returns the
// directories it filled.
func (o *Overlay) copyGrant(g string, copies map[*node]*node, write bool) []*node {
	bd, cd := o.base.root, o.fs.root
	els := grantEls(g)
	var dirs []*node
	if len(els) == 0 {
		if !write {
			for _, e := range liveEntries(bd.order) {
				o.share(cd, e.name, e.n, e.seq)
			}
			return dirs
		}
		return append(dirs, o.copyTree(bd, cd, copies)...)
	}
	for i, el := range els {
		e := bd.entries[el]
		if e == nil {
			return dirs
		}
		last := i == len(els)-1
		if last && !write {
			if cd.entries[el] == nil {
				o.share(cd, el, e.n, e.seq)
			}
			return dirs
		}
		if !e.n.dir {
			if last {
				if ce := cd.entries[el]; ce == nil {
					o.put(cd, el, o.copyFile(e.n, copies), e.seq)
				}
			}
			return dirs
		}
		ce := cd.entries[el]
		if ce == nil {
			nd := o.fs.copyDir(e.n)
			o.put(cd, el, nd, e.seq)
			ce = cd.entries[el]
			dirs = append(dirs, nd)
		}
		bd, cd = e.n, ce.n
		if last && strings.HasSuffix(g, "/") {
			dirs = append(dirs, o.copyTree(bd, cd, copies)...)
		}
	}
	return dirs
}

// copyTree copies everything below directory bd into its copy cd.
func (o *Overlay) copyTree(bd, cd *node, copies map[*node]*node) []*node {
	var dirs []*node
	for _, e := range bd.order {
		if e.removed || cd.entries[e.name] != nil {
			continue
		}
		if e.n.dir {
			nd := o.fs.copyDir(e.n)
			o.put(cd, e.name, nd, e.seq)
			dirs = append(dirs, nd)
			dirs = append(dirs, o.copyTree(e.n, nd, copies)...)
			continue
		}
		o.put(cd, e.name, o.copyFile(e.n, copies), e.seq)
	}
	return dirs
}

// writable reports whether caps gives a write right at or below the top
// grant g.
func (o *Overlay) writable(g string) bool {
	for h, r := range o.caps {
		if !r.Has(capability.Write) && !r.Has(capability.Append) {
			continue
		}
		if h == g || strings.HasSuffix(g, "/") && (g == "/" || strings.HasPrefix(h, g)) {
			return true
		}
	}
	return false
}

// Commit publishes the run's changes: every top grant with a write right
// becomes, in the file system, what the overlay holds there, in one step
// under the file system's lock. The overlay is then dropped. If the file
// system was wiped or changed policy since the overlay was made, nothing
// is published and Commit returns ErrStale.
func (o *Overlay) Commit() error {
	f := o.base
	f.mu.Lock()
	defer f.mu.Unlock()
	if o.done {
		return ErrClosed
	}
	defer o.discardLocked()
	if o.gen != f.gen {
		return ErrStale
	}
	var errs []error
	for _, g := range o.roots {
		if o.writable(g) {
			if err := o.commitGrant(g); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

// commitGrant replaces what the file system holds at top grant g by what
// the overlay holds there.
func (o *Overlay) commitGrant(g string) error {
	f := o.base
	els := grantEls(g)
	if len(els) == 0 {
		// The whole tree.
		for _, e := range liveEntries(f.root.order) {
			if e.n.dir {
				f.dropTree(e.n)
			}
			f.unlink(f.root, e.name)
		}
		for _, e := range liveEntries(o.fs.root.order) {
			o.fs.detach(o.fs.root, e)
			f.link(f.root, e.name, e.n)
			o.renumber(e.n)
		}
		return nil
	}
	// Where it is in the overlay.
	cd := o.fs.root
	for _, el := range els[:len(els)-1] {
		e := cd.entries[el]
		if e == nil || !e.n.dir {
			cd = nil
			break
		}
		cd = e.n
	}
	name := els[len(els)-1]
	var ce *dirent
	if cd != nil {
		ce = cd.entries[name]
	}
	// Where it goes in the file system, making missing directories.
	bd := f.root
	for _, el := range els[:len(els)-1] {
		e := bd.entries[el]
		if e == nil {
			if ce == nil {
				return nil // nothing there before or after
			}
			nd := f.newDir()
			f.link(bd, el, nd)
			bd = nd
			continue
		}
		if !e.n.dir {
			return pathErr("commit", g, ErrNotDir)
		}
		bd = e.n
	}
	be := bd.entries[name]
	if !strings.HasSuffix(g, "/") && be != nil && be.n.dir && len(be.n.entries) > 0 {
		// A file grant naming a directory: the overlay holds only the
		// way through it, which the run could not change.
		return nil
	}
	if be != nil {
		if be.n.dir {
			f.dropTree(be.n)
		}
		f.unlink(bd, name)
	}
	if ce != nil {
		o.fs.detach(cd, ce)
		f.link(bd, name, ce.n)
		o.renumber(ce.n)
	}
	return nil
}

// liveEntries returns the live entries of an order list, as a copy that
// unlinking cannot change.
func liveEntries(order []*dirent) []*dirent {
	out := make([]*dirent, 0, len(order))
	for _, e := range order {
		if !e.removed {
			out = append(out, e)
		}
	}
	return out
}

// renumber gives a fresh inode number to every committed copy of a file
// whose original is still alive (another name outside the run's grants
// links it), so that inode numbers stay unique.
func (o *Overlay) renumber(n *node) {
	if n.dir {
		for _, e := range n.entries {
			o.renumber(e.n)
		}
		return
	}
	if orig := o.orig[n]; orig != nil && (orig.links > 0 || orig.opens > 0) {
		o.base.nextIno++
		n.ino = o.base.nextIno
		delete(o.orig, n)
	}
}

// Discard drops the overlay and its changes. Discarding after Commit, or
// twice, does nothing.
func (o *Overlay) Discard() {
	f := o.base
	f.mu.Lock()
	defer f.mu.Unlock()
	if !o.done {
		o.discardLocked()
	}
}

func (o *Overlay) discardLocked() {
	o.done = true
	o.dropTree(o.fs.root)
	delete(o.base.overlays, o)
	o.orig, o.shared = nil, nil
}

// dropTree removes every entry below the copied directory d, releasing
// what nothing else holds; shared nodes are only unlinked from the copy.
func (o *Overlay) dropTree(d *node) {
	for _, e := range liveEntries(d.order) {
		if o.shared[e.n] {
			delete(d.entries, e.name)
			e.removed = true
			if e.n.dir {
				d.subdirs--
			} else {
				e.n.opens--
				o.base.maybeRelease(e.n)
			}
			continue
		}
		if e.n.dir {
			o.dropTree(e.n)
		}
		o.fs.unlink(d, e.name)
	}
	d.order, d.gone = nil, 0
}

// dropTree removes every entry below directory d, releasing what nothing
// else holds.
func (f *FS) dropTree(d *node) {
	for _, e := range liveEntries(d.order) {
		if e.n.dir {
			f.dropTree(e.n)
		}
		f.unlink(d, e.name)
	}
}

// zero zeroes the content of every file the overlay copied below d, for
// Wipe; shared files are the file system's, wiped with it.
func (o *Overlay) zero(d *node) {
	for _, e := range d.entries {
		switch {
		case o.shared[e.n]:
		case e.n.dir:
			o.zero(e.n)
		default:
			clear(e.n.data[:cap(e.n.data)])
		}
	}
}
