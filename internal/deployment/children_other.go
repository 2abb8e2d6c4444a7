//go:build !linux

package deployment

import "os/exec"

// setDeathSignal does nothing where the kernel offers no parent-death
// signal; Stop and the callers' clean-ups stop the children.
func setDeathSignal(*exec.Cmd) {}

// Children returns nil: listing a process's children needs Linux's /proc.
func Children(int) []int { return nil }
