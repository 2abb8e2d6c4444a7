package demo

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/truce-project/truce/internal/hint"
	"github.com/truce-project/truce/internal/pas"
)

// children are the truce processes a run starts, each logged to
// DIR/NAME.log; stopAll ends those still running.
type children struct {
	exe string // the truce executable
	dir string
	ctx context.Context

	mu    sync.Mutex
	procs []*exec.Cmd
	waits []procWait
}

type procWait struct {
	name string
	done chan struct{}
}

// start runs the truce executable as a child ("truce ARGS…"), its stderr
// and stdout logged to DIR/NAME.log and each stdout line also given to
// onLine.
func (c *children) start(name string, onLine func(string), args ...string) (*exec.Cmd, error) {
	logf, err := os.OpenFile(filepath.Join(c.dir, name+".log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("opening the log of truce %s: %w", name, err)
	}
	cmd := exec.Command(c.exe, args...)
	cmd.Args[0] = "truce"
	cmd.Stderr = logf
	out, err := cmd.StdoutPipe()
	if err != nil {
		logf.Close()
		return nil, fmt.Errorf("starting truce %s: %w", name, err)
	}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("starting truce %s: %w", strings.Join(args, " "), err)
	}
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			fmt.Fprintln(logf, sc.Text())
			if onLine != nil {
				onLine(sc.Text())
			}
		}
	}()
	waited := make(chan struct{})
	go func() { cmd.Wait(); logf.Close(); close(waited) }()
	c.mu.Lock()
	c.procs = append(c.procs, cmd)
	c.waits = append(c.waits, procWait{name, waited})
	c.mu.Unlock()
	return cmd, nil
}

// waitExit waits for the child called name to exit; it must exit 0.
func (c *children) waitExit(name string, timeout time.Duration) error {
	c.mu.Lock()
	var pw procWait
	var cmd *exec.Cmd
	for i, w := range c.waits {
		if w.name == name {
			pw, cmd = w, c.procs[i]
		}
	}
	c.mu.Unlock()
	if pw.done == nil {
		return fmt.Errorf("no process %s", name)
	}
	select {
	case <-pw.done:
		if code := cmd.ProcessState.ExitCode(); code != 0 {
			return fmt.Errorf("truce %s exited with code %d (see %s)", name, code, filepath.Join(c.dir, name+".log"))
		}
		return nil
	case <-time.After(timeout):
		return fmt.Errorf("truce %s did not exit", name)
	case <-c.ctx.Done():
		return c.ctx.Err()
	}
}

// stopAll interrupts every child still running, newest first, and kills
// those that do not stop within five seconds.
func (c *children) stopAll() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i := len(c.procs) - 1; i >= 0; i-- {
		w := c.waits[i]
		select {
		case <-w.done:
			continue
		default:
		}
		c.procs[i].Process.Signal(os.Interrupt)
		select {
		case <-w.done:
		case <-time.After(5 * time.Second):
			c.procs[i].Process.Kill()
			<-w.done
		}
	}
}

// waitFile waits for file to hold a line, and returns it.
func (c *children) waitFile(file string, timeout time.Duration) (string, error) {
	deadline := time.Now().Add(timeout)
	for {
		if b, err := os.ReadFile(file); err == nil && bytes.HasSuffix(b, []byte("\n")) {
			return strings.TrimSpace(string(b)), nil
		}
		if time.Now().After(deadline) {
			return "", fmt.Errorf("%s not written within %v", file, timeout)
		}
		select {
		case <-c.ctx.Done():
			return "", c.ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// freeAddr returns a loopback address with a port free right now.
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("finding a free loopback port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// startPAS initialises an attestation service in DIR/pas and serves it
// ("truce pas serve --allow-sim" on a free loopback port); it returns the
// service's directory, its URL and its CA certificate.
func (c *children) startPAS(timeout time.Duration) (dir, url string, caPEM []byte, err error) {
	dir = filepath.Join(c.dir, "pas")
	if err := pas.Init(dir, nil); err != nil {
		return "", "", nil, fmt.Errorf("initialising the attestation service: %w", err)
	}
	addrFile := filepath.Join(c.dir, "pas.addr")
	if _, err := c.start("pas", nil, "pas", "serve", "--dir", dir, "--listen", "127.0.0.1:0", "--allow-sim", "--addr-file", addrFile); err != nil {
		return "", "", nil, err
	}
	addr, err := c.waitFile(addrFile, timeout)
	if err != nil {
		return "", "", nil, fmt.Errorf("the attestation service did not start: %w (see %s)", err, filepath.Join(c.dir, "pas.log"))
	}
	caPEM, err = os.ReadFile(filepath.Join(dir, pas.CACertFile))
	if err != nil {
		return "", "", nil, fmt.Errorf("reading the attestation service's CA: %w", err)
	}
	return dir, "https://" + addr, caPEM, nil
}

// workDir is keep, created and required empty when empty is set, or a new
// temporary directory (prefix) that cleanup removes.
func workDir(keep, prefix string, empty bool) (dir string, cleanup func(), err error) {
	if keep == "" {
		dir, err := os.MkdirTemp("", prefix)
		if err != nil {
			return "", nil, fmt.Errorf("making a working directory: %w", err)
		}
		return dir, func() { os.RemoveAll(dir) }, nil
	}
	if err := os.MkdirAll(keep, 0o700); err != nil {
		return "", nil, hint.With(fmt.Errorf("--keep: %w", err), "give a directory that can be created")
	}
	if ents, _ := os.ReadDir(keep); empty && len(ents) > 0 {
		return "", nil, hint.With(fmt.Errorf("--keep %s is not empty", keep), "give a new or empty directory")
	}
	return keep, func() {}, nil
}
