package engine

import (
	"fmt"
	"io"
	"strings"
)

// WriteText writes the report of the module prog (size bytes) for a
// person, as "truce check" prints it: whether it exports _start and
// memory, its initial memory, the native modules it imports, and every
// import, those the runtime does not provide marked MISSING with why.
func (r *Report) WriteText(w io.Writer, prog string, size int) {
	yes := map[bool]string{true: "yes", false: "no"}
	fmt.Fprintf(w, "%s: valid WebAssembly module, %d bytes\n", prog, size)
	fmt.Fprintf(w, "exports _start: %s\n", yes[r.ExportsStart])
	fmt.Fprintf(w, "exports memory: %s\n", yes[r.ExportsMemory])
	fmt.Fprintf(w, "initial memory: %d KiB\n", r.MemoryMinBytes>>10)
	if len(r.Native) > 0 {
		fmt.Fprintf(w, "native modules: %s (grant them: the program's \"native_modules\" in the policy, or truce run --native)\n", strings.Join(r.Native, ", "))
	} else {
		fmt.Fprintf(w, "native modules: none\n")
	}
	fmt.Fprintf(w, "imports: %d, %d not provided by the runtime\n", len(r.Imports), len(r.Unsupported))
	for _, im := range r.Imports {
		mark := "ok  "
		if !im.Supported {
			mark = "MISSING"
		}
		fmt.Fprintf(w, "  %-7s %s.%s %s %s\n", mark, im.Module, im.Name, im.Kind, im.Signature)
		if !im.Supported {
			fmt.Fprintf(w, "          %s\n", im.Reason)
		}
	}
}
