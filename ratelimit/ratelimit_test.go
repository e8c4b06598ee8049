package ratelimit_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mosaic-platform/mosaic/ratelimit"
)

func TestMemoryWindows(t *testing.T) {
	var now atomic.Int64
	now.Store(time.Date(2026, 1, 1, 10, 59, 0, 0, time.UTC).UnixNano())
	m := ratelimit.NewMemory(func() time.Time { return time.Unix(0, now.Load()) })
	ctx := context.Background()
	for i := range 3 {
		d, _ := m.Allow(ctx, "a", 1, 3, time.Hour)
		if !d.Allowed || d.Count != int64(i+1) {
			t.Fatalf("event %d: %+v", i, d)
		}
	}
	d, _ := m.Allow(ctx, "a", 1, 3, time.Hour)
	if d.Allowed || d.RetryAfter != time.Minute || d.Remaining != 0 {
		t.Fatalf("over the limit: %+v, want refused with a minute to wait", d)
	}
	if d, _ := m.Allow(ctx, "b", 1, 3, time.Hour); !d.Allowed {
		t.Fatal("another key shares a's count")
	}
	now.Add(int64(time.Minute))
	if d, _ := m.Allow(ctx, "a", 1, 3, time.Hour); !d.Allowed || d.Count != 1 {
		t.Fatalf("next window: %+v", d)
	}
}

func TestMemoryConcurrentCountsExactly(t *testing.T) {
	m := ratelimit.NewMemory(nil)
	var ok atomic.Int64
	var wg sync.WaitGroup
	for range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 20 {
				if d, _ := m.Allow(context.Background(), "k", 1, 100, time.Hour); d.Allowed {
					ok.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	if ok.Load() != 100 {
		t.Fatalf("%d allowed, want exactly 100", ok.Load())
	}
}
