package runtime

import (
	"context"
	"net/http"
	"sync"

	"github.com/truce-project/truce/api"
)

// runQueues holds the queue of each program, made on first use.
type runQueues struct {
	mu sync.Mutex
	m  map[string]*progQueue
}

// of returns the queue serialising runs of the program at path.
func (qs *runQueues) of(path string) *progQueue {
	qs.mu.Lock()
	defer qs.mu.Unlock()
	q := qs.m[path]
	if q == nil {
		if qs.m == nil {
			qs.m = map[string]*progQueue{}
		}
		q = new(progQueue)
		qs.m[path] = q
	}
	return q
}

// runSlots bounds the runs and pipelines in progress at once (Config's
// MaxRuns). A nil *runSlots bounds nothing.
type runSlots struct {
	mu    sync.Mutex
	slots chan struct{}  // a token per run in progress
	by    map[string]int // tokens held by principal name
}

func newRunSlots(n int) *runSlots {
	return &runSlots{slots: make(chan struct{}, n), by: map[string]int{}}
}

// take takes a token for principal who, or refuses when every slot is
// taken. A principal that already holds a token may not take the last
// free one: one principal cannot take every slot from the others. The
// caller calls the returned function when its run ends.
func (s *runSlots) take(who string) (func(), error) {
	if s == nil {
		return func() {}, nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if held := s.by[who]; held > 0 && cap(s.slots)-len(s.slots) <= 1 {
		return nil, newProblem(http.StatusTooManyRequests, api.ProblemLimitExceeded,
			"this enclave runs at most %d programs or pipelines at once; %s has %d in progress and the last free place is kept for the other parties: retry when one of yours ends", cap(s.slots), who, held)
	}
	select {
	case s.slots <- struct{}{}:
		s.by[who]++
		return func() {
			s.mu.Lock()
			if s.by[who]--; s.by[who] <= 0 {
				delete(s.by, who)
			}
			s.mu.Unlock()
			<-s.slots
		}, nil
	default:
		return nil, newProblem(http.StatusTooManyRequests, api.ProblemLimitExceeded,
			"this enclave runs at most %d programs or pipelines at once and that many are in progress: retry when one ends", cap(s.slots))
	}
}

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
