package deployment_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/truce-project/truce/internal/deployment"
)

// The demo's use: the running truce executable starts its own attestation
// service and a host, logs each to a file in its directory, and stops
// them, newest first, however it ends.
func Example() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	exe, err := os.Executable()
	if err != nil {
		fmt.Println(err)
		return
	}
	bin, err := deployment.Open(exe)
	if err != nil {
		fmt.Println(err)
		return
	}
	bin.Name = "truce"
	dir, _ := os.MkdirTemp("", "truce-demo-")
	defer os.RemoveAll(dir)
	var procs deployment.Group
	defer procs.Stop()

	grace := deployment.Options{Grace: 5 * time.Second}
	o := grace
	o.LogFile = filepath.Join(dir, "pas.log")
	ps, err := bin.StartAttestationService(ctx, deployment.AttestationServiceOptions{Dir: filepath.Join(dir, "pas"), Init: true, Process: o})
	if err != nil {
		fmt.Println(err)
		return
	}
	procs.Add(ps.Process)
	addr, err := deployment.FreeAddr()
	if err != nil {
		fmt.Println(err)
		return
	}
	// … write a policy for a host at addr pinning ps.URL, ps.CACert and
	// bin.Measurement, to dir/policy.json …
	o = grace
	o.LogFile = filepath.Join(dir, "host.log")
	h, err := bin.StartHost(ctx, ps, deployment.HostOptions{Listen: addr, Policies: []string{filepath.Join(dir, "policy.json")},
		Process: o, Ready: time.Minute})
	if err != nil {
		fmt.Println(err)
		return
	}
	procs.Add(h.Process)
	// … dial, upload, run, shut the enclave down through the API, then:
	if code, err := h.Process.Wait(ctx); err != nil || code != 0 {
		fmt.Printf("the host exited with %d (%v); see %s\n", code, err, o.LogFile)
	}
}
