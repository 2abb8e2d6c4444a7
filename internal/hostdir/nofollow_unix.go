//go:build unix

package hostdir

import "syscall"

// oNoFollow makes an open fail on a symbolic link rather than follow it.
const oNoFollow = syscall.O_NOFOLLOW

// oNonBlock makes an open of a named pipe return at once rather than
// wait for a writer; it changes nothing for a regular file.
const oNonBlock = syscall.O_NONBLOCK
