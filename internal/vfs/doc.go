// Package vfs is the enclave's in-memory file system: directories and
// regular files held only in memory, with the POSIX-like semantics WASI
// preview 1 needs (create, truncate, append, positional reads and writes,
// rename, unlink, rmdir, hard links, readdir with stable cookies, stat with
// inode numbers, link counts and times), size quotas per file and in total,
// and a capability check on every access.
//
// Everyone reaches the file system through a View: the file system as seen
// by the holder of a capability.Set (a principal through the runtime's API,
// or a program during a run). A View only shows the directories that are
// visible to its holder and the files it can read or write, and refuses any
// access its rights do not allow. Paths are slash-separated and absolute
// ("/input/a.csv"); no path can name anything outside the root, and there
// are no symbolic links.
//
// The file system is safe for concurrent use. Whole-file writes (WriteFile)
// replace the content in one atomic swap, and appends (AppendFile) are
// all-or-nothing, so a reader that opens a Snapshot never sees a file
// half-written; a failed write leaves the file as it was. A run works in
// an Overlay, a private copy-on-write copy of what it may write, committed
// all at once when it ends, so readers see a run's outputs as they were
// before it or as it left them.
//
// Every byte the file system keeps alive counts against the total limit
// until its last holder lets go: file contents by capacity, versions that
// only open snapshots still read, a run's copies, each directory entry
// (EntryCost, DirCost, by its name's length, renames included), and the
// bytes of uploads still arriving, which every other write counts too.
// Names must be valid UTF-8 without control
// characters or direction marks (CheckName).
//
// This package must never touch the host's file system, and must never
// grant an access the holder's capabilities do not allow.
package vfs
