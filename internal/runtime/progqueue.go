package runtime

import (
	"context"
	"sync"
)

// progQueue serialises the runs of one program. Waiting runs are served
// by principal in turn, not in arrival order: a principal that queues
// many runs of a shared program gets one run each turn, so another
// principal waits for at most one run of each other principal waiting,
// however many runs they queued. A wait ends with its request's context.
//
// The zero value is an idle queue.
type progQueue struct {
	mu      sync.Mutex
	busy    bool
	turns   []string                   // principals with waiting runs, in the order they are served
	waiting map[string][]chan struct{} // each principal's waiting runs, first come first served
}

// tryAcquire takes the queue if it is idle and nobody waits.
func (q *progQueue) tryAcquire() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.busy {
		return false
	}
	q.busy = true
	return true
}

// acquire waits for the queue's turn of principal who, or until ctx ends
// (then it returns ctx's error and holds nothing).
func (q *progQueue) acquire(ctx context.Context, who string) error {
	q.mu.Lock()
	if !q.busy {
		q.busy = true
		q.mu.Unlock()
		return nil
	}
	ch := make(chan struct{})
	if q.waiting == nil {
		q.waiting = map[string][]chan struct{}{}
	}
	if len(q.waiting[who]) == 0 {
		q.turns = append(q.turns, who)
	}
	q.waiting[who] = append(q.waiting[who], ch)
	q.mu.Unlock()
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
	}
	q.mu.Lock()
	select {
	case <-ch:
		// Granted as the context ended: hand the turn on.
		q.mu.Unlock()
		q.release()
		return ctx.Err()
	default:
	}
	q.remove(who, ch)
	q.mu.Unlock()
	return ctx.Err()
}

// remove drops the waiting run ch of who; the caller holds q.mu.
func (q *progQueue) remove(who string, ch chan struct{}) {
	ws := q.waiting[who]
	for i, c := range ws {
		if c == ch {
			ws = append(ws[:i:i], ws[i+1:]...)
			break
		}
	}
	if len(ws) > 0 {
		q.waiting[who] = ws
		return
	}
	delete(q.waiting, who)
	for i, p := range q.turns {
		if p == who {
			q.turns = append(q.turns[:i:i], q.turns[i+1:]...)
			break
		}
	}
}

// release ends the current run and hands the queue to the first run of
// the principal whose turn it is; that principal, if it has more runs
// waiting, goes to the back of the turns.
func (q *progQueue) release() {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.turns) == 0 {
		q.busy = false
		return
	}
	who := q.turns[0]
	q.turns = q.turns[1:]
	ws := q.waiting[who]
	ch := ws[0]
	if ws = ws[1:]; len(ws) > 0 {
		q.waiting[who] = ws
		q.turns = append(q.turns, who)
	} else {
		delete(q.waiting, who)
	}
	close(ch)
}

// waiters reports how many runs wait, for tests.
func (q *progQueue) waiters() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	n := 0
	for _, ws := range q.waiting {
		n += len(ws)
	}
	return n
}
