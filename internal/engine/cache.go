package engine

import (
	"container/list"
	"sync"
)

// cache keeps up to max compiled modules by program hash, least recently
// used first out. A module handed out is not freed until released, even
// if evicted meanwhile. Concurrent requests for the same hash compile once.
type cache[V any] struct {
	mu       sync.Mutex
	max      int
	ll       *list.List // of *entry[V], most recent first
	m        map[[32]byte]*list.Element
	inflight map[[32]byte]*flight[V]
	free     func(V)
	closed   bool
}

type entry[V any] struct {
	key     [32]byte
	v       V
	refs    int
	evicted bool
}

type flight[V any] struct {
	done chan struct{}
	e    *entry[V]
	err  error
}

func newCache[V any](max int, free func(V)) *cache[V] {
	return &cache[V]{max: max, ll: list.New(), m: map[[32]byte]*list.Element{},
		inflight: map[[32]byte]*flight[V]{}, free: free}
}

// get returns the module for key, building it if absent. hit reports that
// it was already there (or being built by another caller). The caller
// must call release once done with it.
func (c *cache[V]) get(key [32]byte, build func() (V, error)) (e *entry[V], hit bool, err error) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil, false, ErrClosed
	}
	if el, ok := c.m[key]; ok {
		c.ll.MoveToFront(el)
		e := el.Value.(*entry[V])
		e.refs++
		c.mu.Unlock()
		return e, true, nil
	}
	if f, ok := c.inflight[key]; ok {
		c.mu.Unlock()
		<-f.done
		if f.err != nil {
			return nil, false, f.err
		}
		// Built by another caller: take it from the cache (or build it
		// again if it has been evicted already).
		return c.get(key, build)
	}
	f := &flight[V]{done: make(chan struct{})}
	c.inflight[key] = f
	c.mu.Unlock()

	v, err := build()

	c.mu.Lock()
	delete(c.inflight, key)
	if err != nil {
		f.err = err
		c.mu.Unlock()
		close(f.done)
		return nil, false, err
	}
	e = &entry[V]{key: key, v: v, refs: 1}
	f.e = e
	if c.max > 0 && !c.closed {
		c.m[key] = c.ll.PushFront(e)
		for c.ll.Len() > c.max {
			c.evictLocked(c.ll.Back())
		}
	} else {
		e.evicted = true // not kept: freed on its last release
	}
	c.mu.Unlock()
	close(f.done)
	return e, false, nil
}

func (c *cache[V]) evictLocked(el *list.Element) {
	e := el.Value.(*entry[V])
	c.ll.Remove(el)
	delete(c.m, e.key)
	e.evicted = true
	if e.refs == 0 {
		c.free(e.v)
	}
}

// release gives back a module get handed out.
func (c *cache[V]) release(e *entry[V]) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e.refs--
	if e.refs == 0 && e.evicted {
		c.free(e.v)
	}
}

// len returns the number of modules kept.
func (c *cache[V]) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ll.Len()
}

// close evicts everything; modules in use are freed on release.
func (c *cache[V]) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	for c.ll.Len() > 0 {
		c.evictLocked(c.ll.Back())
	}
}
