package story

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/truce-project/truce/client"
)

func TestMain(m *testing.M) { Main(m) }

// TestStory runs a two-party story: a writer uploads text, a reader runs
// the program (written in Go, and one in C) and reads the results; the
// writer may not read them, and the enclave shuts down cleanly.
func TestStory(t *testing.T) {
	upper := BuildGo(t, "testdata/upper")
	progs := []Program{{Path: "/program/upper.wasm", Wasm: upper,
		Caps: map[string]string{"/input/": "r", "/output/": "rw"}}}
	readerCaps := map[string]string{"/program/upper.wasm": "x", "/output/": "r"}
	if c := tryBuildC(t); c != nil {
		progs = append(progs, Program{Path: "/program/hello.wasm", Wasm: c, Caps: map[string]string{"/output/": "w"}})
		readerCaps["/program/hello.wasm"] = "x"
	}
	s := Start(t, Spec{
		Name: "story-test",
		Parties: []Party{
			{Name: "writer", Caps: map[string]string{"/input/in.txt": "w", "/program/": "w"}},
			{Name: "reader", Caps: readerCaps},
		},
		Programs: progs,
	})
	if got := s.Parties(); len(got) != 2 || got[0] != "reader" || got[1] != "writer" {
		t.Fatalf("Parties() = %v", got)
	}
	s.UploadPrograms(t)
	s.Put(t, "writer", "/input/in.txt", []byte("hello, enclave\n"))
	rr := s.Run(t, "reader", "/program/upper.wasm")
	if string(rr.Stdout) != "wrote 15 bytes\n" {
		t.Errorf("stdout %q", rr.Stdout)
	}
	s.Run(t, "reader", "/program/upper.wasm")
	if got := s.Get(t, "reader", "/output/out.txt"); string(got) != "HELLO, ENCLAVE\nHELLO, ENCLAVE\n" {
		t.Errorf("output %q", got)
	}
	var b bytes.Buffer
	_, err := s.Session(t, "writer").Get(context.Background(), "/output/out.txt", &b)
	if !errors.Is(err, client.ErrForbidden) {
		t.Errorf("writer reading the output: %v, want forbidden", err)
	}
	if len(progs) == 2 {
		s.Run(t, "reader", "/program/hello.wasm")
		if got := s.Get(t, "reader", "/output/c.txt"); string(got) != "hello from C\n" {
			t.Errorf("C output %q", got)
		}
	}
	s.Shutdown(t, "reader")
}

// tryBuildC builds the C guest, or returns nil where clang-14 or wasi-libc
// is missing (BuildC itself would skip the whole test).
func tryBuildC(t *testing.T) []byte {
	var b []byte
	t.Run("buildC", func(t *testing.T) { b = BuildC(t, "testdata/c/hello.c") })
	return b
}

// TestStartWithoutExecuteRight checks the clean-up of a story no party may
// shut down through the API: the host is interrupted instead.
func TestStartWithoutExecuteRight(t *testing.T) {
	s := Start(t, Spec{Parties: []Party{{Name: "only", Caps: map[string]string{"/input/": "w"}}}})
	s.Put(t, "only", "/input/x", []byte("x"))
}
