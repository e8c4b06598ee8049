package httpapi

import (
	"context"
	"net/http"
	"time"

	"github.com/mosaic-platform/mosaic"
	"github.com/mosaic-platform/mosaic/errs"
	"github.com/mosaic-platform/mosaic/kv"
)

// kvRoutes are the key-value routes of the API reference (section 8). Every
// one needs a plan with Redis (pro or enterprise; others get 402) and a
// platform with a key-value store (else 503).
func (h *Handler) kvRoutes() []Route {
	return []Route{
		{Method: "POST", Path: "/{slug}/redis/set", Auth: true, Description: `Store a string: {"key", "value", "ttl?"} (ttl in seconds, default 3600, max 604800) → {"ok": true}`, In: KVSetRequest{}, Out: KVOK{}, handle: h.kvOp(false, kvSet)},
		{Method: "POST", Path: "/{slug}/redis/get", Auth: true, Description: `Read a key: {"key"} → {"value": "..." or null}`, In: KVKeyRequest{}, Out: KVValue{}, handle: h.kvOp(false, kvGet)},
		{Method: "POST", Path: "/{slug}/redis/delete", Auth: true, Description: `Delete keys: {"keys": [...]} (max 50) → {"deleted": n}`, In: KVMultiKeyRequest{}, Out: KVDeleted{}, handle: h.kvOp(false, kvDelete)},
		{Method: "POST", Path: "/{slug}/redis/mget", Auth: true, Description: `Read up to 50 keys: {"keys": [...]} → {"values": {"k": "v" or null}}`, In: KVMultiKeyRequest{}, Out: KVValues{}, handle: h.kvOp(false, kvMGet)},
		{Method: "POST", Path: "/{slug}/redis/mset", Auth: true, Description: `Store up to 50 strings atomically: {"items": {"k": "v"}, "ttl?"} → {"ok": true}`, In: KVMSetRequest{}, Out: KVOK{}, handle: h.kvOp(false, kvMSet)},
		{Method: "POST", Path: "/{slug}/redis/expire", Auth: true, Description: `Set a key's TTL: {"key", "ttl"} → {"ok": true, or false if the key does not exist}`, In: KVExpireRequest{}, Out: KVOK{}, handle: h.kvOp(false, kvExpire)},
		{Method: "POST", Path: "/{slug}/redis/ttl", Auth: true, Description: `A key's remaining TTL in seconds: {"key"} → {"ttl": n} (-2: no such key)`, In: KVKeyRequest{}, Out: KVTTL{}, handle: h.kvOp(false, kvTTL)},
		{Method: "POST", Path: "/{slug}/redis/incr", Auth: true, Description: `Add to a counter: {"key", "amount?" (default 1), "ttl?"} → {"value": n}`, In: KVCounterRequest{}, Out: KVCount{}, handle: h.kvOp(false, kvIncr)},
		{Method: "POST", Path: "/{slug}/redis/decr", Auth: true, Description: `Subtract from a counter: {"key", "amount?" (default 1), "ttl?"} → {"value": n}`, In: KVCounterRequest{}, Out: KVCount{}, handle: h.kvOp(false, kvDecr)},
		{Method: "POST", Path: "/{slug}/redis/lpush", Auth: true, Description: `Push at a list's head: {"key", "values": [...], "ttl?"} → {"length": n}`, In: KVPushRequest{}, Out: KVLength{}, handle: h.kvOp(false, kvLPush)},
		{Method: "POST", Path: "/{slug}/redis/rpush", Auth: true, Description: `Push at a list's tail: {"key", "values": [...], "ttl?"} → {"length": n}`, In: KVPushRequest{}, Out: KVLength{}, handle: h.kvOp(false, kvRPush)},
		{Method: "POST", Path: "/{slug}/redis/lpop", Auth: true, Description: `Pop a list's head: {"key"} → {"value": "..." or null}`, In: KVKeyRequest{}, Out: KVValue{}, handle: h.kvOp(false, kvLPop)},
		{Method: "POST", Path: "/{slug}/redis/rpop", Auth: true, Description: `Pop a list's tail: {"key"} → {"value": "..." or null}`, In: KVKeyRequest{}, Out: KVValue{}, handle: h.kvOp(false, kvRPop)},
		{Method: "POST", Path: "/{slug}/redis/lrange", Auth: true, Description: `Read a list: {"key", "start?" (0), "stop?" (-1)} → {"values": [...]} (at most 1000)`, In: KVRangeRequest{}, Out: KVList{}, handle: h.kvOp(false, kvLRange)},
		{Method: "POST", Path: "/{slug}/redis/publish", Auth: true, Description: `Publish on the project's channel: {"channel", "message"} → {"receivers": n}`, In: KVPublishRequest{}, Out: KVReceivers{}, handle: h.kvOp(false, kvPublish)},
		{Method: "POST", Path: "/{slug}/redis/keys", Auth: true, Description: `List keys: {"pattern?" (glob, default "*"), "count?" (default 100, max 1000)} → {"keys": [...]}`, In: OptionalBody(KVKeysRequest{}), Out: KVKeys{}, handle: h.kvOp(true, kvKeys)},
		{Method: "GET", Path: "/{slug}/redis/usage", Auth: true, Description: "Key count and memory against the plan's quota", Out: mosaic.KVUsage{}, handle: h.kvOp(true, kvUsage)},
		{Method: "POST", Path: "/{slug}/redis/flush", Auth: true, Description: `Delete every key of the project → {"deleted": n}`, Out: KVDeleted{}, handle: h.kvOp(true, kvFlush)},
	}
}

// kvStore resolves the project's store (404, 503 or 402 before the body is read).
func (h *Handler) kvStore(r *http.Request) (*mosaic.KV, error) {
	return h.p.KV(r.Context(), principal(r).Account.ID, r.PathValue("slug"))
}

// kvTTLSeconds turns an optional ttl field into a duration; nil is 0 (the default).
func kvTTLSeconds(ttl *int64, required bool) (time.Duration, error) {
	if ttl == nil {
		if required {
			return 0, errs.New(errs.Invalid, "invalid_ttl", "ttl is required: a number of seconds, at most %d (7 days)", int64(kv.MaxTTL/time.Second))
		}
		return 0, nil
	}
	max := int64(kv.MaxTTL / time.Second)
	if *ttl <= 0 || *ttl > max {
		return 0, errs.New(errs.Invalid, "invalid_ttl", "ttl must be between 1 and %d seconds (7 days); got %d", max, *ttl)
	}
	return time.Duration(*ttl) * time.Second, nil
}

// KVOK is the body of set, mset and expire.
type KVOK struct {
	OK bool `json:"ok"`
}

// KVValue is the body of get, lpop and rpop (Value is null when missing).
type KVValue struct {
	Value *string `json:"value"`
}

// KVCount is the body of incr and decr.
type KVCount struct {
	Value int64 `json:"value"`
}

// KVDeleted is the body of delete and flush.
type KVDeleted struct {
	Deleted int64 `json:"deleted"`
}

// KVValues is the body of mget.
type KVValues struct {
	Values map[string]*string `json:"values"`
}

// KVList is the body of lrange.
type KVList struct {
	Values []string `json:"values"`
}

// KVLength is the body of lpush and rpush.
type KVLength struct {
	Length int64 `json:"length"`
}

// KVTTL is the body of ttl: seconds left, -1 for no expiry, -2 for no such key.
type KVTTL struct {
	TTL int64 `json:"ttl"`
}

// KVReceivers is the body of publish.
type KVReceivers struct {
	Receivers int64 `json:"receivers"`
}

// KVKeys is the body of keys.
type KVKeys struct {
	Keys []string `json:"keys"`
}

// kvRequest is the union of the key-value routes' bodies; each route reads
// the fields it documents (unknown fields are ignored, as everywhere).
type kvRequest struct {
	Key     *string           `json:"key"`
	Value   *string           `json:"value"`
	Keys    []string          `json:"keys"`
	Items   map[string]string `json:"items"`
	Values  []string          `json:"values"`
	TTL     *int64            `json:"ttl"`
	Amount  *int64            `json:"amount"`
	Start   *int64            `json:"start"`
	Stop    *int64            `json:"stop"`
	Channel *string           `json:"channel"`
	Message *string           `json:"message"`
	Pattern string            `json:"pattern"`
	Count   *int              `json:"count"`
}

func (in *kvRequest) key() (string, error) {
	if in.Key == nil {
		return "", errs.New(errs.Invalid, "invalid_key", "key is required")
	}
	return *in.Key, nil
}

type kvFunc func(ctx context.Context, s *mosaic.KV, in *kvRequest) (any, error)

// kvOp makes a route of a key-value operation: resolve the project's store
// (404, 503 or 402 before the body is read), decode the body (optional for
// keys, usage and flush), run, answer 200 with the result.
func (h *Handler) kvOp(optionalBody bool, run kvFunc) func(http.ResponseWriter, *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		s, err := h.kvStore(r)
		if err != nil {
			return err
		}
		var in kvRequest
		if !optionalBody || r.ContentLength != 0 {
			if err := decodeJSON(r, &in); err != nil {
				return err
			}
		}
		out, err := run(r.Context(), s, &in)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, out)
		return nil
	}
}

func kvSet(ctx context.Context, s *mosaic.KV, in *kvRequest) (any, error) {
	key, err := in.key()
	if err != nil {
		return nil, err
	}
	if in.Value == nil {
		return nil, errs.New(errs.Invalid, "invalid_value", "value is required (a string; use \"\" for an empty one)")
	}
	ttl, err := kvTTLSeconds(in.TTL, false)
	if err != nil {
		return nil, err
	}
	return KVOK{OK: true}, s.Set(ctx, key, *in.Value, ttl)
}

func kvGet(ctx context.Context, s *mosaic.KV, in *kvRequest) (any, error) {
	key, err := in.key()
	if err != nil {
		return nil, err
	}
	v, ok, err := s.Get(ctx, key)
	return kvValue(v, ok), err
}

func kvValue(v string, ok bool) KVValue {
	if !ok {
		return KVValue{}
	}
	return KVValue{Value: &v}
}

func kvDelete(ctx context.Context, s *mosaic.KV, in *kvRequest) (any, error) {
	n, err := s.Delete(ctx, in.Keys...)
	return KVDeleted{Deleted: n}, err
}

func kvMGet(ctx context.Context, s *mosaic.KV, in *kvRequest) (any, error) {
	vals, err := s.MGet(ctx, in.Keys...)
	if err != nil {
		return nil, err
	}
	out := KVValues{Values: make(map[string]*string, len(in.Keys))}
	for _, k := range in.Keys {
		if v, ok := vals[k]; ok {
			out.Values[k] = &v
		} else {
			out.Values[k] = nil
		}
	}
	return out, nil
}

func kvMSet(ctx context.Context, s *mosaic.KV, in *kvRequest) (any, error) {
	ttl, err := kvTTLSeconds(in.TTL, false)
	if err != nil {
		return nil, err
	}
	return KVOK{OK: true}, s.MSet(ctx, in.Items, ttl)
}

func kvExpire(ctx context.Context, s *mosaic.KV, in *kvRequest) (any, error) {
	key, err := in.key()
	if err != nil {
		return nil, err
	}
	ttl, err := kvTTLSeconds(in.TTL, true)
	if err != nil {
		return nil, err
	}
	ok, err := s.Expire(ctx, key, ttl)
	return KVOK{OK: ok}, err
}

func kvTTL(ctx context.Context, s *mosaic.KV, in *kvRequest) (any, error) {
	key, err := in.key()
	if err != nil {
		return nil, err
	}
	d, ok, err := s.TTL(ctx, key)
	out := KVTTL{TTL: -2}
	switch {
	case !ok:
	case d < 0:
		out.TTL = -1
	default:
		out.TTL = int64((d + 500*time.Millisecond) / time.Second) // rounded, as Redis's TTL does
	}
	return out, err
}

func kvCounter(decr bool) kvFunc {
	return func(ctx context.Context, s *mosaic.KV, in *kvRequest) (any, error) {
		key, err := in.key()
		if err != nil {
			return nil, err
		}
		ttl, err := kvTTLSeconds(in.TTL, false)
		if err != nil {
			return nil, err
		}
		amount := int64(1)
		if in.Amount != nil {
			amount = *in.Amount
		}
		op := s.Incr
		if decr {
			op = s.Decr
		}
		v, err := op(ctx, key, amount, ttl)
		return KVCount{Value: v}, err
	}
}

var (
	kvIncr = kvCounter(false)
	kvDecr = kvCounter(true)
)

func kvPush(left bool) kvFunc {
	return func(ctx context.Context, s *mosaic.KV, in *kvRequest) (any, error) {
		key, err := in.key()
		if err != nil {
			return nil, err
		}
		ttl, err := kvTTLSeconds(in.TTL, false)
		if err != nil {
			return nil, err
		}
		op := s.RPush
		if left {
			op = s.LPush
		}
		n, err := op(ctx, key, in.Values, ttl)
		return KVLength{Length: n}, err
	}
}

var (
	kvLPush = kvPush(true)
	kvRPush = kvPush(false)
)

func kvPop(left bool) kvFunc {
	return func(ctx context.Context, s *mosaic.KV, in *kvRequest) (any, error) {
		key, err := in.key()
		if err != nil {
			return nil, err
		}
		op := s.RPop
		if left {
			op = s.LPop
		}
		v, ok, err := op(ctx, key)
		return kvValue(v, ok), err
	}
}

var (
	kvLPop = kvPop(true)
	kvRPop = kvPop(false)
)

func kvLRange(ctx context.Context, s *mosaic.KV, in *kvRequest) (any, error) {
	key, err := in.key()
	if err != nil {
		return nil, err
	}
	start, stop := int64(0), int64(-1)
	if in.Start != nil {
		start = *in.Start
	}
	if in.Stop != nil {
		stop = *in.Stop
	}
	vals, err := s.LRange(ctx, key, start, stop)
	return KVList{Values: vals}, err
}

func kvPublish(ctx context.Context, s *mosaic.KV, in *kvRequest) (any, error) {
	if in.Channel == nil {
		return nil, errs.New(errs.Invalid, "invalid_channel", "channel is required")
	}
	if in.Message == nil {
		return nil, errs.New(errs.Invalid, "invalid_message", "message is required (a string)")
	}
	n, err := s.Publish(ctx, *in.Channel, *in.Message)
	return KVReceivers{Receivers: n}, err
}

func kvKeys(ctx context.Context, s *mosaic.KV, in *kvRequest) (any, error) {
	count := 0
	if in.Count != nil {
		if *in.Count <= 0 || *in.Count > kv.MaxListKeys {
			return nil, errs.New(errs.Invalid, "invalid_count", "count must be between 1 and %d", kv.MaxListKeys)
		}
		count = *in.Count
	}
	keys, err := s.Keys(ctx, in.Pattern, count)
	return KVKeys{Keys: keys}, err
}

func kvUsage(ctx context.Context, s *mosaic.KV, _ *kvRequest) (any, error) {
	return s.Usage(ctx)
}

func kvFlush(ctx context.Context, s *mosaic.KV, _ *kvRequest) (any, error) {
	n, err := s.Flush(ctx)
	return KVDeleted{Deleted: n}, err
}
