package runtime

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/truce-project/truce/api"
	"github.com/truce-project/truce/audit"
	"github.com/truce-project/truce/examples/shamir"
	sss "github.com/truce-project/truce/examples/shamir/shamir"
	"github.com/truce-project/truce/internal/engine"
	"github.com/truce-project/truce/receipt"
)

// uploadShamir writes the program and three shares of secret.
func (w *world) uploadShamir(secret []byte) {
	w.t.Helper()
	shares, err := sss.Split(secret, 3, 3, nil)
	if err != nil {
		w.t.Fatal(err)
	}
	w.client("paula", true).put(pShamir, shamir.Wasm, http.StatusCreated)
	alice := w.client("alice", true)
	alice.put("/input/shamir-0.dat", shares[0], http.StatusCreated)
	alice.put("/input/shamir-1.dat", shares[1], http.StatusCreated)
	w.client("bob", false).put("/input/shamir-2.dat", shares[2], http.StatusCreated)
}

func TestShamirOverTLS(t *testing.T) {
	w := newWorld(t, worldOptions{})
	w.start()
	secret := []byte("the launch code is 0000")
	w.uploadShamir(secret)

	rita := w.client("rita", true)
	res := rita.run(pShamir, http.StatusOK)
	if res.Outcome != engine.Exited.String() || res.ExitCode != 0 || !bytes.Contains(res.Stdout, []byte("combined 3 shares")) {
		t.Fatalf("run = %+v (stdout %q, stderr %q)", res, res.Stdout, res.Stderr)
	}
	out := rita.get("/output/shamir.dat")
	if !bytes.Equal(out, secret) {
		t.Fatalf("output %q, want %q", out, secret)
	}

	// The receipt says what ran on what, and verifies against the policy.
	rc := res.Receipt
	if err := receipt.Verify(&rc, w.pol, time.Now()); err != nil {
		t.Fatalf("receipt: %v", err)
	}
	if rc.ProgramHash != hexSum(shamir.Wasm) || rc.PolicyHash != w.pol.HashHex() || rc.Program != pShamir || rc.Platform != "sim" {
		t.Fatalf("receipt = %+v", rc)
	}
	if len(rc.Inputs) != 3 || rc.Inputs[0].Path != "/input/shamir-0.dat" {
		t.Fatalf("inputs = %+v", rc.Inputs)
	}
	if len(rc.Outputs) != 1 || rc.Outputs[0].Path != "/output/shamir.dat" ||
		receipt.Open(&rc, false, "/output/shamir.dat", rita.salt("/output/shamir.dat"), bytes.NewReader(secret)) != nil {
		t.Fatalf("outputs = %+v", rc.Outputs)
	}

	// Any change to the receipt breaks it.
	for name, mutate := range map[string]func(r *receipt.Receipt){
		"exit code":    func(r *receipt.Receipt) { r.ExitCode = 1 },
		"output hash":  func(r *receipt.Receipt) { r.Outputs[0].Commitment = hexSum([]byte("other")) },
		"program":      func(r *receipt.Receipt) { r.ProgramHash = hexSum(nil) },
		"finished":     func(r *receipt.Receipt) { r.Finished = r.Finished.Add(time.Second) },
		"signature":    func(r *receipt.Receipt) { r.Signature[len(r.Signature)-1] ^= 1 },
		"other signer": func(r *receipt.Receipt) { r.Chain = [][]byte{w.issuer.cert.Raw} },
	} {
		var c receipt.Receipt
		b, _ := json.Marshal(rc)
		_ = json.Unmarshal(b, &c)
		mutate(&c)
		if err := receipt.Verify(&c, w.pol, time.Now()); err == nil {
			t.Errorf("tampered receipt (%s) verifies", name)
		}
	}

	// HTTP/2 is spoken when offered.
	if r := rita.must(http.MethodGet, api.PathPolicy, nil, http.StatusOK); r.proto != 2 || !bytes.Equal(r.body, w.pol.Bytes()) {
		t.Fatalf("policy over HTTP/%d: %q", r.proto, r.body)
	}
	if r := w.client("bob", false).must(http.MethodGet, api.PathPolicy, nil, http.StatusOK); r.proto != 1 {
		t.Fatalf("HTTP/1.1 client got HTTP/%d", r.proto)
	}

	// Attestation evidence and chain are served.
	var at api.Attestation
	if err := json.Unmarshal(rita.must(http.MethodGet, api.PathAttestation, nil, http.StatusOK).body, &at); err != nil {
		t.Fatal(err)
	}
	if at.Platform != "sim" || len(at.Evidence) == 0 || len(at.Chain) != 2 || len(at.Nonce) == 0 {
		t.Fatalf("attestation = %+v", at)
	}

	// The audit log holds every request, chained.
	var log api.AuditLog
	if err := json.Unmarshal(w.client("alice", true).must(http.MethodGet, api.PathAudit, nil, http.StatusOK).body, &log); err != nil {
		t.Fatal(err)
	}
	if err := audit.Verify(log.Entries); err != nil {
		t.Fatal(err)
	}
	if log.Head != log.Entries[len(log.Entries)-1].Hash {
		t.Fatal("head is not the last entry's hash")
	}
	var actions []string
	for _, e := range log.Entries {
		actions = append(actions, e.Principal+":"+e.Action+":"+e.Outcome)
	}
	want := "paula:write:ok alice:write:ok alice:write:ok bob:write:ok rita:run:ok rita:read:ok"
	if got := strings.Join(actions, " "); !strings.HasPrefix(got, want) {
		t.Fatalf("audit actions:\n%s\nwant prefix\n%s", got, want)
	}
	for _, e := range log.Entries {
		if e.Action == "run" && (len(e.Hashes) != 2 || e.Hashes[0] != hexSum(shamir.Wasm)) {
			t.Fatalf("run entry hashes = %v", e.Hashes)
		}
	}
}

func TestRefusals(t *testing.T) {
	w := newWorld(t, worldOptions{fileMiB: 4})
	w.start()
	w.client("paula", true).put(pShamir, shamir.Wasm, http.StatusCreated)
	w.client("alice", true).put("/input/shamir-0.dat", []byte{1, 2, 3}, http.StatusCreated)

	paula, alice, bob, rita := w.client("paula", true), w.client("alice", true), w.client("bob", false), w.client("rita", true)
	files := func(p string) string { return api.PathFiles + strings.TrimPrefix(p, "/") }
	tests := []struct {
		name   string
		c      *client
		method string
		path   string
		body   []byte
		status int
		want   string
	}{
		{"write without the right", alice, http.MethodPut, files("/output/shamir.dat"), []byte("forged"), 403, api.ProblemForbidden},
		{"replace another's input", bob, http.MethodPut, files("/input/shamir-0.dat"), []byte("x"), 403, api.ProblemForbidden},
		{"append without the right", alice, http.MethodPost, files("/input/shamir-0.dat"), []byte("x"), 403, api.ProblemForbidden},
		{"read an output without the right", alice, http.MethodGet, files("/output/shamir.dat"), nil, 403, api.ProblemForbidden},
		{"read an input without the right", rita, http.MethodGet, files("/input/shamir-0.dat"), nil, 403, api.ProblemForbidden},
		{"run without the right", alice, http.MethodPost, api.PathRun + "program/shamir.wasm", nil, 403, api.ProblemForbidden},
		{"program whose hash differs", paula, http.MethodPut, files(pShamir), []byte("not the program"), 409, api.ProblemHashMismatch},
		{"append to a program", bob, http.MethodPost, files(pShamir), []byte{0}, 409, api.ProblemConflict},
		{"run a program not uploaded", rita, http.MethodPost, api.PathRun + "program/fail.wasm", nil, 409, api.ProblemNotReady},
		{"body over the file limit", bob, http.MethodPut, files("/data/big.dat"), make([]byte, 4<<20+1), 413, api.ProblemLimitExceeded},
		{"dot-dot path", alice, http.MethodPut, api.PathFiles + "input/%2e%2e/output/x", []byte("x"), 400, api.ProblemBadRequest},
		{"write a file where the policy has a directory", paula, http.MethodPut, files("/program"), []byte("x"), 409, api.ProblemConflict},
		{"directory path", rita, http.MethodGet, files("/output/"), nil, 400, api.ProblemBadRequest},
		{"unknown API", alice, http.MethodGet, "/v2/files/x", nil, 404, api.ProblemNotFound},
		{"wrong method", alice, http.MethodDelete, files("/input/shamir-0.dat"), nil, 405, api.ProblemBadRequest},
		{"unknown pipeline", rita, http.MethodPost, api.PathPipelines + "nope", nil, 404, api.ProblemNotFound},
		{"pipeline without the right", alice, http.MethodPost, api.PathPipelines + "combine-copy", nil, 403, api.ProblemForbidden},
		{"shutdown without a run right", alice, http.MethodPost, api.PathShutdown, nil, 403, api.ProblemForbidden},
		{"read a missing file", rita, http.MethodGet, files("/output/none.dat"), nil, 404, api.ProblemNotFound},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := w.snapshot()
			tc.c.on(t).refused(tc.method, tc.path, tc.body, tc.status, tc.want)
			if after := w.snapshot(); !sameFiles(before, after) {
				t.Fatalf("files changed by a refused request:\nbefore %v\nafter  %v", before, after)
			}
		})
	}

	t.Run("program the policy does not list", func(t *testing.T) {
		// paula has w on /program/: writing an unlisted file there is
		// storage, not a program; running it is refused.
		paula.on(t).put("/program/extra.wasm", []byte("data"), http.StatusCreated)
		rita.on(t).refused(http.MethodPost, api.PathRun+"program/extra.wasm", nil, 403, api.ProblemForbidden)
	})

	t.Run("run before its input exists", func(t *testing.T) {
		// needs.wasm names /input/shamir-0.dat one by one; in a fresh
		// world it does not exist yet.
		w2 := newWorld(t, worldOptions{})
		w2.start()
		w2.client("paula", true).put(pNeeds, shamir.Wasm, http.StatusCreated)
		before := w2.snapshot()
		p := w2.client("rita", true).refused(http.MethodPost, api.PathRun+"program/needs.wasm", nil, 409, api.ProblemNotReady)
		if !strings.Contains(p.Detail, "/input/shamir-0.dat") {
			t.Fatalf("detail %q does not name the missing input", p.Detail)
		}
		if !sameFiles(before, w2.snapshot()) {
			t.Fatal("files changed")
		}
	})

	t.Run("hash mismatch keeps the stored program", func(t *testing.T) {
		paula.on(t).refused(http.MethodPut, files(pShamir), append(bytes.Clone(shamir.Wasm), 0), 409, api.ProblemHashMismatch)
		if got := w.snapshot()[pShamir]; got != hexSum(shamir.Wasm) {
			t.Fatalf("stored program hash %s", got)
		}
	})

	t.Run("streamed body over the file limit", func(t *testing.T) {
		// No Content-Length: the limit is found while reading, and the
		// old content stays.
		bob.on(t).put("/data/big.dat", []byte("old"), http.StatusCreated)
		before := w.snapshot()
		req, err := http.NewRequest(http.MethodPut, "https://enclave"+files("/data/big.dat"), io.NopCloser(bytes.NewReader(make([]byte, 4<<20+10))))
		if err != nil {
			t.Fatal(err)
		}
		resp, err := bob.hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusRequestEntityTooLarge || !strings.Contains(string(body), api.ProblemLimitExceeded) {
			t.Fatalf("status %d: %s", resp.StatusCode, body)
		}
		if !sameFiles(before, w.snapshot()) {
			t.Fatal("files changed")
		}
	})

	t.Run("head and append", func(t *testing.T) {
		bob := bob.on(t)
		bob.must(http.MethodPost, files("/input/shamir-2.dat"), []byte("ab"), http.StatusOK)
		r := bob.must(http.MethodPost, files("/input/shamir-2.dat"), []byte("cd"), http.StatusOK)
		var fr api.FileResult
		if err := json.Unmarshal(r.body, &fr); err != nil {
			t.Fatal(err)
		}
		// bob may append, not read: the answer gives him no hash, salt
		// or size of the whole file, which may hold others' appends;
		// its size is the bytes he added.
		if fr.Size != 2 || fr.SHA256 != "" || fr.Salt != "" || fr.Commitment == "" {
			t.Fatalf("after appends: %+v", fr)
		}
		r = rita.on(t).must(http.MethodHead, api.PathPolicy, nil, http.StatusOK)
		if len(r.body) != 0 || r.header.Get(api.HeaderSHA256) != w.pol.HashHex() {
			t.Fatalf("HEAD policy: %q %v", r.body, r.header)
		}
	})

	t.Run("client certificate not in the policy", func(t *testing.T) {
		before := w.snapshot()
		m := w.client("mallory", true)
		if _, err := m.do(http.MethodGet, api.PathPolicy, nil); err == nil {
			t.Fatal("a client outside the policy was served")
		}
		if _, err := m.do(http.MethodPut, files("/input/shamir-1.dat"), []byte("x")); err == nil {
			t.Fatal("a client outside the policy was served")
		}
		if !sameFiles(before, w.snapshot()) {
			t.Fatal("files changed")
		}
	})

	t.Run("refusals are audited", func(t *testing.T) {
		var log api.AuditLog
		if err := json.Unmarshal(rita.on(t).must(http.MethodGet, api.PathAudit, nil, 200).body, &log); err != nil {
			t.Fatal(err)
		}
		if err := audit.Verify(log.Entries); err != nil {
			t.Fatal(err)
		}
		outcomes := map[string]int{}
		for _, e := range log.Entries {
			outcomes[e.Outcome]++
			if e.Principal == "mallory" {
				t.Fatal("an unauthenticated client reached the audit log as a principal")
			}
		}
		for _, want := range []string{api.ProblemForbidden, api.ProblemHashMismatch, api.ProblemNotReady, api.ProblemLimitExceeded, api.ProblemBadRequest} {
			if outcomes[want] == 0 {
				t.Errorf("no %s entry in the audit log: %v", want, outcomes)
			}
		}
	})
}

func TestFailingProgramsThenGoodRun(t *testing.T) {
	w := newWorld(t, worldOptions{execSeconds: 1, memoryMiB: 64})
	w.start()
	paula, rita := w.client("paula", true), w.client("rita", true)
	for _, p := range []string{pFail, pLoop, pHog, pTrap} {
		paula.put(p, w.misWasm, http.StatusCreated)
	}
	cases := []struct {
		prog    string
		outcome string
		code    uint32
	}{
		{pFail, engine.Exited.String(), 3},
		{pLoop, engine.TimedOut.String(), 0},
		{pHog, "", 0}, // memory exceeded, or the Go runtime's own out-of-memory exit
		{pTrap, "", 0},
	}
	for _, c := range cases {
		res := rita.run(c.prog, http.StatusUnprocessableEntity)
		if c.outcome != "" && (res.Outcome != c.outcome || res.ExitCode != c.code) {
			t.Errorf("%s: outcome %q code %d, want %q %d (%s)", c.prog, res.Outcome, res.ExitCode, c.outcome, c.code, res.Message)
		}
		if res.Outcome == engine.Exited.String() && res.ExitCode == 0 {
			t.Errorf("%s: failed run reported as success", c.prog)
		}
		if err := receipt.Verify(&res.Receipt, w.pol, time.Now()); err != nil {
			t.Errorf("%s: receipt of a failed run: %v", c.prog, err)
		}
		if res.Receipt.Outcome != res.Outcome || res.Receipt.ExitCode != res.ExitCode {
			t.Errorf("%s: receipt says %s/%d, result %s/%d", c.prog, res.Receipt.Outcome, res.Receipt.ExitCode, res.Outcome, res.ExitCode)
		}
		t.Logf("%s: %s (exit %d) %s", c.prog, res.Outcome, res.ExitCode, res.Message)
	}
	// The runtime still serves, and a good program runs.
	secret := []byte("still here")
	w.uploadShamir(secret)
	rita.run(pShamir, http.StatusOK)
	if got := rita.get("/output/shamir.dat"); !bytes.Equal(got, secret) {
		t.Fatalf("output %q", got)
	}
}

func TestPipelines(t *testing.T) {
	w := newWorld(t, worldOptions{})
	w.start()
	paula, rita := w.client("paula", true), w.client("rita", true)
	rita.refused(http.MethodPost, api.PathPipelines+"combine-copy", nil, 409, api.ProblemNotReady)
	secret := []byte("piped")
	w.uploadShamir(secret)
	rita.refused(http.MethodPost, api.PathPipelines+"combine-copy", nil, 409, api.ProblemNotReady) // copy.wasm missing
	paula.put(pCopy, w.misWasm, http.StatusCreated)
	paula.put(pFail, w.misWasm, http.StatusCreated)

	r := rita.must(http.MethodPost, api.PathPipelines+"combine-copy", nil, http.StatusOK)
	var pr api.PipelineResult
	if err := json.Unmarshal(r.body, &pr); err != nil {
		t.Fatal(err)
	}
	if len(pr.Steps) != 2 || pr.Steps[0].Program != pShamir || pr.Steps[1].Program != pCopy {
		t.Fatalf("steps = %+v", pr.Steps)
	}
	if !bytes.Equal(rita.get("/output/copy.dat"), secret) {
		t.Fatal("second step did not see the first step's output")
	}
	if err := receipt.Verify(&pr.Receipt, w.pol, time.Now()); err != nil {
		t.Fatal(err)
	}
	if pr.Receipt.Program != "pipeline:combine-copy" || len(pr.Receipt.Outputs) != 2 {
		t.Fatalf("pipeline receipt = %+v", pr.Receipt)
	}

	p := rita.refused(http.MethodPost, api.PathPipelines+"combine-fail", nil, 422, api.ProblemProgramFailed)
	if p.Pipeline == nil || len(p.Pipeline.Steps) != 2 || p.Result == nil || p.Result.ExitCode != 3 {
		t.Fatalf("failed pipeline problem = %+v", p)
	}
	if err := receipt.Verify(&p.Pipeline.Receipt, w.pol, time.Now()); err != nil {
		t.Fatal(err)
	}
}

func TestParallelClients(t *testing.T) {
	w := newWorld(t, worldOptions{execSeconds: 2})
	w.start()
	w.uploadShamir([]byte("parallel"))
	paula := w.client("paula", true)
	paula.put(pFail, w.misWasm, http.StatusCreated)
	paula.put(pLoop, w.misWasm, http.StatusCreated)

	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for i := 0; i < 4; i++ {
		wg.Add(3)
		go func() { // writers race on one file; readers never see a torn one
			defer wg.Done()
			c := w.client("bob", i%2 == 0)
			for j := 0; j < 10; j++ {
				body := bytes.Repeat([]byte{byte(j)}, 4096+j)
				r, err := c.do(http.MethodPut, api.PathFiles+"data/big.dat", body)
				if err != nil || r.status/100 != 2 {
					errs <- fmt.Errorf("write: %v %v", err, r)
					return
				}
			}
		}()
		go func() {
			defer wg.Done()
			c := w.client("rita", i%2 == 1)
			for _, p := range []string{pShamir, pFail, pLoop} {
				r, err := c.do(http.MethodPost, api.PathRun+strings.TrimPrefix(p, "/"), nil)
				if err != nil || (r.status != 200 && r.status != 422) {
					errs <- fmt.Errorf("run %s: %v %+v", p, err, r)
				}
			}
		}()
		go func() {
			defer wg.Done()
			c := w.client("rita", true)
			for j := 0; j < 5; j++ {
				r, err := c.do(http.MethodGet, api.PathAudit, nil)
				if err != nil || r.status != 200 {
					errs <- fmt.Errorf("audit: %v", err)
					return
				}
				var log api.AuditLog
				if err := json.Unmarshal(r.body, &log); err != nil {
					errs <- err
					return
				}
				if err := audit.Verify(log.Entries); err != nil {
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if got := w.client("rita", true).get("/output/shamir.dat"); string(got) != "parallel" {
		t.Fatalf("output %q", got)
	}
	// Every stored version of the contended file is whole.
	sum := w.snapshot()["/data/big.dat"]
	ok := false
	for j := 0; j < 10; j++ {
		if hexSum(bytes.Repeat([]byte{byte(j)}, 4096+j)) == sum {
			ok = true
		}
	}
	if !ok {
		t.Fatal("the contended file holds none of the versions written")
	}
}

func TestExpiredPolicy(t *testing.T) {
	w := newWorld(t, worldOptions{})
	// An expired policy is refused at start.
	w.offset.Store(int64(w.pol.Expires.Sub(time.Now()) + time.Hour))
	_, err := New(Config{Policy: w.pol, Provider: testProvider(w), Engine: testEngine(t), Now: w.now})
	if !errors.Is(err, ErrPolicyExpired) {
		t.Fatalf("New with an expired policy: %v", err)
	}
	// A policy that expires while serving refuses every request.
	w.offset.Store(0)
	w.start()
	alice := w.client("alice", true)
	alice.put("/input/shamir-0.dat", []byte{1}, http.StatusCreated)
	w.offset.Store(int64(w.pol.Expires.Sub(time.Now()) + time.Minute))
	before := w.snapshot()
	alice.refused(http.MethodPut, api.PathFiles+"input/shamir-0.dat", []byte{2}, 403, api.ProblemForbidden)
	w.client("rita", true).refused(http.MethodGet, api.PathPolicy, nil, 403, api.ProblemForbidden)
	if !sameFiles(before, w.snapshot()) {
		t.Fatal("files changed")
	}
}

// TestMaxRuns: with MaxRuns 1, a run started while another is in progress
// is refused with 429 limit-exceeded and Retry-After, and runs again once
// the first ends.
func TestMaxRuns(t *testing.T) {
	w := newWorld(t, worldOptions{execSeconds: 1, maxRuns: 1})
	w.start()
	paula, rita := w.client("paula", true), w.client("rita", true)
	for _, p := range []string{pFail, pLoop} {
		paula.put(p, w.misWasm, http.StatusCreated)
	}
	looping := make(chan struct{})
	go func() {
		defer close(looping)
		for { // until it is not itself refused by a run of pFail
			r, err := rita.do(http.MethodPost, api.PathRun+strings.TrimPrefix(pLoop, "/"), nil)
			if err != nil || r.status != http.StatusTooManyRequests {
				if err != nil || r.status != http.StatusUnprocessableEntity {
					t.Errorf("loop run: %v %+v", err, r)
				}
				return
			}
		}
	}()
	refused := false
	for !refused {
		select {
		case <-looping:
			t.Fatal("no run was refused while another was in progress")
		default:
		}
		r, err := rita.do(http.MethodPost, api.PathRun+strings.TrimPrefix(pFail, "/"), nil)
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case r.status == http.StatusTooManyRequests:
			if r.problem == nil || r.problem.Name() != api.ProblemLimitExceeded || r.header.Get("Retry-After") == "" {
				t.Fatalf("refusal %d %s without limit-exceeded and Retry-After", r.status, r.body)
			}
			refused = true
		case r.status != http.StatusUnprocessableEntity:
			t.Fatalf("status %d: %s", r.status, r.body)
		}
	}
	<-looping
	if res := rita.run(pFail, http.StatusUnprocessableEntity); res.ExitCode != 3 {
		t.Fatalf("run after the limit freed: %+v", res)
	}
}
