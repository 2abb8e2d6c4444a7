//go:build !unix

package hostdir

// oNoFollow is zero where the system has no O_NOFOLLOW: the os.Root and
// the Lstat checks still keep every access inside the directory.
const oNoFollow = 0
