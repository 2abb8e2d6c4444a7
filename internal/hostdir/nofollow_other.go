//go:build !unix

package hostdir

// oNoFollow is zero where the system has no O_NOFOLLOW: the os.Root and
// the Lstat checks still keep every access inside the directory.
const oNoFollow = 0

// oNonBlock makes an open of a named pipe return at once rather than
// wait for a writer; it changes nothing for a regular file.
const oNonBlock = 0
