package keylock

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestExclusivePerKey(t *testing.T) {
	var l Locks[string]
	var inside, max atomic.Int32
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			unlock, err := l.Lock(context.Background(), "a")
			if err != nil {
				t.Error(err)
				return
			}
			if n := inside.Add(1); n > max.Load() {
				max.Store(n)
			}
			time.Sleep(time.Millisecond)
			inside.Add(-1)
			unlock()
		}()
	}
	wg.Wait()
	if max.Load() != 1 {
		t.Fatalf("%d holders at once", max.Load())
	}
	if len(l.m) != 0 {
		t.Errorf("unused locks kept: %d", len(l.m))
	}
}

func TestContextCancelWhileWaiting(t *testing.T) {
	var l Locks[int]
	unlock, _ := l.Lock(context.Background(), 1)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	if _, err := l.Lock(ctx, 1); err == nil {
		t.Fatal("second holder got the lock")
	}
	other, err := l.Lock(context.Background(), 2)
	if err != nil {
		t.Fatal("another key must not block")
	}
	other()
	unlock()
	if len(l.m) != 0 {
		t.Errorf("locks kept: %d", len(l.m))
	}
}
