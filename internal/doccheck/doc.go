// Package doccheck guards the documentation against drifting from the
// repository's layout: its test reads every Markdown file of the module and
// fails on a relative link whose file or heading does not exist, on a path
// of this repository named in the text that does not exist (such as a
// package that moved), and on a test named in SECURITY.md's table of
// guarantees that its package does not have.
//
// It holds no code that other packages use, and must never be imported.
package doccheck
