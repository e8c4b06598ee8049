// Package ratelimit counts events against per-key quotas in fixed windows
// (SQL queries per hour, key-value operations per hour, magic links per day).
//
// A Limiter is shared by every request of a process. Memory keeps the counts
// in this process; an implementation on Redis shares them across replicas
// (see the kv issue). Windows are aligned to the epoch (an hourly window
// starts on the hour), so replicas agree on them without talking.
package ratelimit

import (
	"context"
	"sync"
	"time"
)

// Decision is the outcome of one Allow.
type Decision struct {
	// Allowed reports whether the events fit in the quota; if not, they were not counted.
	Allowed bool
	// Count is the number of events counted in the current window, after this call.
	Count int64
	// Remaining is limit - Count (never negative).
	Remaining int64
	// RetryAfter is the time until the window resets.
	RetryAfter time.Duration
}

// Limiter counts events against quotas.
type Limiter interface {
	// Allow counts n events for key in the current window of the given
	// length, unless that would take the count over limit.
	Allow(ctx context.Context, key string, n, limit int64, window time.Duration) (Decision, error)
}

// Memory is an in-process Limiter. The zero value is not usable; use NewMemory.
type Memory struct {
	now func() time.Time

	mu      sync.Mutex
	windows map[string]*counter
	sweepAt time.Time
}

type counter struct {
	start time.Time
	end   time.Time
	n     int64
}

var _ Limiter = (*Memory)(nil)

// NewMemory returns an in-process limiter. now is the clock (nil: time.Now).
func NewMemory(now func() time.Time) *Memory {
	if now == nil {
		now = time.Now
	}
	return &Memory{now: now, windows: map[string]*counter{}}
}

// Allow implements Limiter.
func (m *Memory) Allow(_ context.Context, key string, n, limit int64, window time.Duration) (Decision, error) {
	now := m.now()
	start := now.Truncate(window)
	end := start.Add(window)
	k := key + "\x00" + window.String()

	m.mu.Lock()
	defer m.mu.Unlock()
	if now.After(m.sweepAt) {
		for key, c := range m.windows {
			if !now.Before(c.end) {
				delete(m.windows, key)
			}
		}
		m.sweepAt = now.Add(time.Minute)
	}
	c := m.windows[k]
	if c == nil || !c.start.Equal(start) {
		c = &counter{start: start, end: end}
		m.windows[k] = c
	}
	d := Decision{RetryAfter: end.Sub(now)}
	if c.n+n > limit {
		d.Count = c.n
		d.Remaining = max(limit-c.n, 0)
		return d, nil
	}
	c.n += n
	d.Allowed, d.Count, d.Remaining = true, c.n, limit-c.n
	return d, nil
}
