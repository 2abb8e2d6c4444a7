// Package fdcreate is the fd-create example: it shows that a program in the
// enclave has a real file system to work in. A tester asks for N files and
// R rounds; the program makes a directory, creates the N files at once
// (N open file descriptors), writes a line to each in every round, closes
// them, reopens each to check its content, moves the first into a
// subdirectory, removes the last, and writes a listing of the directory.
// The tester reads the files and the listing.
//
// ParseLayout reads untrusted bytes: it must never panic.
package fdcreate

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
)

// The guest paths of the example's files.
const (
	LayoutPath  = "/input/layout.txt"
	FilesDir    = "/output/files"
	ArchiveDir  = FilesDir + "/archive"
	ListingPath = "/output/listing.txt"
)

// MaxFiles bounds the files a layout may ask for: they are open at once,
// and a program may hold at most 1024 descriptors.
const MaxFiles = 1000

// MaxRounds bounds the rounds a layout may ask for.
const MaxRounds = 100000

// Sizes of the layout: files, rounds.
const (
	NormalFiles, NormalRounds = 64, 8
	LargeFiles, LargeRounds   = 500, 400
)

// ErrLayout is returned for a layout that is not "N R" within bounds.
var ErrLayout = errors.New(`the layout is not "FILES ROUNDS"`)

// Inputs returns the tester's file for the normal or large size.
func Inputs(large bool) map[string][]byte {
	n, r := NormalFiles, NormalRounds
	if large {
		n, r = LargeFiles, LargeRounds
	}
	return map[string][]byte{LayoutPath: fmt.Appendf(nil, "%d %d\n", n, r)}
}

// ParseLayout reads "FILES ROUNDS": 2..MaxFiles files (the first is moved
// and the last removed) and 1..MaxRounds rounds.
func ParseLayout(b []byte) (files, rounds int, err error) {
	f := strings.Fields(string(b))
	if len(f) != 2 {
		return 0, 0, fmt.Errorf("%d fields: %w", len(f), ErrLayout)
	}
	files, err1 := strconv.Atoi(f[0])
	rounds, err2 := strconv.Atoi(f[1])
	if err1 != nil || err2 != nil || files < 2 || files > MaxFiles || rounds < 1 || rounds > MaxRounds {
		return 0, 0, fmt.Errorf("%q: %w with 2 to %d files and 1 to %d rounds", f, ErrLayout, MaxFiles, MaxRounds)
	}
	return files, rounds, nil
}

// Name is the name of file i.
func Name(i int) string { return fmt.Sprintf("f%03d.txt", i) }

// Line is what round r writes to file i.
func Line(i, r int) string { return fmt.Sprintf("file %d round %d\n", i, r) }

// Main is the program (see the package comment), below root.
func Main(root string, stdout io.Writer) error {
	b, err := os.ReadFile(root + LayoutPath)
	if err != nil {
		return fmt.Errorf("reading the layout: %w", err)
	}
	n, rounds, err := ParseLayout(b)
	if err != nil {
		return err
	}
	dir := root + FilesDir
	if err := os.MkdirAll(root+ArchiveDir, 0o755); err != nil {
		return fmt.Errorf("making the directories: %w", err)
	}
	fds := make([]*os.File, n)
	defer func() {
		for _, f := range fds {
			if f != nil {
				f.Close()
			}
		}
	}()
	for i := range fds {
		f, err := os.OpenFile(dir+"/"+Name(i), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		if err != nil {
			return fmt.Errorf("creating file %d: %w", i, err)
		}
		fds[i] = f
	}
	for r := range rounds {
		for i, f := range fds {
			if _, err := io.WriteString(f, Line(i, r)); err != nil {
				return fmt.Errorf("writing file %d: %w", i, err)
			}
		}
	}
	for i, f := range fds {
		if err := f.Close(); err != nil {
			return fmt.Errorf("closing file %d: %w", i, err)
		}
		fds[i] = nil
	}
	// Check every file through a new descriptor.
	var want bytes.Buffer
	for i := range n {
		got, err := os.ReadFile(dir + "/" + Name(i))
		if err != nil {
			return fmt.Errorf("reading file %d back: %w", i, err)
		}
		want.Reset()
		for r := range rounds {
			want.WriteString(Line(i, r))
		}
		if !bytes.Equal(got, want.Bytes()) {
			return fmt.Errorf("file %d reads back %d bytes, not the %d written", i, len(got), want.Len())
		}
	}
	if err := os.Rename(dir+"/"+Name(0), root+ArchiveDir+"/"+Name(0)); err != nil {
		return fmt.Errorf("moving the first file: %w", err)
	}
	if err := os.Remove(dir + "/" + Name(n-1)); err != nil {
		return fmt.Errorf("removing the last file: %w", err)
	}
	listing, err := list(dir, "")
	if err != nil {
		return err
	}
	if err := os.WriteFile(root+ListingPath, []byte(strings.Join(listing, "")), 0o644); err != nil {
		return fmt.Errorf("writing the listing: %w", err)
	}
	_, err = fmt.Fprintf(stdout, "created %d files in %d rounds, read them back, listed %d entries\n", n, rounds, len(listing))
	return err
}

// list returns "PATH\tSIZE\n" for every entry below dir (directories as
// "PATH/\t-\n"), sorted, PATH relative to dir.
func list(dir, prefix string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("listing %s: %w", prefix+"/", err)
	}
	var out []string
	for _, e := range entries {
		if e.IsDir() {
			out = append(out, prefix+e.Name()+"/\t-\n")
			sub, err := list(dir+"/"+e.Name(), prefix+e.Name()+"/")
			if err != nil {
				return nil, err
			}
			out = append(out, sub...)
			continue
		}
		info, err := e.Info()
		if err != nil {
			return nil, fmt.Errorf("stat %s: %w", prefix+e.Name(), err)
		}
		out = append(out, fmt.Sprintf("%s\t%d\n", prefix+e.Name(), info.Size()))
	}
	sort.Strings(out)
	return out, nil
}
