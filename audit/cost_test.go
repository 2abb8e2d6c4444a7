package audit

import (
	"fmt"
	"runtime"
	"testing"
)

// TestCostCoversMemory: what the log charges its entries against its
// budget is at least the heap they take, so a budget bounds memory. The
// figures are logged.
func TestCostCoversMemory(t *testing.T) {
	for _, tc := range []struct {
		name string
		e    func(i int) Entry
	}{
		{"refused read", func(i int) Entry {
			return Entry{Principal: "mallory", Action: "read", Path: fmt.Sprintf("/input/alice-%06d.dat", i), Outcome: "forbidden"}
		}},
		{"write with commitment", func(i int) Entry {
			return Entry{Principal: "alice", Action: "write", Path: "/input/a.dat", Hashes: []string{fmt.Sprintf("%064x", i)}, Outcome: "ok"}
		}},
		{"run", func(i int) Entry {
			return Entry{Principal: "dave", Action: "run", Path: "/program/p.wasm", Hashes: []string{fmt.Sprintf("%064x", i), fmt.Sprintf("%064x", i+1)}, Outcome: "ok"}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			const n = 20000
			l := &Log{Now: fixedNow, Budget: 1 << 40}
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			for i := 0; i < n; i++ {
				l.Append(tc.e(i))
			}
			runtime.GC()
			runtime.ReadMemStats(&after)
			heap := int64(after.HeapAlloc) - int64(before.HeapAlloc)
			charged := l.Stats().Bytes
			t.Logf("%d entries: %d bytes of heap (%d each), %d charged (%d each)", n, heap, heap/n, charged, charged/n)
			if heap > charged {
				t.Fatalf("entries take %d bytes of heap, more than the %d charged", heap, charged)
			}
			runtime.KeepAlive(l)
		})
	}
}
