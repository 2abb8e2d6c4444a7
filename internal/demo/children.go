package demo

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/truce-project/truce/internal/deployment"
	"github.com/truce-project/truce/internal/hint"
)

// children are the truce processes a run starts (internal/deployment),
// each logged to DIR/NAME.log; stopAll ends those still running.
type children struct {
	exe string // the truce executable
	dir string
	ctx context.Context

	bin   *deployment.Binary
	group deployment.Group
	mu    sync.Mutex
	procs map[string]*deployment.Process
}

// grace is how long a child has to stop after the interrupt.
const grace = 5 * time.Second

// binary is the truce executable, measured once.
func (c *children) binary() (*deployment.Binary, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.bin == nil {
		b, err := deployment.Open(c.exe)
		if err != nil {
			return nil, err
		}
		b.Name = "truce"
		c.bin = b
	}
	return c.bin, nil
}

// options are the process options of the child called name.
func (c *children) options(name string, onLine func(string)) deployment.Options {
	return deployment.Options{OnLine: onLine, LogFile: filepath.Join(c.dir, name+".log"), Grace: grace}
}

// add remembers the child called name, for waitExit and stopAll.
func (c *children) add(name string, p *deployment.Process) *deployment.Process {
	c.group.Add(p)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.procs == nil {
		c.procs = map[string]*deployment.Process{}
	}
	c.procs[name] = p
	return p
}

// start runs the truce executable as a child ("truce ARGS…"), its stderr
// and stdout logged to DIR/NAME.log and each stdout line also given to
// onLine.
func (c *children) start(name string, onLine func(string), args ...string) (*deployment.Process, error) {
	bin, err := c.binary()
	if err != nil {
		return nil, err
	}
	p, err := bin.Start(c.ctx, c.options(name, onLine), args...)
	if err != nil {
		return nil, err
	}
	return c.add(name, p), nil
}

// waitExit waits for the child called name to exit; it must exit 0.
func (c *children) waitExit(name string, timeout time.Duration) error {
	c.mu.Lock()
	p := c.procs[name]
	c.mu.Unlock()
	if p == nil {
		return fmt.Errorf("no process %s", name)
	}
	ctx, cancel := context.WithTimeout(c.ctx, timeout)
	defer cancel()
	code, err := p.Wait(ctx)
	switch {
	case c.ctx.Err() != nil:
		return c.ctx.Err()
	case err != nil:
		return fmt.Errorf("truce %s did not exit", name)
	case code != 0:
		return fmt.Errorf("truce %s exited with code %d (see %s)", name, code, filepath.Join(c.dir, name+".log"))
	}
	return nil
}

// stopAll interrupts every child still running, newest first, and kills
// those that do not stop within the grace period.
func (c *children) stopAll() { c.group.Stop() }

// freeAddr returns a loopback address with a port free right now.
func freeAddr() (string, error) { return deployment.FreeAddr() }

// startPAS initialises an attestation service in DIR/pas and serves it
// ("truce pas serve --allow-sim" on a free loopback port); it returns the
// service's directory, its URL and its CA certificate.
func (c *children) startPAS(timeout time.Duration) (dir, url string, caPEM []byte, err error) {
	bin, err := c.binary()
	if err != nil {
		return "", "", nil, err
	}
	ps, err := bin.StartAttestationService(c.ctx, deployment.AttestationServiceOptions{
		Dir: filepath.Join(c.dir, "pas"), Init: true, Process: c.options("pas", nil), Ready: timeout})
	if err != nil {
		return "", "", nil, fmt.Errorf("%w (see %s)", err, filepath.Join(c.dir, "pas.log"))
	}
	c.add("pas", ps.Process)
	return ps.Dir, ps.URL, ps.CACert, nil
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
