package runtime

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/truce-project/truce/api"
	"github.com/truce-project/truce/internal/vfs"
)

// rawDo sends method with the request-URI uri exactly as given, without
// following redirects.
func (c *client) rawDo(t *testing.T, method, uri string) *response {
	t.Helper()
	hc := *c.hc
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	req, err := http.NewRequest(method, "https://enclave/", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.URL = &url.URL{Scheme: "https", Host: "enclave", Opaque: uri}
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, uri, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	r := &response{status: resp.StatusCode, body: b, header: resp.Header, proto: resp.ProtoMajor}
	if resp.Header.Get("Content-Type") == api.ContentTypeProblem && method != http.MethodHead {
		r.problem = new(api.Problem)
		if err := json.Unmarshal(b, r.problem); err != nil {
			t.Fatalf("%s %s: problem body: %v: %s", method, uri, err, b)
		}
	}
	return r
}

// TestAttack3Routes: odd request-URIs and methods never redirect, never
// fail inside the runtime, never read a file, and answer a problem.
func TestAttack3Routes(t *testing.T) {
	w := newWorld(t, worldOptions{})
	w.start()
	for _, h2 := range []bool{false, true} {
		attack3Routes(t, w.client("rita", h2), h2)
	}
	// Every request is audited with an action.
	alice := w.client("alice", true)
	for after, n := int64(-1), 0; ; n++ {
		var log api.AuditLog
		q := api.PathAudit
		if after >= 0 {
			q += "?" + api.QueryAfter + "=" + strconv.FormatInt(after, 10)
		}
		if err := json.Unmarshal(alice.must(http.MethodGet, q, nil, http.StatusOK).body, &log); err != nil {
			t.Fatal(err)
		}
		if len(log.Entries) == 0 || n > 10 {
			break
		}
		for _, e := range log.Entries {
			if e.Action == "" {
				t.Errorf("audit entry %d (%s %s %s) has no action", e.Seq, e.Principal, e.Path, e.Outcome)
			}
			after = int64(e.Seq)
		}
	}
}

func attack3Routes(t *testing.T, rita *client, h2 bool) {
	long := "/v1/files/" + strings.Repeat("a/", 3000) + "x"
	uris := []string{
		"/v1/files/%2e%2e/input/shamir-0.dat",
		"/v1/files/output/%2e%2e/input/shamir-0.dat",
		"/v1/files/output/%252e%252e/input/shamir-0.dat",
		"/v1/files/output%2F..%2Finput%2Fshamir-0.dat",
		"/v1/files/output%2f%2e%2e%2finput%2fshamir-0.dat",
		"/v1/files/output/x%00y",
		"/v1/files/%00",
		"/v1/files/output/.",
		"/v1/files/output/..",
		"/v1/files/.",
		"/v1/files/..",
		"/v1/%66iles/input/shamir-0.dat",
		"/v1/files%2Finput/shamir-0.dat",
		"/v1/run/program%2Fshamir.wasm",
		"/v1/pipelines/%2e%2e",
		"/v1/pipelines/a/../b",
		"/v1/pipelines",
		"/v1/release",
		"/v1/files/output/x?y=%2e%2e",
		"/v1/audit/",
		"/v1/../v1/policy",
		"/v1/policy/.",
		"/V1/policy",
		"//v1/policy",
		"/v1/files/input/shamir-0.dat/",
		"/v1/files/input/shamir-0.dat/.",
		"*",
		"v1/policy",
		long,
	}
	methods := []string{"GET", "HEAD", "PUT", "POST", "DELETE", "OPTIONS", "TRACE", "PATCH", "CONNECT", "FOO"}
	for _, m := range methods {
		for _, u := range uris {
			if h2 && (m == "CONNECT" || !strings.HasPrefix(u, "/") || strings.HasPrefix(u, "//")) {
				continue // not an HTTP/2 request the client can send
			}
			r := rita.rawDo(t, m, u)
			switch {
			case r.status >= 300 && r.status < 400:
				t.Errorf("%s %s redirected: %d %s", m, u, r.status, r.header.Get("Location"))
			case r.status >= 500:
				t.Errorf("%s %s = %d: %s", m, u, r.status, r.body)
			case r.status < 300 && !(u == "/v1/audit/" || strings.HasPrefix(u, "/v1/files/output/x?")):
				t.Errorf("%s %s = %d (want a refusal): %.200s", m, u, r.status, r.body)
			case r.status >= 400 && m != "HEAD" && r.problem == nil && !netHTTPRefuses(m, u, r.status):
				t.Errorf("%s %s = %d without a problem body: %.200s", m, u, r.status, r.body)
			}
		}
	}
}

// netHTTPRefuses reports a request net/http itself refuses before the
// runtime sees it (a request-URI not starting with "/", too long a header).
func netHTTPRefuses(method, uri string, status int) bool {
	return status == http.StatusRequestHeaderFieldsTooLarge ||
		status == http.StatusBadRequest && !strings.HasPrefix(uri, "/") && uri != "*"
}

// TestAttack3QueueCancelRace: runs that wait and give up as they are
// granted neither lose the queue nor leave entries behind; the queue ends
// idle.
func TestAttack3QueueCancelRace(t *testing.T) {
	var q progQueue
	if err := q.acquire(context.Background(), "x"); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var ran atomic.Int64
	for i := range 200 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), time.Duration(i%7)*100*time.Microsecond)
			defer cancel()
			if q.acquire(ctx, fmt.Sprint("p", i%5)) == nil {
				ran.Add(1)
				q.release()
			}
		}()
	}
	time.Sleep(300 * time.Microsecond)
	q.release()
	wg.Wait()
	if !q.tryAcquire() {
		t.Fatalf("queue still busy after every run ended (%d ran)", ran.Load())
	}
	q.release()
	if n := q.waiters(); n != 0 || len(q.turns) != 0 || len(q.waiting) != 0 {
		t.Fatalf("queue left %d waiters, turns %v", n, q.turns)
	}
}

// TestAttack3QueueNoStarve: a principal queueing many runs of a program
// delays another's run by at most one of its own.
func TestAttack3QueueNoStarve(t *testing.T) {
	var q progQueue
	if !q.tryAcquire() {
		t.Fatal("idle queue refused")
	}
	order := make(chan string, 20)
	var wg sync.WaitGroup
	queued := map[string]int{}
	wait := func(who string) {
		queued[who]++
		want := queued[who]
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := q.acquire(context.Background(), who); err != nil {
				t.Error(err)
				return
			}
			order <- who
			q.release()
		}()
		for deadline := time.Now().Add(5 * time.Second); ; {
			q.mu.Lock()
			n := len(q.waiting[who])
			q.mu.Unlock()
			if n >= want || time.Now().After(deadline) {
				return
			}
			time.Sleep(time.Millisecond)
		}
	}
	for range 10 {
		wait("mallory")
	}
	wait("alice")
	q.release()
	wg.Wait()
	close(order)
	var got []string
	for w := range order {
		got = append(got, w)
	}
	if i := slices.Index(got, "alice"); i < 0 || i > 1 {
		t.Fatalf("alice served at %d: %v", i, got)
	}
}

// TestAttack3PresentEmptyTree: a directory input that holds only empty
// directories, deep or wide (a program may make them), is not present,
// and a file at the bottom is found. (How long it takes is logged.)
func TestAttack3PresentEmptyTree(t *testing.T) {
	v := vfs.New(vfs.Limits{}, time.Now).Unchecked()
	deep := "/input/extra"
	for len(deep) < vfs.MaxPath-8 {
		deep += "/d"
	}
	if err := v.MkdirAll(deep); err != nil {
		t.Fatal(err)
	}
	for i := range 20000 {
		if err := v.MkdirAll(fmt.Sprintf("/input/extra/w%d/x", i)); err != nil {
			t.Fatal(err)
		}
	}
	start := time.Now()
	if present(v, "/input/extra/") {
		t.Fatal("a tree of empty directories is present")
	}
	// Speed is measured, never asserted (before vfs.FS.HasFile, ~5 s
	// for the deep tree; now milliseconds).
	t.Logf("present over ~22000 empty directories: %v", time.Since(start))
	if _, err := v.WriteFile(deep+"/f", strings.NewReader("x")); err != nil {
		t.Fatalf("WriteFile: %v", err)
	}
	if !present(v, "/input/extra/") {
		t.Fatal("a file at the bottom of the tree is not present")
	}
}
