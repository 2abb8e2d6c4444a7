package stringsearch

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/truce-project/truce/examples/bench/kit"
)

// reference counts every phrase by trying each offset in turn,
// independently of the program's code.
func reference(text, patterns []byte) string {
	var out strings.Builder
	for _, p := range strings.Split(string(patterns), "\n") {
		if p == "" {
			continue
		}
		count, first := 0, -1
		for i := 0; i+len(p) <= len(text); i++ {
			if string(text[i:i+len(p)]) == p {
				if first < 0 {
					first = i
				}
				count++
			}
		}
		fmt.Fprintf(&out, "%d\t%d\t%s\n", count, first, p)
	}
	return out.String()
}

func check(t *testing.T, inputs, files map[string][]byte, stdout string) {
	t.Helper()
	want := reference(inputs[TextPath], inputs[PatternsPath])
	if got := string(files[OutputPath]); got != want {
		t.Errorf("%s:\n%s\nwant:\n%s", OutputPath, got, want)
	}
	if wantOut := fmt.Sprintf("searched for %d phrases in %d bytes\n", len(Patterns), len(inputs[TextPath])); stdout != wantOut {
		t.Errorf("stdout %q, want %q", stdout, wantOut)
	}
}

func TestAllWays(t *testing.T) { kit.TestAllWays(t, Example(), check) }

// TestReferenceIsNotTrivial makes sure the generated document exercises
// found, absent and overlapping phrases.
func TestReferenceIsNotTrivial(t *testing.T) {
	in := Inputs(false)
	ref := reference(in[TextPath], in[PatternsPath])
	for _, want := range []string{"0\t-1\tzyzzyva\n", "0\t-1\ttrust no one\n"} {
		if !strings.Contains(ref, want) {
			t.Errorf("reference lacks %q", want)
		}
	}
	banana, _ := Search(in[TextPath], []byte("banana"))
	ana, _ := Search(in[TextPath], []byte("ana"))
	if banana == 0 || ana < 2*banana {
		t.Errorf("banana %d, ana %d: overlaps not exercised", banana, ana)
	}
}

func TestSearch(t *testing.T) {
	for _, tc := range []struct {
		text, pat    string
		count, first int
	}{
		{"", "", 0, -1}, {"abc", "", 0, -1}, {"aaaa", "aa", 3, 0}, {"xbanana", "ana", 2, 2},
		{"abc", "abcd", 0, -1}, {"abc", "c", 1, 2},
	} {
		c, f := Search([]byte(tc.text), []byte(tc.pat))
		if c != tc.count || f != tc.first {
			t.Errorf("Search(%q, %q) = %d, %d; want %d, %d", tc.text, tc.pat, c, f, tc.count, tc.first)
		}
	}
}

func TestGenerateDeterministic(t *testing.T) {
	if !bytes.Equal(GenerateText(1000), GenerateText(1000)) {
		t.Fatal("GenerateText is not deterministic")
	}
}
