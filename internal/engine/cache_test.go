package engine

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
)

func key(b byte) [32]byte { return [32]byte{b} }

// TestCacheLRU checks eviction order, and that a module in use is freed
// only once released.
func TestCacheLRU(t *testing.T) {
	var freed []int
	c := newCache(2, func(v int) { freed = append(freed, v) })
	get := func(k byte, v int) (*entry[int], bool) {
		t.Helper()
		e, hit, err := c.get(key(k), func() (int, error) { return v, nil })
		if err != nil {
			t.Fatal(err)
		}
		return e, hit
	}
	a, _ := get(1, 10)
	c.release(a)
	b, _ := get(2, 20) // held
	if _, hit := get(1, 99); !hit {
		t.Error("1 not cached")
	}
	c.release(a)
	get(3, 30) // evicts 2 (least recently used), which is still held
	if len(freed) != 0 {
		t.Fatalf("freed %v while in use", freed)
	}
	c.release(b)
	if len(freed) != 1 || freed[0] != 20 {
		t.Fatalf("freed %v, want [20]", freed)
	}
	if c.len() != 2 {
		t.Errorf("len %d", c.len())
	}
	c.close()
	if len(freed) != 2 { // 1 freed; 3 is still held
		t.Errorf("freed %v after close", freed)
	}
	if _, _, err := c.get(key(4), func() (int, error) { return 0, nil }); !errors.Is(err, ErrClosed) {
		t.Errorf("get after close: %v", err)
	}
}

func TestCacheBuildError(t *testing.T) {
	c := newCache(2, func(int) {})
	boom := errors.New("boom")
	if _, _, err := c.get(key(1), func() (int, error) { return 0, boom }); !errors.Is(err, boom) {
		t.Fatal(err)
	}
	if _, hit, err := c.get(key(1), func() (int, error) { return 1, nil }); err != nil || hit {
		t.Fatalf("after a failed build: hit %v, %v", hit, err)
	}
}

// TestCompileOnce runs one new program from many goroutines at once on
// a fresh engine: it is compiled once.
func TestCompileOnce(t *testing.T) {
	for _, k := range Kinds() {
		t.Run(string(k), func(t *testing.T) {
			e, err := New(Options{Kind: k})
			if err != nil {
				t.Fatal(err)
			}
			defer e.Close()
			wasm := testdata(t, "hello.wasm")
			var misses atomic.Int32
			var wg sync.WaitGroup
			for range 6 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					res, err := e.Run(context.Background(), Program{Wasm: wasm}, Config{})
					if err != nil || !res.OK() {
						t.Errorf("%+v, %v", res, err)
						return
					}
					if !res.CacheHit {
						misses.Add(1)
					}
				}()
			}
			wg.Wait()
			if n := misses.Load(); n != 1 {
				t.Errorf("%d runs compiled the program, want 1", n)
			}
		})
	}
}
