package vfs

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/truce-project/truce/capability"
)

func benchView() *View {
	f := New(Limits{FileBytes: 1 << 30, TotalBytes: 1 << 31}, nil)
	return f.View(capability.Set{"/in/": capability.Read, "/out/": capability.Read | capability.Write})
}

func BenchmarkWriteFile1MiB(b *testing.B) {
	v := benchView()
	data := bytes.Repeat([]byte("x"), 1<<20)
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := v.WriteFile("/out/f", bytes.NewReader(data)); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkHandleWriteAt4KiB(b *testing.B) {
	v := benchView()
	v.MkdirAll("/out")
	h, err := v.OpenFile("/out/f", FlagCreate|FlagWrite)
	if err != nil {
		b.Fatal(err)
	}
	defer h.Close()
	buf := make([]byte, 4096)
	b.SetBytes(int64(len(buf)))
	var off int64
	for b.Loop() {
		if _, err := h.WriteAt(buf, off); err != nil {
			b.Fatal(err)
		}
		off = (off + 4096) % (64 << 20)
	}
}

func BenchmarkHandleReadAt4KiB(b *testing.B) {
	v := benchView()
	v.WriteFile("/out/f", bytes.NewReader(make([]byte, 1<<20)))
	h, _ := v.OpenFile("/out/f", FlagRead)
	defer h.Close()
	buf := make([]byte, 4096)
	b.SetBytes(int64(len(buf)))
	var off int64
	for b.Loop() {
		h.ReadAt(buf, off)
		off = (off + 4096) % (1 << 20)
	}
}

func BenchmarkOpenStatDeep(b *testing.B) {
	v := benchView()
	p := "/out/a/b/c/d/e/f/g/h/file"
	v.WriteFile(p, bytes.NewReader([]byte("x")))
	for b.Loop() {
		h, err := v.OpenFile(p, FlagRead)
		if err != nil {
			b.Fatal(err)
		}
		h.Close()
	}
}

func BenchmarkReadDir1000(b *testing.B) {
	v := benchView()
	for i := range 1000 {
		v.WriteFile(fmt.Sprintf("/out/d/%04d", i), bytes.NewReader(nil))
	}
	for b.Loop() {
		es, err := v.ReadDir("/out/d")
		if err != nil || len(es) != 1000 {
			b.Fatal(len(es), err)
		}
	}
}

// BenchmarkOverlay100k measures what a run's private copy costs when its
// capabilities name 100,000 files it may read, or write: the copy is made
// under the file system's lock, so this is how long it holds everyone else
// up.
func BenchmarkOverlay100k(b *testing.B) {
	b.Run("read", func(b *testing.B) {
		benchOverlay(b, capability.Set{"/in/": capability.Read, "/out/": capability.Write})
	})
	b.Run("write", func(b *testing.B) {
		benchOverlay(b, capability.Set{"/in/": capability.Read | capability.Write})
	})
}

func benchOverlay(b *testing.B, caps capability.Set) {
	f := New(Limits{}, nil)
	admin := f.Unchecked()
	for i := range 100_000 {
		if _, err := admin.WriteFile(fmt.Sprintf("/in/%03d/f%06d", i%100, i), bytes.NewReader([]byte("x"))); err != nil {
			b.Fatal(err)
		}
	}
	for b.Loop() {
		o, err := f.Overlay(caps)
		if err != nil {
			b.Fatal(err)
		}
		o.Commit()
	}
}
