// Package kv is Mosaic's tenant-scoped key-value store on Redis: the
// documented operations (strings, counters, lists, publish, listing, usage,
// flush), their limits, and hard isolation between tenants.
//
// A Store serves every tenant; For returns one tenant's view. Every key and
// channel of tenant T lives under the prefix "{p:T}:" (a Redis Cluster hash
// tag, so a tenant's multi-key operations stay in one slot and the same code
// runs on Redis Cluster). Tenants never name a Redis key themselves: the
// prefix is added here, keys beginning "__" are reserved, and listing never
// runs SCAN over the keyspace (Redis ACL key patterns do not restrict SCAN).
//
// # The key index
//
// Each tenant has a sorted set "{p:T}:__keys" holding its key names scored by
// their expiry time (ms since the epoch, on Redis's clock). Every write
// changes the key and the index in one Lua script, so they never disagree;
// members whose expiry has passed are pruned as the index is read. Keys,
// Usage and Flush therefore cost O(the tenant's keys), not O(all keys in
// Redis). The index itself expires with the tenant's longest-lived key, so an
// abandoned tenant leaves nothing behind after at most MaxTTL.
//
// # Limits
//
//   - keys: 1 to MaxKeyBytes (1024) bytes; keys beginning "__" are reserved.
//   - values, list elements and messages: at most MaxValueBytes (512 KiB), else TooLarge.
//   - TTL: every key expires. A write without a TTL gets DefaultTTL (1 hour);
//     incr/decr/lpush/rpush without a TTL keep the key's current expiry and
//     give a new key DefaultTTL. At most MaxTTL (7 days).
//   - mget, mset and delete: 1 to MaxBatch (50) keys; lpush/rpush: 1 to
//     MaxPushValues (1000) values; lrange returns at most MaxRange (1000)
//     elements; keys returns at most MaxListKeys (1000) keys.
//   - patterns (Redis glob syntax, matched against the tenant's own key names
//     only): at most MaxPatternBytes (256) bytes and MaxPatternStars (16) '*'.
//
// Every error is an *errs.Error: user mistakes are Invalid or TooLarge,
// Redis being down or slow is Unavailable.
package kv

import (
	"context"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/mosaic-platform/mosaic/errs"
)

// Limits of the API reference, and the ones it leaves to the implementation.
const (
	DefaultTTL      = time.Hour
	MaxTTL          = 7 * 24 * time.Hour
	MaxValueBytes   = 512 << 10
	MaxKeyBytes     = 1024
	MaxBatch        = 50
	MaxPushValues   = 1000
	MaxRange        = 1000
	MaxListKeys     = 1000
	DefaultListKeys = 100
	MaxPatternBytes = 256
	MaxPatternStars = 16
	// ReservedPrefix starts the keys and channels tenants may not use.
	ReservedPrefix = "__"
)

// Store is a key-value store for many tenants.
type Store interface {
	// For returns tenant's view of the store. tenant is a stable identifier
	// (Mosaic uses the project's UUID) of letters, digits, '-', '_' and '.'.
	For(tenant string) Tenant
	// Ping checks that the backing store answers.
	Ping(ctx context.Context) error
}

// Tenant is one tenant's key-value store. A missing key is never an error:
// the operations report it with ok == false (or a nil entry).
type Tenant interface {
	// Set stores value under key with ttl (0: DefaultTTL).
	Set(ctx context.Context, key, value string, ttl time.Duration) error
	// Get returns the value of key; ok is false when the key does not exist.
	Get(ctx context.Context, key string) (value string, ok bool, err error)
	// Delete removes keys and returns how many existed.
	Delete(ctx context.Context, keys ...string) (int64, error)
	// MGet returns the values of the keys that exist, by key.
	MGet(ctx context.Context, keys ...string) (map[string]string, error)
	// MSet stores every item with one ttl (0: DefaultTTL), atomically.
	MSet(ctx context.Context, items map[string]string, ttl time.Duration) error
	// Expire sets key's time to live; ok is false when the key does not exist.
	Expire(ctx context.Context, key string, ttl time.Duration) (ok bool, err error)
	// TTL returns key's remaining time to live; ok is false when the key does not exist.
	TTL(ctx context.Context, key string) (ttl time.Duration, ok bool, err error)
	// IncrBy adds amount to the integer at key (a missing key counts as 0)
	// and returns the new value. ttl 0 keeps the key's expiry (DefaultTTL for
	// a new key).
	IncrBy(ctx context.Context, key string, amount int64, ttl time.Duration) (int64, error)
	// LPush and RPush add values at the head or tail of the list at key and
	// return its new length. ttl as for IncrBy.
	LPush(ctx context.Context, key string, values []string, ttl time.Duration) (int64, error)
	RPush(ctx context.Context, key string, values []string, ttl time.Duration) (int64, error)
	// LPop and RPop remove and return the first or last element; ok is false
	// when the list is empty or missing.
	LPop(ctx context.Context, key string) (value string, ok bool, err error)
	RPop(ctx context.Context, key string) (value string, ok bool, err error)
	// LRange returns the elements from start to stop (inclusive; negative
	// counts from the end), at most MaxRange of them.
	LRange(ctx context.Context, key string, start, stop int64) ([]string, error)
	// Publish sends message on the tenant's channel and returns how many
	// subscribers received it.
	Publish(ctx context.Context, channel, message string) (int64, error)
	// Keys returns up to count (0: DefaultListKeys) of the tenant's live keys
	// matching pattern ("" means "*"), sorted.
	Keys(ctx context.Context, pattern string, count int) ([]string, error)
	// Usage counts the tenant's live keys and their exact memory.
	Usage(ctx context.Context) (Usage, error)
	// Flush deletes every key of the tenant and returns how many there were.
	Flush(ctx context.Context) (int64, error)
	// MemoryEstimate returns the tenant's memory use for quota checks: an
	// exact Usage figure refreshed now and then, plus what was written since
	// through this Store. Cheap on most calls.
	MemoryEstimate(ctx context.Context) (int64, error)
}

// Usage is a tenant's footprint.
type Usage struct {
	// Keys is the number of live keys.
	Keys int64
	// MemoryBytes is the exact memory of the tenant's keys and of its index
	// (Σ MEMORY USAGE key SAMPLES 0).
	MemoryBytes int64
}

// ValidateKey checks a tenant's key name.
func ValidateKey(key string) error { return validateName("key", key) }

// validateName applies the rules of a key (and of a channel) to s: not
// empty, at most MaxKeyBytes, valid UTF-8, not beginning with ReservedPrefix.
func validateName(what, s string) error {
	switch {
	case s == "":
		return errs.New(errs.Invalid, "invalid_"+what, "%s is required and must not be empty", what)
	case len(s) > MaxKeyBytes:
		return errs.New(errs.Invalid, "invalid_"+what, "%s is %d bytes long; the limit is %d bytes", what, len(s), MaxKeyBytes)
	case strings.HasPrefix(s, ReservedPrefix):
		return errs.New(errs.Invalid, "reserved_"+what, "%s %q begins with %q, which is reserved; choose another name", what, s, ReservedPrefix)
	case !utf8.ValidString(s):
		return errs.New(errs.Invalid, "invalid_"+what, "%s must be valid UTF-8", what)
	}
	return nil
}

func validateKeys(keys []string, what string) error {
	if len(keys) == 0 {
		return errs.New(errs.Invalid, "invalid_keys", "%s needs at least one key", what)
	}
	if len(keys) > MaxBatch {
		return errs.New(errs.Invalid, "too_many_keys", "%s takes at most %d keys; got %d", what, MaxBatch, len(keys))
	}
	for _, k := range keys {
		if err := ValidateKey(k); err != nil {
			return err
		}
	}
	return nil
}

// ValidateValue checks the size of a value, list element or message.
func ValidateValue(what string, v string) error {
	if len(v) > MaxValueBytes {
		return errs.New(errs.TooLarge, "value_too_large", "%s is %d bytes; the limit is %d bytes (512 KB)", what, len(v), MaxValueBytes)
	}
	return nil
}

// ValidateTTL checks a TTL; 0 is allowed where it means "the default".
func ValidateTTL(ttl time.Duration, zeroOK bool) error {
	switch {
	case ttl == 0 && zeroOK:
		return nil
	case ttl <= 0:
		return errs.New(errs.Invalid, "invalid_ttl", "ttl must be a positive number of seconds, at most %d (7 days)", int64(MaxTTL/time.Second))
	case ttl > MaxTTL:
		return errs.New(errs.Invalid, "invalid_ttl", "ttl of %d seconds is above the maximum of %d seconds (7 days)", int64(ttl/time.Second), int64(MaxTTL/time.Second))
	case ttl < time.Millisecond:
		return errs.New(errs.Invalid, "invalid_ttl", "ttl must be at least 1 millisecond")
	}
	return nil
}

// ValidateChannel checks a channel name: the rules of a key.
func ValidateChannel(ch string) error { return validateName("channel", ch) }

// ValidatePattern checks a listing pattern. Patterns are matched by Redis
// against the tenant's own key names only, so any glob is safe to pass; the
// caps bound the matcher's work (CVE-2022-36021, CVE-2024-31228).
func ValidatePattern(p string) error {
	switch {
	case len(p) > MaxPatternBytes:
		return errs.New(errs.Invalid, "invalid_pattern", "pattern is %d bytes long; the limit is %d bytes", len(p), MaxPatternBytes)
	case strings.Count(p, "*") > MaxPatternStars:
		return errs.New(errs.Invalid, "invalid_pattern", "pattern has %d '*'; the limit is %d", strings.Count(p, "*"), MaxPatternStars)
	}
	return nil
}

// HumanBytes formats n in binary units with one decimal: "8.0 KB", "100.0 MB".
func HumanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return strconv.FormatInt(n, 10) + " B"
	}
	v := float64(n)
	suffixes := []string{"KB", "MB", "GB", "TB", "PB"}
	i := -1
	for v >= unit && i < len(suffixes)-1 {
		v /= unit
		i++
	}
	return strconv.FormatFloat(v, 'f', 1, 64) + " " + suffixes[i]
}
