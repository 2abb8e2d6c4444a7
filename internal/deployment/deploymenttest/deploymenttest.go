// Package deploymenttest holds the testing.TB wrappers of package
// deployment: each starts a truce process for one test, fails the test if
// it cannot, stops the process at the end of the test and shows its output
// if the test failed.
//
// It is for tests only, and must never be imported by code that ships in
// the truce binary.
package deploymenttest

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/truce-project/truce/internal/deployment"
)

// Start starts "truce ARGS…" for t: it is stopped at the end of t, and its
// output logged if t failed.
func Start(t testing.TB, b *deployment.Binary, o deployment.Options, args ...string) *deployment.Process {
	t.Helper()
	p, err := b.Start(context.Background(), o, args...)
	if err != nil {
		t.Fatal(err)
	}
	cleanup(t, p)
	return p
}

// StartAttestationService starts an attestation service for t (in a
// temporary directory, initialised, unless o.Dir is set), stopped at the
// end of t.
func StartAttestationService(t testing.TB, b *deployment.Binary, o deployment.AttestationServiceOptions) *deployment.AttestationService {
	t.Helper()
	if o.Dir == "" {
		o.Dir, o.Init = filepath.Join(t.TempDir(), "pas"), true
	}
	s, err := b.StartAttestationService(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	cleanup(t, s.Process)
	return s
}

// StartHost starts a host for t, attested by ps, and waits until it is
// ready; it is stopped at the end of t.
func StartHost(t testing.TB, b *deployment.Binary, ps *deployment.AttestationService, o deployment.HostOptions) *deployment.Host {
	t.Helper()
	h, err := TryHost(t, b, ps, o)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// TryHost is StartHost returning the error (deployment.ErrPortTaken, say)
// instead of failing t.
func TryHost(t testing.TB, b *deployment.Binary, ps *deployment.AttestationService, o deployment.HostOptions) (*deployment.Host, error) {
	t.Helper()
	h, err := b.StartHost(context.Background(), ps, o)
	if err != nil {
		return nil, err
	}
	cleanup(t, h.Process)
	return h, nil
}

// Wait waits up to d for p to exit and returns its exit code; it fails t
// if p is still running then.
func Wait(t testing.TB, p *deployment.Process, d time.Duration) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	code, err := p.Wait(ctx)
	if err != nil {
		t.Fatalf("%s did not exit within %v", p, d)
	}
	return code
}

// FreeAddr returns a loopback address whose port is free right now.
func FreeAddr(t testing.TB) string {
	t.Helper()
	a, err := deployment.FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// cleanup stops p at the end of t and logs its output if t failed.
func cleanup(t testing.TB, p *deployment.Process) {
	t.Cleanup(func() {
		p.Stop()
		if t.Failed() {
			t.Logf("log of %s:\n%s", p, p.Output())
		}
	})
}
