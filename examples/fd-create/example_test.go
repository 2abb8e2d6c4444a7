package fdcreate

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/truce-project/truce/examples/bench/kit"
)

// reference returns the files and the listing the layout must produce,
// built directly from the layout, independently of the program's code.
func reference(n, rounds int) map[string]string {
	content := func(i int) string {
		var b strings.Builder
		for r := range rounds {
			fmt.Fprintf(&b, "file %d round %d\n", i, r)
		}
		return b.String()
	}
	want := map[string]string{"/output/files/archive/f000.txt": content(0)}
	listing := []string{"archive/\t-\n", fmt.Sprintf("archive/f000.txt\t%d\n", len(content(0)))}
	for i := 1; i < n-1; i++ {
		want[fmt.Sprintf("/output/files/f%03d.txt", i)] = content(i)
		listing = append(listing, fmt.Sprintf("f%03d.txt\t%d\n", i, len(content(i))))
	}
	// "archive/" sorts before "f…".
	want[ListingPath] = strings.Join(listing, "")
	return want
}

func check(t *testing.T, inputs, files map[string][]byte, stdout string) {
	t.Helper()
	want := reference(NormalFiles, NormalRounds)
	for p, w := range want {
		if got, ok := files[p]; !ok || string(got) != w {
			t.Errorf("%s = %.60q, want %.60q", p, got, w)
		}
	}
	for p := range files {
		if strings.HasPrefix(p, "/output/") {
			if _, ok := want[p]; !ok {
				t.Errorf("unexpected file %s", p)
			}
		}
	}
	if w := fmt.Sprintf("created %d files in %d rounds, read them back, listed %d entries\n", NormalFiles, NormalRounds, NormalFiles); stdout != w {
		t.Errorf("stdout %q, want %q", stdout, w)
	}
}

func TestAllWays(t *testing.T) { kit.TestAllWays(t, Example(), check) }

func TestParseLayout(t *testing.T) {
	for _, tc := range []struct {
		in   string
		n, r int
		ok   bool
	}{{"64 8\n", 64, 8, true}, {"2 1", 2, 1, true}, {"1 1", 0, 0, false}, {"1001 1", 0, 0, false},
		{"5 0", 0, 0, false}, {"5", 0, 0, false}, {"5 5 5", 0, 0, false}, {"a b", 0, 0, false}, {"", 0, 0, false}} {
		n, r, err := ParseLayout([]byte(tc.in))
		if tc.ok != (err == nil) || n != tc.n || r != tc.r || (err != nil && !errors.Is(err, ErrLayout)) {
			t.Errorf("ParseLayout(%q) = %d, %d, %v", tc.in, n, r, err)
		}
	}
}

func FuzzParseLayout(f *testing.F) {
	f.Add([]byte("64 8\n"))
	f.Add([]byte("2 99999999999999999999"))
	f.Fuzz(func(t *testing.T, b []byte) {
		n, r, err := ParseLayout(b)
		if err == nil && (n < 2 || n > MaxFiles || r < 1 || r > MaxRounds) {
			t.Fatalf("accepted %d files, %d rounds", n, r)
		}
	})
}
