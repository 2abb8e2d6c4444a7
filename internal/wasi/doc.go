// Package wasi implements WASI preview 1 (the "wasi_snapshot_preview1"
// import module) once, in Go, over the enclave's in-memory file system, for
// any engine to bind: every function of the spec is in Functions, each
// reading and writing the guest's linear memory as a []byte with its own
// bounds checks.
//
// A program sees exactly what its capabilities allow: the file system
// through a vfs.View, preopened as "/" on fd 3; stdin, stdout and stderr on
// fds 0-2; and the arguments, environment, clocks and random source given
// in Config. Sockets do not exist in a run (ENOTSOCK, or EBADF for a bad
// fd), nor do signals (ENOTSUP) or symbolic links (path_symlink gives
// ENOTSUP, path_readlink EINVAL).
//
// The observable behaviour follows wasmtime and wazero: fd_readdir lists
// "." and ".." first, with stable cookies; fd_seek on a directory is EBADF
// and on stdio ESPIPE; writes on an fd opened with FDFLAGS_APPEND go to the
// end while fd_pwrite writes at its offset; a trailing slash on a file is
// ENOTDIR; an absolute path or ".." leading out of the directory fd is
// EPERM; a path that is not UTF-8 is EILSEQ. path_open opens for reading
// when the rights ask for FD_READ and for writing when they ask for
// FD_WRITE, each needing the matching capability; other rights are
// recorded and reported, not enforced.
//
// # Errors
//
// File system errors map to errno values as follows (see ErrnoOf):
//
//	vfs.ErrNotExist        NOENT    (also for paths the program cannot see)
//	vfs.ErrExist           EXIST
//	vfs.ErrPermission      ACCES    (the capabilities do not allow it)
//	vfs.QuotaError (file)  FBIG     (the per-file limit)
//	vfs.QuotaError (total) NOSPC    (the limit on all files)
//	vfs.ErrIsDir           ISDIR
//	vfs.ErrNotDir          NOTDIR
//	vfs.ErrNotEmpty        NOTEMPTY
//	vfs.ErrInvalid         INVAL
//	vfs.ErrEscape          PERM     (absolute path, or ".." above the fd)
//	vfs.ErrNotPermitted    PERM     (a hard link to a directory)
//	vfs.ErrNotSupported    NOTSUP
//	vfs.ErrBusy            BUSY     (removing or renaming "/" or ".")
//	vfs.ErrClosed          BADF
//	vfs.ErrBadHandle       BADF     (writing a read-only fd, reading a write-only one)
//	vfs.ErrNameTooLong     NAMETOOLONG
//	anything else          IO
//
// Guest memory faults (a pointer or length outside memory) are EFAULT,
// never a Go panic; a bad fd is EBADF; too many open fds is EMFILE.
//
// This package must never reach the host's file system, network or
// process, and must never let a hostile pointer or length crash the host.
package wasi
