package wasi

import "encoding/binary"

var le = binary.LittleEndian

// mem is the guest's linear memory. Every access is bounds-checked: an
// access outside it reports false, which functions return as EFAULT.
type mem []byte

// slice returns the n bytes at ptr.
func (m mem) slice(ptr, n uint32) ([]byte, bool) {
	end := uint64(ptr) + uint64(n)
	if end > uint64(len(m)) {
		return nil, false
	}
	return m[ptr:end:end], true
}

func (m mem) u32(ptr uint32) (uint32, bool) {
	b, ok := m.slice(ptr, 4)
	if !ok {
		return 0, false
	}
	return le.Uint32(b), true
}

func (m mem) putU32(ptr, v uint32) bool {
	b, ok := m.slice(ptr, 4)
	if ok {
		le.PutUint32(b, v)
	}
	return ok
}

func (m mem) putU64(ptr uint32, v uint64) bool {
	b, ok := m.slice(ptr, 8)
	if ok {
		le.PutUint64(b, v)
	}
	return ok
}

// iovecs reads n iovec/ciovec records at ptr and returns the buffers they
// name, all checked to lie inside memory.
func (m mem) iovecs(ptr, n uint32) ([][]byte, bool) {
	if _, ok := m.slice(ptr, 0); !ok || uint64(n)*8 > uint64(len(m))-uint64(ptr) {
		return nil, false
	}
	out := make([][]byte, 0, min(n, 64))
	for i := range n {
		p := ptr + i*8
		bp, _ := m.u32(p)
		bl, _ := m.u32(p + 4)
		b, ok := m.slice(bp, bl)
		if !ok {
			return nil, false
		}
		out = append(out, b)
	}
	return out, true
}

// Types and flags of WASI preview 1.
const (
	filetypeUnknown         = 0
	filetypeCharacterDevice = 2
	filetypeDirectory       = 3
	filetypeRegularFile     = 4

	fdflagAppend   = 1
	fdflagDsync    = 2
	fdflagNonblock = 4
	fdflagRsync    = 8
	fdflagSync     = 16

	oflagCreat     = 1
	oflagDirectory = 2
	oflagExcl      = 4
	oflagTrunc     = 8

	fstflagAtim    = 1
	fstflagAtimNow = 2
	fstflagMtim    = 4
	fstflagMtimNow = 8

	whenceSet = 0
	whenceCur = 1
	whenceEnd = 2

	clockRealtime        = 0
	clockMonotonic       = 1
	clockProcessCputime  = 2
	clockThreadCputime   = 3
	subclockflagAbstime  = 1
	eventtypeClock       = 0
	eventtypeFdRead      = 1
	eventtypeFdWrite     = 2
	subscriptionSize     = 48
	eventSize            = 32
	direntSize           = 24
	filestatSize         = 64
	fdstatSize           = 24
	prestatSize          = 8
	maxPollSubscriptions = 1 << 16
)

// Rights of WASI preview 1.
const (
	rightFdDatasync uint64 = 1 << iota
	rightFdRead
	rightFdSeek
	rightFdFdstatSetFlags
	rightFdSync
	rightFdTell
	rightFdWrite
	rightFdAdvise
	rightFdAllocate
	rightPathCreateDirectory
	rightPathCreateFile
	rightPathLinkSource
	rightPathLinkTarget
	rightPathOpen
	rightFdReaddir
	rightPathReadlink
	rightPathRenameSource
	rightPathRenameTarget
	rightPathFilestatGet
	rightPathFilestatSetSize
	rightPathFilestatSetTimes
	rightFdFilestatGet
	rightFdFilestatSetSize
	rightFdFilestatSetTimes
	rightPathSymlink
	rightPathRemoveDirectory
	rightPathUnlinkFile
	rightPollFdReadwrite
	rightSockShutdown
	rightSockAccept
)

const (
	fileRights = rightFdDatasync | rightFdRead | rightFdSeek | rightFdFdstatSetFlags |
		rightFdSync | rightFdTell | rightFdWrite | rightFdAdvise | rightFdAllocate |
		rightFdFilestatGet | rightFdFilestatSetSize | rightFdFilestatSetTimes | rightPollFdReadwrite
	dirRights = rightFdFdstatSetFlags | rightFdSync | rightFdAdvise | rightPathCreateDirectory |
		rightPathCreateFile | rightPathLinkSource | rightPathLinkTarget | rightPathOpen |
		rightFdReaddir | rightPathReadlink | rightPathRenameSource | rightPathRenameTarget |
		rightPathFilestatGet | rightPathFilestatSetSize | rightPathFilestatSetTimes |
		rightFdFilestatGet | rightFdFilestatSetTimes | rightPathSymlink |
		rightPathRemoveDirectory | rightPathUnlinkFile
	stdinRights  = rightFdRead | rightFdFdstatSetFlags | rightFdFilestatGet | rightPollFdReadwrite
	stdoutRights = rightFdWrite | rightFdFdstatSetFlags | rightFdFilestatGet | rightPollFdReadwrite
	// readRights and writeRights are the rights that, asked of path_open,
	// open a file for reading or writing.
	readRights  = rightFdRead
	writeRights = rightFdWrite
)
