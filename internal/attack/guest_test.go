package attack

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/truce-project/truce/api"
	"github.com/truce-project/truce/client"
	"github.com/truce-project/truce/receipt"
)

// TestHostileGuests: programs the policy pins, and a reader may run, that
// loop, grab memory, write huge outputs, fill the storage, call WASI with
// pointers outside their memory, or reach for files beyond their
// capabilities. Each run ends with a clear outcome and a signed receipt,
// nothing outside the program's grants changes, and the runtime serves
// on: after each, a good program runs.
func TestHostileGuests(t *testing.T) {
	w := startWorld(t, worldOptions{})
	w.uploadPrograms(t)
	w.put(t, "alice", "/input/alice.dat", []byte("alice's secret"))
	w.put(t, "bob", "/input/bob.dat", []byte("bob's secret"))
	dave := w.dial(t, "dave")
	ctx := context.Background()
	// Compile once, outside the timed runs.
	if _, err := dave.Run(ctx, pCopy); err != nil {
		t.Fatal(err)
	}
	before := w.snapshot(t)
	ignore := map[string]bool{"/output/big.dat": true, "/output/escape/ok.dat": true}

	cases := []struct {
		prog  string
		check func(t *testing.T, res *api.RunResult, err error)
	}{
		{pLoop, func(t *testing.T, res *api.RunResult, err error) {
			if !errors.Is(err, client.ErrProgramFailed) || res == nil || res.Outcome != "timed out" {
				t.Fatalf("loop: %v, %+v", err, res)
			}
		}},
		{pHog, func(t *testing.T, res *api.RunResult, err error) {
			if !errors.Is(err, client.ErrProgramFailed) || res == nil {
				t.Fatalf("hog: %v", err)
			}
		}},
		{pSpew, func(t *testing.T, res *api.RunResult, err error) {
			if res == nil {
				t.Fatalf("spew: no result: %v", err)
			}
			if len(res.Stdout) > api.MaxOutput {
				t.Fatalf("spew: %d bytes of stdout returned, the cap is %d", len(res.Stdout), api.MaxOutput)
			}
		}},
		{pBigFile, func(t *testing.T, res *api.RunResult, err error) {
			if err != nil || !strings.Contains(string(res.Stdout), "refused after") {
				t.Fatalf("bigfile: %v: %s", err, res.Stdout)
			}
			var b bytes.Buffer
			if _, err := w.dial(t, "rita").Get(ctx, "/output/big.dat", &b); err == nil && b.Len() > fileMiB<<20 {
				t.Fatalf("bigfile: %d bytes stored past the %d MiB limit", b.Len(), fileMiB)
			}
		}},
		{pPointers, func(t *testing.T, res *api.RunResult, err error) {
			if res == nil {
				t.Fatalf("pointers: no result: %v", err)
			}
			// Either every call failed with an errno, or the engine
			// stopped the program (a trap is a clear end too).
			if err == nil && !strings.Contains(string(res.Stdout), "done pointers") {
				t.Fatalf("pointers: %s", res.Stdout)
			}
			if n := strings.Count(string(res.Stdout), "errno"); err == nil && n < 12 {
				t.Fatalf("pointers: %d errno lines: %s", n, res.Stdout)
			}
		}},
		{pEscape, func(t *testing.T, res *api.RunResult, err error) {
			if err != nil || !strings.Contains(string(res.Stdout), "done escape") {
				t.Fatalf("escape: %v: %s %s", err, res.Stdout, res.Stderr)
			}
		}},
	}
	for _, c := range cases {
		t.Run(c.prog, func(t *testing.T) {
			start := time.Now()
			res, err := dave.Run(ctx, c.prog)
			took := time.Since(start)
			if res != nil {
				if strings.Contains(string(res.Stdout), "LEAK") {
					t.Errorf("%s: %s", c.prog, res.Stdout)
				}
				if verr := receipt.Verify(&res.Receipt, w.pol, time.Now()); verr != nil {
					t.Errorf("%s: receipt: %v", c.prog, verr)
				}
				t.Logf("%s: outcome %q exit %d in %v; %s", c.prog, res.Outcome, res.ExitCode, took.Round(time.Millisecond), firstLine(res.Stdout, res.Message))
			}
			c.check(t, res, err)
			if took > 30*time.Second {
				t.Errorf("%s took %v; the policy allows 3 s", c.prog, took)
			}
			// Still serving, and nothing outside the program's grants moved.
			if _, err := dave.Run(ctx, pCopy); err != nil {
				t.Fatalf("good run after %s: %v", c.prog, err)
			}
			after := w.snapshot(t)
			for p, v := range before {
				if !ignore[p] && after[p] != v {
					t.Errorf("%s changed %s", c.prog, p)
				}
			}
		})
	}
}

func firstLine(b []byte, alt string) string {
	s := strings.TrimSpace(string(b))
	if s == "" {
		return alt
	}
	if len(s) > 100 {
		s = s[:100] + "…"
	}
	return strings.SplitN(s, "\n", 2)[0]
}
