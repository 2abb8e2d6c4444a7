// Package hostdir copies host directories into Truce's in-memory file
// system before a freestanding run ("truce run --dir HOST:GUEST") and
// writes the program's changes back after it: new and changed files,
// new directories, and removals of what was copied in.
//
// It is for the truce command only. The runtime inside the enclave must
// never use it: there, no host directory is trusted or reachable. It
// must never write outside the host directory it was given, nor remove
// anything it did not copy in.
package hostdir

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"github.com/truce-project/truce/capability"
	"github.com/truce-project/truce/internal/vfs"
)

// ErrBadSpec is wrapped by the errors of a malformed HOST[:GUEST] spec,
// a mistake of whoever typed it.
var ErrBadSpec = errors.New("bad --dir")

// Mount is a host directory and where the program sees it.
type Mount struct {
	// Host is the directory on the host; Guest its clean absolute path in
	// the in-memory file system.
	Host, Guest string
	// copied maps each guest file copied in to the SHA-256 of its
	// content; dirs holds the guest directories copied in.
	copied map[string][32]byte
	dirs   map[string]bool
	// Skipped says, one line each, what CopyIn did not copy in (symbolic
	// links, special files), for the user.
	Skipped []string
}

// New returns a mount of host at guest, which must be absolute.
func New(host, guest string) (*Mount, error) {
	g, err := vfs.Clean(guest)
	if err != nil || !strings.HasPrefix(guest, "/") {
		return nil, fmt.Errorf("%w: guest path %q is not a usable absolute path", ErrBadSpec, guest)
	}
	st, err := os.Stat(host)
	if err != nil {
		return nil, fmt.Errorf("host directory: %w", err)
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("host directory: %s is not a directory", host)
	}
	return &Mount{Host: host, Guest: g, copied: map[string][32]byte{}, dirs: map[string]bool{}}, nil
}

// Parse reads specs of the form HOST[:GUEST]. GUEST defaults to HOST made
// absolute inside the guest ("data" → "/data"), which a HOST above the
// current directory cannot be. Guest paths may not overlap.
func Parse(specs []string) ([]*Mount, error) {
	var ms []*Mount
	for _, s := range specs {
		host, guest, ok := strings.Cut(s, ":")
		if host == "" {
			return nil, fmt.Errorf("%w %q: no host directory: give HOST[:GUEST]", ErrBadSpec, s)
		}
		if !ok {
			g := filepath.ToSlash(filepath.Clean(host))
			if g == ".." || strings.HasPrefix(g, "../") {
				return nil, fmt.Errorf("%w %q: it lies above the current directory, so it cannot be the guest path too: say where the program sees it, as in %s:/data", ErrBadSpec, s, host)
			}
			guest = "/" + strings.TrimPrefix(g, "/")
			if g == "." {
				guest = "/"
			}
		}
		if !strings.HasPrefix(guest, "/") {
			guest = "/" + guest
		}
		m, err := New(host, guest)
		if err != nil {
			return nil, fmt.Errorf("--dir %s: %w", s, err)
		}
		for _, o := range ms {
			if within(m.Guest, o.Guest) || within(o.Guest, m.Guest) {
				return nil, fmt.Errorf("%w %q: its guest path %s overlaps %s: give each its own guest path", ErrBadSpec, s, m.Guest, o.Guest)
			}
		}
		ms = append(ms, m)
	}
	return ms, nil
}

// within reports whether p is d or lies below it.
func within(p, d string) bool {
	return p == d || d == "/" || strings.HasPrefix(p, d+"/")
}

// Caps returns the capabilities a program gets on the mounts: read and
// write on each guest directory.
func Caps(ms []*Mount) capability.Set {
	caps := capability.Set{}
	for _, m := range ms {
		caps[strings.TrimSuffix(m.Guest, "/")+"/"] = capability.Read | capability.Write
	}
	return caps
}

func (m *Mount) guestPath(rel string) string {
	if rel == "." {
		return m.Guest
	}
	return path.Join(m.Guest, filepath.ToSlash(rel))
}

func (m *Mount) hostPath(g string) string {
	rel := strings.TrimPrefix(strings.TrimPrefix(g, m.Guest), "/")
	return filepath.Join(m.Host, filepath.FromSlash(rel))
}

// ErrSymlink is wrapped by the errors of a write-back refused because a
// symbolic link stands where a file or directory would go.
var ErrSymlink = errors.New("a symbolic link is in the way")

// CopyIn copies the host directory into the file system through v, which
// should be unchecked (vfs.FS.Unchecked). Only regular files and
// directories are copied; symbolic links and special files are skipped
// and listed in Skipped. Every read goes through an os.Root of the host
// directory, so that nothing outside it is read, even if the tree changes
// while it is copied.
func (m *Mount) CopyIn(v *vfs.View) error {
	if err := v.MkdirAll(m.Guest); err != nil {
		return fmt.Errorf("making %s in the guest: %w", m.Guest, err)
	}
	root, err := os.OpenRoot(m.Host)
	if err != nil {
		return fmt.Errorf("copying %s in: %w", m.Host, err)
	}
	defer root.Close()
	return fs.WalkDir(root.FS(), ".", func(rel string, d fs.DirEntry, err error) error {
		if err != nil {
			return fmt.Errorf("copying %s in: %w", m.Host, err)
		}
		g := m.guestPath(rel)
		switch {
		case d.IsDir():
			m.dirs[g] = true
			if err := v.MkdirAll(g); err != nil {
				return fmt.Errorf("copying %s in: %w", m.hostPath(g), err)
			}
		case d.Type().IsRegular():
			f, err := openRegular(root, rel)
			if err != nil {
				return fmt.Errorf("copying %s in: %w", m.hostPath(g), err)
			}
			if f == nil {
				m.Skipped = append(m.Skipped, m.hostPath(g)+": no longer a regular file: not copied in")
				return nil
			}
			// Streamed into the file system, which checks its limits as
			// it reads: a file larger than they allow (a sparse one of a
			// terabyte takes no disk) is refused after about the limit.
			h := sha256.New()
			_, err = v.WriteFile(g, io.TeeReader(f, h))
			f.Close()
			if err != nil {
				return fmt.Errorf("copying %s in: %w", m.hostPath(g), err)
			}
			m.copied[g] = [32]byte(h.Sum(nil))
		case d.Type()&fs.ModeSymlink != 0:
			m.Skipped = append(m.Skipped, m.hostPath(g)+": a symbolic link: not copied in, and never followed")
		default:
			m.Skipped = append(m.Skipped, m.hostPath(g)+": not a regular file or directory: not copied in")
		}
		return nil
	})
}

// openRegular opens the file rel of root if it is (still) a regular
// file, or returns nil: it may have been replaced by a link or a special
// file since it was listed. The open does not block (a named pipe would
// wait for a writer) and does not follow a link.
func openRegular(root *os.Root, rel string) (*os.File, error) {
	f, err := root.OpenFile(rel, os.O_RDONLY|oNoFollow|oNonBlock, 0)
	if err != nil {
		if st, lerr := root.Lstat(rel); lerr == nil && !st.Mode().IsRegular() {
			return nil, nil
		}
		return nil, err
	}
	if st, err := f.Stat(); err != nil || !st.Mode().IsRegular() {
		f.Close()
		return nil, err
	}
	return f, nil
}

// CopyOut writes the changes made under the guest path back to the host
// directory: removals (of what was copied in) first, deepest first, then
// new directories, then new and changed files, each through a temporary
// file and a rename. Every change goes through an os.Root of the host
// directory, so nothing outside it is ever written or removed, whatever
// links the tree holds or gains meanwhile; a file or directory whose path
// meets a symbolic link is not written back, and the error (wrapping
// ErrSymlink, or the root's refusal) says which, after the rest is done.
func (m *Mount) CopyOut(v *vfs.View) error {
	files, dirs := map[string]bool{}, map[string]bool{}
	var walk func(d string) error
	walk = func(d string) error {
		dirs[d] = true
		ents, err := v.ReadDir(d)
		if err != nil {
			return fmt.Errorf("listing %s in the guest: %w", d, err)
		}
		for _, e := range ents {
			if e.Name == "." || e.Name == ".." {
				continue
			}
			p := path.Join(d, e.Name)
			if e.Dir {
				if err := walk(p); err != nil {
					return err
				}
			} else {
				files[p] = true
			}
		}
		return nil
	}
	if _, err := v.Stat(m.Guest); err == nil {
		if err := walk(m.Guest); err != nil {
			return err
		}
	}
	root, err := os.OpenRoot(m.Host)
	if err != nil {
		return fmt.Errorf("writing back to %s: %w", m.Host, err)
	}
	defer root.Close()
	var errs []error
	var gone []string
	for g := range m.copied {
		if !files[g] {
			gone = append(gone, g)
		}
	}
	for g := range m.dirs {
		if !dirs[g] && g != m.Guest {
			gone = append(gone, g)
		}
	}
	sort.Slice(gone, func(i, j int) bool { return len(gone[i]) > len(gone[j]) })
	for _, g := range gone {
		if err := m.noLinks(root, g); err != nil {
			errs = append(errs, fmt.Errorf("writing back: not removing %s: %w", m.hostPath(g), err))
			continue
		}
		if err := root.Remove(m.rel(g)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, fmt.Errorf("writing back: removing %s: %w", m.hostPath(g), err))
		}
	}
	var newDirs []string
	for g := range dirs {
		if !m.dirs[g] {
			newDirs = append(newDirs, g)
		}
	}
	sort.Strings(newDirs)
	for _, g := range newDirs {
		if err := m.noLinks(root, g); err != nil {
			errs = append(errs, fmt.Errorf("writing back: not making %s: %w", m.hostPath(g), err))
			continue
		}
		if err := root.MkdirAll(m.rel(g), 0o755); err != nil {
			errs = append(errs, fmt.Errorf("writing back: %w", err))
		}
	}
	names := make([]string, 0, len(files))
	for g := range files {
		names = append(names, g)
	}
	sort.Strings(names)
	for _, g := range names {
		s, err := v.Open(g)
		if err != nil {
			return fmt.Errorf("writing back: reading %s in the guest: %w", g, err)
		}
		b, err := io.ReadAll(s)
		if err != nil {
			return fmt.Errorf("writing back: reading %s in the guest: %w", g, err)
		}
		if old, ok := m.copied[g]; ok && old == sha256.Sum256(b) {
			continue
		}
		if err := m.noLinks(root, g); err != nil {
			errs = append(errs, fmt.Errorf("writing back: not writing %s: %w", m.hostPath(g), err))
			continue
		}
		if err := writeFileAtomic(root, m.rel(g), b); err != nil {
			errs = append(errs, fmt.Errorf("writing back %s: %w", m.hostPath(g), err))
		}
	}
	return errors.Join(errs...)
}

// rel is the path of guest path g relative to the host directory, for
// the os.Root ("." for the directory itself).
func (m *Mount) rel(g string) string {
	r := strings.TrimPrefix(strings.TrimPrefix(g, m.Guest), "/")
	if r == "" {
		return "."
	}
	return filepath.FromSlash(r)
}

// noLinks refuses, wrapping ErrSymlink, a guest path g whose host path
// passes through or ends at a symbolic link: links were never copied in,
// so the guest's file or directory there is not what the link names, and
// following it (even inside the directory) would write somewhere the
// program never saw. The os.Root stops any escape regardless; this check
// keeps a write-back from landing anywhere but where the program wrote.
func (m *Mount) noLinks(root *os.Root, g string) error {
	r := m.rel(g)
	if r == "." {
		return nil
	}
	parts := strings.Split(r, string(filepath.Separator))
	for i := range parts {
		p := filepath.Join(parts[:i+1]...)
		st, err := root.Lstat(p)
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return err
		}
		if st.Mode()&fs.ModeSymlink != 0 {
			return fmt.Errorf("%w: %s is a symbolic link on the host, which truce run never follows: remove it, or write elsewhere", ErrSymlink, filepath.Join(m.Host, p))
		}
	}
	return nil
}

// writeFileAtomic replaces the file rel of root through a temporary file
// and a rename, so a reader never sees it half-written. An existing file
// keeps its mode.
func writeFileAtomic(root *os.Root, rel string, b []byte) error {
	mode := fs.FileMode(0o644)
	if st, err := root.Lstat(rel); err == nil && st.Mode().IsRegular() {
		mode = st.Mode().Perm()
	}
	var f *os.File
	var tmp string
	for i := 0; ; i++ {
		tmp = filepath.Join(filepath.Dir(rel), fmt.Sprintf(".truce-run-%d-%d", os.Getpid(), i))
		var err error
		f, err = root.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL|oNoFollow, 0o600)
		if err == nil {
			break
		}
		if !errors.Is(err, fs.ErrExist) || i >= 100 {
			return err
		}
	}
	_, werr := f.Write(b)
	cerr := f.Close()
	if err := errors.Join(werr, cerr, root.Chmod(tmp, mode)); err != nil {
		root.Remove(tmp)
		return err
	}
	if err := root.Rename(tmp, rel); err != nil {
		root.Remove(tmp)
		return err
	}
	return nil
}
