package runtime

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"sync"

	"github.com/truce-project/truce/audit"
	"github.com/truce-project/truce/internal/vfs"
)

// A file's versions are named in the audit log and in receipts by salted
// commitments (audit.Commit), never by their plain SHA-256: the salt of a
// version goes only to its writer (in the write's answer) and to its
// readers (with each read), so a principal without rights on a file cannot
// check a guess of its content against the log, however short it is
// (RATIONALE.md).

// version is the current version of one file as the commitments name it.
type version struct {
	sum    string // hex SHA-256 of the content, never shown but to readers and writers
	salt   [audit.SaltSize]byte
	commit string
}

// versions remembers the salt of each file's current version, and of the
// version a run (or pipeline) made of it in its overlay, not yet seen in
// the file system: a read of the file system before the run's commit then
// still finds the old content's version, one after it the run's, and the
// commitment the run's receipt names is the one readers get.
type versions struct {
	mu   sync.Mutex
	m    map[string]version // the file system's
	next map[string]version // made in overlays
}

// content is what is read to hash a file: a snapshot.
type content interface {
	io.ReaderAt
	Size() int64
}

// opened is a file version with its commitment and the salt opening it.
type opened struct {
	sum, commit, salt string
	size              int64
}

func (v version) opened(size int64) opened {
	return opened{sum: v.sum, commit: v.commit, salt: hex.EncodeToString(v.salt[:]), size: size}
}

// commitNew names the content of s at gp as a new version, with a fresh
// salt: after a principal's write, even of the bytes that were there, so
// that a writer cannot test a guess of what it overwrote, and after a
// run's. main tells whether s is of the enclave's file system (else of an
// overlay).
func (r *Runtime) commitNew(gp string, s content, main bool) (opened, error) {
	var v version
	if _, err := io.ReadFull(r.rand, v.salt[:]); err != nil {
		return opened{}, fmt.Errorf("drawing a salt for %s: %w", gp, err)
	}
	h, c := sha256.New(), audit.NewCommitter(v.salt[:])
	if _, err := io.Copy(io.MultiWriter(h, c), io.NewSectionReader(s, 0, s.Size())); err != nil {
		return opened{}, fmt.Errorf("hashing %s: %w", gp, err)
	}
	v.sum, v.commit = hex.EncodeToString(h.Sum(nil)), hex.EncodeToString(c.Sum(nil))
	r.vers.mu.Lock()
	if main {
		r.vers.m[gp] = v
		delete(r.vers.next, gp)
	} else {
		r.vers.next[gp] = v
	}
	r.vers.mu.Unlock()
	return v.opened(s.Size()), nil
}

// commitCurrent names the content of s at gp: by the commitment of the
// version the runtime knows, if the content is still that version's (a
// run's version first, then the file system's; a read of the file system
// that finds the run's makes it the file system's), or else as a new
// version.
func (r *Runtime) commitCurrent(gp string, s content, main bool) (opened, error) {
	h := sha256.New()
	if _, err := io.Copy(h, io.NewSectionReader(s, 0, s.Size())); err != nil {
		return opened{}, fmt.Errorf("hashing %s: %w", gp, err)
	}
	sum := hex.EncodeToString(h.Sum(nil))
	r.vers.mu.Lock()
	if v, ok := r.vers.next[gp]; ok && v.sum == sum {
		if main {
			r.vers.m[gp] = v
			delete(r.vers.next, gp)
		}
		r.vers.mu.Unlock()
		return v.opened(s.Size()), nil
	}
	if v, ok := r.vers.m[gp]; ok && v.sum == sum {
		r.vers.mu.Unlock()
		return v.opened(s.Size()), nil
	}
	r.vers.mu.Unlock()
	return r.commitNew(gp, s, main)
}

// openFile opens gp with every right and names its content as
// commitCurrent does.
func (r *Runtime) openFile(gp string) (opened, error) { return r.openIn(r.admin, gp) }

// openIn opens gp through admin (a view with every right on the enclave's
// file system or on a run's overlay) and names its content as
// commitCurrent does.
func (r *Runtime) openIn(admin *vfs.View, gp string) (opened, error) {
	s, err := admin.Open(gp)
	if err != nil {
		return opened{}, err
	}
	defer s.Close()
	return r.commitCurrent(gp, s, admin.FS() == r.fs)
}

// commitFresh opens gp through admin and names its content as a new
// version, as commitNew does.
func (r *Runtime) commitFresh(admin *vfs.View, gp string) (opened, error) {
	s, err := admin.Open(gp)
	if err != nil {
		return opened{}, err
	}
	defer s.Close()
	return r.commitNew(gp, s, admin.FS() == r.fs)
}

// forgetVersions drops the versions of files that no longer exist, so
// that the table never outgrows the file system.
func (r *Runtime) forgetVersions() {
	// A run in progress may have named a file its overlay holds (in a
	// receipt to be), not yet in the file system.
	live := r.fs.Live()
	r.vers.mu.Lock()
	for _, m := range []map[string]version{r.vers.m, r.vers.next} {
		for p := range m {
			if !live[p] {
				delete(m, p)
			}
		}
	}
	r.vers.mu.Unlock()
}

func (r *Runtime) wipeVersions() {
	r.vers.mu.Lock()
	r.vers.m, r.vers.next = map[string]version{}, map[string]version{}
	r.vers.mu.Unlock()
}
