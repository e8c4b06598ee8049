package ratelimit_test

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/mosaic-platform/mosaic/internal/localsvc"
	"github.com/mosaic-platform/mosaic/ratelimit"
)

// redisClient connects to MOSAIC_TEST_REDIS_URL, else to a redis-server
// started for the test.
func redisClient(t *testing.T) (*redis.Client, *localsvc.Redis) {
	t.Helper()
	url := os.Getenv("MOSAIC_TEST_REDIS_URL")
	var srv *localsvc.Redis
	if url == "" {
		var err error
		srv, err = localsvc.StartRedis(t.Context(), localsvc.RedisOptions{Dir: filepath.Join(t.TempDir(), "redis")})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { srv.Stop(context.Background()) })
		url = srv.URL()
	}
	o, err := redis.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	c := redis.NewClient(o)
	t.Cleanup(func() { c.Close() })
	return c, srv
}

func TestRedis(t *testing.T) {
	c, srv := redisClient(t)
	ctx := context.Background()
	prefix := "rltest:" + time.Now().Format("150405.000000") + ":"

	t.Run("windows", func(t *testing.T) {
		var now atomic.Int64
		now.Store(time.Date(2026, 1, 1, 10, 59, 0, 0, time.UTC).UnixNano())
		r := ratelimit.NewRedis(c, prefix, func() time.Time { return time.Unix(0, now.Load()) })
		for i := range 3 {
			d, err := r.Allow(ctx, "a", 1, 3, time.Hour)
			if err != nil || !d.Allowed || d.Count != int64(i+1) || d.Remaining != int64(2-i) {
				t.Fatalf("event %d: %+v %v", i, d, err)
			}
		}
		d, err := r.Allow(ctx, "a", 1, 3, time.Hour)
		if err != nil || d.Allowed || d.RetryAfter != time.Minute || d.Remaining != 0 || d.Count != 3 {
			t.Fatalf("over the limit: %+v %v, want refused with a minute to wait", d, err)
		}
		if d, _ := r.Allow(ctx, "b", 1, 3, time.Hour); !d.Allowed {
			t.Fatal("another key shares a's count")
		}
		if d, _ := r.Allow(ctx, "a", 5, 3, 24*time.Hour); d.Allowed {
			t.Fatal("5 events fit in a limit of 3")
		}
		now.Add(int64(time.Minute))
		if d, _ := r.Allow(ctx, "a", 1, 3, time.Hour); !d.Allowed || d.Count != 1 {
			t.Fatalf("next window: %+v", d)
		}
		// The counter is hash-tagged and expires after its window.
		keys, err := c.Keys(ctx, prefix+"{a}:1h0m0s:*").Result()
		if err != nil || len(keys) != 2 {
			t.Fatalf("counters %q %v", keys, err)
		}
		for _, k := range keys {
			if ttl, _ := c.PTTL(ctx, k).Result(); ttl <= 0 || ttl > 2*time.Hour {
				t.Errorf("counter %s has TTL %v", k, ttl)
			}
		}
	})

	t.Run("concurrent replicas count exactly", func(t *testing.T) {
		var ok atomic.Int64
		var wg sync.WaitGroup
		for range 4 { // four "replicas", each its own limiter on the same Redis
			r := ratelimit.NewRedis(c, prefix, nil)
			for range 25 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for range 10 {
						if d, err := r.Allow(ctx, "shared", 1, 500, time.Hour); err == nil && d.Allowed {
							ok.Add(1)
						}
					}
				}()
			}
		}
		wg.Wait()
		if ok.Load() != 500 {
			t.Fatalf("%d events allowed, want exactly 500", ok.Load())
		}
	})

	t.Run("fallback while Redis is down", func(t *testing.T) {
		if srv == nil {
			t.Skip("needs a Redis this test may stop")
		}
		down := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1})
		defer down.Close()
		if _, err := ratelimit.NewRedis(down, prefix, nil).Allow(ctx, "x", 1, 1, time.Hour); err == nil {
			t.Fatal("no error with Redis down and no fallback")
		}
		r := ratelimit.NewRedis(down, prefix, nil).WithFallback(ratelimit.NewMemory(nil))
		if d, err := r.Allow(ctx, "x", 1, 1, time.Hour); err != nil || !d.Allowed {
			t.Fatalf("fallback: %+v %v", d, err)
		}
		if d, _ := r.Allow(ctx, "x", 1, 1, time.Hour); d.Allowed {
			t.Fatal("the fallback does not count")
		}
	})
}
