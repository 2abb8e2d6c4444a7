//go:build cgo

package engine

/*
#include <stdint.h>

typedef struct wasmtime_context wasmtime_context_t;
typedef struct wasmtime_error wasmtime_error_t;

extern wasmtime_error_t *truce_stop_error(void);
*/
import "C"

import (
	"runtime/cgo"
	"unsafe"
)

// truceEpochCallback runs at each epoch tick of a run on wasmtime: it
// stops the program once the run's context is done, and otherwise lets it
// run one more tick.
//
//export truceEpochCallback
func truceEpochCallback(_ *C.wasmtime_context_t, data unsafe.Pointer, delta *C.uint64_t, kind *C.uint8_t) *C.wasmtime_error_t {
	r, ok := cgo.Handle(uintptr(data)).Value().(*wtRun)
	if !ok || r.ctx.Err() != nil {
		if ok {
			r.abortCtx()
		}
		return C.truce_stop_error()
	}
	*delta = 1
	*kind = 0 // continue
	return nil
}
