package wasi

import (
	"context"
	"crypto/rand"
	"io"
	"sync"
	"time"

	"github.com/truce-project/truce/internal/vfs"
)

// Config is what a program run sees of the world. The zero value works: no
// arguments, no environment, empty stdin, discarded output, no files, the
// host's clocks and crypto/rand.
type Config struct {
	// Args are the program's arguments, the program name first.
	Args []string
	// Env is the environment, each entry "K=V".
	Env []string
	// Stdin is read by fd 0; nil reads as empty.
	Stdin io.Reader
	// Stdout and Stderr receive fds 1 and 2; nil discards.
	Stdout, Stderr io.Writer
	// FS is the file system as the program's capabilities let it see it,
	// preopened as "/" on fd 3; nil means no preopened directory.
	FS *vfs.View
	// Now gives the realtime clock; nil means time.Now.
	Now func() time.Time
	// Nanotime gives the monotonic clock in nanoseconds; nil means the
	// time elapsed since New.
	Nanotime func() int64
	// Rand fills random_get; nil means crypto/rand.
	Rand io.Reader
	// MaxFiles bounds the open file descriptors, stdio and the preopen
	// included; zero means 1024.
	MaxFiles int
	// Sleep waits for poll_oneoff clock subscriptions; nil means a timer
	// that stops early when ctx is done. It returns ctx's error if it
	// stopped early, which aborts the program.
	Sleep func(ctx context.Context, d time.Duration) error
}

// System is the WASI state of one program run: its file descriptors,
// arguments, environment, clocks and random source. Its methods are safe
// for concurrent use, though a program normally calls from one thread.
type System struct {
	mu       sync.Mutex
	args     []string
	env      []string
	stdin    io.Reader
	stdout   io.Writer
	stderr   io.Writer
	view     *vfs.View
	now      func() time.Time
	nanotime func() int64
	rand     io.Reader
	sleep    func(context.Context, time.Duration) error
	maxFiles int
	fds      map[uint32]*fdEntry
	closed   bool
}

// kind is what a file descriptor refers to.
type kind uint8

const (
	kindStdin kind = iota
	kindStdout
	kindStderr
	kindDir
	kindFile
)

// fdEntry is one open file descriptor.
type fdEntry struct {
	kind    kind
	h       *vfs.Handle // for kindDir and kindFile
	preopen string      // name of a preopened directory, or ""
	pos     int64       // file position
	append  bool        // FDFLAGS_APPEND
	flags   uint16      // fdflags as last set
	base    uint64      // rights reported by fd_fdstat_get
	inherit uint64
	// Directory listing state: the entries fetched for cookie dirCookie.
}

// New creates the WASI state of a run from cfg. Fds 0, 1 and 2 are stdin,
// stdout and stderr; fd 3 is the preopened root when cfg.FS is set.
func New(cfg Config) *System {
	s := &System{
		args: append([]string(nil), cfg.Args...), env: append([]string(nil), cfg.Env...),
		stdin: cfg.Stdin, stdout: cfg.Stdout, stderr: cfg.Stderr, view: cfg.FS,
		now: cfg.Now, nanotime: cfg.Nanotime, rand: cfg.Rand, sleep: cfg.Sleep,
		maxFiles: cfg.MaxFiles, fds: map[uint32]*fdEntry{},
	}
	if s.stdin == nil {
		s.stdin = eofReader{}
	}
	if s.stdout == nil {
		s.stdout = io.Discard
	}
	if s.stderr == nil {
		s.stderr = io.Discard
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.nanotime == nil {
		start := time.Now()
		s.nanotime = func() int64 { return int64(time.Since(start)) }
	}
	if s.rand == nil {
		s.rand = rand.Reader
	}
	if s.sleep == nil {
		s.sleep = sleepCtx
	}
	if s.maxFiles <= 0 {
		s.maxFiles = 1024
	}
	s.fds[0] = &fdEntry{kind: kindStdin, base: stdinRights}
	s.fds[1] = &fdEntry{kind: kindStdout, base: stdoutRights, append: true, flags: fdflagAppend}
	s.fds[2] = &fdEntry{kind: kindStderr, base: stdoutRights, append: true, flags: fdflagAppend}
	if s.view != nil {
		s.fds[3] = &fdEntry{kind: kindDir, h: s.view.Root(), preopen: "/", base: dirRights, inherit: dirRights | fileRights}
	}
	return s
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

type eofReader struct{}

func (eofReader) Read([]byte) (int, error) { return 0, io.EOF }

// Close closes every open file descriptor. The System must not be used
// afterwards.
func (s *System) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	for fd, e := range s.fds {
		if e.h != nil {
			e.h.Close()
		}
		delete(s.fds, fd)
	}
	return nil
}

// OpenFiles returns how many file descriptors are open, stdio included.
func (s *System) OpenFiles() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.fds)
}

// get returns the open fd, or EBADF. Must be called with s.mu held.
func (s *System) get(fd uint32) (*fdEntry, Errno) {
	e, ok := s.fds[fd]
	if !ok {
		return nil, ErrnoBadf
	}
	return e, ErrnoSuccess
}

// add gives e the lowest free fd. Must be called with s.mu held.
func (s *System) add(e *fdEntry) (uint32, Errno) {
	if len(s.fds) >= s.maxFiles {
		return 0, ErrnoMfile
	}
	for fd := uint32(0); ; fd++ {
		if _, used := s.fds[fd]; !used {
			s.fds[fd] = e
			return fd, ErrnoSuccess
		}
	}
}

// ExitError is the error proc_exit returns to abort the program with an
// exit code.
type ExitError struct{ Code uint32 }

// Error gives the exit code.
func (e *ExitError) Error() string {
	return "program exited with code " + itoa(uint64(e.Code))
}

func itoa(v uint64) string {
	var b [20]byte
	i := len(b)
	for {
		i--
		b[i] = byte('0' + v%10)
		v /= 10
		if v == 0 {
			return string(b[i:])
		}
	}
}
