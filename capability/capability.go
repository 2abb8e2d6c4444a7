// Package capability holds the rights a policy grants on paths of the
// enclave's file system, and answers whether a set of grants allows an
// access.
//
// A grant names a path and the rights on it. A path ending in "/" covers
// everything below it; any other path covers exactly that file. Rights are
// read (r), write (w: create or replace), append (a) and execute (x).
//
// This package must never touch a file system or a policy file: it only
// decides, from grants already validated elsewhere, what is allowed.
package capability

import (
	"fmt"
	"path"
	"sort"
	"strings"
)

// Rights is a set of access rights.
type Rights uint8

// The rights a grant may carry.
const (
	Read    Rights = 1 << iota // r: read a file, list a directory
	Write                      // w: create or replace a file, make directories, rename, remove
	Append                     // a: add bytes at the end of a file
	Execute                    // x: run a program
)

// All is every right.
const All = Read | Write | Append | Execute

var letters = []struct {
	r Rights
	c byte
}{{Read, 'r'}, {Write, 'w'}, {Append, 'a'}, {Execute, 'x'}}

// ParseRights reads rights written as letters, such as "rw" or "x". Each
// letter may appear once; the empty string is an error.
func ParseRights(s string) (Rights, error) {
	if s == "" {
		return 0, fmt.Errorf("no rights given: use letters from r, w, a, x")
	}
	var r Rights
	for i := 0; i < len(s); i++ {
		var bit Rights
		for _, l := range letters {
			if l.c == s[i] {
				bit = l.r
			}
		}
		if bit == 0 {
			return 0, fmt.Errorf("unknown right %q in %q: use letters from r, w, a, x", s[i], s)
		}
		if r&bit != 0 {
			return 0, fmt.Errorf("right %q given twice in %q", s[i], s)
		}
		r |= bit
	}
	return r, nil
}

// String writes rights as letters in the order r, w, a, x.
func (r Rights) String() string {
	var b strings.Builder
	for _, l := range letters {
		if r&l.r != 0 {
			b.WriteByte(l.c)
		}
	}
	if b.Len() == 0 {
		return "-"
	}
	return b.String()
}

// Has reports whether r includes every right in want.
func (r Rights) Has(want Rights) bool { return r&want == want }

// Set maps a path (a file, or a directory ending in "/") to the rights
// granted on it. The zero value grants nothing.
type Set map[string]Rights

// CheckPath reports whether p is usable as a grant path: absolute, clean,
// without "." or ".." elements, and with a trailing "/" only for directories.
func CheckPath(p string) error {
	if !strings.HasPrefix(p, "/") {
		return fmt.Errorf("path %q is not absolute: start it with /", p)
	}
	if strings.ContainsRune(p, 0) {
		return fmt.Errorf("path %q contains a NUL byte", p)
	}
	trimmed := strings.TrimSuffix(p, "/")
	if trimmed == "" {
		return nil // "/" covers everything
	}
	for _, el := range strings.Split(trimmed[1:], "/") {
		switch el {
		case "":
			return fmt.Errorf("path %q has an empty element (//)", p)
		case ".", "..":
			return fmt.Errorf("path %q has a %q element: write it without . and ..", p, el)
		}
	}
	if path.Clean(trimmed) != trimmed {
		return fmt.Errorf("path %q is not clean", p)
	}
	return nil
}

// Covers reports whether the grant path g covers the file or directory p.
// p must be clean and absolute (see CheckPath); a directory grant "/a/"
// covers "/a" itself and everything below it.
func Covers(g, p string) bool {
	if strings.HasSuffix(g, "/") {
		return p+"/" == g || strings.HasPrefix(p, g) || g == "/"
	}
	return g == p
}

// Rights returns the union of the rights every grant covering p gives.
func (s Set) Rights(p string) Rights {
	var r Rights
	for g, gr := range s {
		if Covers(g, p) {
			r |= gr
		}
	}
	return r
}

// Allows reports whether the grants give every right in want on p.
// A path that is not clean and absolute is never allowed.
func (s Set) Allows(p string, want Rights) bool {
	if CheckPath(p) != nil || strings.HasSuffix(p, "/") && p != "/" {
		return false
	}
	return s.Rights(p).Has(want)
}

// Visible reports whether directory d should be visible to the holder of
// s: it is, when some grant lies at or below it, or covers it.
func (s Set) Visible(d string) bool {
	if s.Rights(d) != 0 {
		return true
	}
	prefix := strings.TrimSuffix(d, "/") + "/"
	for g := range s {
		if strings.HasPrefix(g, prefix) {
			return true
		}
	}
	return false
}

// Paths returns the grant paths in sorted order.
func (s Set) Paths() []string {
	ps := make([]string, 0, len(s))
	for p := range s {
		ps = append(ps, p)
	}
	sort.Strings(ps)
	return ps
}

// MarshalText writes rights as letters, so a Set is a JSON object of
// path → "rw".
func (r Rights) MarshalText() ([]byte, error) {
	if r == 0 {
		return nil, fmt.Errorf("no rights to write")
	}
	return []byte(r.String()), nil
}

// UnmarshalText reads rights written as letters (see ParseRights).
func (r *Rights) UnmarshalText(b []byte) error {
	v, err := ParseRights(string(b))
	if err != nil {
		return err
	}
	*r = v
	return nil
}
