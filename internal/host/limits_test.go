package host_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/truce-project/truce/internal/host"
	"github.com/truce-project/truce/internal/trucetest"
	"github.com/truce-project/truce/internal/trucetest/hosttest"
)

// TestLimitsFit: limits that cannot hold a run of the policy's memory
// (256 MiB by default) next to the runtime are refused before anything
// starts, saying what would fit.
func TestLimitsFit(t *testing.T) {
	w := trucetest.NewWorld(t, trucetest.WorldOptions{})
	for _, tc := range []struct {
		name             string
		maxRuns, memory  int
		wantErr, message string
	}{
		{name: "none"},
		{name: "runs only", maxRuns: 4},
		{name: "memory for three runs", memory: 1024},
		{name: "runs that fit", maxRuns: 2, memory: 768},
		{name: "memory for no run", memory: 300, wantErr: "at least 512 MiB"},
		{name: "runs that do not fit", maxRuns: 4, memory: 768, wantErr: "need 1280 MiB"},
		{name: "negative", maxRuns: -1, wantErr: "must not be negative"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := host.New(host.Config{Enclaves: []host.Enclave{{Policy: w.Policy, MaxRuns: tc.maxRuns, MemoryMiB: tc.memory}},
				PAS: &hosttest.FakePAS{W: w, T: t}})
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatal(err)
			case tc.wantErr != "" && (!errors.Is(err, host.ErrLimits) || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("error %v, want ErrLimits saying %q", err, tc.wantErr)
			}
		})
	}
}

// TestExecLauncherLimits: the child gets --max-runs, GOMEMLIMIT and a hard
// RLIMIT_DATA, as the kernel reports them.
func TestExecLauncherLimits(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("memory limits are Linux only")
	}
	dir := t.TempDir()
	script := filepath.Join(dir, "fake-runtime")
	// Stands in for the runtime: waits until its control input closes.
	if err := os.WriteFile(script, []byte("#!/bin/sh\nwhile read -r line; do :; done\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	p, err := host.ExecLauncher{Path: script}.Launch(context.Background(), host.LaunchSpec{
		PolicyFile: "p.json", Platform: "sim", Listen: "unix:x", Dir: dir, Log: os.Stderr, MaxRuns: 3, MemoryMiB: 512})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		p.Stdin().Close()
		p.Wait()
	}()
	pid := p.(interface{ PID() int }).PID()
	proc := func(f string) string {
		b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), f))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	if l := proc("limits"); !strings.Contains(l, "Max data size             "+strconv.Itoa(512<<20)+"            "+strconv.Itoa(512<<20)) {
		t.Errorf("limits of the runtime:\n%s", l)
	}
	if env := proc("environ"); !strings.Contains(env, "GOMEMLIMIT=384MiB\x00") {
		t.Error("GOMEMLIMIT not set to 3/4 of the memory limit")
	}
	if cmd := proc("cmdline"); !strings.Contains(cmd, "--max-runs\x003\x00") {
		t.Errorf("command line %q lacks --max-runs 3", cmd)
	}
	if rss, err := host.ProcessRSS(pid); err != nil || rss <= 0 {
		t.Errorf("ProcessRSS = %d, %v", rss, err)
	}
}
