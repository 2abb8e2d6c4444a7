//go:build cgo

package engine

// wasmtime-go does not expose the epoch deadline callback of wasmtime's C
// API, which lets a store decide at each epoch tick whether to go on.
// These few lines call it directly, so that a run on wasmtime stops
// within one tick of its context ending, by time limit or cancellation,
// even in a loop that never calls the host.

/*
#include <stdint.h>

typedef struct wasmtime_store wasmtime_store_t;
typedef struct wasmtime_context wasmtime_context_t;
typedef struct wasmtime_error wasmtime_error_t;

extern void wasmtime_store_epoch_deadline_callback(wasmtime_store_t *store,
	wasmtime_error_t *(*func)(wasmtime_context_t *, void *, uint64_t *, uint8_t *),
	void *data, void (*finalizer)(void *));
extern wasmtime_error_t *wasmtime_error_new(const char *);
extern wasmtime_error_t *truceEpochCallback(wasmtime_context_t *, void *, uint64_t *, uint8_t *);

void truce_epoch_callback(void *store, uintptr_t handle) {
	wasmtime_store_epoch_deadline_callback((wasmtime_store_t *)store,
		truceEpochCallback, (void *)handle, 0);
}

wasmtime_error_t *truce_stop_error(void) {
	return wasmtime_error_new("run stopped by the engine: time limit or cancellation");
}
*/
import "C"

import (
	"runtime/cgo"
	"unsafe"

	"github.com/bytecodealliance/wasmtime-go/v39"
)

// storePtr returns the C store behind a wasmtime-go Store: the first
// field of the struct (wasmtime-go v39.0.1; TestCancel's loop case fails
// if that ever changes).
func storePtr(s *wasmtime.Store) unsafe.Pointer {
	return *(*unsafe.Pointer)(unsafe.Pointer(s))
}

// watchEpochs makes the store ask r, at every epoch tick, whether to go
// on. The returned handle must be deleted after the run.
func watchEpochs(s *wasmtime.Store, r *wtRun) cgo.Handle {
	h := cgo.NewHandle(r)
	C.truce_epoch_callback(storePtr(s), C.uintptr_t(h))
	s.SetEpochDeadline(1)
	return h
}
