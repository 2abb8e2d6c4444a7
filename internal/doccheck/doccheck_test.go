package doccheck

import (
	"bufio"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"unicode"
)

// moved are the top-level folders that moved under internal/ or into
// policy/ in issue 18: a path starting with one of them names the old
// layout.
var moved = []string{"runtime", "control", "engine", "hostdir", "wasi", "vfs", "native", "host", "pas", "doctor", "trucetest", "attack", "e2e", "bench", "guests", "succession"}

// checkedExt are the endings of names taken for repository paths when
// they appear in the text.
var checkedExt = []string{".md", ".go", ".py", ".wat", ".c", ".h", ".js", ".sh"}

// repoRoot is the module's root: the test runs in internal/doccheck.
func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(root, "go.mod"))
	if err != nil || !strings.HasPrefix(string(b), "module github.com/truce-project/truce\n") {
		t.Fatalf("%s is not the module root (go.mod: %v)", root, err)
	}
	return root
}

// markdownFiles returns every *.md file below root, relative to it.
func markdownFiles(t *testing.T, root string) []string {
	t.Helper()
	var files []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == ".git" || d.Name() == "node_modules") {
			return filepath.SkipDir
		}
		if !d.IsDir() && strings.HasSuffix(d.Name(), ".md") {
			rel, err := filepath.Rel(root, p)
			if err != nil {
				return err
			}
			files = append(files, filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil {
		t.Fatalf("walking %s: %v", root, err)
	}
	if len(files) == 0 {
		t.Fatal("no Markdown files found")
	}
	return files
}

// line is one line of Markdown prose: outside fenced code blocks, with
// inline code spans kept apart.
type line struct {
	n     int
	text  string   // the line with code spans blanked out
	spans []string // the code spans' contents
}

var spanRE = regexp.MustCompile("`+[^`]*`+")

// prose reads a Markdown file into its prose lines and its headings.
func prose(data string) (lines []line, headings []string) {
	fence := ""
	sc := bufio.NewScanner(strings.NewReader(data))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for n := 1; sc.Scan(); n++ {
		l := sc.Text()
		trim := strings.TrimLeft(l, " ")
		if fence != "" {
			if strings.HasPrefix(trim, fence) {
				fence = ""
			}
			continue
		}
		if strings.HasPrefix(trim, "```") || strings.HasPrefix(trim, "~~~") {
			fence = trim[:3]
			continue
		}
		var spans []string
		text := spanRE.ReplaceAllStringFunc(l, func(s string) string {
			spans = append(spans, strings.Trim(s, "`"))
			return strings.Repeat(" ", len(s))
		})
		lines = append(lines, line{n: n, text: text, spans: spans})
		if strings.HasPrefix(l, "#") {
			h := strings.TrimLeft(l, "#")
			if strings.HasPrefix(h, " ") {
				headings = append(headings, strings.TrimSpace(h))
			}
		}
	}
	return lines, headings
}

// slug is the anchor GitHub gives a heading: lower case, letters, digits,
// '-' and '_' kept, spaces turned into '-', everything else dropped.
func slug(h string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(h) {
		switch {
		case unicode.IsLetter(r) || unicode.IsDigit(r) || r == '-' || r == '_':
			b.WriteRune(r)
		case r == ' ':
			b.WriteByte('-')
		}
	}
	return b.String()
}

// anchors returns the anchors of a file's headings, numbered as GitHub
// numbers repeated ones.
func anchors(headings []string) map[string]bool {
	out := map[string]bool{}
	seen := map[string]int{}
	for _, h := range headings {
		s := slug(h)
		if k := seen[s]; k > 0 {
			out[fmt.Sprintf("%s-%d", s, k)] = true
		} else {
			out[s] = true
		}
		seen[s]++
	}
	return out
}

var linkRE = regexp.MustCompile(`\]\(([^)\s]+)\)`)

type doc struct {
	lines   []line
	anchors map[string]bool
}

func readDocs(t *testing.T, root string) map[string]*doc {
	t.Helper()
	docs := map[string]*doc{}
	for _, f := range markdownFiles(t, root) {
		b, err := os.ReadFile(filepath.Join(root, f))
		if err != nil {
			t.Fatal(err)
		}
		lines, hs := prose(string(b))
		docs[f] = &doc{lines: lines, anchors: anchors(hs)}
	}
	return docs
}

// TestLinks fails on a relative link to a file or heading that does not
// exist.
func TestLinks(t *testing.T) {
	root := repoRoot(t)
	docs := readDocs(t, root)
	checked := 0
	for f, d := range docs {
		for _, l := range d.lines {
			for _, m := range linkRE.FindAllStringSubmatch(l.text, -1) {
				target := m[1]
				if strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
					continue
				}
				checked++
				file, frag, _ := strings.Cut(target, "#")
				dest := f
				if file != "" {
					dest = filepath.ToSlash(filepath.Clean(filepath.Join(filepath.Dir(f), file)))
					if strings.HasPrefix(dest, "../") {
						t.Errorf("%s:%d: link %q leaves the repository", f, l.n, target)
						continue
					}
					if _, err := os.Stat(filepath.Join(root, dest)); err != nil {
						t.Errorf("%s:%d: link %q: %s does not exist", f, l.n, target, dest)
						continue
					}
				}
				if frag == "" {
					continue
				}
				td, ok := docs[dest]
				if !ok {
					t.Errorf("%s:%d: link %q: an anchor into %s, which is not Markdown", f, l.n, target, dest)
					continue
				}
				if !td.anchors[frag] {
					t.Errorf("%s:%d: link %q: %s has no heading with anchor #%s", f, l.n, target, dest, frag)
				}
			}
		}
	}
	if checked < 100 {
		t.Errorf("only %d relative links checked: is the scan broken?", checked)
	}
}

var pathRE = regexp.MustCompile(`[A-Za-z0-9_./-]+`)

// TestRepositoryPaths fails on a path of this repository named in a
// document (a link's text, a code span or prose) that does not exist,
// such as a package under its old place.
func TestRepositoryPaths(t *testing.T) {
	root := repoRoot(t)
	top := map[string]bool{}
	entries, err := os.ReadDir(root)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		top[e.Name()] = true
	}
	for _, m := range moved {
		top[m] = true
	}
	docs := readDocs(t, root)
	for f, d := range docs {
		for _, l := range d.lines {
			texts := append([]string{linkRE.ReplaceAllString(l.text, "]")}, l.spans...)
			for _, text := range texts {
				for _, loc := range pathRE.FindAllStringIndex(text, -1) {
					p := text[loc[0]:loc[1]]
					if loc[0] > 0 && strings.ContainsAny(text[loc[0]-1:loc[0]], ":~$@") {
						continue // a URL, a home directory, a variable, a module path's version
					}
					first, _, ok := strings.Cut(p, "/")
					if !ok || !top[first] || strings.HasPrefix(p, ".") {
						continue
					}
					if !strings.HasSuffix(p, "/") && !slices.ContainsFunc(checkedExt, func(e string) bool { return strings.HasSuffix(p, e) }) {
						continue
					}
					p = strings.TrimRight(p, ".")
					if _, err := os.Stat(filepath.Join(root, p)); err != nil {
						t.Errorf("%s:%d: %s does not exist in the repository", f, l.n, p)
					}
				}
			}
		}
	}
}

var testRE = regexp.MustCompile(`(^|[^A-Za-z0-9_/.])((?:internal/)?[a-z0-9]+(?:/[a-z0-9]+)*)\.((?:Test|Fuzz|Benchmark)[A-Za-z0-9_]*)`)

// TestSecurityTestNames fails when a test that SECURITY.md names as
// showing a guarantee is not in the package it names.
func TestSecurityTestNames(t *testing.T) {
	root := repoRoot(t)
	b, err := os.ReadFile(filepath.Join(root, "SECURITY.md"))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, row := range strings.Split(string(b), "\n") {
		if !strings.HasPrefix(row, "|") {
			continue
		}
		for _, m := range testRE.FindAllStringSubmatch(row, -1) {
			pkg, name := m[2], m[3]
			n++
			files, _ := filepath.Glob(filepath.Join(root, pkg, "*_test.go"))
			if len(files) == 0 {
				t.Errorf("SECURITY.md names %s.%s, but %s has no tests (did the package move?)", pkg, name, pkg)
				continue
			}
			found := false
			for _, f := range files {
				src, err := os.ReadFile(f)
				if err != nil {
					t.Fatal(err)
				}
				if strings.Contains(string(src), "\nfunc "+name+"(") {
					found = true
					break
				}
			}
			if !found {
				t.Errorf("SECURITY.md names %s.%s, which is not a test of %s", pkg, name, pkg)
			}
		}
	}
	if n < 50 {
		t.Errorf("only %d tests named in SECURITY.md's tables: is the scan broken?", n)
	}
}
