// Package keylock provides per-key mutual exclusion that honours a context.
package keylock

import (
	"context"
	"sync"
)

// Locks is a set of locks, one per key, created on demand and dropped when unused.
// The zero value is ready to use.
type Locks[K comparable] struct {
	mu sync.Mutex
	m  map[K]*entry
}

type entry struct {
	ch   chan struct{}
	refs int
}

// Lock takes key's lock, or fails with ctx's error; the returned func releases it.
func (k *Locks[K]) Lock(ctx context.Context, key K) (func(), error) {
	k.mu.Lock()
	if k.m == nil {
		k.m = map[K]*entry{}
	}
	l := k.m[key]
	if l == nil {
		l = &entry{ch: make(chan struct{}, 1)}
		k.m[key] = l
	}
	l.refs++
	k.mu.Unlock()
	release := func() {
		k.mu.Lock()
		if l.refs--; l.refs == 0 {
			delete(k.m, key)
		}
		k.mu.Unlock()
	}
	select {
	case l.ch <- struct{}{}:
		return func() { <-l.ch; release() }, nil
	case <-ctx.Done():
		release()
		return nil, ctx.Err()
	}
}
