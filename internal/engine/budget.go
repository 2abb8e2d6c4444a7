package engine

import "fmt"

// What a table costs the host, charged to a run's memory budget: each
// element is a pointer in both backends (wazero's Reference is a
// uintptr; wasmtime's funcref and externref slots are at most a pointer),
// and each table has bookkeeping of its own besides.
const (
	tableElemBytes = 8
	tableOverhead  = 1 << 10
	// maxTables is the most tables a module may define: wasmtime's own
	// parser refuses more, and wazero is held to the same.
	maxTables = 100
)

// budget is what a module may take of a run's memory limit: one memory
// budget per run covers its linear memory and all its tables, each table
// charged at the most it may grow to (tableCap), since neither backend
// reports a table's growth to the host.
type budget struct {
	tables     int   // tables the module defines
	tableElems int64 // entries they may reach together
	tableBytes int64 // bytes they may take, overhead included
	memMin     int64 // initial bytes of the linear memory
}

// budgetOf reads a module's budget. It refuses, wrapping
// ErrInvalidModule, what no run could bound: more than one linear memory
// (wazero runs only one, and wasmtime's limits are per memory, so a
// module of eight memories would take eight times the limit), a shared
// memory, or a table larger from the start than any run allows.
func budgetOf(info *moduleInfo) (budget, error) {
	var b budget
	if n := len(info.memories); n > 1 {
		return b, fmt.Errorf("%w: the program defines %d linear memories; Truce runs programs with one (one memory budget covers it and the tables): build it with a single memory", ErrInvalidModule, n)
	}
	for _, m := range info.memories {
		if m.shared {
			return b, fmt.Errorf("%w: the program defines a shared memory (threads), which Truce does not run: build it without threads", ErrInvalidModule)
		}
		b.memMin = int64(min(m.min, MaxMemoryBytes/pageSize+1)) * pageSize
	}
	if n := len(info.tables); n > maxTables {
		return b, fmt.Errorf("%w: the program defines %d tables, more than the %d a program may have", ErrInvalidModule, n, maxTables)
	}
	for i, t := range info.tables {
		if t.lim.min > maxTableElements {
			return b, fmt.Errorf("%w: table %d starts with %d entries, more than the %d a table may have", ErrInvalidModule, i, t.lim.min, maxTableElements)
		}
		n := int64(tableCap(t, maxTableElements))
		b.tableElems += n
		b.tableBytes += n*tableElemBytes + tableOverhead
	}
	b.tables = len(info.tables)
	return b, nil
}

// memoryLimit returns how large the run's linear memory may grow, in
// whole pages: the run's limit less what its tables may take. It returns
// a message for people instead when the tables and the initial memory do
// not fit the limit, which ends the run as MemoryExceeded before it
// starts.
func (b budget) memoryLimit(limit int64) (int64, string) {
	left := (limit - b.tableBytes) / pageSize * pageSize
	switch {
	case b.tableBytes > limit || b.memMin > left && b.tables > 0:
		return 0, fmt.Sprintf("the program's %d tables may take %d MiB (%d entries of %d bytes) and its initial memory is %d MiB: together more than its limit of %d MiB",
			b.tables, b.tableBytes>>20, b.tableElems, tableElemBytes, b.memMin>>20, limit>>20)
	case b.memMin > left:
		return 0, fmt.Sprintf("the program's initial memory of %d MiB is more than its limit of %d MiB", b.memMin>>20, limit>>20)
	}
	return left, ""
}
