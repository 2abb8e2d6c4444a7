package runtime

import (
	"context"
	"strings"
	"sync"

	"github.com/truce-project/truce/capability"
)

// claims keep a run's files still while it runs: a run claims every path
// its program may read or write, from the hashing of its inputs to the
// hashing of its outputs, so that its signed receipt names the very bytes
// it read and wrote. A principal's write to a claimed path waits for the
// run to end (and a run waits for a write in progress to a path it may
// touch); runs whose paths do not meet, and writes elsewhere, proceed in
// parallel. The zero value is ready to use.
type claims struct {
	mu     sync.Mutex
	wake   chan struct{} // closed and replaced when a claim is released
	active map[*claim]struct{}
}

// claim is what one run or one write holds.
type claim struct {
	caps capability.Set // paths with the rights taken on them
}

// overlaps reports whether a grant of a (a path, or a directory ending in
// "/") meets a grant of b where at least one of them may write.
func (c *claim) conflicts(o *claim) bool {
	for _, g := range c.caps.Paths() {
		for _, h := range o.caps.Paths() {
			if !pathsMeet(g, h) {
				continue
			}
			if c.caps[g].Has(capability.Write) || c.caps[g].Has(capability.Append) ||
				o.caps[h].Has(capability.Write) || o.caps[h].Has(capability.Append) {
				return true
			}
		}
	}
	return false
}

// pathsMeet reports whether two grants can name a common file.
func pathsMeet(g, h string) bool {
	if g == h {
		return true
	}
	if strings.HasSuffix(g, "/") && strings.HasPrefix(h, g) {
		return true
	}
	return strings.HasSuffix(h, "/") && strings.HasPrefix(g, h)
}

// acquire waits until caps meets no conflicting claim, then holds it. It
// gives up, returning ctx's error, when ctx ends.
func (cs *claims) acquire(ctx context.Context, caps capability.Set) (*claim, error) {
	c := &claim{caps: caps}
	for {
		cs.mu.Lock()
		if cs.active == nil {
			cs.active = map[*claim]struct{}{}
			cs.wake = make(chan struct{})
		}
		busy := false
		for o := range cs.active {
			if c.conflicts(o) {
				busy = true
				break
			}
		}
		if !busy {
			cs.active[c] = struct{}{}
			cs.mu.Unlock()
			return c, nil
		}
		wake := cs.wake
		cs.mu.Unlock()
		select {
		case <-wake:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// release lets the waiting claims try again.
func (cs *claims) release(c *claim) {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	delete(cs.active, c)
	close(cs.wake)
	cs.wake = make(chan struct{})
}
