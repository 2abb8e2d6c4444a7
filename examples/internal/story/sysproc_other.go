//go:build !linux

package story

import "os/exec"

// setDeathSignal does nothing where the kernel offers no parent-death
// signal; Main and the tests' clean-ups stop the children.
func setDeathSignal(*exec.Cmd) {}
