package client

import (
	"context"
	"net/http"
)

// KV calls a project's key-value routes (/{slug}/redis/*). Get one with
// Client.KV. TTLs are in seconds; 0 means "not given" (the server's default
// of one hour for new keys).
type KV struct {
	c    *Client
	base string
}

// KV returns the key-value API of the project slug.
func (c *Client) KV(slug string) *KV { return &KV{c: c, base: "/" + esc(slug) + "/redis/"} }

func (k *KV) post(ctx context.Context, op string, body, out any) error {
	return k.c.Do(ctx, http.MethodPost, k.base+op, body, out)
}

func ttlField(ttl int64) *int64 {
	if ttl == 0 {
		return nil
	}
	return &ttl
}

// Set stores value under key.
func (k *KV) Set(ctx context.Context, key, value string, ttl int64) error {
	return k.post(ctx, "set", struct {
		Key   string `json:"key"`
		Value string `json:"value"`
		TTL   *int64 `json:"ttl,omitempty"`
	}{key, value, ttlField(ttl)}, nil)
}

// Get returns key's value; ok is false when the key does not exist.
func (k *KV) Get(ctx context.Context, key string) (value string, ok bool, err error) {
	var out struct {
		Value *string `json:"value"`
	}
	if err := k.post(ctx, "get", map[string]string{"key": key}, &out); err != nil || out.Value == nil {
		return "", false, err
	}
	return *out.Value, true, nil
}

// Delete removes keys and returns how many existed.
func (k *KV) Delete(ctx context.Context, keys ...string) (int64, error) {
	var out struct {
		Deleted int64 `json:"deleted"`
	}
	err := k.post(ctx, "delete", map[string][]string{"keys": keys}, &out)
	return out.Deleted, err
}

// MGet returns the values of keys; a missing key maps to nil.
func (k *KV) MGet(ctx context.Context, keys ...string) (map[string]*string, error) {
	var out struct {
		Values map[string]*string `json:"values"`
	}
	err := k.post(ctx, "mget", map[string][]string{"keys": keys}, &out)
	return out.Values, err
}

// MSet stores items atomically.
func (k *KV) MSet(ctx context.Context, items map[string]string, ttl int64) error {
	return k.post(ctx, "mset", struct {
		Items map[string]string `json:"items"`
		TTL   *int64            `json:"ttl,omitempty"`
	}{items, ttlField(ttl)}, nil)
}

// Expire sets key's TTL; it reports false when the key does not exist.
func (k *KV) Expire(ctx context.Context, key string, ttl int64) (bool, error) {
	var out struct {
		OK bool `json:"ok"`
	}
	err := k.post(ctx, "expire", struct {
		Key string `json:"key"`
		TTL int64  `json:"ttl"`
	}{key, ttl}, &out)
	return out.OK, err
}

// TTL returns key's remaining seconds: -2 when the key does not exist.
func (k *KV) TTL(ctx context.Context, key string) (int64, error) {
	var out struct {
		TTL int64 `json:"ttl"`
	}
	err := k.post(ctx, "ttl", map[string]string{"key": key}, &out)
	return out.TTL, err
}

type counterRequest struct {
	Key    string `json:"key"`
	Amount int64  `json:"amount"`
	TTL    *int64 `json:"ttl,omitempty"`
}

// Incr adds amount to the counter at key and returns its new value.
func (k *KV) Incr(ctx context.Context, key string, amount, ttl int64) (int64, error) {
	var out struct {
		Value int64 `json:"value"`
	}
	err := k.post(ctx, "incr", counterRequest{key, amount, ttlField(ttl)}, &out)
	return out.Value, err
}

// Decr subtracts amount from the counter at key and returns its new value.
func (k *KV) Decr(ctx context.Context, key string, amount, ttl int64) (int64, error) {
	var out struct {
		Value int64 `json:"value"`
	}
	err := k.post(ctx, "decr", counterRequest{key, amount, ttlField(ttl)}, &out)
	return out.Value, err
}

type pushRequest struct {
	Key    string   `json:"key"`
	Values []string `json:"values"`
	TTL    *int64   `json:"ttl,omitempty"`
}

// LPush adds values at the list's head and returns its length.
func (k *KV) LPush(ctx context.Context, key string, values []string, ttl int64) (int64, error) {
	var out struct {
		Length int64 `json:"length"`
	}
	err := k.post(ctx, "lpush", pushRequest{key, values, ttlField(ttl)}, &out)
	return out.Length, err
}

// RPush adds values at the list's tail and returns its length.
func (k *KV) RPush(ctx context.Context, key string, values []string, ttl int64) (int64, error) {
	var out struct {
		Length int64 `json:"length"`
	}
	err := k.post(ctx, "rpush", pushRequest{key, values, ttlField(ttl)}, &out)
	return out.Length, err
}

func (k *KV) pop(ctx context.Context, op, key string) (string, bool, error) {
	var out struct {
		Value *string `json:"value"`
	}
	if err := k.post(ctx, op, map[string]string{"key": key}, &out); err != nil || out.Value == nil {
		return "", false, err
	}
	return *out.Value, true, nil
}

// LPop removes and returns the list's head; ok is false when it is empty.
func (k *KV) LPop(ctx context.Context, key string) (string, bool, error) {
	return k.pop(ctx, "lpop", key)
}

// RPop removes and returns the list's tail; ok is false when it is empty.
func (k *KV) RPop(ctx context.Context, key string) (string, bool, error) {
	return k.pop(ctx, "rpop", key)
}

// LRange returns the list's elements from start to stop, inclusive.
func (k *KV) LRange(ctx context.Context, key string, start, stop int64) ([]string, error) {
	var out struct {
		Values []string `json:"values"`
	}
	err := k.post(ctx, "lrange", struct {
		Key   string `json:"key"`
		Start int64  `json:"start"`
		Stop  int64  `json:"stop"`
	}{key, start, stop}, &out)
	return out.Values, err
}

// Publish sends message on the project's channel and returns the number of receivers.
func (k *KV) Publish(ctx context.Context, channel, message string) (int64, error) {
	var out struct {
		Receivers int64 `json:"receivers"`
	}
	err := k.post(ctx, "publish", map[string]string{"channel": channel, "message": message}, &out)
	return out.Receivers, err
}

// Keys lists keys matching pattern ("" for all); count 0 is the server's default.
func (k *KV) Keys(ctx context.Context, pattern string, count int) ([]string, error) {
	var out struct {
		Keys []string `json:"keys"`
	}
	err := k.post(ctx, "keys", struct {
		Pattern string `json:"pattern,omitempty"`
		Count   int    `json:"count,omitempty"`
	}{pattern, count}, &out)
	return out.Keys, err
}

// KVUsage is the answer of GET /{slug}/redis/usage.
type KVUsage struct {
	KeyCount    int64  `json:"key_count"`
	MemoryBytes int64  `json:"memory_bytes"`
	MemoryHuman string `json:"memory_human"`
	QuotaBytes  int64  `json:"quota_bytes"`
	QuotaHuman  string `json:"quota_human"`
}

// Usage returns the project's key count and memory against its quota.
func (k *KV) Usage(ctx context.Context) (*KVUsage, error) {
	var u KVUsage
	return &u, k.c.Do(ctx, http.MethodGet, k.base+"usage", nil, &u)
}

// Flush deletes every key of the project and returns how many there were.
func (k *KV) Flush(ctx context.Context) (int64, error) {
	var out struct {
		Deleted int64 `json:"deleted"`
	}
	err := k.post(ctx, "flush", nil, &out)
	return out.Deleted, err
}
