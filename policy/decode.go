package policy

import (
	"bytes"
	"encoding"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strconv"
	"strings"
	"unicode/utf8"
)

// MaxSize is the largest policy file Parse accepts, in bytes.
const MaxSize = 4 << 20

// maxDepth bounds nesting of JSON values; a policy needs five levels.
const maxDepth = 32

type kind uint8

const (
	kObject kind = iota
	kArray
	kString
	kNumber
	kBool
	kNull
)

func (k kind) String() string {
	return [...]string{"an object", "an array", "a string", "a number", "true or false", "null"}[k]
}

type member struct {
	key string
	val *node
	dup bool // the key appeared before in the same object
}

// node is one JSON value, with object members in document order.
type node struct {
	kind    kind
	members []member
	elems   []*node
	str     string
	num     json.Number
	b       bool
}

// syntaxProblem turns a decoder error into a Problem at a line and column.
func syntaxProblem(data []byte, err error, off int64) Problem {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		off = se.Offset
	}
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return Problem{Msg: "unexpected end of file: the JSON is cut short"}
	}
	line, col := lineCol(data, off)
	msg := err.Error()
	msg = strings.TrimPrefix(msg, "json: ")
	return Problem{Msg: fmt.Sprintf("invalid JSON at line %d, column %d: %s", line, col, msg)}
}

func lineCol(data []byte, off int64) (int, int) {
	if off > int64(len(data)) {
		off = int64(len(data))
	}
	if off < 0 {
		off = 0
	}
	before := data[:off]
	line := bytes.Count(before, []byte("\n")) + 1
	col := int(off) - bytes.LastIndexByte(before, '\n')
	return line, col
}

// parseTree reads data as exactly one JSON value, refusing invalid UTF-8,
// deep nesting and anything after the value. Duplicate keys are marked, and
// refused by decodeInto, which knows whether a key names a field.
func parseTree(data []byte) (*node, *Problem) {
	if len(data) > MaxSize {
		return nil, &Problem{Msg: fmt.Sprintf("policy is %d bytes, more than the %d allowed", len(data), MaxSize)}
	}
	if bytes.HasPrefix(data, []byte("\xef\xbb\xbf")) {
		return nil, &Problem{Msg: "policy starts with a byte order mark: save it as UTF-8 without BOM"}
	}
	if !utf8.Valid(data) {
		i := 0
		for i < len(data) {
			r, n := utf8.DecodeRune(data[i:])
			if r == utf8.RuneError && n <= 1 {
				break
			}
			i += n
		}
		line, col := lineCol(data, int64(i))
		return nil, &Problem{Msg: fmt.Sprintf("invalid UTF-8 at line %d, column %d: save the policy as UTF-8", line, col)}
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	p := &treeParser{dec: dec, data: data}
	n := p.value(0, "")
	if p.prob != nil {
		return nil, p.prob
	}
	end := dec.InputOffset() // just after the value
	if _, err := dec.Token(); err != io.EOF {
		off := end
		for off < int64(len(data)) && strings.IndexByte(" \t\r\n", data[off]) >= 0 {
			off++
		}
		line, col := lineCol(data, off)
		return nil, &Problem{Msg: fmt.Sprintf("trailing data at line %d, column %d: a policy is exactly one JSON object", line, col)}
	}
	return n, nil
}

type treeParser struct {
	dec  *json.Decoder
	data []byte
	prob *Problem
}

func (p *treeParser) fail(pr Problem) *node {
	if p.prob == nil {
		p.prob = &pr
	}
	return nil
}

func (p *treeParser) value(depth int, path string) *node {
	if depth > maxDepth {
		return p.fail(Problem{Path: path, Msg: fmt.Sprintf("nested more than %d levels deep", maxDepth)})
	}
	off := p.dec.InputOffset()
	tok, err := p.dec.Token()
	if err != nil {
		return p.fail(syntaxProblem(p.data, err, off))
	}
	switch t := tok.(type) {
	case json.Delim:
		switch t {
		case '{':
			n := &node{kind: kObject}
			seen := map[string]bool{}
			for p.dec.More() {
				off := p.dec.InputOffset()
				kt, err := p.dec.Token()
				if err != nil {
					return p.fail(syntaxProblem(p.data, err, off))
				}
				k, ok := kt.(string)
				if !ok {
					return p.fail(syntaxProblem(p.data, fmt.Errorf("object key is not a string"), off))
				}
				dup := seen[k]
				seen[k] = true
				v := p.value(depth+1, keyPath(path, k))
				if p.prob != nil {
					return nil
				}
				n.members = append(n.members, member{k, v, dup})
			}
			off := p.dec.InputOffset()
			if _, err := p.dec.Token(); err != nil {
				return p.fail(syntaxProblem(p.data, err, off))
			}
			return n
		case '[':
			n := &node{kind: kArray}
			for p.dec.More() {
				v := p.value(depth+1, indexPath(path, len(n.elems)))
				if p.prob != nil {
					return nil
				}
				n.elems = append(n.elems, v)
			}
			off := p.dec.InputOffset()
			if _, err := p.dec.Token(); err != nil {
				return p.fail(syntaxProblem(p.data, err, off))
			}
			return n
		}
		return p.fail(syntaxProblem(p.data, fmt.Errorf("unexpected %q", t), off))
	case string:
		return &node{kind: kString, str: t}
	case json.Number:
		return &node{kind: kNumber, num: t}
	case bool:
		return &node{kind: kBool, b: t}
	case nil:
		return &node{kind: kNull}
	}
	return p.fail(syntaxProblem(p.data, fmt.Errorf("unexpected token"), off))
}

// Paths are written as in JavaScript: principals[1].capabilities["/input/"].

func fieldPath(parent, field string) string {
	if parent == "" {
		return field
	}
	return parent + "." + field
}

func indexPath(parent string, i int) string { return parent + "[" + strconv.Itoa(i) + "]" }

func keyPath(parent, key string) string { return parent + "[" + strconv.Quote(key) + "]" }

var textUnmarshalerType = reflect.TypeFor[encoding.TextUnmarshaler]()

type fieldInfo struct {
	name     string
	index    int
	optional bool
}

func structFields(t reflect.Type) []fieldInfo {
	var fs []fieldInfo
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if name == "" {
			name = f.Name
		}
		fs = append(fs, fieldInfo{name: name, index: i, optional: strings.Contains(opts, "omitempty")})
	}
	return fs
}

// decodeInto stores n in v, checking shape and types strictly. A value
// that does not fit is reported and left zero; decoding carries on so that
// every problem is found.
func decodeInto(n *node, v reflect.Value, path string, ps *problems) {
	if n.kind == kNull {
		ps.structural(path, "null is not allowed: give a value or leave the field out if it is optional")
		return
	}
	t := v.Type()
	if reflect.PointerTo(t).Implements(textUnmarshalerType) {
		if n.kind != kString {
			ps.structural(path, fmt.Sprintf("must be a string, not %v", n.kind))
			return
		}
		if err := v.Addr().Interface().(encoding.TextUnmarshaler).UnmarshalText([]byte(n.str)); err != nil {
			ps.structural(path, describeTextError(t, n.str, err))
			v.SetZero()
		}
		return
	}
	switch t.Kind() {
	case reflect.Pointer:
		e := reflect.New(t.Elem())
		decodeInto(n, e.Elem(), path, ps)
		v.Set(e)
	case reflect.Bool:
		if n.kind != kBool {
			ps.structural(path, fmt.Sprintf("must be true or false, not %v", n.kind))
			return
		}
		v.SetBool(n.b)
	case reflect.Struct:
		if n.kind != kObject {
			ps.structural(path, fmt.Sprintf("must be an object, not %v", n.kind))
			return
		}
		fields := structFields(t)
		present := map[string]bool{}
		for _, m := range n.members {
			var fi *fieldInfo
			for i := range fields {
				if fields[i].name == m.key {
					fi = &fields[i]
				}
			}
			if fi == nil {
				ps.structural(fieldPath(path, quoteField(m.key)), "unknown field"+suggest(m.key, fields))
				continue
			}
			if m.dup {
				ps.structural(fieldPath(path, m.key), "duplicate key: give each key once")
				continue
			}
			present[m.key] = true
			decodeInto(m.val, v.Field(fi.index), fieldPath(path, m.key), ps)
		}
		for _, f := range fields {
			if !f.optional && !present[f.name] {
				ps.structural(fieldPath(path, f.name), "missing: this field is required")
			}
		}
	case reflect.Map:
		if n.kind != kObject {
			ps.structural(path, fmt.Sprintf("must be an object, not %v", n.kind))
			return
		}
		m := reflect.MakeMapWithSize(t, len(n.members))
		for _, mem := range n.members {
			if mem.dup {
				ps.structural(keyPath(path, mem.key), "duplicate key: give each key once")
				continue
			}
			ev := reflect.New(t.Elem()).Elem()
			decodeInto(mem.val, ev, keyPath(path, mem.key), ps)
			m.SetMapIndex(reflect.ValueOf(mem.key).Convert(t.Key()), ev)
		}
		v.Set(m)
	case reflect.Slice:
		if n.kind != kArray {
			ps.structural(path, fmt.Sprintf("must be an array, not %v", n.kind))
			return
		}
		s := reflect.MakeSlice(t, len(n.elems), len(n.elems))
		for i, e := range n.elems {
			decodeInto(e, s.Index(i), indexPath(path, i), ps)
		}
		v.Set(s)
	case reflect.String:
		if n.kind != kString {
			ps.structural(path, fmt.Sprintf("must be a string, not %v", n.kind))
			return
		}
		v.SetString(n.str)
	case reflect.Int:
		if n.kind != kNumber {
			ps.structural(path, fmt.Sprintf("must be a whole number, not %v", n.kind))
			return
		}
		i, err := strconv.ParseInt(string(n.num), 10, 32)
		if err != nil {
			ps.structural(path, fmt.Sprintf("%s is not a whole number in range: write digits only, such as 256", n.num))
			return
		}
		v.SetInt(i)
	default:
		// Only reachable if a field of an unsupported kind is added to Policy.
		ps.structural(path, fmt.Sprintf("cannot decode into %v", t))
	}
}

func describeTextError(t reflect.Type, s string, err error) string {
	switch t.String() {
	case "time.Time":
		return fmt.Sprintf("%q is not an RFC 3339 time: write it like 2027-01-01T00:00:00Z", s)
	}
	return err.Error()
}

func quoteField(k string) string {
	for _, r := range k {
		if !(r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			return strconv.Quote(k)
		}
	}
	if k == "" {
		return `""`
	}
	return k
}

// suggest names a known field that differs from k only in case, in '_'
// or '-', or by at most two edits, to catch typos; otherwise it lists the
// known fields.
func suggest(k string, fields []fieldInfo) string {
	var names []string
	norm := func(s string) string {
		return strings.ToLower(strings.NewReplacer("_", "", "-", "").Replace(s))
	}
	for _, f := range fields {
		if norm(f.name) == norm(k) || editDistance(norm(f.name), norm(k)) <= min(2, len(k)/3) {
			return fmt.Sprintf(": did you mean %q?", f.name)
		}
		names = append(names, f.name)
	}
	return ": known fields here are " + strings.Join(names, ", ")
}

// editDistance is the Levenshtein distance of two short strings, counting
// an exchange of neighbours as one edit; strings longer than 64 bytes are
// simply "far".
func editDistance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return 1 << 30
	}
	d := make([][]int, len(a)+1)
	for i := range d {
		d[i] = make([]int, len(b)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(a); i++ {
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(a)][len(b)]
}
