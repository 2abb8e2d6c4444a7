package wasi

import (
	"context"
	"errors"
	"io"
	"math"
	"time"
	"unicode/utf8"

	"github.com/truce-project/truce/internal/vfs"
)

// maxIOVecs bounds the iovecs of one call, as IOV_MAX does.
const maxIOVecs = 1024

// maxDirBatch bounds the directory entries fd_readdir fetches from the
// file system at once.
const maxDirBatch = 256

// devID is the device number files of the file system report.
const devID = 1

func u32(v uint64) uint32 { return uint32(v) }

// ioBufs reads the iovecs of a read or write call, reporting EFAULT for
// any out of memory and EINVAL for too many.
func ioBufs(m mem, ptr, n uint32) ([][]byte, Errno) {
	if n > maxIOVecs {
		return nil, ErrnoInval
	}
	bufs, ok := m.iovecs(ptr, n)
	if !ok {
		return nil, ErrnoFault
	}
	return bufs, ErrnoSuccess
}

// fdRead is fd_read(fd, iovs, iovs_len, nread).
func fdRead(_ context.Context, s *System, m mem, p []uint64) (Errno, error) {
	e, errno := s.get(u32(p[0]))
	if errno != 0 {
		return errno, nil
	}
	bufs, errno := ioBufs(m, u32(p[1]), u32(p[2]))
	if errno != 0 {
		return errno, nil
	}
	resPtr := u32(p[3])
	if _, ok := m.slice(resPtr, 4); !ok {
		return ErrnoFault, nil
	}
	var n int64
	switch e.kind {
	case kindStdin:
		for _, b := range bufs {
			if len(b) == 0 {
				continue
			}
			k, err := s.stdin.Read(b)
			n += int64(k)
			if err != nil && !errors.Is(err, io.EOF) && n == 0 {
				return ErrnoIo, nil
			}
			if err != nil || k < len(b) {
				break
			}
		}
	case kindFile:
		for _, b := range bufs {
			k, err := e.h.ReadAt(b, e.pos)
			e.pos += int64(k)
			n += int64(k)
			if err != nil && !errors.Is(err, io.EOF) {
				if n > 0 {
					break
				}
				return ErrnoOf(err), nil
			}
			if err != nil || k < len(b) {
				break
			}
		}
	default:
		return ErrnoBadf, nil
	}
	m.putU32(resPtr, uint32(n))
	return ErrnoSuccess, nil
}

// fdPread is fd_pread(fd, iovs, iovs_len, offset, nread).
func fdPread(_ context.Context, s *System, m mem, p []uint64) (Errno, error) {
	e, errno := s.get(u32(p[0]))
	if errno != 0 {
		return errno, nil
	}
	bufs, errno := ioBufs(m, u32(p[1]), u32(p[2]))
	if errno != 0 {
		return errno, nil
	}
	off, resPtr := p[3], u32(p[4])
	if _, ok := m.slice(resPtr, 4); !ok {
		return ErrnoFault, nil
	}
	switch e.kind {
	case kindFile:
	case kindDir:
		return ErrnoBadf, nil
	default:
		return ErrnoSpipe, nil
	}
	if off > math.MaxInt64 {
		return ErrnoInval, nil
	}
	pos, n := int64(off), int64(0)
	for _, b := range bufs {
		k, err := e.h.ReadAt(b, pos)
		pos += int64(k)
		n += int64(k)
		if err != nil && !errors.Is(err, io.EOF) {
			if n > 0 {
				break
			}
			return ErrnoOf(err), nil
		}
		if err != nil || k < len(b) {
			break
		}
	}
	m.putU32(resPtr, uint32(n))
	return ErrnoSuccess, nil
}

// maxWrite bounds the bytes one fd_write or fd_pwrite writes, as Linux
// caps one write(2) at 0x7ffff000 bytes: nwritten is a u32, and a write of
// more is short, as POSIX allows. Nothing is allocated for a write of any
// size: each iovec goes straight from guest memory into the file.
const maxWrite = 0x7ffff000

// total returns the bytes the buffers hold together, at most maxWrite,
// and the buffers cut to that many.
func total(bufs [][]byte) ([][]byte, int64) {
	var n int64
	for i, b := range bufs {
		if n+int64(len(b)) > maxWrite {
			bufs[i] = b[:maxWrite-n]
			return bufs[:i+1], maxWrite
		}
		n += int64(len(b))
	}
	return bufs, n
}

// quotaCheck refuses, before anything is written or allocated, a write of
// n bytes at off (or at the end, when off < 0) that the file system's
// limits would refuse: EFBIG for the per-file limit, ENOSPC for the total.
// The file system checks again as the file grows, so a write racing
// another's stops short rather than going over.
func quotaCheck(h *vfs.Handle, off, n int64) Errno {
	if n == 0 {
		return ErrnoSuccess
	}
	size := h.Size()
	if off < 0 {
		off = size
	}
	end := off + n
	if end < off || end > vfs.MaxFileBytes {
		return ErrnoFbig
	}
	if end <= size {
		return ErrnoSuccess
	}
	fsys := h.View().FS()
	lim := fsys.Limits()
	if lim.FileBytes > 0 && end > lim.FileBytes {
		return ErrnoFbig
	}
	if lim.TotalBytes > 0 && fsys.Used()+end-size > lim.TotalBytes {
		return ErrnoNospc
	}
	return ErrnoSuccess
}

// writeFile writes bufs to the file of e at off, or at its end when off
// < 0, one iovec at a time straight from guest memory: no buffer is
// gathered, whatever the iovecs hold. The quota is checked for the whole
// write first, so a write it refuses writes nothing; a write the file
// system stops part way (a concurrent writer took the room) is short, and
// only an error before any byte is an errno. It returns the bytes written.
func writeFile(e *fdEntry, bufs [][]byte, off int64) (int64, Errno) {
	need := vfs.FlagWrite
	if off < 0 {
		need |= vfs.FlagAppend
	}
	if e.h.Flags()&need == 0 {
		return 0, ErrnoBadf
	}
	bufs, n := total(bufs)
	if errno := quotaCheck(e.h, off, n); errno != 0 {
		return 0, errno
	}
	var done int64
	for _, b := range bufs {
		if len(b) == 0 {
			continue
		}
		var err error
		if off < 0 {
			_, err = e.h.Append(b)
		} else {
			_, err = e.h.WriteAt(b, off+done)
		}
		if err != nil {
			if done > 0 {
				break
			}
			return 0, ErrnoOf(err)
		}
		done += int64(len(b))
	}
	return done, ErrnoSuccess
}

// fdWrite is fd_write(fd, iovs, iovs_len, nwritten).
func fdWrite(_ context.Context, s *System, m mem, p []uint64) (Errno, error) {
	e, errno := s.get(u32(p[0]))
	if errno != 0 {
		return errno, nil
	}
	bufs, errno := ioBufs(m, u32(p[1]), u32(p[2]))
	if errno != 0 {
		return errno, nil
	}
	resPtr := u32(p[3])
	if _, ok := m.slice(resPtr, 4); !ok {
		return ErrnoFault, nil
	}
	var n int64
	switch e.kind {
	case kindStdout, kindStderr:
		w := s.stdout
		if e.kind == kindStderr {
			w = s.stderr
		}
		bufs, _ = total(bufs)
		for _, b := range bufs {
			if len(b) == 0 {
				continue
			}
			k, err := w.Write(b)
			n += int64(k)
			if err != nil {
				return ErrnoOf(err), nil
			}
		}
	case kindFile:
		off := e.pos
		if e.append {
			off = -1
		}
		if n, errno = writeFile(e, bufs, off); errno != 0 {
			return errno, nil
		}
		if e.append {
			e.pos = e.h.Size()
		} else {
			e.pos += n
		}
	default:
		return ErrnoBadf, nil
	}
	m.putU32(resPtr, uint32(n))
	return ErrnoSuccess, nil
}

// fdPwrite is fd_pwrite(fd, iovs, iovs_len, offset, nwritten). It writes
// at the offset even when the fd appends, as POSIX says.
func fdPwrite(_ context.Context, s *System, m mem, p []uint64) (Errno, error) {
	e, errno := s.get(u32(p[0]))
	if errno != 0 {
		return errno, nil
	}
	bufs, errno := ioBufs(m, u32(p[1]), u32(p[2]))
	if errno != 0 {
		return errno, nil
	}
	off, resPtr := p[3], u32(p[4])
	if _, ok := m.slice(resPtr, 4); !ok {
		return ErrnoFault, nil
	}
	switch e.kind {
	case kindFile:
	case kindDir:
		return ErrnoBadf, nil
	default:
		return ErrnoSpipe, nil
	}
	if off > math.MaxInt64 {
		return ErrnoInval, nil
	}
	k, errno := writeFile(e, bufs, int64(off))
	if errno != 0 {
		return errno, nil
	}
	m.putU32(resPtr, uint32(k))
	return ErrnoSuccess, nil
}

// fdSeek is fd_seek(fd, offset, whence, newoffset).
func fdSeek(_ context.Context, s *System, m mem, p []uint64) (Errno, error) {
	e, errno := s.get(u32(p[0]))
	if errno != 0 {
		return errno, nil
	}
	return seek(e, m, int64(p[1]), u32(p[2]), u32(p[3]))
}

func seek(e *fdEntry, m mem, off int64, whence, resPtr uint32) (Errno, error) {
	switch e.kind {
	case kindFile:
	case kindDir:
		return ErrnoBadf, nil
	default:
		return ErrnoSpipe, nil
	}
	if _, ok := m.slice(resPtr, 8); !ok {
		return ErrnoFault, nil
	}
	var base int64
	switch whence {
	case whenceSet:
	case whenceCur:
		base = e.pos
	case whenceEnd:
		base = e.h.Size()
	default:
		return ErrnoInval, nil
	}
	n := base + off
	if off > 0 && n < base || n < 0 {
		return ErrnoInval, nil
	}
	e.pos = n
	m.putU64(resPtr, uint64(n))
	return ErrnoSuccess, nil
}

// fdTell is fd_tell(fd, offset).
func fdTell(_ context.Context, s *System, m mem, p []uint64) (Errno, error) {
	e, errno := s.get(u32(p[0]))
	if errno != 0 {
		return errno, nil
	}
	return seek(e, m, 0, whenceCur, u32(p[1]))
}

// fdClose is fd_close(fd). Preopened directories may be closed too.
func fdClose(_ context.Context, s *System, _ mem, p []uint64) (Errno, error) {
	fd := u32(p[0])
	e, errno := s.get(fd)
	if errno != 0 {
		return errno, nil
	}
	delete(s.fds, fd)
	if e.h != nil {
		e.h.Close()
	}
	return ErrnoSuccess, nil
}

// fdRenumber is fd_renumber(fd, to): to is closed and fd moves there.
func fdRenumber(_ context.Context, s *System, _ mem, p []uint64) (Errno, error) {
	from, to := u32(p[0]), u32(p[1])
	e, errno := s.get(from)
	if errno != 0 {
		return errno, nil
	}
	old, errno := s.get(to)
	if errno != 0 {
		return errno, nil
	}
	if from == to {
		return ErrnoSuccess, nil
	}
	if old.h != nil {
		old.h.Close()
	}
	s.fds[to] = e
	delete(s.fds, from)
	return ErrnoSuccess, nil
}

// fdSync is fd_sync and fd_datasync: memory needs no syncing.
func fdSync(_ context.Context, s *System, _ mem, p []uint64) (Errno, error) {
	_, errno := s.get(u32(p[0]))
	return errno, nil
}

// fdAdvise is fd_advise(fd, offset, len, advice): advice is checked and
// ignored.
func fdAdvise(_ context.Context, s *System, _ mem, p []uint64) (Errno, error) {
	e, errno := s.get(u32(p[0]))
	if errno != 0 {
		return errno, nil
	}
	if e.kind == kindDir {
		return ErrnoBadf, nil
	}
	if u32(p[3]) > 5 {
		return ErrnoInval, nil
	}
	if e.kind != kindFile {
		return ErrnoSpipe, nil
	}
	return ErrnoSuccess, nil
}

// fdAllocate is fd_allocate(fd, offset, len): the file grows to at least
// offset+len bytes.
func fdAllocate(_ context.Context, s *System, _ mem, p []uint64) (Errno, error) {
	e, errno := s.get(u32(p[0]))
	if errno != 0 {
		return errno, nil
	}
	if e.kind != kindFile {
		return ErrnoBadf, nil
	}
	off, n := p[1], p[2]
	end := off + n
	if end < off || end > math.MaxInt64 {
		return ErrnoInval, nil
	}
	if int64(end) <= e.h.Size() {
		if e.h.Flags()&vfs.FlagWrite == 0 {
			return ErrnoBadf, nil
		}
		return ErrnoSuccess, nil
	}
	return ErrnoOf(e.h.Truncate(int64(end))), nil
}

// filetype returns the WASI file type of an fd.
func (e *fdEntry) filetype() byte {
	switch e.kind {
	case kindDir:
		return filetypeDirectory
	case kindFile:
		return filetypeRegularFile
	}
	return filetypeCharacterDevice
}

// fdFdstatGet is fd_fdstat_get(fd, buf).
func fdFdstatGet(_ context.Context, s *System, m mem, p []uint64) (Errno, error) {
	e, errno := s.get(u32(p[0]))
	if errno != 0 {
		return errno, nil
	}
	b, ok := m.slice(u32(p[1]), fdstatSize)
	if !ok {
		return ErrnoFault, nil
	}
	clear(b)
	b[0] = e.filetype()
	flags := e.flags &^ fdflagAppend
	if e.append {
		flags |= fdflagAppend
	}
	le.PutUint16(b[2:], flags)
	le.PutUint64(b[8:], e.base)
	le.PutUint64(b[16:], e.inherit)
	return ErrnoSuccess, nil
}

// fdFdstatSetFlags is fd_fdstat_set_flags(fd, flags). Only APPEND changes
// behaviour; the sync flags and NONBLOCK are accepted and recorded.
func fdFdstatSetFlags(_ context.Context, s *System, _ mem, p []uint64) (Errno, error) {
	e, errno := s.get(u32(p[0]))
	if errno != 0 {
		return errno, nil
	}
	fl := p[1]
	if fl&^uint64(fdflagAppend|fdflagDsync|fdflagNonblock|fdflagRsync|fdflagSync) != 0 {
		return ErrnoInval, nil
	}
	e.flags = uint16(fl)
	if e.kind == kindFile {
		e.append = fl&fdflagAppend != 0
	}
	return ErrnoSuccess, nil
}

// fdFdstatSetRights is fd_fdstat_set_rights(fd, base, inheriting): rights
// can only shrink.
func fdFdstatSetRights(_ context.Context, s *System, _ mem, p []uint64) (Errno, error) {
	e, errno := s.get(u32(p[0]))
	if errno != 0 {
		return errno, nil
	}
	base, inh := p[1], p[2]
	if base&^e.base != 0 || inh&^e.inherit != 0 {
		return ErrnoNotcapable, nil
	}
	e.base, e.inherit = base, inh
	return ErrnoSuccess, nil
}

func nanos(t time.Time) uint64 {
	if t.IsZero() || t.UnixNano() < 0 {
		return 0
	}
	return uint64(t.UnixNano())
}

// putFilestat writes a filestat for info at b (64 bytes).
func putFilestat(b []byte, i vfs.Info) {
	clear(b)
	le.PutUint64(b[0:], devID)
	le.PutUint64(b[8:], i.Inode)
	if i.Dir {
		b[16] = filetypeDirectory
	} else {
		b[16] = filetypeRegularFile
	}
	le.PutUint64(b[24:], i.Links)
	le.PutUint64(b[32:], uint64(i.Size))
	le.PutUint64(b[40:], nanos(i.AccessTime))
	le.PutUint64(b[48:], nanos(i.ModTime))
	le.PutUint64(b[56:], nanos(i.ChangeTime))
}

// fdFilestatGet is fd_filestat_get(fd, buf).
func fdFilestatGet(_ context.Context, s *System, m mem, p []uint64) (Errno, error) {
	e, errno := s.get(u32(p[0]))
	if errno != 0 {
		return errno, nil
	}
	b, ok := m.slice(u32(p[1]), filestatSize)
	if !ok {
		return ErrnoFault, nil
	}
	if e.h == nil {
		clear(b)
		b[16] = filetypeCharacterDevice
		le.PutUint64(b[24:], 1)
		return ErrnoSuccess, nil
	}
	i, err := e.h.Stat()
	if err != nil {
		return ErrnoOf(err), nil
	}
	putFilestat(b, i)
	return ErrnoSuccess, nil
}

// fdFilestatSetSize is fd_filestat_set_size(fd, size).
func fdFilestatSetSize(_ context.Context, s *System, _ mem, p []uint64) (Errno, error) {
	e, errno := s.get(u32(p[0]))
	if errno != 0 {
		return errno, nil
	}
	if e.kind != kindFile {
		return ErrnoBadf, nil
	}
	if p[1] > math.MaxInt64 {
		return ErrnoInval, nil
	}
	return ErrnoOf(e.h.Truncate(int64(p[1]))), nil
}

// times turns the atim, mtim and fst_flags of a set_times call into the
// times to set (nil: leave as is).
func (s *System) times(atim, mtim uint64, fst uint32) (a, mt *time.Time, errno Errno) {
	if fst&^uint32(fstflagAtim|fstflagAtimNow|fstflagMtim|fstflagMtimNow) != 0 ||
		fst&fstflagAtim != 0 && fst&fstflagAtimNow != 0 ||
		fst&fstflagMtim != 0 && fst&fstflagMtimNow != 0 {
		return nil, nil, ErrnoInval
	}
	conv := func(ns uint64) *time.Time {
		if ns > math.MaxInt64 {
			ns = math.MaxInt64
		}
		t := time.Unix(0, int64(ns)).UTC()
		return &t
	}
	now := s.now()
	switch {
	case fst&fstflagAtim != 0:
		a = conv(atim)
	case fst&fstflagAtimNow != 0:
		a = &now
	}
	switch {
	case fst&fstflagMtim != 0:
		mt = conv(mtim)
	case fst&fstflagMtimNow != 0:
		mt = &now
	}
	return a, mt, ErrnoSuccess
}

// fdFilestatSetTimes is fd_filestat_set_times(fd, atim, mtim, fst_flags).
func fdFilestatSetTimes(_ context.Context, s *System, _ mem, p []uint64) (Errno, error) {
	e, errno := s.get(u32(p[0]))
	if errno != 0 {
		return errno, nil
	}
	a, mt, errno := s.times(p[1], p[2], u32(p[3]))
	if errno != 0 {
		return errno, nil
	}
	if e.h == nil {
		return ErrnoSuccess, nil // stdio: nothing to record
	}
	return ErrnoOf(e.h.SetTimes(a, mt)), nil
}

// fdPrestatGet is fd_prestat_get(fd, buf).
func fdPrestatGet(_ context.Context, s *System, m mem, p []uint64) (Errno, error) {
	e, errno := s.get(u32(p[0]))
	if errno != 0 {
		return errno, nil
	}
	if e.preopen == "" {
		return ErrnoBadf, nil
	}
	b, ok := m.slice(u32(p[1]), prestatSize)
	if !ok {
		return ErrnoFault, nil
	}
	clear(b)
	le.PutUint32(b[4:], uint32(len(e.preopen)))
	return ErrnoSuccess, nil
}

// fdPrestatDirName is fd_prestat_dir_name(fd, path, path_len).
func fdPrestatDirName(_ context.Context, s *System, m mem, p []uint64) (Errno, error) {
	e, errno := s.get(u32(p[0]))
	if errno != 0 {
		return errno, nil
	}
	if e.preopen == "" {
		return ErrnoBadf, nil
	}
	n := u32(p[2])
	if n < uint32(len(e.preopen)) {
		return ErrnoNametoolong, nil
	}
	b, ok := m.slice(u32(p[1]), uint32(len(e.preopen)))
	if !ok {
		return ErrnoFault, nil
	}
	copy(b, e.preopen)
	return ErrnoSuccess, nil
}

// fdReaddir is fd_readdir(fd, buf, buf_len, cookie, bufused). It lists
// "." (cookie 1 follows it) and ".." (cookie 2), then the entries the
// program may see, each followed by its own stable cookie. The last entry
// that does not fit is cut, so a full buffer means "call again".
func fdReaddir(_ context.Context, s *System, m mem, p []uint64) (Errno, error) {
	e, errno := s.get(u32(p[0]))
	if errno != 0 {
		return errno, nil
	}
	switch e.kind {
	case kindDir:
	case kindFile:
		return ErrnoNotdir, nil
	default:
		return ErrnoBadf, nil
	}
	buf, ok := m.slice(u32(p[1]), u32(p[2]))
	if !ok {
		return ErrnoFault, nil
	}
	cookie, resPtr := p[3], u32(p[4])
	if _, ok := m.slice(resPtr, 4); !ok {
		return ErrnoFault, nil
	}
	st, err := e.h.Stat()
	if err != nil {
		return ErrnoOf(err), nil
	}
	used := 0
	put := func(next, ino uint64, name string, dir bool) bool {
		var hdr [direntSize]byte
		le.PutUint64(hdr[0:], next)
		le.PutUint64(hdr[8:], ino)
		le.PutUint32(hdr[16:], uint32(len(name)))
		hdr[20] = filetypeRegularFile
		if dir {
			hdr[20] = filetypeDirectory
		}
		used += copy(buf[used:], hdr[:])
		used += copy(buf[used:], name)
		return used < len(buf)
	}
	if cookie == 0 && !put(1, st.Inode, ".", true) {
		m.putU32(resPtr, uint32(used))
		return ErrnoSuccess, nil
	}
	if cookie <= 1 && !put(2, e.h.ParentInode(), "..", true) {
		m.putU32(resPtr, uint32(used))
		return ErrnoSuccess, nil
	}
	after := uint64(0)
	if cookie > 2 {
		after = cookie - 2
	}
	for used < len(buf) {
		// At most maxDirBatch entries a step, whatever the buffer's size:
		// the listing is copied out of the file system, and a guest may
		// offer a buffer of gigabytes over a directory of millions.
		want := min((len(buf)-used)/(direntSize+1)+1, maxDirBatch)
		ents, err := e.h.ReadDir(after, want)
		if err != nil {
			return ErrnoOf(err), nil
		}
		if len(ents) == 0 {
			break
		}
		for _, d := range ents {
			after = d.Next
			if !put(d.Next+2, d.Inode, d.Name, d.Dir) {
				break
			}
		}
	}
	m.putU32(resPtr, uint32(used))
	return ErrnoSuccess, nil
}

// dirOf returns the directory handle of fd for a path_* call.
func (s *System) dirOf(fd uint32) (*vfs.Handle, Errno) {
	e, errno := s.get(fd)
	if errno != 0 {
		return nil, errno
	}
	switch e.kind {
	case kindDir:
		return e.h, ErrnoSuccess
	case kindFile:
		return nil, ErrnoNotdir
	}
	return nil, ErrnoBadf
}

// path reads a path argument: EFAULT outside memory, EILSEQ if not UTF-8.
func path(m mem, ptr, n uint32) (string, Errno) {
	b, ok := m.slice(ptr, n)
	if !ok {
		return "", ErrnoFault
	}
	if n > vfs.MaxPath {
		return "", ErrnoNametoolong // before copying a huge string
	}
	p := string(b)
	if !utf8.ValidString(p) {
		return "", ErrnoIlseq
	}
	return p, ErrnoSuccess
}

// dirPath reads the (fd, path, path_len) arguments at p[i:].
func (s *System) dirPath(m mem, p []uint64) (*vfs.Handle, string, Errno) {
	d, errno := s.dirOf(u32(p[0]))
	if errno != 0 {
		return nil, "", errno
	}
	name, errno := path(m, u32(p[1]), u32(p[2]))
	return d, name, errno
}

// pathCreateDirectory is path_create_directory(fd, path, path_len).
func pathCreateDirectory(_ context.Context, s *System, m mem, p []uint64) (Errno, error) {
	d, name, errno := s.dirPath(m, p)
	if errno != 0 {
		return errno, nil
	}
	return ErrnoOf(d.Mkdir(name)), nil
}

// pathRemoveDirectory is path_remove_directory(fd, path, path_len).
func pathRemoveDirectory(_ context.Context, s *System, m mem, p []uint64) (Errno, error) {
	d, name, errno := s.dirPath(m, p)
	if errno != 0 {
		return errno, nil
	}
	return ErrnoOf(d.Rmdir(name)), nil
}

// pathUnlinkFile is path_unlink_file(fd, path, path_len).
func pathUnlinkFile(_ context.Context, s *System, m mem, p []uint64) (Errno, error) {
	d, name, errno := s.dirPath(m, p)
	if errno != 0 {
		return errno, nil
	}
	return ErrnoOf(d.Remove(name)), nil
}

// pathFilestatGet is path_filestat_get(fd, flags, path, path_len, buf).
// The lookup flags are ignored: there are no symbolic links to follow.
func pathFilestatGet(_ context.Context, s *System, m mem, p []uint64) (Errno, error) {
	d, name, errno := s.dirPath(m, []uint64{p[0], p[2], p[3]})
	if errno != 0 {
		return errno, nil
	}
	b, ok := m.slice(u32(p[4]), filestatSize)
	if !ok {
		return ErrnoFault, nil
	}
	i, err := d.StatAt(name)
	if err != nil {
		return ErrnoOf(err), nil
	}
	putFilestat(b, i)
	return ErrnoSuccess, nil
}

// pathFilestatSetTimes is path_filestat_set_times(fd, flags, path,
// path_len, atim, mtim, fst_flags).
func pathFilestatSetTimes(_ context.Context, s *System, m mem, p []uint64) (Errno, error) {
	d, name, errno := s.dirPath(m, []uint64{p[0], p[2], p[3]})
	if errno != 0 {
		return errno, nil
	}
	a, mt, errno := s.times(p[4], p[5], u32(p[6]))
	if errno != 0 {
		return errno, nil
	}
	return ErrnoOf(d.SetTimesAt(name, a, mt)), nil
}

// pathLink is path_link(old_fd, old_flags, old_path, old_path_len, new_fd,
// new_path, new_path_len).
func pathLink(_ context.Context, s *System, m mem, p []uint64) (Errno, error) {
	od, oname, errno := s.dirPath(m, []uint64{p[0], p[2], p[3]})
	if errno != 0 {
		return errno, nil
	}
	nd, nname, errno := s.dirPath(m, p[4:7])
	if errno != 0 {
		return errno, nil
	}
	return ErrnoOf(od.Link(oname, nd, nname)), nil
}

// pathRename is path_rename(fd, old_path, old_path_len, new_fd, new_path,
// new_path_len).
func pathRename(_ context.Context, s *System, m mem, p []uint64) (Errno, error) {
	od, oname, errno := s.dirPath(m, p[0:3])
	if errno != 0 {
		return errno, nil
	}
	nd, nname, errno := s.dirPath(m, p[3:6])
	if errno != 0 {
		return errno, nil
	}
	return ErrnoOf(od.Rename(oname, nd, nname)), nil
}

// pathReadlink is path_readlink(fd, path, path_len, buf, buf_len,
// bufused). Nothing is a symbolic link: an existing path gives EINVAL, as
// readlink does for a file that is not a link.
func pathReadlink(_ context.Context, s *System, m mem, p []uint64) (Errno, error) {
	d, name, errno := s.dirPath(m, p[0:3])
	if errno != 0 {
		return errno, nil
	}
	if _, ok := m.slice(u32(p[3]), u32(p[4])); !ok {
		return ErrnoFault, nil
	}
	if _, ok := m.slice(u32(p[5]), 4); !ok {
		return ErrnoFault, nil
	}
	if _, err := d.StatAt(name); err != nil {
		return ErrnoOf(err), nil
	}
	return ErrnoInval, nil
}

// pathSymlink is path_symlink(old_path, old_path_len, fd, new_path,
// new_path_len). The file system has no symbolic links: ENOTSUP, or
// EEXIST when the new path already exists.
func pathSymlink(_ context.Context, s *System, m mem, p []uint64) (Errno, error) {
	if _, errno := path(m, u32(p[0]), u32(p[1])); errno != 0 {
		return errno, nil
	}
	d, name, errno := s.dirPath(m, p[2:5])
	if errno != 0 {
		return errno, nil
	}
	if _, err := d.StatAt(name); err == nil {
		return ErrnoExist, nil
	}
	return ErrnoNotsup, nil
}

// pathOpen is path_open(fd, dirflags, path, path_len, oflags,
// fs_rights_base, fs_rights_inheriting, fdflags, opened_fd). Asking for
// FD_READ opens for reading and FD_WRITE for writing, each needing the
// matching capability; the other rights are recorded, not enforced.
func pathOpen(_ context.Context, s *System, m mem, p []uint64) (Errno, error) {
	d, name, errno := s.dirPath(m, []uint64{p[0], p[2], p[3]})
	if errno != 0 {
		return errno, nil
	}
	oflags, base, inherit, fdflags, resPtr := u32(p[4]), p[5], p[6], u32(p[7]), u32(p[8])
	if _, ok := m.slice(resPtr, 4); !ok {
		return ErrnoFault, nil
	}
	if oflags&^uint32(oflagCreat|oflagDirectory|oflagExcl|oflagTrunc) != 0 ||
		fdflags&^uint32(fdflagAppend|fdflagDsync|fdflagNonblock|fdflagRsync|fdflagSync) != 0 {
		return ErrnoInval, nil
	}
	if oflags&oflagCreat != 0 && oflags&oflagDirectory != 0 {
		return ErrnoInval, nil
	}
	var fl vfs.Flags
	if oflags&oflagCreat != 0 {
		fl |= vfs.FlagCreate
	}
	if oflags&oflagExcl != 0 {
		fl |= vfs.FlagExcl
	}
	if oflags&oflagTrunc != 0 {
		fl |= vfs.FlagTrunc
	}
	if oflags&oflagDirectory != 0 {
		fl |= vfs.FlagDirectory
	}
	read := base&readRights != 0
	write := base&writeRights != 0
	appendMode := fdflags&fdflagAppend != 0
	if read {
		fl |= vfs.FlagRead
	}
	if write {
		fl |= vfs.FlagWrite
		if appendMode {
			fl |= vfs.FlagAppend
		}
	}
	h, err := d.Open(name, fl)
	if write && appendMode && errors.Is(err, vfs.ErrPermission) {
		// The program may add to the file without the right to change
		// it: open for appending only.
		h, err = d.Open(name, fl&^vfs.FlagWrite)
	}
	if err != nil {
		return ErrnoOf(err), nil
	}
	e := &fdEntry{kind: kindFile, h: h, append: appendMode, flags: uint16(fdflags), inherit: inherit}
	if h.IsDir() {
		e.kind = kindDir
		e.append = false
		e.flags &^= fdflagAppend
		e.base = base & dirRights
	} else {
		e.base = base & fileRights
		if h.Flags()&vfs.FlagRead == 0 {
			e.base &^= rightFdRead
		}
		if h.Flags()&(vfs.FlagWrite|vfs.FlagAppend) == 0 {
			e.base &^= rightFdWrite
		}
	}
	fd, errno := s.add(e)
	if errno != 0 {
		h.Close()
		return errno, nil
	}
	m.putU32(resPtr, fd)
	return ErrnoSuccess, nil
}
