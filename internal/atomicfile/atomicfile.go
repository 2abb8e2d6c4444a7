// Package atomicfile writes files whole or not at all: the data goes to a
// temporary file in the same directory, is synced, and is then renamed
// over the target (Write, or WriteFrom for a stream) or linked to it only
// if nothing is there yet (WriteNew). A failure leaves the old file, or no file, as it was.
//
// It is a leaf: it must never import another Truce package, and it never
// writes anything but the one file it is given (and its temporary
// sibling, which it always removes).
package atomicfile

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// Write writes data to path with permissions perm, replacing any file
// already there. Readers see the old file or all of data, never a part.
func Write(path string, data []byte, perm fs.FileMode) error {
	return write(path, bytesOf(path, data), perm, true)
}

// WriteNew writes data to path with permissions perm, refusing a path that
// already exists: then the error wraps fs.ErrExist and nothing is changed.
// Readers never see a part of data at path.
func WriteNew(path string, data []byte, perm fs.FileMode) error {
	return write(path, bytesOf(path, data), perm, false)
}

// WriteFrom writes to path with permissions perm what fill writes to the
// writer it is given, replacing any file already there once fill returns
// nil. If fill fails, its error is returned as it is and path is left as
// it was. Readers never see a part of what fill writes.
func WriteFrom(path string, perm fs.FileMode, fill func(io.Writer) error) error {
	return write(path, fill, perm, true)
}

func write(path string, fill func(io.Writer) error, perm fs.FileMode, replace bool) error {
	if !replace {
		// Refuse early, so as not to make a temporary file in vain; the
		// link below is what makes the refusal race-free.
		if _, err := os.Lstat(path); err == nil {
			return fmt.Errorf("writing %s: %w", path, fs.ErrExist)
		}
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	name := tmp.Name()
	defer os.Remove(name)
	if err := fill(tmp); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := os.Chmod(name, perm); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if replace {
		if err := os.Rename(name, path); err != nil {
			return fmt.Errorf("writing %s: %w", path, err)
		}
		return nil
	}
	if err := os.Link(name, path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("writing %s: %w", path, fs.ErrExist)
		}
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}

// bytesOf fills a file with data.
func bytesOf(path string, data []byte) func(io.Writer) error {
	return func(w io.Writer) error {
		if _, err := w.Write(data); err != nil {
			return fmt.Errorf("writing %s: %w", path, err)
		}
		return nil
	}
}
