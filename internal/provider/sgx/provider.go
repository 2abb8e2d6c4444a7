package sgx

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/truce-project/truce/attest"
	"github.com/truce-project/truce/attest/sgx"
	"github.com/truce-project/truce/platform"
)

// AttestationDir is where Gramine exposes its attestation pseudo-files.
const AttestationDir = "/dev/attestation"

// Files is the part of Gramine's /dev/attestation the provider uses:
// "attestation_type" (read), "user_report_data" (write 64 bytes) and
// "quote" (read). DirFiles is the real one; tests give a fake.
type Files interface {
	ReadFile(name string) ([]byte, error)
	WriteFile(name string, data []byte) error
}

// DirFiles reads and writes files in a directory (AttestationDir in a
// Gramine enclave).
type DirFiles string

// ReadFile reads name in the directory.
func (d DirFiles) ReadFile(name string) ([]byte, error) {
	return os.ReadFile(filepath.Join(string(d), name))
}

// WriteFile writes data to name in the directory, which must exist.
func (d DirFiles) WriteFile(name string, data []byte) error {
	f, err := os.OpenFile(filepath.Join(string(d), name), os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// ErrNotDCAP: the enclave is not set up for DCAP attestation.
var ErrNotDCAP = errors.New("sgx: Gramine's attestation type is not dcap")

// Provider gets DCAP quotes from Gramine. The zero value uses
// AttestationDir.
type Provider struct {
	// Files is /dev/attestation; nil means DirFiles(AttestationDir).
	Files Files

	// Gramine keeps one report-data slot per enclave: writing it and
	// reading the quote must not interleave.
	mu sync.Mutex
}

var _ attest.Provider = (*Provider)(nil)

// Platform returns "sgx".
func (*Provider) Platform() string { return platform.SGX }

// Evidence writes reportData to user_report_data and reads back the quote
// the quoting enclave made over it.
func (p *Provider) Evidence(ctx context.Context, reportData [64]byte) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	fs := p.Files
	if fs == nil {
		fs = DirFiles(AttestationDir)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	t, err := fs.ReadFile("attestation_type")
	if err != nil {
		return nil, fmt.Errorf("sgx: reading the attestation type: %w (is this a Gramine SGX enclave with sgx.remote_attestation = \"dcap\"?)", err)
	}
	if strings.TrimSpace(string(t)) != "dcap" {
		return nil, fmt.Errorf("%w: it is %q; set sgx.remote_attestation = \"dcap\" in the manifest", ErrNotDCAP, strings.TrimSpace(string(t)))
	}
	if err := fs.WriteFile("user_report_data", reportData[:]); err != nil {
		return nil, fmt.Errorf("sgx: writing report data: %w", err)
	}
	q, err := fs.ReadFile("quote")
	if err != nil {
		return nil, fmt.Errorf("sgx: reading the quote: %w", err)
	}
	if _, err := sgx.ParseQuote(q); err != nil {
		return nil, fmt.Errorf("sgx: the quoting enclave returned no usable quote: %w", err)
	}
	return q, nil
}
