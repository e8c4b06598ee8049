package ratelimit

import (
	"context"
	"sync"
	"time"
)

// Batched spares most calls the round trip to a shared Limiter (Redis):
// while a key is far from its limit, events are admitted locally and sent to
// the inner limiter in batches, at least every MaxAge; near the limit every
// call goes to the inner limiter, so the limit itself stays exact.
//
// A call is admitted locally only if the events already admitted locally,
// plus its own, are at most 1/8 of what the last answer from the inner
// limiter left. So N replicas can overshoot a limit by at most N × 1/8 of
// the remainder they last saw, within one MaxAge; with one replica the limit
// is exact.
type Batched struct {
	inner  Limiter
	maxAge time.Duration
	now    func() time.Time

	mu sync.Mutex
	m  map[batchKey]*batchState
}

type batchKey struct {
	key    string
	window time.Duration
}

type batchState struct {
	mu       sync.Mutex // held while talking to the inner limiter
	start    time.Time  // the window this state counts
	synced   int64      // the inner limiter's count at the last answer
	pending  int64      // admitted here, not yet sent
	lastSync time.Time
	full     bool // the inner limiter's count reached the limit: refuse until the window ends
}

var _ Limiter = (*Batched)(nil)

// NewBatched wraps inner. maxAge bounds how long locally admitted events
// wait before they are sent (0: 100 ms). now is the clock (nil: time.Now).
func NewBatched(inner Limiter, maxAge time.Duration, now func() time.Time) *Batched {
	if maxAge <= 0 {
		maxAge = 100 * time.Millisecond
	}
	if now == nil {
		now = time.Now
	}
	return &Batched{inner: inner, maxAge: maxAge, now: now, m: map[batchKey]*batchState{}}
}

// Allow implements Limiter.
func (b *Batched) Allow(ctx context.Context, key string, n, limit int64, window time.Duration) (Decision, error) {
	now := b.now()
	start := now.Truncate(window)
	bk := batchKey{key, window}
	b.mu.Lock()
	st := b.m[bk]
	if st == nil {
		if len(b.m) > 100_000 {
			for k, s := range b.m {
				if s.start.Before(start) {
					delete(b.m, k)
				}
			}
		}
		st = &batchState{}
		b.m[bk] = st
	}
	b.mu.Unlock()

	st.mu.Lock()
	defer st.mu.Unlock()
	if !st.start.Equal(start) { // a new window
		st.start, st.synced, st.pending, st.lastSync, st.full = start, 0, 0, time.Time{}, false
	}
	retry := start.Add(window).Sub(now)
	if st.full {
		// Counts only grow within a window, so a full window stays full.
		return Decision{Count: st.synced, RetryAfter: retry}, nil
	}
	remaining := limit - st.synced - st.pending
	if !st.lastSync.IsZero() && now.Sub(st.lastSync) < b.maxAge && st.pending+n <= remaining/8 {
		st.pending += n
		c := st.synced + st.pending
		return Decision{Allowed: true, Count: c, Remaining: limit - c, RetryAfter: retry}, nil
	}
	// Send what was admitted here together with this call.
	d, err := b.inner.Allow(ctx, key, st.pending+n, limit, window)
	if err != nil {
		return d, err
	}
	if d.Allowed {
		st.synced, st.pending, st.lastSync = d.Count, 0, now
		st.full = d.Count >= limit
		return d, nil
	}
	// This call does not fit. Still count what was already admitted here
	// (it fits unless other replicas took the room meanwhile).
	if st.pending > 0 {
		if d2, err := b.inner.Allow(ctx, key, st.pending, limit, window); err == nil && d2.Allowed {
			d.Count, d.Remaining = d2.Count, d2.Remaining
		}
	}
	st.synced, st.pending, st.lastSync = d.Count, 0, now
	st.full = d.Count >= limit
	return d, nil
}
