package runtime

import (
	"context"
	"testing"
	"time"

	"github.com/truce-project/truce/capability"
)

func TestClaimConflicts(t *testing.T) {
	r, w := capability.Read, capability.Write
	cases := []struct {
		a, b capability.Set
		want bool
	}{
		{capability.Set{"/input/a": r}, capability.Set{"/input/a": w}, true},
		{capability.Set{"/input/": r}, capability.Set{"/input/a": w}, true},
		{capability.Set{"/input/a": w}, capability.Set{"/input/": r}, true},
		{capability.Set{"/input/a": r}, capability.Set{"/input/a": r}, false},
		{capability.Set{"/input/a": r}, capability.Set{"/input/b": w}, false},
		{capability.Set{"/input/ab": r}, capability.Set{"/input/a": w}, false},
		{capability.Set{"/out/": w}, capability.Set{"/out/": w}, true},
		{capability.Set{"/in/": r, "/out/": w}, capability.Set{"/in/x": r}, false},
		{capability.Set{"/log": capability.Append}, capability.Set{"/log": r}, true},
	}
	for _, c := range cases {
		if got := (&claim{caps: c.a}).conflicts(&claim{caps: c.b}); got != c.want {
			t.Errorf("%v vs %v: conflicts %v, want %v", c.a, c.b, got, c.want)
		}
		if got := (&claim{caps: c.b}).conflicts(&claim{caps: c.a}); got != c.want {
			t.Errorf("%v vs %v: conflicts %v, want %v (reversed)", c.b, c.a, got, c.want)
		}
	}
}

// TestClaimsWait: a write to a file a run reads waits for the run; a
// write elsewhere does not; a waiting write gives up with its context.
func TestClaimsWait(t *testing.T) {
	var cs claims
	ctx := context.Background()
	run, err := cs.acquire(ctx, capability.Set{"/input/": capability.Read, "/output/": capability.Write})
	if err != nil {
		t.Fatal(err)
	}
	other, err := cs.acquire(ctx, capability.Set{"/elsewhere/x": capability.Write})
	if err != nil {
		t.Fatal(err)
	}
	cs.release(other)
	got := make(chan error, 1)
	go func() {
		c, err := cs.acquire(ctx, capability.Set{"/input/a": capability.Write})
		if err == nil {
			cs.release(c)
		}
		got <- err
	}()
	select {
	case <-got:
		t.Fatal("a write to a run's input did not wait for the run")
	case <-time.After(50 * time.Millisecond):
	}
	cs.release(run)
	if err := <-got; err != nil {
		t.Fatal(err)
	}
	run, _ = cs.acquire(ctx, capability.Set{"/input/": capability.Read})
	defer cs.release(run)
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := cs.acquire(cctx, capability.Set{"/input/a": capability.Write}); err == nil {
		t.Fatal("acquire with an ended context succeeded")
	}
}
