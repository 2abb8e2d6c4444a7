package engine

import "syscall"

// mapNoReserve keeps the reservation out of the kernel's commit
// accounting: only touched pages count.
const mapNoReserve = syscall.MAP_NORESERVE
