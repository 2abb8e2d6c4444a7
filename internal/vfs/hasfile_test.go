package vfs

import (
	"strings"
	"testing"
	"time"
)

func TestHasFile(t *testing.T) {
	f := New(Limits{}, time.Now)
	v := f.Unchecked()
	for _, d := range []string{"/empty/a/b", "/full/a/b"} {
		if err := v.MkdirAll(d); err != nil {
			t.Fatal(err)
		}
	}
	for _, w := range []string{"/full/a/b/f", "/top"} {
		if _, err := v.WriteFile(w, strings.NewReader("x")); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		p    string
		want bool
	}{
		{"/", true}, {"/full/", true}, {"/full/a", true}, {"/empty/", false}, {"/empty/a/b/", false},
		{"/none/", false}, {"/top", false}, {"/top/", false}, {"/../x/", false},
	} {
		if got := f.HasFile(tc.p); got != tc.want {
			t.Errorf("HasFile(%q) = %v, want %v", tc.p, got, tc.want)
		}
	}
}
