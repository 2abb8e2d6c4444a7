package trucetest

import "io"

// pattern is an endless reader of bytes that do not repeat quickly.
type pattern struct{ i byte }

func (p *pattern) Read(b []byte) (int, error) {
	for k := range b {
		b[k] = p.i
		p.i = p.i*31 + 7
	}
	return len(b), nil
}

// Pattern returns a reader of n bytes that are the same on every call but
// do not repeat quickly, for uploads and downloads of any size in tests and
// benchmarks: nothing is held in memory and nothing compresses.
func Pattern(n int64) io.Reader { return io.LimitReader(&pattern{}, n) }
