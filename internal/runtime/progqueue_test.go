package runtime

import (
	"context"
	"slices"
	"testing"
	"time"
)

// TestProgQueueTurns: waiting runs are served by principal in turn, each
// principal's own in arrival order, and a wait given up leaves the queue.
func TestProgQueueTurns(t *testing.T) {
	var q progQueue
	if !q.tryAcquire() {
		t.Fatal("an idle queue refused")
	}
	if q.tryAcquire() {
		t.Fatal("a busy queue was taken twice")
	}
	served := make(chan string, 16)
	cancelled, cancel := context.WithCancel(context.Background())
	arrivals := []struct {
		who string
		ctx context.Context
	}{
		{"mallory", context.Background()}, {"mallory", context.Background()}, {"mallory", cancelled},
		{"mallory", context.Background()}, {"alice", context.Background()}, {"bob", context.Background()},
		{"alice", context.Background()},
	}
	errs := make(chan error, len(arrivals))
	for i, a := range arrivals {
		name := a.who + string(rune('0'+i))
		go func() {
			if err := q.acquire(a.ctx, a.who); err != nil {
				errs <- err
				return
			}
			served <- name
			q.release()
		}()
		for q.waiters() != i+1 {
			time.Sleep(time.Millisecond)
		}
	}
	cancel()
	if err := <-errs; err != context.Canceled {
		t.Fatalf("given-up wait: %v", err)
	}
	q.release()
	var got []string
	for range len(arrivals) - 1 {
		got = append(got, <-served)
	}
	want := []string{"mallory0", "alice4", "bob5", "mallory1", "alice6", "mallory3"}
	if !slices.Equal(got, want) {
		t.Fatalf("served %v, want %v", got, want)
	}
	if !q.tryAcquire() {
		t.Fatal("the queue stayed busy after every run ended")
	}
}
