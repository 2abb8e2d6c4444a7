package engine

import (
	"testing"
	"unsafe"
)

// TestWazeroMemoryInPlace: a wazero linear memory grows in place, within
// address space reserved up to its maximum, so that growing never holds
// two copies; it refuses growth past the run's limit (and says so) and
// past the memory's own maximum, and keeps its bytes.
func TestWazeroMemoryInPlace(t *testing.T) {
	a := &wzAllocator{limit: 64 << 20}
	m := a.Allocate(0, 32<<20).(*wzMemory)
	defer m.Free()
	b := m.Reallocate(pageSize)
	if len(b) != pageSize {
		t.Fatalf("%d bytes", len(b))
	}
	b[100] = 42
	base := unsafe.Pointer(&b[0])
	for size := uint64(2 * pageSize); size <= 32<<20; size *= 2 {
		b = m.Reallocate(size)
		if uint64(len(b)) != size || b[100] != 42 {
			t.Fatalf("grown to %d: %d bytes, byte 100 is %d", size, len(b), b[100])
		}
		if m.res != nil && unsafe.Pointer(&b[0]) != base {
			t.Fatalf("the memory moved when growing to %d bytes", size)
		}
		b[size-1] = 1
	}
	if m.res == nil {
		t.Logf("no address space reserved on this system: memories grow by copying")
	}
	if m.Reallocate(32<<20+pageSize) != nil || a.hit.Load() {
		t.Fatal("grown past the memory's maximum, or counted as the run's limit")
	}
	big := a.Allocate(0, 1<<30).(*wzMemory)
	defer big.Free()
	if big.Reallocate(64<<20+pageSize) != nil || !a.hit.Load() {
		t.Fatal("grown past the run's limit, or the limit not noted")
	}
}
