package vfs

import (
	"errors"
	"fmt"
	"io/fs"
)

// Errors returned by the file system. Test for them with errors.Is; each
// maps to one WASI errno (see package wasi).
var (
	// ErrNotExist: no such file or directory, or one the holder cannot see.
	ErrNotExist = fmt.Errorf("no such file or directory: %w", fs.ErrNotExist)
	// ErrExist: the path already exists.
	ErrExist = fmt.Errorf("file already exists: %w", fs.ErrExist)
	// ErrPermission: the holder's capabilities do not allow the access.
	ErrPermission = fmt.Errorf("capabilities do not allow this access: %w", fs.ErrPermission)
	// ErrQuota: a size limit (per file or in total) would be exceeded.
	// The error is a *QuotaError saying which.
	ErrQuota = errors.New("size limit exceeded")
	// ErrIsDir: a directory was named where a file is needed.
	ErrIsDir = errors.New("is a directory")
	// ErrNotDir: a file was named where a directory is needed.
	ErrNotDir = errors.New("not a directory")
	// ErrNotEmpty: the directory to remove or replace is not empty.
	ErrNotEmpty = errors.New("directory not empty")
	// ErrInvalid: an invalid argument, such as a malformed path or a
	// negative offset.
	ErrInvalid = fmt.Errorf("invalid argument: %w", fs.ErrInvalid)
	// ErrEscape: the path leads outside the directory it is relative to.
	ErrEscape = errors.New("path leads outside its directory")
	// ErrNotSupported: the operation does not exist in this file system
	// (symbolic links).
	ErrNotSupported = errors.New("operation not supported: the file system has no symbolic links")
	// ErrNotPermitted: the operation is never allowed on this kind of
	// file, whatever the capabilities (a hard link to a directory).
	ErrNotPermitted = errors.New("operation not permitted on a directory")
	// ErrBusy: the root directory cannot be removed or renamed.
	ErrBusy = errors.New("the root directory cannot be removed or renamed")
	// ErrClosed: the handle has been closed.
	ErrClosed = fmt.Errorf("handle is closed: %w", fs.ErrClosed)
	// ErrBadHandle: the handle was not opened for this operation (for
	// example a write through a handle opened only for reading).
	ErrBadHandle = errors.New("handle not opened for this operation")
	// ErrNameTooLong: a path or one of its elements is too long.
	ErrNameTooLong = errors.New("file name too long")
	// ErrBadName: a path is not valid UTF-8, or holds a control
	// character or an invisible direction mark, which would let two
	// names print alike in the audit log and receipts. It matches
	// ErrInvalid.
	ErrBadName = fmt.Errorf("file names must be valid UTF-8 without control characters or direction marks: rename the file: %w", ErrInvalid)
)

// QuotaError is the error for a write refused by a size limit. It matches
// ErrQuota with errors.Is.
type QuotaError struct {
	// Total is true when the limit on all files together was hit, false
	// when the limit on one file was.
	Total bool
	// Limit is the limit in bytes; Want is the size the write needed.
	Limit, Want int64
	// Retired is how many of the bytes held are earlier versions of
	// files, since replaced or changed, that open reads still hold.
	Retired int64
}

// Error says which limit was hit and what to do.
func (e *QuotaError) Error() string {
	if e.Total && e.Retired > 0 {
		return fmt.Sprintf("size limit exceeded: the file system would hold %d bytes, more than its limit of %d, of which %d bytes are old versions still being read by downloads in progress: retry when they finish, remove files or ask for a larger total_mib", e.Want, e.Limit, e.Retired)
	}
	if e.Total {
		return fmt.Sprintf("size limit exceeded: the file system would hold %d bytes, more than its limit of %d: remove files or ask for a larger total_mib", e.Want, e.Limit)
	}
	return fmt.Sprintf("size limit exceeded: the file would be %d bytes, more than the limit of %d per file: write less or ask for a larger file_mib", e.Want, e.Limit)
}

// Is makes errors.Is(err, ErrQuota) true.
func (e *QuotaError) Is(target error) bool { return target == ErrQuota }

// PathError records an error and the operation and path that caused it.
type PathError = fs.PathError

func pathErr(op, p string, err error) error {
	return &fs.PathError{Op: op, Path: p, Err: err}
}
