package story

import (
	"os/exec"
	"syscall"
)

// setDeathSignal asks the kernel to send the child SIGTERM if the test
// binary dies without stopping it.
func setDeathSignal(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
}
