package vfs

import (
	"errors"
	"strings"
	"testing"
)

// TestRetain keeps exactly the files accepted: a wiped file's content is
// zeroed unless another, kept name links it; emptied directories go.
func TestRetain(t *testing.T) {
	f, v := newFS(t, Limits{})
	mustWrite(t, v, "/a/x", "keep me")
	mustWrite(t, v, "/a/y", "wipe me")
	mustWrite(t, v, "/b/deep/z", "linked")
	if err := v.MkdirAll("/c"); err != nil {
		t.Fatal(err)
	}
	if err := v.Link("/b/deep/z", "/c/z"); err != nil {
		t.Fatal(err)
	}
	if err := v.MkdirAll("/empty/dir"); err != nil {
		t.Fatal(err)
	}
	wiped := f.root.entries["a"].n.entries["y"].n
	old := wiped.data[:cap(wiped.data)]
	kept, gone := f.Retain(func(p string) bool { return p == "/a/x" || strings.HasPrefix(p, "/c/") })
	if kept != 2 || gone != 2 {
		t.Fatalf("kept %d, wiped %d; want 2 and 2", kept, gone)
	}
	if got := readAll(t, v, "/a/x"); got != "keep me" {
		t.Fatalf("/a/x = %q", got)
	}
	if got := readAll(t, v, "/c/z"); got != "linked" {
		t.Fatalf("/c/z (linked to a wiped name) = %q", got)
	}
	for _, p := range []string{"/a/y", "/b/deep/z", "/b", "/empty"} {
		if _, err := v.Stat(p); !errors.Is(err, ErrNotExist) {
			t.Errorf("%s after Retain: %v", p, err)
		}
	}
	if wiped.data != nil || strings.Trim(string(old), "\x00") != "" {
		t.Fatalf("wiped content still held or not zeroed: %q", old)
	}
	if f.Used() != int64(len("keep me")+len("linked")) {
		t.Fatalf("used %d bytes after Retain", f.Used())
	}
}
