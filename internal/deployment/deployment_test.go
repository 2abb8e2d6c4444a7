package deployment

import (
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// script is a Binary running the shell script body, whatever its
// arguments.
func script(t *testing.T, body string) *Binary {
	t.Helper()
	if runtime.GOOS == "windows" {
		t.Skip("needs a POSIX shell")
	}
	f := filepath.Join(t.TempDir(), "truce")
	if err := os.WriteFile(f, []byte("#!/bin/sh\n"+body), 0o755); err != nil {
		t.Fatal(err)
	}
	return &Binary{Path: f}
}

func TestProcessOutputLinesAndExitCode(t *testing.T) {
	b := script(t, "echo one; echo two >&2; printf 'three\\r\\nfour'; exit 3\n")
	log := filepath.Join(t.TempDir(), "p.log")
	var lines []string
	p, err := b.Start(context.Background(), Options{OnLine: func(l string) { lines = append(lines, l) }, LogFile: log}, "x", "y", "z")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	code, err := p.Wait(ctx)
	if err != nil || code != 3 || p.ExitCode() != 3 || !p.Exited() {
		t.Fatalf("Wait = %d, %v; ExitCode %d", code, err, p.ExitCode())
	}
	if strings.Join(lines, "|") != "one|three|four" { // read after Done: the callback ran before
		t.Errorf("lines %q", lines)
	}
	out := p.Output()
	for _, w := range []string{"one\n", "two\n", "three\r\n", "four\n"} {
		if !strings.Contains(out, w) {
			t.Errorf("output %q lacks %q", out, w)
		}
	}
	if b, err := os.ReadFile(log); err != nil || string(b) != out {
		t.Errorf("log file %q, %v; output %q", b, err, out)
	}
	if p.String() != "truce x y" {
		t.Errorf("String() = %q", p.String())
	}
}

func TestWaitContext(t *testing.T) {
	p, err := script(t, "sleep 30\n").Start(context.Background(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Stop()
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := p.Wait(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Wait = %v, want the deadline", err)
	}
	if p.Exited() || p.ExitCode() != -1 {
		t.Fatal("the process ended")
	}
}

// TestStopKillsDescendants: a process ignoring the interrupt is killed
// after the grace period, and so is the child it started.
func TestStopKillsDescendants(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("lists children from /proc")
	}
	b := script(t, "trap '' INT\nsh -c \"trap '' INT TERM; echo child \\$\\$; sleep 60\" &\nwait\n")
	kid := make(chan string, 1)
	p, err := b.Start(context.Background(), Options{Grace: 300 * time.Millisecond, OnLine: func(l string) {
		if s, ok := strings.CutPrefix(l, "child "); ok {
			kid <- s
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	var pid string
	select {
	case pid = <-kid:
	case <-time.After(10 * time.Second):
		t.Fatal("no child")
	}
	if len(p.Children()) == 0 {
		t.Fatal("Children() is empty")
	}
	t0 := time.Now()
	p.Stop()
	if d := time.Since(t0); d < 300*time.Millisecond {
		t.Errorf("stopped after %v, before the grace period", d)
	}
	if !p.Exited() {
		t.Fatal("still running after Stop")
	}
	// The killed grandchild may linger as a zombie until init reaps it.
	deadline := time.Now().Add(5 * time.Second)
	for {
		st, err := os.ReadFile("/proc/" + pid + "/stat")
		if err != nil || strings.Contains(string(st), ") Z ") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the child %s survived Stop: %s", pid, st)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestStartHostReadyAndPortTaken(t *testing.T) {
	ps := &AttestationService{DeviceKey: "device.key"}
	b := script(t, "echo \"args $*\"\necho ready 127.0.0.1:9\nsleep 30\n")
	var seen []string
	h, err := b.StartHost(context.Background(), ps, HostOptions{Listen: "127.0.0.1:9", Policies: []string{"a.json", "b.json"},
		Flags: []string{"--log-level", "warn"}, Process: Options{OnLine: func(l string) { seen = append(seen, l) }}})
	if err != nil {
		t.Fatal(err)
	}
	h.Stop()
	if h.Addr != "127.0.0.1:9" || h.Ready <= 0 {
		t.Errorf("host %+v", h)
	}
	want := "args host serve --platform sim --sim-device-key device.key --listen 127.0.0.1:9 --policy a.json --policy b.json --log-level warn"
	if !strings.Contains(h.Process.Output(), want) || len(seen) < 2 {
		t.Errorf("output %q, lines seen %q; want %q", h.Process.Output(), seen, want)
	}

	taken := script(t, "echo 'listen tcp 127.0.0.1:9: bind: address already in use' >&2\nexit 1\n")
	if _, err := taken.StartHost(context.Background(), ps, HostOptions{Listen: "127.0.0.1:9"}); !errors.Is(err, ErrPortTaken) {
		t.Errorf("StartHost = %v, want ErrPortTaken", err)
	}
	failed := script(t, "echo 'no policy' >&2\nexit 2\n")
	if _, err := failed.StartHost(context.Background(), ps, HostOptions{}); !errors.Is(err, ErrNotReady) || !strings.Contains(err.Error(), "no policy") {
		t.Errorf("StartHost = %v, want ErrNotReady with the output", err)
	}
	silent := script(t, "sleep 30\n")
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if _, err := silent.StartHost(ctx, ps, HostOptions{}); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("StartHost = %v, want the deadline", err)
	}
}

func TestGroupStopsNewestFirst(t *testing.T) {
	b := script(t, "trap 'echo stopped; exit 0' INT\nwhile :; do sleep 0.05; done\n")
	var g Group
	var ps []*Process
	for range 3 {
		p, err := b.Start(context.Background(), Options{})
		if err != nil {
			t.Fatal(err)
		}
		ps = append(ps, g.Add(p))
	}
	g.Stop()
	for i, p := range ps {
		if !p.Exited() {
			t.Errorf("process %d still runs", i)
		}
	}
	g.Stop() // empty now
}

func TestFreeAddr(t *testing.T) {
	a, err := FreeAddr()
	if err != nil || !strings.HasPrefix(a, "127.0.0.1:") || strings.HasSuffix(a, ":0") {
		t.Fatalf("FreeAddr = %q, %v", a, err)
	}
}

// TestBuildAndAttestationService builds the truce binary (once: the
// second Build is the same), starts an attestation service and stops it.
func TestBuildAndAttestationService(t *testing.T) {
	if testing.Short() {
		t.Skip("builds truce")
	}
	root, err := ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	b, err := Build(t.Context(), root)
	if err != nil {
		t.Fatal(err)
	}
	if again, err := Build(t.Context(), root); err != nil || again != b {
		t.Fatalf("second Build = %v, %v; want the first", again, err)
	}
	if len(b.Measurement) != 32 {
		t.Fatalf("measurement %x", b.Measurement)
	}
	dir := filepath.Join(t.TempDir(), "pas")
	s, err := b.StartAttestationService(t.Context(), AttestationServiceOptions{Dir: dir, Init: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Stop()
	if s.URL != "https://"+s.Addr || len(s.CACert) == 0 {
		t.Fatalf("service %+v", s)
	}
	if _, err := os.Stat(s.DeviceKey); err != nil {
		t.Fatal(err)
	}
	// Its TLS certificate is of its own CA: any answer over TLS will do.
	c := &http.Client{Timeout: 10 * time.Second}
	if _, err := c.Get(s.URL + "/healthz"); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("GET /healthz with the system roots: %v, want a certificate error", err)
	}
	s.Stop()
	if code := s.Process.ExitCode(); code != 0 {
		t.Errorf("pas serve exited with %d after the interrupt:\n%s", code, s.Process.Output())
	}
	// A second service on the same directory: the stale address file is
	// not taken for the new one's.
	s2, err := b.StartAttestationService(t.Context(), AttestationServiceOptions{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	s2.Stop()
	if s2.Process.Pid() == s.Process.Pid() || s2.Process.ExitCode() != 0 {
		t.Errorf("second service %+v", s2)
	}
}
