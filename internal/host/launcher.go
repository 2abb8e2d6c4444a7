package host

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"
)

// LaunchSpec says which runtime to start.
type LaunchSpec struct {
	// PolicyFile holds the exact policy bytes, in the host's private
	// directory.
	PolicyFile string
	// Platform is the enclave platform, such as "sim".
	Platform string
	// Listen is where the runtime must listen, such as "unix:/dir/rt.sock".
	Listen string
	// SimDeviceKey is the simulated device key file (platform sim only).
	SimDeviceKey string
	// Dir is the host's private directory (mode 0700) for this enclave.
	Dir string
	// Log receives the runtime's own log (its stderr).
	Log io.Writer
	// MaxRuns and MemoryMiB are the enclave's limits (see Enclave); zero
	// means none.
	MaxRuns, MemoryMiB int
}

// Process is a started runtime: its control channel and its life.
type Process interface {
	// Stdin carries control messages to the runtime.
	Stdin() io.WriteCloser
	// Stdout carries control messages from the runtime.
	Stdout() io.Reader
	// Wait waits for the runtime to exit; it returns nil for exit code 0.
	Wait() error
	// Kill stops the runtime at once.
	Kill() error
}

// Launcher starts runtimes. Tests inject in-process fakes.
type Launcher interface {
	// Launch starts a runtime as spec says; it returns once the runtime
	// is started, not once it is ready.
	Launch(ctx context.Context, spec LaunchSpec) (Process, error)
}

// ExecLauncher starts the runtime as a child process: Path (default: this
// very executable) with the arguments "runtime --policy … --platform …
// --listen …", for sim "--sim-device-key …", and with a run limit
// "--max-runs N". A memory limit becomes the child's RLIMIT_DATA (set
// before it runs a program) and GOMEMLIMIT (at 3/4 of it, so its heap is
// collected before the hard limit is reached).
type ExecLauncher struct {
	// Path of the truce executable; empty means os.Executable().
	Path string
	// Env is the child's environment; nil means the host's.
	Env []string
}

// Launch starts the runtime. The child gets its own process group, so a
// Ctrl-C at the terminal reaches the host, which then stops it in order.
func (l ExecLauncher) Launch(ctx context.Context, spec LaunchSpec) (Process, error) {
	path := l.Path
	if path == "" {
		p, err := os.Executable()
		if err != nil {
			return nil, fmt.Errorf("finding the truce executable to start the runtime: %w", err)
		}
		path = p
	}
	args := []string{"runtime", "--policy", spec.PolicyFile, "--platform", spec.Platform, "--listen", spec.Listen}
	if spec.SimDeviceKey != "" {
		// The runtime runs in the private directory: make the path absolute.
		key, err := filepath.Abs(spec.SimDeviceKey)
		if err != nil {
			return nil, fmt.Errorf("simulated device key %s: %w", spec.SimDeviceKey, err)
		}
		args = append(args, "--sim-device-key", key)
	}
	if spec.MaxRuns > 0 {
		args = append(args, "--max-runs", strconv.Itoa(spec.MaxRuns))
	}
	cmd := exec.Command(path, args...)
	cmd.Args[0] = "truce" // the command name, whatever the file is called
	cmd.Env = l.Env
	if spec.MemoryMiB > 0 {
		if cmd.Env == nil {
			cmd.Env = os.Environ()
		}
		cmd.Env = append(cmd.Env, fmt.Sprintf("GOMEMLIMIT=%dMiB", spec.MemoryMiB*3/4))
	}
	cmd.Dir = spec.Dir
	cmd.Stderr = spec.Log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	// Plain pipes rather than cmd.StdoutPipe: Wait must not close the
	// control output before everything the runtime wrote has been read.
	inR, inW, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("runtime stdin: %w", err)
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		inR.Close()
		inW.Close()
		return nil, fmt.Errorf("runtime stdout: %w", err)
	}
	cmd.Stdin, cmd.Stdout = inR, outW
	err = cmd.Start()
	inR.Close()
	outW.Close()
	if err != nil {
		inW.Close()
		outR.Close()
		return nil, fmt.Errorf("starting the runtime %s: %w", path, err)
	}
	p := &execProcess{cmd: cmd, in: inW, out: outR}
	if spec.MemoryMiB > 0 {
		// The runtime waits for the host's attest message before it
		// serves, so the limit is in place before any client's bytes.
		if err := limitData(cmd.Process.Pid, uint64(spec.MemoryMiB)<<20); err != nil {
			p.Kill()
			p.Wait()
			inW.Close()
			outR.Close()
			return nil, fmt.Errorf("limiting the runtime's memory to %d MiB: %w", spec.MemoryMiB, err)
		}
	}
	return p, nil
}

type execProcess struct {
	cmd *exec.Cmd
	in  *os.File
	out *os.File
}

// PID is the runtime's process ID, for the host's memory metrics.
func (p *execProcess) PID() int { return p.cmd.Process.Pid }

func (p *execProcess) Stdin() io.WriteCloser { return p.in }
func (p *execProcess) Stdout() io.Reader     { return p.out }
func (p *execProcess) Wait() error           { return p.cmd.Wait() }
func (p *execProcess) Kill() error {
	err := p.cmd.Process.Kill()
	if errors.Is(err, os.ErrProcessDone) {
		return nil
	}
	return err
}

// stopGrace is how long a runtime may take to stop after its control
// input closes, before it is killed.
const stopGrace = 5 * time.Second
