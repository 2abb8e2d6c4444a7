package engine

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// moduleInfo is what the engine reads of a module before compiling it:
// its function types, imports, exports and memory.
type moduleInfo struct {
	imports []rawImport
	exports []rawExport
	// memories defined by the module (not imported): minimum and maximum
	// pages; hasMax is false for no maximum.
	memories []limits
	// tables defined by the module, and where its table section lies:
	// [tableSec, tableEnd) from the section id to the end of its body.
	tables             []tableType
	tableSec, tableEnd int
}

type tableType struct {
	ref byte
	lim limits
}

type funcType struct{ params, results []byte }

type limits struct {
	min, max uint64
	hasMax   bool
	shared   bool // a shared memory (threads)
}

type rawImport struct {
	module, name string
	kind         byte // 0 func, 1 table, 2 memory, 3 global, 4 tag
	fn           *funcType
	mem          limits
}

type rawExport struct {
	name  string
	kind  byte
	index uint32
}

// errParse is wrapped by every error of parseModule.
var errParse = errors.New("malformed module")

// parser reads the binary format. No vector it reads may hold more items
// than there are bytes left, so a hostile length cannot make it allocate
// much.
type parser struct {
	b   []byte
	off int
}

func (p *parser) fail(format string, a ...any) error {
	return fmt.Errorf("%w at byte %d: %s", errParse, p.off, fmt.Sprintf(format, a...))
}

func (p *parser) byte() (byte, error) {
	if p.off >= len(p.b) {
		return 0, p.fail("unexpected end")
	}
	c := p.b[p.off]
	p.off++
	return c, nil
}

// uleb reads an unsigned LEB128 number of at most bits bits.
func (p *parser) uleb(bits uint) (uint64, error) {
	var v uint64
	var shift uint
	for {
		c, err := p.byte()
		if err != nil {
			return 0, err
		}
		if shift >= bits || shift == 63 && c > 1 {
			return 0, p.fail("integer too long")
		}
		v |= uint64(c&0x7f) << shift
		if c&0x80 == 0 {
			if bits < 64 && v>>bits != 0 {
				return 0, p.fail("integer too large")
			}
			return v, nil
		}
		shift += 7
	}
}

func (p *parser) u32() (uint32, error) {
	v, err := p.uleb(32)
	return uint32(v), err
}

// count reads a vector length, which cannot exceed the bytes left.
func (p *parser) count() (int, error) {
	n, err := p.u32()
	if err != nil {
		return 0, err
	}
	if int64(n) > int64(len(p.b)-p.off) {
		return 0, p.fail("vector of %d items is longer than the module", n)
	}
	return int(n), nil
}

func (p *parser) bytes(n int) ([]byte, error) {
	if n < 0 || n > len(p.b)-p.off {
		return nil, p.fail("unexpected end")
	}
	s := p.b[p.off : p.off+n]
	p.off += n
	return s, nil
}

func (p *parser) name() (string, error) {
	n, err := p.count()
	if err != nil {
		return "", err
	}
	b, err := p.bytes(n)
	if err != nil {
		return "", err
	}
	if !utf8.Valid(b) {
		return "", p.fail("name is not UTF-8")
	}
	return string(b), nil
}

func (p *parser) valtype() (byte, error) {
	c, err := p.byte()
	if err != nil {
		return 0, err
	}
	switch c {
	case 0x7f, 0x7e, 0x7d, 0x7c, 0x7b, 0x70, 0x6f:
		return c, nil
	}
	return 0, p.fail("unsupported value type 0x%02x", c)
}

func (p *parser) limits() (limits, error) {
	flag, err := p.byte()
	if err != nil {
		return limits{}, err
	}
	if flag > 7 {
		return limits{}, p.fail("bad limits flag 0x%02x", flag)
	}
	bits := uint(32)
	if flag&4 != 0 {
		bits = 64
	}
	l := limits{shared: flag&2 != 0}
	if l.min, err = p.uleb(bits); err != nil {
		return l, err
	}
	if flag&1 != 0 {
		if l.max, err = p.uleb(bits); err != nil {
			return l, err
		}
		l.hasMax = true
	}
	return l, nil
}

// parseModule reads the sections the engine needs. It checks the
// structure of what it reads, not the whole module: validation is the
// backends' work.
func parseModule(b []byte) (*moduleInfo, error) {
	if len(b) < 8 || string(b[:4]) != "\x00asm" {
		return nil, fmt.Errorf("%w: not a WebAssembly binary (no \\0asm header)", errParse)
	}
	if b[4] != 1 || b[5] != 0 || b[6] != 0 || b[7] != 0 {
		return nil, fmt.Errorf("%w: binary format version %x is not 1 (a component, or a newer format)", errParse, b[4:8])
	}
	p := &parser{b: b, off: 8}
	info := &moduleInfo{}
	var types []funcType
	for p.off < len(b) {
		start := p.off
		id, err := p.byte()
		if err != nil {
			return nil, err
		}
		size, err := p.u32()
		if err != nil {
			return nil, err
		}
		body, err := p.bytes(int(size))
		if err != nil {
			return nil, p.fail("section %d of %d bytes runs past the end", id, size)
		}
		sp := &parser{b: b[:p.off], off: p.off - len(body)}
		switch id {
		case 1:
			if types, err = sp.types(); err != nil {
				return nil, err
			}
		case 2:
			if info.imports, err = sp.imports(types); err != nil {
				return nil, err
			}
		case 4:
			info.tableSec, info.tableEnd = start, p.off
			n, err := sp.count()
			if err != nil {
				return nil, err
			}
			for range n {
				ref, err := sp.byte()
				if err != nil {
					return nil, err
				}
				if ref != 0x70 && ref != 0x6f {
					return nil, sp.fail("unsupported table type 0x%02x", ref)
				}
				l, err := sp.limits()
				if err != nil {
					return nil, err
				}
				info.tables = append(info.tables, tableType{ref: ref, lim: l})
			}
		case 5:
			n, err := sp.count()
			if err != nil {
				return nil, err
			}
			for range n {
				l, err := sp.limits()
				if err != nil {
					return nil, err
				}
				info.memories = append(info.memories, l)
			}
		case 7:
			if info.exports, err = sp.exports(); err != nil {
				return nil, err
			}
		case 3, 6, 9, 10, 11, 13:
			if err := sp.bounded(id); err != nil {
				return nil, err
			}
		case 0:
			if err := sp.custom(); err != nil {
				return nil, err
			}
			continue
		default:
			continue
		}
		if sp.off != p.off {
			return nil, sp.fail("section %d has %d bytes left over", id, p.off-sp.off)
		}
	}
	return info, nil
}

func (p *parser) types() ([]funcType, error) {
	n, err := p.count()
	if err != nil {
		return nil, err
	}
	types := make([]funcType, 0, n)
	for range n {
		form, err := p.byte()
		if err != nil {
			return nil, err
		}
		if form != 0x60 {
			return nil, p.fail("type form 0x%02x is not a function type (garbage-collection types are not supported)", form)
		}
		var ft funcType
		for _, dst := range []*[]byte{&ft.params, &ft.results} {
			k, err := p.count()
			if err != nil {
				return nil, err
			}
			for range k {
				v, err := p.valtype()
				if err != nil {
					return nil, err
				}
				*dst = append(*dst, v)
			}
		}
		types = append(types, ft)
	}
	return types, nil
}

func (p *parser) imports(types []funcType) ([]rawImport, error) {
	n, err := p.count()
	if err != nil {
		return nil, err
	}
	out := make([]rawImport, 0, n)
	for range n {
		var im rawImport
		if im.module, err = p.name(); err != nil {
			return nil, err
		}
		if im.name, err = p.name(); err != nil {
			return nil, err
		}
		if im.kind, err = p.byte(); err != nil {
			return nil, err
		}
		switch im.kind {
		case 0:
			idx, err := p.u32()
			if err != nil {
				return nil, err
			}
			if int(idx) >= len(types) {
				return nil, p.fail("import %s.%s uses type %d of %d", im.module, im.name, idx, len(types))
			}
			im.fn = &types[idx]
		case 1:
			if _, err := p.valtype(); err != nil {
				return nil, err
			}
			if _, err := p.limits(); err != nil {
				return nil, err
			}
		case 2:
			if im.mem, err = p.limits(); err != nil {
				return nil, err
			}
		case 3:
			if _, err := p.valtype(); err != nil {
				return nil, err
			}
			if _, err := p.byte(); err != nil {
				return nil, err
			}
		case 4:
			if _, err := p.byte(); err != nil {
				return nil, err
			}
			if _, err := p.u32(); err != nil {
				return nil, err
			}
		default:
			return nil, p.fail("import %s.%s has unknown kind 0x%02x", im.module, im.name, im.kind)
		}
		out = append(out, im)
	}
	return out, nil
}

func (p *parser) exports() ([]rawExport, error) {
	n, err := p.count()
	if err != nil {
		return nil, err
	}
	out := make([]rawExport, 0, n)
	for range n {
		var ex rawExport
		if ex.name, err = p.name(); err != nil {
			return nil, err
		}
		if ex.kind, err = p.byte(); err != nil {
			return nil, err
		}
		if ex.index, err = p.u32(); err != nil {
			return nil, err
		}
		out = append(out, ex)
	}
	return out, nil
}

var kindNames = [...]string{"func", "table", "memory", "global", "tag"}

func kindName(k byte) string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return fmt.Sprintf("kind(%d)", k)
}

func valName(v byte) string {
	switch v {
	case 0x7f:
		return "i32"
	case 0x7e:
		return "i64"
	case 0x7d:
		return "f32"
	case 0x7c:
		return "f64"
	case 0x7b:
		return "v128"
	case 0x70:
		return "funcref"
	case 0x6f:
		return "externref"
	}
	return fmt.Sprintf("0x%02x", v)
}

// String writes the type as "(i32, i32) -> (i32)".
func (ft *funcType) String() string {
	var b strings.Builder
	b.WriteByte('(')
	for i, v := range ft.params {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(valName(v))
	}
	b.WriteString(") -> (")
	for i, v := range ft.results {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(valName(v))
	}
	b.WriteByte(')')
	return b.String()
}

// boundTables returns the module with every table's maximum lowered to
// tableCap (at most max entries), so that table.grow cannot take more host
// memory than the run's budget charged for it, or the module unchanged if
// no table needs it. A table that starts larger than max is refused.
func boundTables(wasm []byte, info *moduleInfo, max uint64) ([]byte, error) {
	need := false
	for _, t := range info.tables {
		if t.lim.min > max {
			return nil, fmt.Errorf("a table of %d entries is more than the %d allowed", t.lim.min, max)
		}
		if !t.lim.hasMax || t.lim.max != tableCap(t, max) {
			need = true
		}
	}
	if !need {
		return wasm, nil
	}
	body := appendULEB(nil, uint64(len(info.tables)))
	for _, t := range info.tables {
		m := tableCap(t, max)
		body = append(body, t.ref, 0x01)
		body = appendULEB(body, t.lim.min)
		body = appendULEB(body, m)
	}
	out := make([]byte, 0, len(wasm)+16)
	out = append(out, wasm[:info.tableSec]...)
	out = append(out, 4)
	out = appendULEB(out, uint64(len(body)))
	out = append(out, body...)
	return append(out, wasm[info.tableEnd:]...), nil
}

func appendULEB(b []byte, v uint64) []byte {
	for {
		c := byte(v & 0x7f)
		v >>= 7
		if v != 0 {
			b = append(b, c|0x80)
			continue
		}
		return append(b, c)
	}
}

// noMaxGrowth is how far past its minimum a table that declares no
// maximum may grow: enough for any program that grows its table, small
// enough that such a table costs a run's budget little.
const noMaxGrowth = 1 << 16

// tableCap is the most entries table t may reach: its declared maximum,
// or its minimum and noMaxGrowth if it declares none, and never more than
// limit.
func tableCap(t tableType, limit uint64) uint64 {
	c := t.lim.min + noMaxGrowth
	if t.lim.hasMax {
		c = t.lim.max
	}
	return max(min(c, limit), min(t.lim.min, limit))
}

// What a module may declare, as wasmtime's parser (wasmparser) allows:
// wazero sizes its slices from the counts it decodes, before reading the
// items, so that a module of a few bytes declaring 2^32-1 functions, code
// bodies, globals, element or data segments, names or locals would make
// it allocate hundreds of gigabytes, and a failed allocation of that size
// is a fatal error of the Go runtime, not a panic. Every count is checked
// here first, against these limits and against the bytes that remain.
const (
	maxFunctions     = 1_000_000
	maxGlobals       = 1_000_000
	maxElemSegments  = 100_000
	maxDataSegments  = 100_000
	maxElemItems     = maxTableElements // all the element segments' items together
	maxTags          = 1_000_000
	maxFunctionLocal = 50_000 // locals of one function, all groups together
)

// limited reads a vector length of at most max items (and no more than
// the bytes left).
func (p *parser) limited(max int, what string) (int, error) {
	n, err := p.count()
	if err != nil {
		return 0, err
	}
	if n > max {
		return 0, p.fail("%d %s, more than the %d a module may have", n, what, max)
	}
	return n, nil
}

// bounded walks a section whose vectors the backends size their
// allocations from (function 3, global 6, element 9, code 10, data 11,
// tag 13), checking every count and length it holds.
func (p *parser) bounded(id byte) error {
	switch id {
	case 3:
		n, err := p.limited(maxFunctions, "functions")
		if err != nil {
			return err
		}
		for range n {
			if _, err := p.u32(); err != nil {
				return err
			}
		}
	case 6:
		n, err := p.limited(maxGlobals, "globals")
		if err != nil {
			return err
		}
		for range n {
			if _, err := p.valtype(); err != nil {
				return err
			}
			if _, err := p.byte(); err != nil {
				return err
			}
			if err := p.constExpr(); err != nil {
				return err
			}
		}
	case 9:
		return p.elements()
	case 10:
		n, err := p.limited(maxFunctions, "function bodies")
		if err != nil {
			return err
		}
		for range n {
			size, err := p.count()
			if err != nil {
				return err
			}
			body, err := p.bytes(size)
			if err != nil {
				return err
			}
			bp := &parser{b: p.b[:p.off], off: p.off - len(body)}
			groups, err := bp.count()
			if err != nil {
				return err
			}
			var locals uint64
			for range groups {
				k, err := bp.u32()
				if err != nil {
					return err
				}
				if locals += uint64(k); locals > maxFunctionLocal {
					return bp.fail("a function declares more than the %d locals a function may have", maxFunctionLocal)
				}
				if _, err := bp.valtype(); err != nil {
					return err
				}
			}
		}
	case 11:
		n, err := p.limited(maxDataSegments, "data segments")
		if err != nil {
			return err
		}
		for range n {
			flag, err := p.u32()
			if err != nil {
				return err
			}
			switch flag {
			case 0:
				err = p.constExpr()
			case 1:
			case 2:
				if _, err = p.u32(); err == nil {
					err = p.constExpr()
				}
			default:
				return p.fail("data segment flag %d", flag)
			}
			if err != nil {
				return err
			}
			k, err := p.count()
			if err != nil {
				return err
			}
			if _, err := p.bytes(k); err != nil {
				return err
			}
		}
	case 13:
		n, err := p.limited(maxTags, "tags")
		if err != nil {
			return err
		}
		for range n {
			if _, err := p.byte(); err != nil {
				return err
			}
			if _, err := p.u32(); err != nil {
				return err
			}
		}
	}
	return nil
}

// elements walks the element section: each segment's items are function
// indices or constant expressions, never more than the bytes left.
func (p *parser) elements() error {
	n, err := p.limited(maxElemSegments, "element segments")
	if err != nil {
		return err
	}
	items := 0
	for range n {
		flag, err := p.u32()
		if err != nil {
			return err
		}
		if flag > 7 {
			return p.fail("element segment flag %d", flag)
		}
		if flag&3 == 2 { // an explicit table index
			if _, err := p.u32(); err != nil {
				return err
			}
		}
		if flag&1 == 0 { // active: an offset
			if err := p.constExpr(); err != nil {
				return err
			}
		}
		if flag&3 != 0 { // an element kind or a reference type
			if _, err := p.byte(); err != nil {
				return err
			}
		}
		k, err := p.count()
		if err != nil {
			return err
		}
		if items += k; items > maxElemItems {
			return p.fail("the element segments hold more than the %d items a module may have", maxElemItems)
		}
		for range k {
			if flag&4 != 0 {
				err = p.constExpr()
			} else {
				_, err = p.u32()
			}
			if err != nil {
				return err
			}
		}
	}
	return nil
}

// constExpr skips a constant expression, through its end: the
// instructions the backends accept in one.
func (p *parser) constExpr() error {
	for {
		op, err := p.byte()
		if err != nil {
			return err
		}
		switch op {
		case 0x0b: // end
			return nil
		case 0x41: // i32.const
			_, err = p.sleb(32)
		case 0x42: // i64.const
			_, err = p.sleb(64)
		case 0x43: // f32.const
			_, err = p.bytes(4)
		case 0x44: // f64.const
			_, err = p.bytes(8)
		case 0x23, 0xd2: // global.get, ref.func
			_, err = p.u32()
		case 0xd0: // ref.null
			_, err = p.byte()
		case 0x6a, 0x6b, 0x6c, 0x7c, 0x7d, 0x7e: // extended constants
		case 0xfd: // v128.const
			var sub uint32
			if sub, err = p.u32(); err == nil && sub != 12 {
				return p.fail("instruction 0xfd %d in a constant expression", sub)
			}
			if err == nil {
				_, err = p.bytes(16)
			}
		default:
			return p.fail("instruction 0x%02x in a constant expression", op)
		}
		if err != nil {
			return err
		}
	}
}

// sleb skips a signed LEB128 number of at most bits bits.
func (p *parser) sleb(bits uint) (int64, error) {
	var shift uint
	for {
		c, err := p.byte()
		if err != nil {
			return 0, err
		}
		if shift >= bits {
			return 0, p.fail("integer too long")
		}
		shift += 7
		if c&0x80 == 0 {
			return 0, nil
		}
	}
}

// custom checks the counts of a custom section named "name", which wazero
// decodes: its function names and local names (other subsections, and
// other custom sections, it skips).
func (p *parser) custom() error {
	nm, err := p.name()
	if err != nil || nm != "name" {
		return err
	}
	for p.off < len(p.b) {
		sub, err := p.byte()
		if err != nil {
			return err
		}
		size, err := p.count()
		if err != nil {
			return err
		}
		body, err := p.bytes(size)
		if err != nil {
			return err
		}
		if sub != 1 && sub != 2 {
			continue
		}
		sp := &parser{b: p.b[:p.off], off: p.off - len(body)}
		n, err := sp.count()
		if err != nil {
			return err
		}
		for range n {
			if _, err := sp.u32(); err != nil {
				return err
			}
			if sub == 1 {
				_, err = sp.name()
			} else {
				err = sp.nameMap()
			}
			if err != nil {
				return err
			}
		}
	}
	return nil
}

// nameMap skips a name map: a count, then index and name pairs.
func (p *parser) nameMap() error {
	n, err := p.count()
	if err != nil {
		return err
	}
	for range n {
		if _, err := p.u32(); err != nil {
			return err
		}
		if _, err := p.name(); err != nil {
			return err
		}
	}
	return nil
}
