package ratelimit_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mosaic-platform/mosaic/ratelimit"
)

// counting wraps a Limiter and counts the calls that reach it.
type counting struct {
	ratelimit.Limiter
	calls atomic.Int64
}

func (c *counting) Allow(ctx context.Context, key string, n, limit int64, w time.Duration) (ratelimit.Decision, error) {
	c.calls.Add(1)
	return c.Limiter.Allow(ctx, key, n, limit, w)
}

func TestBatchedIsExactInOneProcess(t *testing.T) {
	inner := &counting{Limiter: ratelimit.NewMemory(nil)}
	b := ratelimit.NewBatched(inner, time.Hour, nil)
	var ok atomic.Int64
	var wg sync.WaitGroup
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 500 {
				if d, err := b.Allow(context.Background(), "k", 1, 5000, time.Hour); err == nil && d.Allowed {
					ok.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	if ok.Load() != 5000 {
		t.Fatalf("%d allowed, want exactly 5000", ok.Load())
	}
	// One more is refused, and the inner limiter counted every admitted event.
	if d, _ := b.Allow(context.Background(), "k", 1, 5000, time.Hour); d.Allowed {
		t.Fatal("the 5001st event was allowed")
	}
	if d, _ := inner.Limiter.Allow(context.Background(), "k", 0, 5000, time.Hour); d.Count != 5000 {
		t.Fatalf("the inner limiter counted %d, want 5000", d.Count)
	}
	if c := inner.calls.Load(); c >= 10_000/2 {
		t.Errorf("%d of 10,001 calls reached the inner limiter; batching saved little", c)
	}
	t.Logf("%d of 10,001 calls reached the inner limiter", inner.calls.Load())
}

func TestBatchedFlushesWithinMaxAge(t *testing.T) {
	var now atomic.Int64
	now.Store(time.Date(2026, 1, 1, 10, 0, 0, 0, time.UTC).UnixNano())
	clock := func() time.Time { return time.Unix(0, now.Load()) }
	inner := ratelimit.NewMemory(clock)
	b := ratelimit.NewBatched(inner, 100*time.Millisecond, clock)
	ctx := context.Background()
	for range 10 {
		b.Allow(ctx, "k", 1, 1000, time.Hour)
	}
	now.Add(int64(200 * time.Millisecond))
	b.Allow(ctx, "k", 1, 1000, time.Hour) // older than maxAge: this call sends everything
	if d, _ := inner.Allow(ctx, "k", 0, 1000, time.Hour); d.Count != 11 {
		t.Fatalf("inner count %d after maxAge, want 11", d.Count)
	}
}
