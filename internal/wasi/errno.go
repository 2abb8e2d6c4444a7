package wasi

import (
	"errors"
	"fmt"
	"io/fs"

	"github.com/truce-project/truce/internal/vfs"
)

// Errno is a WASI preview 1 error number, the result of every function but
// proc_exit.
type Errno uint16

// The errno values of WASI preview 1, in spec order.
const (
	ErrnoSuccess Errno = iota
	Errno2big
	ErrnoAcces
	ErrnoAddrinuse
	ErrnoAddrnotavail
	ErrnoAfnosupport
	ErrnoAgain
	ErrnoAlready
	ErrnoBadf
	ErrnoBadmsg
	ErrnoBusy
	ErrnoCanceled
	ErrnoChild
	ErrnoConnaborted
	ErrnoConnrefused
	ErrnoConnreset
	ErrnoDeadlk
	ErrnoDestaddrreq
	ErrnoDom
	ErrnoDquot
	ErrnoExist
	ErrnoFault
	ErrnoFbig
	ErrnoHostunreach
	ErrnoIdrm
	ErrnoIlseq
	ErrnoInprogress
	ErrnoIntr
	ErrnoInval
	ErrnoIo
	ErrnoIsconn
	ErrnoIsdir
	ErrnoLoop
	ErrnoMfile
	ErrnoMlink
	ErrnoMsgsize
	ErrnoMultihop
	ErrnoNametoolong
	ErrnoNetdown
	ErrnoNetreset
	ErrnoNetunreach
	ErrnoNfile
	ErrnoNobufs
	ErrnoNodev
	ErrnoNoent
	ErrnoNoexec
	ErrnoNolck
	ErrnoNolink
	ErrnoNomem
	ErrnoNomsg
	ErrnoNoprotoopt
	ErrnoNospc
	ErrnoNosys
	ErrnoNotconn
	ErrnoNotdir
	ErrnoNotempty
	ErrnoNotrecoverable
	ErrnoNotsock
	ErrnoNotsup
	ErrnoNotty
	ErrnoNxio
	ErrnoOverflow
	ErrnoOwnerdead
	ErrnoPerm
	ErrnoPipe
	ErrnoProto
	ErrnoProtonosupport
	ErrnoPrototype
	ErrnoRange
	ErrnoRofs
	ErrnoSpipe
	ErrnoSrch
	ErrnoStale
	ErrnoTimedout
	ErrnoTxtbsy
	ErrnoXdev
	ErrnoNotcapable
)

var errnoNames = [...]string{
	"SUCCESS", "2BIG", "ACCES", "ADDRINUSE", "ADDRNOTAVAIL", "AFNOSUPPORT", "AGAIN", "ALREADY",
	"BADF", "BADMSG", "BUSY", "CANCELED", "CHILD", "CONNABORTED", "CONNREFUSED", "CONNRESET",
	"DEADLK", "DESTADDRREQ", "DOM", "DQUOT", "EXIST", "FAULT", "FBIG", "HOSTUNREACH", "IDRM",
	"ILSEQ", "INPROGRESS", "INTR", "INVAL", "IO", "ISCONN", "ISDIR", "LOOP", "MFILE", "MLINK",
	"MSGSIZE", "MULTIHOP", "NAMETOOLONG", "NETDOWN", "NETRESET", "NETUNREACH", "NFILE", "NOBUFS",
	"NODEV", "NOENT", "NOEXEC", "NOLCK", "NOLINK", "NOMEM", "NOMSG", "NOPROTOOPT", "NOSPC", "NOSYS",
	"NOTCONN", "NOTDIR", "NOTEMPTY", "NOTRECOVERABLE", "NOTSOCK", "NOTSUP", "NOTTY", "NXIO",
	"OVERFLOW", "OWNERDEAD", "PERM", "PIPE", "PROTO", "PROTONOSUPPORT", "PROTOTYPE", "RANGE",
	"ROFS", "SPIPE", "SRCH", "STALE", "TIMEDOUT", "TXTBSY", "XDEV", "NOTCAPABLE",
}

// String returns the errno's spec name, such as "NOENT".
func (e Errno) String() string {
	if int(e) < len(errnoNames) {
		return errnoNames[e]
	}
	return fmt.Sprintf("errno(%d)", uint16(e))
}

// Error makes an Errno usable as a Go error.
func (e Errno) Error() string { return "wasi errno " + e.String() }

// ErrnoOf maps an error of the file system to the errno a WASI program
// sees. The mapping is listed in the package documentation; anything not
// listed is EIO.
func ErrnoOf(err error) Errno {
	if err == nil {
		return ErrnoSuccess
	}
	var e Errno
	if errors.As(err, &e) {
		return e
	}
	var q *vfs.QuotaError
	if errors.As(err, &q) {
		if q.Total {
			return ErrnoNospc
		}
		return ErrnoFbig
	}
	for _, m := range errnoMap {
		if errors.Is(err, m.err) {
			return m.errno
		}
	}
	return ErrnoIo
}

// errnoMap is checked in order: the vfs sentinels first (some wrap io/fs
// errors), then io/fs errors from elsewhere.
var errnoMap = []struct {
	err   error
	errno Errno
}{
	{vfs.ErrNotExist, ErrnoNoent},
	{vfs.ErrExist, ErrnoExist},
	{vfs.ErrPermission, ErrnoAcces},
	{vfs.ErrQuota, ErrnoNospc},
	{vfs.ErrIsDir, ErrnoIsdir},
	{vfs.ErrNotDir, ErrnoNotdir},
	{vfs.ErrNotEmpty, ErrnoNotempty},
	{vfs.ErrInvalid, ErrnoInval},
	{vfs.ErrEscape, ErrnoPerm},
	{vfs.ErrNotPermitted, ErrnoPerm},
	{vfs.ErrNotSupported, ErrnoNotsup},
	{vfs.ErrBusy, ErrnoBusy},
	{vfs.ErrClosed, ErrnoBadf},
	{vfs.ErrBadHandle, ErrnoBadf},
	{vfs.ErrNameTooLong, ErrnoNametoolong},
	{fs.ErrNotExist, ErrnoNoent},
	{fs.ErrExist, ErrnoExist},
	{fs.ErrPermission, ErrnoAcces},
	{fs.ErrInvalid, ErrnoInval},
	{fs.ErrClosed, ErrnoBadf},
}
