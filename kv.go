package mosaic

import (
	"context"
	"math"
	"time"

	"github.com/google/uuid"

	"github.com/mosaic-platform/mosaic/errs"
	"github.com/mosaic-platform/mosaic/kv"
)

// KV is one project's key-value store with its plan's limits applied: every
// call counts one key-value operation against the plan's hourly quota
// (Usage excepted), and calls that add data are refused with ErrQuota once
// the project's memory reaches the plan's RedisBytes. Get it from
// Platform.KV; it is valid for as long as the request that got it.
//
// A missing key is not an error: Get, LPop and RPop return ok == false, MGet
// leaves the key out of its map, TTL returns ok == false.
type KV struct {
	p       *Platform
	project *Project
	plan    Plan
	t       kv.Tenant
}

// KVUsage is the answer of KV.Usage (and of GET /{slug}/redis/usage).
type KVUsage struct {
	KeyCount    int64  `json:"key_count"`
	MemoryBytes int64  `json:"memory_bytes"`
	MemoryHuman string `json:"memory_human"`
	QuotaBytes  int64  `json:"quota_bytes"`
	QuotaHuman  string `json:"quota_human"`
}

// KV returns the key-value store of one of owner's projects. Errors:
// NotFound for a project that is not owner's; Unavailable (503) when the
// platform has no key-value store configured; Quota (402) when the project's
// plan has no key-value access.
func (p *Platform) KV(ctx context.Context, owner uuid.UUID, slug string) (*KV, error) {
	t, err := p.tenant(ctx, owner, slug) // a short cache shared with the SQL path
	if err != nil {
		return nil, err
	}
	pr := &t.pr
	if p.cfg.KV == nil {
		return nil, errs.New(errs.Unavailable, "kv_not_configured", "key-value store is not configured on this platform")
	}
	plan, ok := p.Plan(pr.Plan)
	if !ok || plan.RedisBytes <= 0 || plan.RedisOpsPerHour <= 0 {
		return nil, errs.New(errs.Quota, "plan_limit", "the %s plan does not include the key-value store (Redis); upgrade to pro or enterprise", pr.Plan)
	}
	return &KV{p: p, project: pr, plan: plan, t: p.cfg.KV.For(pr.ID.String())}, nil
}

// Project returns the project this store belongs to.
func (k *KV) Project() *Project { return k.project }

// op counts one operation against the plan's hourly quota.
func (k *KV) op(ctx context.Context) error {
	return k.p.allow(ctx, "kv:"+k.project.ID.String(), 1, int64(k.plan.RedisOpsPerHour), time.Hour, "key-value operations")
}

// write counts one operation and checks that adding about n bytes keeps the
// project within its memory quota.
func (k *KV) write(ctx context.Context, n int64) error {
	if err := k.op(ctx); err != nil {
		return err
	}
	used, err := k.t.MemoryEstimate(ctx)
	if err != nil {
		return err
	}
	if used+n > k.plan.RedisBytes {
		return errs.New(errs.Quota, "kv_quota_exceeded", "the key-value store uses %s of the %s plan's %s; delete keys or upgrade the plan",
			kv.HumanBytes(used), k.plan.Name, kv.HumanBytes(k.plan.RedisBytes))
	}
	return nil
}

// Set stores value under key for ttl (0: one hour; at most 7 days).
func (k *KV) Set(ctx context.Context, key, value string, ttl time.Duration) error {
	if err := k.write(ctx, int64(len(key)+len(value))); err != nil {
		return err
	}
	return k.t.Set(ctx, key, value, ttl)
}

// Get returns the value of key; ok is false when there is none.
func (k *KV) Get(ctx context.Context, key string) (value string, ok bool, err error) {
	if err := k.op(ctx); err != nil {
		return "", false, err
	}
	return k.t.Get(ctx, key)
}

// Delete removes keys (at most 50) and returns how many existed.
func (k *KV) Delete(ctx context.Context, keys ...string) (int64, error) {
	if err := k.op(ctx); err != nil {
		return 0, err
	}
	return k.t.Delete(ctx, keys...)
}

// MGet returns the values of the keys (at most 50) that exist, by key.
func (k *KV) MGet(ctx context.Context, keys ...string) (map[string]string, error) {
	if err := k.op(ctx); err != nil {
		return nil, err
	}
	return k.t.MGet(ctx, keys...)
}

// MSet stores up to 50 items, atomically, with one ttl (0: one hour).
func (k *KV) MSet(ctx context.Context, items map[string]string, ttl time.Duration) error {
	var n int64
	for key, v := range items {
		n += int64(len(key) + len(v))
	}
	if err := k.write(ctx, n); err != nil {
		return err
	}
	return k.t.MSet(ctx, items, ttl)
}

// Expire sets key's time to live; ok is false when the key does not exist.
func (k *KV) Expire(ctx context.Context, key string, ttl time.Duration) (ok bool, err error) {
	if err := k.op(ctx); err != nil {
		return false, err
	}
	return k.t.Expire(ctx, key, ttl)
}

// TTL returns key's remaining time to live; ok is false when the key does not exist.
func (k *KV) TTL(ctx context.Context, key string) (ttl time.Duration, ok bool, err error) {
	if err := k.op(ctx); err != nil {
		return 0, false, err
	}
	return k.t.TTL(ctx, key)
}

// Incr adds amount to the counter at key and returns its new value. A new
// counter starts at 0 and expires after ttl (0: one hour); ttl 0 on an
// existing counter keeps its expiry.
func (k *KV) Incr(ctx context.Context, key string, amount int64, ttl time.Duration) (int64, error) {
	if err := k.write(ctx, int64(len(key))); err != nil {
		return 0, err
	}
	return k.t.IncrBy(ctx, key, amount, ttl)
}

// Decr subtracts amount from the counter at key; see Incr.
func (k *KV) Decr(ctx context.Context, key string, amount int64, ttl time.Duration) (int64, error) {
	if amount == math.MinInt64 {
		return 0, errs.New(errs.Invalid, "invalid_amount", "amount is out of range")
	}
	return k.Incr(ctx, key, -amount, ttl)
}

func valuesSize(key string, values []string) int64 {
	n := int64(len(key))
	for _, v := range values {
		n += int64(len(v))
	}
	return n
}

// LPush adds values at the head of the list at key and returns its length.
// ttl as for Incr.
func (k *KV) LPush(ctx context.Context, key string, values []string, ttl time.Duration) (int64, error) {
	if err := k.write(ctx, valuesSize(key, values)); err != nil {
		return 0, err
	}
	return k.t.LPush(ctx, key, values, ttl)
}

// RPush adds values at the tail of the list at key and returns its length.
func (k *KV) RPush(ctx context.Context, key string, values []string, ttl time.Duration) (int64, error) {
	if err := k.write(ctx, valuesSize(key, values)); err != nil {
		return 0, err
	}
	return k.t.RPush(ctx, key, values, ttl)
}

// LPop removes and returns the head of the list; ok is false when it is empty.
func (k *KV) LPop(ctx context.Context, key string) (value string, ok bool, err error) {
	if err := k.op(ctx); err != nil {
		return "", false, err
	}
	return k.t.LPop(ctx, key)
}

// RPop removes and returns the tail of the list; ok is false when it is empty.
func (k *KV) RPop(ctx context.Context, key string) (value string, ok bool, err error) {
	if err := k.op(ctx); err != nil {
		return "", false, err
	}
	return k.t.RPop(ctx, key)
}

// LRange returns the list's elements from start to stop, inclusive
// (negative counts from the end; at most 1000 elements).
func (k *KV) LRange(ctx context.Context, key string, start, stop int64) ([]string, error) {
	if err := k.op(ctx); err != nil {
		return nil, err
	}
	return k.t.LRange(ctx, key, start, stop)
}

// Publish sends message on the project's channel and returns how many
// subscribers got it.
func (k *KV) Publish(ctx context.Context, channel, message string) (int64, error) {
	if err := k.op(ctx); err != nil {
		return 0, err
	}
	return k.t.Publish(ctx, channel, message)
}

// Keys lists up to count (0: 100; at most 1000) of the project's keys
// matching pattern (Redis glob; "" is "*"), sorted.
func (k *KV) Keys(ctx context.Context, pattern string, count int) ([]string, error) {
	if err := k.op(ctx); err != nil {
		return nil, err
	}
	return k.t.Keys(ctx, pattern, count)
}

// Usage reports the project's key count and exact memory against its
// quota. It does not count as an operation, so it answers even when the
// hourly quota is used up.
func (k *KV) Usage(ctx context.Context) (*KVUsage, error) {
	u, err := k.t.Usage(ctx)
	if err != nil {
		return nil, err
	}
	return &KVUsage{KeyCount: u.Keys, MemoryBytes: u.MemoryBytes, MemoryHuman: kv.HumanBytes(u.MemoryBytes),
		QuotaBytes: k.plan.RedisBytes, QuotaHuman: kv.HumanBytes(k.plan.RedisBytes)}, nil
}

// Flush deletes every key of the project and returns how many there were.
func (k *KV) Flush(ctx context.Context) (int64, error) {
	if err := k.op(ctx); err != nil {
		return 0, err
	}
	return k.t.Flush(ctx)
}
