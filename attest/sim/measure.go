package sim

import (
	"crypto/sha256"
	"fmt"
	"io"
	"os"
)

// MeasureFile returns the measurement of the simulated platform for the
// runtime executable at path: the SHA-256 of the file's bytes. This is what
// a policy pins for "sim", and what the simulated device reports for a
// runtime started from that file.
func MeasureFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("measuring runtime executable: %w", err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return nil, fmt.Errorf("measuring runtime executable %s: %w", path, err)
	}
	return h.Sum(nil), nil
}

// MeasureSelf measures the running executable (see MeasureFile).
func MeasureSelf() ([]byte, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("finding the running executable: %w", err)
	}
	return MeasureFile(exe)
}
