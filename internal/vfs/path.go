package vfs

import (
	"strings"
	"unicode/utf8"
)

// loc is where a path leads.
type loc struct {
	path     string // clean absolute path
	parent   *node  // directory holding the last element; nil for the root
	name     string // last element, in parent
	n        *node  // what the path names; nil if absent
	dot      bool   // the last element was "." or ".."
	trailing bool   // the path ended with "/"
}

// splitPath checks p and splits it into elements. Empty elements are
// dropped; "." and ".." are kept for walk to resolve.
func splitPath(p string) (els []string, trailing bool, err error) {
	if p == "" {
		return nil, false, ErrNotExist
	}
	if len(p) > MaxPath {
		return nil, false, ErrNameTooLong
	}
	if strings.IndexByte(p, 0) >= 0 {
		return nil, false, ErrInvalid
	}
	if err := CheckName(p); err != nil {
		return nil, false, err
	}
	trailing = strings.HasSuffix(p, "/")
	for el := range strings.SplitSeq(p, "/") {
		if el == "" {
			continue
		}
		if len(el) > MaxName {
			return nil, false, ErrNameTooLong
		}
		els = append(els, el)
	}
	return els, trailing, nil
}

// walk resolves p (absolute; a missing leading "/" is implied) from the
// root. Every directory it passes through must satisfy see, if see is not
// nil; otherwise the path is reported as not existing, so that walking
// reveals nothing about directories the holder cannot see. Must be called
// with f.mu held.
func (f *FS) walk(p string, see func(p string, n *node) bool) (loc, error) {
	els, trailing, err := splitPath(p)
	if err != nil {
		return loc{}, err
	}
	// stack holds the directories walked through and their paths; ".."
	// pops it, so it never climbs above the root.
	type step struct {
		n    *node
		path string
	}
	stack := make([]step, 1, len(els)+1)
	stack[0] = step{n: f.root, path: "/"}
	join := func(dir, name string) string {
		if dir == "/" {
			return "/" + name
		}
		return dir + "/" + name
	}
	for i, el := range els {
		last := i == len(els)-1
		top := stack[len(stack)-1]
		switch el {
		case ".":
			if last {
				return f.locOf(top.n, top.path, trailing, true), nil
			}
			continue
		case "..":
			if len(stack) == 1 {
				return loc{}, ErrEscape
			}
			stack = stack[:len(stack)-1]
			if last {
				top = stack[len(stack)-1]
				return f.locOf(top.n, top.path, trailing, true), nil
			}
			continue
		}
		e := top.n.entries[el]
		cp := join(top.path, el)
		if last {
			l := loc{path: cp, parent: top.n, name: el, trailing: trailing}
			if e != nil {
				l.n = e.n
			}
			return l, nil
		}
		if e == nil {
			return loc{}, ErrNotExist
		}
		if see != nil && !see(cp, e.n) {
			return loc{}, ErrNotExist
		}
		if !e.n.dir {
			return loc{}, ErrNotDir
		}
		stack = append(stack, step{n: e.n, path: cp})
	}
	// No elements: the root.
	return loc{path: "/", n: f.root, trailing: trailing}, nil
}

// locOf describes directory n reached by path p through "." or "..".
func (f *FS) locOf(n *node, p string, trailing, dot bool) loc {
	l := loc{path: p, n: n, trailing: trailing, dot: dot}
	if n != f.root && n.parent != nil {
		l.parent, l.name = n.parent, n.name
	}
	return l
}

// Clean returns the clean absolute form of p, resolving "." and ".."
// lexically, or an error if p is malformed or leads above the root.
func Clean(p string) (string, error) {
	els, _, err := splitPath(p)
	if err != nil {
		return "", err
	}
	out := make([]string, 0, len(els))
	for _, el := range els {
		switch el {
		case ".":
		case "..":
			if len(out) == 0 {
				return "", ErrEscape
			}
			out = out[:len(out)-1]
		default:
			out = append(out, el)
		}
	}
	return "/" + strings.Join(out, "/"), nil
}

// CheckName reports whether a path or name is one the file system
// accepts: valid UTF-8 with no control character (C0, DEL, C1) and no
// invisible direction mark or bidirectional override. Names are printed in
// the audit log, receipts and listings, where JSON would turn invalid
// UTF-8 into U+FFFD and control characters or direction marks would make
// two different names look the same; every path the file system is
// given, through the API or WASI, passes here. It returns ErrBadName.
func CheckName(p string) error {
	for i := 0; i < len(p); {
		c := p[i]
		if c < utf8.RuneSelf {
			if c < 0x20 || c == 0x7f {
				return ErrBadName
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(p[i:])
		if r == utf8.RuneError && size == 1 {
			return ErrBadName
		}
		if badRune(r) {
			return ErrBadName
		}
		i += size
	}
	return nil
}

// badRune reports the non-ASCII characters CheckName refuses: C1
// controls and the invisible marks that change the order text is shown
// in.
func badRune(r rune) bool {
	switch {
	case r >= 0x80 && r <= 0x9f: // C1 controls
		return true
	case r == 0x061c, r == 0x200e, r == 0x200f: // arabic letter, left-to-right and right-to-left marks
		return true
	case r >= 0x202a && r <= 0x202e: // embeddings and overrides
		return true
	case r >= 0x2066 && r <= 0x2069: // isolates
		return true
	case r == 0xfeff: // zero-width no-break space (byte order mark)
		return true
	}
	return false
}
