package attack

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"testing"

	"github.com/truce-project/truce/client"
)

// rawRequest sends one hand-written HTTP/1.1 request as principal n over
// attested TLS and returns the response status and body.
func (w *world) rawRequest(t testing.TB, n, method, target string, body []byte) (int, string) {
	t.Helper()
	c := w.rawConn(t, n)
	// The body is written while the response is read: the enclave may
	// refuse before reading it all.
	go func() {
		fmt.Fprintf(c, "%s %s HTTP/1.1\r\nHost: %s\r\nContent-Length: %d\r\nConnection: close\r\n\r\n", method, target, c.ConnectionState().ServerName, len(body))
		c.Write(body)
	}()
	raw, rerr := io.ReadAll(c)
	resp, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(raw)), nil)
	if err != nil {
		t.Fatalf("%s %s: no response: %v (read %q, %v)", method, target, err, raw, rerr)
	}
	defer resp.Body.Close()
	return resp.StatusCode, readAll(resp.Body)
}

// TestPrincipalRefusals: principals with valid identities ask for what
// the policy does not grant them, by path tricks and plainly. Each request
// is refused with a 4xx problem, no file changes, and the runtime still
// serves.
func TestPrincipalRefusals(t *testing.T) {
	w := startWorld(t, worldOptions{})
	w.uploadPrograms(t)
	w.put(t, "alice", "/input/alice.dat", []byte("alice's secret"))
	w.put(t, "bob", "/input/bob.dat", []byte("bob's secret"))
	before := w.snapshot(t)
	other := append(append([]byte(nil), hostile(t)...), 0)
	big := bytes.Repeat([]byte("m"), fileMiB<<20+1)

	cases := []struct {
		who, method, target string
		body                []byte
	}{
		// Path traversal and encodings, to reach bob's file as alice.
		{"alice", "PUT", "/v1/files/input/alice.dat/../bob.dat", []byte("forged")},
		{"alice", "PUT", "/v1/files/input/%2e%2e/input/bob.dat", []byte("forged")},
		{"alice", "PUT", "/v1/files/input/alice.dat%2f..%2fbob.dat", []byte("forged")},
		{"alice", "PUT", "/v1/files/input/./bob.dat", []byte("forged")},
		{"alice", "PUT", "/v1/files/input//bob.dat", []byte("forged")},
		{"alice", "PUT", "/v1/files/input/alice.dat%00", []byte("forged")},
		{"alice", "PUT", "/v1/files/input/alice.dat%00/../bob.dat", []byte("forged")},
		{"alice", "PUT", `/v1/files/input/alice.dat\..\bob.dat`, []byte("forged")},
		{"alice", "PUT", "/v1/files/../v1/files/input/bob.dat", []byte("forged")},
		{"alice", "PUT", "http://evil/v1/files/input/bob.dat", []byte("forged")},
		{"mallory", "PUT", "/v1/files/input/mallory/../../input/alice.dat", []byte("forged")},
		{"mallory", "PUT", "/v1/files/input/mallory/%2e%2e/alice.dat", []byte("forged")},
		{"mallory", "PUT", "/v1/files/input/mallory/..%2falice.dat", []byte("forged")},
		{"mallory", "POST", "/v1/files/input/mallory/../log.dat", []byte("forged")},
		{"alice", "GET", "/v1/files/input/alice.dat/../bob.dat", nil},
		{"alice", "GET", "/v1/files/input/%2e%2e/input/bob.dat", nil},
		// Beyond its rights, plainly.
		{"alice", "GET", "/v1/files/input/bob.dat", nil},
		{"alice", "POST", "/v1/files/input/alice.dat", []byte("appended")},
		{"alice", "PUT", "/v1/files/input/log.dat", []byte("replaced")},
		{"alice", "PUT", "/v1/files/new.dat", []byte("x")},
		{"bob", "GET", "/v1/files/output/copy.dat", nil},
		{"mallory", "PUT", "/v1/files/input/mallory/x", big},
		{"mallory", "PUT", "/v1/files/program/copy.wasm", hostile(t)},
		{"alice", "DELETE", "/v1/files/input/alice.dat", nil},
		{"alice", "POST", "/v1/shutdown", nil},
		// Other programs: unlisted, not a program, wrong bytes, no right.
		{"oscar", "PUT", "/v1/files/program/copy.wasm", other},
		{"dave", "POST", "/v1/run/program/new.wasm", nil},
		{"dave", "POST", "/v1/run/input/alice.dat", nil},
		{"dave", "POST", "/v1/run/program/../input/alice.dat", nil},
		{"dave", "POST", "/v1/run/program/copy.wasm%00", nil},
		{"dave", "POST", "/v1/pipelines/nosuch", nil},
		{"alice", "POST", "/v1/run/program/copy.wasm", nil},
	}
	for _, c := range cases {
		t.Run(c.who+" "+c.method+" "+c.target, func(t *testing.T) {
			code, body := w.rawRequest(t, c.who, c.method, c.target, c.body)
			if code < 300 || code >= 500 {
				t.Fatalf("status %d, want a 3xx or 4xx refusal: %s", code, body)
			}
			if code < 400 && code != http.StatusMovedPermanently && code != http.StatusTemporaryRedirect {
				t.Fatalf("status %d: %s", code, body)
			}
		})
	}
	w.unchanged(t, before)
	// A redirect is only a cleaned path: following it still asks for
	// rights, so it is refused too (checked above with the cleaned path).

	// Still serving: the rightful run works on alice's data.
	res, err := w.dial(t, "dave").Run(context.Background(), pCopy)
	if err != nil {
		t.Fatalf("dave's run after the refusals: %v", err)
	}
	var out bytes.Buffer
	if _, err := w.dial(t, "dave").Get(context.Background(), "/output/copy.dat", &out); err != nil || out.String() != "alice's secret" {
		t.Fatalf("copy %q, %v (%s)", out.String(), err, res.Stderr)
	}
}

// TestStorageQuota: a principal fills the enclave's storage up to the
// policy's total; the write past it is refused whole, and others' files
// stay readable and unchanged.
func TestStorageQuota(t *testing.T) {
	w := startWorld(t, worldOptions{})
	w.put(t, "alice", "/input/alice.dat", []byte("alice's secret"))
	before := w.snapshot(t)
	m := w.dial(t, "mallory")
	chunk := bytes.Repeat([]byte("q"), (fileMiB-1)<<20)
	refused := false
	for i := 0; i < totalMiB/(fileMiB-1)+2; i++ {
		_, err := m.Put(context.Background(), fmt.Sprintf("/input/mallory/fill-%d", i), bytes.NewReader(chunk))
		if err != nil {
			if !errors.Is(err, client.ErrLimitExceeded) {
				t.Fatalf("write %d refused with %v, want ErrLimitExceeded", i, err)
			}
			refused = true
			var got bytes.Buffer
			_, gerr := w.dial(t, "rita").Get(context.Background(), fmt.Sprintf("/input/mallory/fill-%d", i), &got)
			if !errors.Is(gerr, client.ErrNotFound) {
				t.Fatalf("the refused write left a file (%d bytes, %v)", got.Len(), gerr)
			}
			break
		}
	}
	if !refused {
		t.Fatalf("wrote past the %d MiB total", totalMiB)
	}
	w.unchanged(t, before)
}

// TestUploadsRaceRuns: while a data owner replaces its input again and
// again, a reader runs the program that copies it. Every run must read
// one whole version (never a mix), and its receipt must name the input
// version the program actually read.
func TestUploadsRaceRuns(t *testing.T) {
	w := startWorld(t, worldOptions{})
	w.uploadPrograms(t)
	versions := [][]byte{bytes.Repeat([]byte("A"), 1<<20), bytes.Repeat([]byte("B"), 1<<20+7), []byte("short C")}
	// Receipts name files by salted commitments: alice, who wrote each
	// version, knows which commitment is which of her versions.
	var mu sync.Mutex
	written := map[string]int{}
	fi0, err := w.dial(t, "alice").Put(context.Background(), "/input/alice.dat", bytes.NewReader(versions[0]))
	if err != nil {
		t.Fatal(err)
	}
	written[fi0.Commitment] = 0
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var wg sync.WaitGroup
	writes := 0
	wg.Add(1)
	go func() {
		defer wg.Done()
		alice := w.dial(t, "alice")
		for i := 0; ctx.Err() == nil; i++ {
			fi, err := alice.Put(ctx, "/input/alice.dat", bytes.NewReader(versions[i%len(versions)]))
			if err != nil && ctx.Err() == nil {
				t.Errorf("alice's write %d: %v", i, err)
				return
			}
			if err == nil {
				mu.Lock()
				written[fi.Commitment] = i % len(versions)
				mu.Unlock()
			}
			writes++
		}
	}()
	dave := w.dial(t, "dave")
	mismatches := 0
	const runs = 12
	type seen struct {
		in  string
		out []byte // what dave read of the output version the receipt names
	}
	var got []seen
	for i := 0; i < runs; i++ {
		res, err := dave.Run(ctx, pCopy)
		if err != nil {
			t.Fatalf("run %d: %v", i, err)
		}
		var in, out string
		for _, f := range res.Receipt.Inputs {
			if f.Path == "/input/alice.dat" {
				in = f.Commitment
			}
		}
		for _, f := range res.Receipt.Outputs {
			if f.Path == "/output/copy.dat" {
				out = f.Commitment
			}
		}
		var b bytes.Buffer
		fi, err := dave.Get(ctx, "/output/copy.dat", &b)
		if err != nil || fi.Commitment != out {
			t.Fatalf("run %d: reading its output: %v (commitment %v, the receipt names %s)", i, err, fi, out)
		}
		got = append(got, seen{in, b.Bytes()})
	}
	cancel()
	wg.Wait()
	for i, g := range got {
		v, ok := written[g.in]
		if !ok {
			t.Fatalf("run %d: receipt input %s is no version alice wrote", i, g.in)
		}
		if !bytes.Equal(versions[v], g.out) {
			mismatches++
			t.Errorf("run %d: the receipt says the program read version %d, but it copied %d bytes of another", i, v, len(g.out))
		}
	}
	t.Logf("%d runs against %d concurrent writes; %d receipts named another input than was read", runs, writes, mismatches)
}

// TestOversizedUploadClearError: an upload past the per-file limit is
// refused by the enclave before it has read the body. The refusal must
// reach the client through the host as a clear limit error (not a reset
// connection), nothing is stored, and the runtime still serves.
func TestOversizedUploadClearError(t *testing.T) {
	w := startWorld(t, worldOptions{})
	w.put(t, "alice", "/input/alice.dat", []byte("alice's secret"))
	before := w.snapshot(t)
	m := w.dial(t, "mallory")
	for _, size := range []int{fileMiB<<20 + 1, 4 * fileMiB << 20} {
		for i := 0; i < 3; i++ {
			_, err := m.Put(context.Background(), "/input/mallory/x", bytes.NewReader(bytes.Repeat([]byte("m"), size)))
			if !errors.Is(err, client.ErrLimitExceeded) {
				t.Fatalf("upload of %d bytes (try %d): %v, want ErrLimitExceeded", size, i, err)
			}
			// Of unknown length (chunked): refused once the limit is read.
			_, err = m.Put(context.Background(), "/input/mallory/x", io.MultiReader(bytes.NewReader(bytes.Repeat([]byte("m"), size))))
			if !errors.Is(err, client.ErrLimitExceeded) {
				t.Fatalf("streamed upload of %d bytes (try %d): %v, want ErrLimitExceeded", size, i, err)
			}
		}
	}
	w.unchanged(t, before)
}
