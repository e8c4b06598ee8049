package ratelimit

import (
	"context"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// Redis is a Limiter whose counts live in Redis, so that every replica of
// the server shares them. Each (key, window) is one counter under
// "<prefix>{<key>}:<window>:<window start>" (hash-tagged, so it works on
// Redis Cluster), checked and incremented atomically by a Lua script, and
// expiring shortly after its window ends. Windows are aligned to the epoch
// on this process's clock, as in Memory, so replicas with synchronized
// clocks agree.
type Redis struct {
	c        redis.Scripter
	prefix   string
	now      func() time.Time
	fallback Limiter
}

var _ Limiter = (*Redis)(nil)

// NewRedis returns a limiter on c. prefix starts every counter's key
// (default "rl:"); now is the clock (nil: time.Now). It does no I/O.
func NewRedis(c redis.Scripter, prefix string, now func() time.Time) *Redis {
	if prefix == "" {
		prefix = "rl:"
	}
	if now == nil {
		now = time.Now
	}
	return &Redis{c: c, prefix: prefix, now: now}
}

// WithFallback makes Allow use l (typically a Memory) while Redis cannot be
// reached, instead of failing: quotas then count per process for the
// outage, and features that do not need Redis keep working. It returns r.
func (r *Redis) WithFallback(l Limiter) *Redis {
	r.fallback = l
	return r
}

// KEYS[1]: the counter. ARGV: n, limit, ttl ms.
// Returns {allowed (0|1), count after the call}.
var allowScript = redis.NewScript(`
local n, limit = tonumber(ARGV[1]), tonumber(ARGV[2])
local c = tonumber(redis.call('GET', KEYS[1]) or '0')
if c + n > limit then return {0, c} end
c = redis.call('INCRBY', KEYS[1], n)
if c == n then redis.call('PEXPIRE', KEYS[1], ARGV[3]) end
return {1, c}
`)

// Allow implements Limiter. An error means Redis could not be reached;
// the events were not counted.
func (r *Redis) Allow(ctx context.Context, key string, n, limit int64, window time.Duration) (Decision, error) {
	now := r.now()
	start := now.Truncate(window)
	end := start.Add(window)
	k := r.prefix + "{" + key + "}:" + window.String() + ":" + strconv.FormatInt(start.UnixMilli(), 10)
	// Keep the counter a little past the window's end, so that replicas
	// whose clocks lag slightly still see it.
	ttl := end.Sub(now) + time.Minute
	res, err := allowScript.Run(ctx, r.c, []string{k}, n, limit, ttl.Milliseconds()).Int64Slice()
	if err != nil {
		if r.fallback != nil && ctx.Err() == nil {
			return r.fallback.Allow(ctx, key, n, limit, window)
		}
		return Decision{}, err
	}
	if len(res) != 2 {
		return Decision{}, redis.Nil
	}
	d := Decision{RetryAfter: end.Sub(now), Count: res[1]}
	if res[0] == 1 {
		d.Allowed = true
		d.Remaining = limit - res[1]
	} else {
		d.Remaining = max(limit-res[1], 0)
	}
	return d, nil
}
