package deployment

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"time"
)

// DefaultGrace is how long Stop waits for a process to exit after the
// interrupt before it kills it and its descendants.
const DefaultGrace = 10 * time.Second

// Options vary how a process is started.
type Options struct {
	// OnLine, if set, sees each line the process writes to its standard
	// output, without the line ending, in order, from one goroutine.
	OnLine func(line string)
	// LogFile, if set, also receives the process's standard output and
	// error (appended; created with mode 0600), and is closed when the
	// process ends.
	LogFile string
	// Env is added to this process's environment.
	Env []string
	// Grace is how long Stop waits after the interrupt; zero means
	// DefaultGrace.
	Grace time.Duration
}

// Process is a running (or ended) truce child process. Its standard
// output and error are captured together, in the order they arrive.
//
// On Linux the kernel sends the child SIGTERM if the thread that started
// it ends first, so that a crashed parent leaves no child behind.
type Process struct {
	name  string
	cmd   *exec.Cmd
	out   *capture
	grace time.Duration
	done  chan struct{}
}

// Start starts "truce ARGS…". The context bounds the start only: the
// process runs until it exits or Stop is called.
func (b *Binary) Start(ctx context.Context, o Options, args ...string) (*Process, error) {
	name := "truce " + strings.Join(args[:min(2, len(args))], " ")
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	cmd := exec.Command(b.Path, args...)
	if b.Name != "" {
		cmd.Args[0] = b.Name
	}
	if o.Env != nil {
		cmd.Env = append(os.Environ(), o.Env...)
	}
	setDeathSignal(cmd)
	c := &capture{}
	if o.LogFile != "" {
		f, err := os.OpenFile(o.LogFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
		if err != nil {
			return nil, fmt.Errorf("starting %s: %w", name, err)
		}
		c.file = f
	}
	cmd.Stderr = c
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		c.close()
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	if err := cmd.Start(); err != nil {
		c.close()
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	p := &Process{name: name, cmd: cmd, out: c, grace: o.Grace, done: make(chan struct{})}
	if p.grace <= 0 {
		p.grace = DefaultGrace
	}
	go func() {
		r := bufio.NewReader(stdout)
		for {
			line, err := r.ReadString('\n')
			if line != "" {
				c.Write([]byte(strings.TrimSuffix(line, "\n") + "\n"))
				if o.OnLine != nil {
					o.OnLine(strings.TrimRight(line, "\r\n"))
				}
			}
			if err != nil {
				break
			}
		}
		cmd.Wait()
		c.close()
		close(p.done)
	}()
	return p, nil
}

// String names the process: "truce" and its first two arguments.
func (p *Process) String() string { return p.name }

// Pid returns the process id.
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// Output returns everything the process wrote so far, standard output
// and error together.
func (p *Process) Output() string { return p.out.String() }

// Done is closed once the process has exited and its output is read.
func (p *Process) Done() <-chan struct{} { return p.done }

// Exited reports whether the process has exited, without waiting.
func (p *Process) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// ExitCode returns the process's exit code, or -1 while it runs or if a
// signal ended it.
func (p *Process) ExitCode() int {
	if !p.Exited() {
		return -1
	}
	return p.cmd.ProcessState.ExitCode()
}

// Wait waits for the process to exit and returns its exit code; it
// returns the context's error if the context ends first, leaving the
// process running.
func (p *Process) Wait(ctx context.Context) (int, error) {
	select {
	case <-p.done:
		return p.cmd.ProcessState.ExitCode(), nil
	case <-ctx.Done():
		return -1, fmt.Errorf("waiting for %s to exit: %w", p.name, ctx.Err())
	}
}

// Stop interrupts the process and waits for it to exit; if it has not
// within the grace period, it kills the process and its descendants. It
// does nothing if the process has already exited. It may be called more
// than once, from any goroutine.
func (p *Process) Stop() {
	if p.Exited() {
		return
	}
	p.cmd.Process.Signal(os.Interrupt)
	select {
	case <-p.done:
	case <-time.After(p.grace):
		p.Kill()
		<-p.done
	}
}

// Kill kills the process and every descendant of it at once, without
// waiting. The descendants are listed first (on Linux), so that those the
// process started, such as a host's runtime, are not left behind as
// orphans.
func (p *Process) Kill() {
	kids := Descendants(p.Pid())
	p.cmd.Process.Kill()
	for _, pid := range kids {
		if q, err := os.FindProcess(pid); err == nil {
			q.Kill()
		}
	}
}

// Children returns the ids of the process's children (on Linux; nil
// elsewhere), such as the runtime a host started.
func (p *Process) Children() []int { return Children(p.Pid()) }

// Descendants returns the ids of pid's children, their children and so on
// (on Linux; nil elsewhere).
func Descendants(pid int) []int {
	var out []int
	queue := []int{pid}
	for len(queue) > 0 && len(out) < 10000 {
		kids := Children(queue[0])
		queue = append(queue[1:], kids...)
		out = append(out, kids...)
	}
	return out
}

// capture is a process's output: kept in memory and, if set, written to a
// log file, under one lock.
type capture struct {
	mu   sync.Mutex
	b    bytes.Buffer
	file *os.File
}

func (c *capture) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.file != nil {
		c.file.Write(p) // the copy in memory is the one callers read
	}
	return c.b.Write(p)
}

func (c *capture) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.b.String()
}

func (c *capture) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.file != nil {
		c.file.Close()
		c.file = nil
	}
}

var _ io.Writer = (*capture)(nil)
