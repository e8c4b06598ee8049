package httpapi

import (
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
		{Method: "POST", Path: "/{slug}/redis/set", Auth: true, Description: `Store a string: {"key", "value", "ttl?"} (ttl in seconds, default 3600, max 604800) → {"ok": true}`, handle: h.kvSet},
		{Method: "POST", Path: "/{slug}/redis/get", Auth: true, Description: `Read a key: {"key"} → {"value": "..." or null}`, handle: h.kvGet},
		{Method: "POST", Path: "/{slug}/redis/delete", Auth: true, Description: `Delete keys: {"keys": [...]} (max 50) → {"deleted": n}`, handle: h.kvDelete},
		{Method: "POST", Path: "/{slug}/redis/mget", Auth: true, Description: `Read up to 50 keys: {"keys": [...]} → {"values": {"k": "v" or null}}`, handle: h.kvMGet},
		{Method: "POST", Path: "/{slug}/redis/mset", Auth: true, Description: `Store up to 50 strings atomically: {"items": {"k": "v"}, "ttl?"} → {"ok": true}`, handle: h.kvMSet},
		{Method: "POST", Path: "/{slug}/redis/expire", Auth: true, Description: `Set a key's TTL: {"key", "ttl"} → {"ok": true, or false if the key does not exist}`, handle: h.kvExpire},
		{Method: "POST", Path: "/{slug}/redis/ttl", Auth: true, Description: `A key's remaining TTL in seconds: {"key"} → {"ttl": n} (-2: no such key)`, handle: h.kvTTL},
		{Method: "POST", Path: "/{slug}/redis/incr", Auth: true, Description: `Add to a counter: {"key", "amount?" (default 1), "ttl?"} → {"value": n}`, handle: h.kvIncr},
		{Method: "POST", Path: "/{slug}/redis/decr", Auth: true, Description: `Subtract from a counter: {"key", "amount?" (default 1), "ttl?"} → {"value": n}`, handle: h.kvDecr},
		{Method: "POST", Path: "/{slug}/redis/lpush", Auth: true, Description: `Push at a list's head: {"key", "values": [...], "ttl?"} → {"length": n}`, handle: h.kvLPush},
		{Method: "POST", Path: "/{slug}/redis/rpush", Auth: true, Description: `Push at a list's tail: {"key", "values": [...], "ttl?"} → {"length": n}`, handle: h.kvRPush},
		{Method: "POST", Path: "/{slug}/redis/lpop", Auth: true, Description: `Pop a list's head: {"key"} → {"value": "..." or null}`, handle: h.kvLPop},
		{Method: "POST", Path: "/{slug}/redis/rpop", Auth: true, Description: `Pop a list's tail: {"key"} → {"value": "..." or null}`, handle: h.kvRPop},
		{Method: "POST", Path: "/{slug}/redis/lrange", Auth: true, Description: `Read a list: {"key", "start?" (0), "stop?" (-1)} → {"values": [...]} (at most 1000)`, handle: h.kvLRange},
		{Method: "POST", Path: "/{slug}/redis/publish", Auth: true, Description: `Publish on the project's channel: {"channel", "message"} → {"receivers": n}`, handle: h.kvPublish},
		{Method: "POST", Path: "/{slug}/redis/keys", Auth: true, Description: `List keys: {"pattern?" (glob, default "*"), "count?" (default 100, max 1000)} → {"keys": [...]}`, handle: h.kvKeys},
		{Method: "GET", Path: "/{slug}/redis/usage", Auth: true, Description: "Key count and memory against the plan's quota", handle: h.kvUsage},
		{Method: "POST", Path: "/{slug}/redis/flush", Auth: true, Description: `Delete every key of the project → {"deleted": n}`, handle: h.kvFlush},
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

func requireKey(key *string) (string, error) {
	if key == nil {
		return "", errs.New(errs.Invalid, "invalid_key", "key is required")
	}
	return *key, nil
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

type kvKeyBody struct {
	Key *string `json:"key"`
}

func (h *Handler) kvSet(w http.ResponseWriter, r *http.Request) error {
	s, err := h.kvStore(r)
	if err != nil {
		return err
	}
	var in struct {
		Key   *string `json:"key"`
		Value *string `json:"value"`
		TTL   *int64  `json:"ttl"`
	}
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	key, err := requireKey(in.Key)
	if err != nil {
		return err
	}
	if in.Value == nil {
		return errs.New(errs.Invalid, "invalid_value", "value is required (a string; use \"\" for an empty one)")
	}
	ttl, err := kvTTLSeconds(in.TTL, false)
	if err != nil {
		return err
	}
	if err := s.Set(r.Context(), key, *in.Value, ttl); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, KVOK{OK: true})
	return nil
}

func (h *Handler) kvGet(w http.ResponseWriter, r *http.Request) error {
	s, err := h.kvStore(r)
	if err != nil {
		return err
	}
	var in kvKeyBody
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	key, err := requireKey(in.Key)
	if err != nil {
		return err
	}
	v, ok, err := s.Get(r.Context(), key)
	if err != nil {
		return err
	}
	out := KVValue{}
	if ok {
		out.Value = &v
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

type kvKeysBody struct {
	Keys []string `json:"keys"`
}

func (h *Handler) kvDelete(w http.ResponseWriter, r *http.Request) error {
	s, err := h.kvStore(r)
	if err != nil {
		return err
	}
	var in kvKeysBody
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	n, err := s.Delete(r.Context(), in.Keys...)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, KVDeleted{Deleted: n})
	return nil
}

func (h *Handler) kvMGet(w http.ResponseWriter, r *http.Request) error {
	s, err := h.kvStore(r)
	if err != nil {
		return err
	}
	var in kvKeysBody
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	vals, err := s.MGet(r.Context(), in.Keys...)
	if err != nil {
		return err
	}
	out := KVValues{Values: make(map[string]*string, len(in.Keys))}
	for _, k := range in.Keys {
		if v, ok := vals[k]; ok {
			out.Values[k] = &v
		} else {
			out.Values[k] = nil
		}
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (h *Handler) kvMSet(w http.ResponseWriter, r *http.Request) error {
	s, err := h.kvStore(r)
	if err != nil {
		return err
	}
	var in struct {
		Items map[string]string `json:"items"`
		TTL   *int64            `json:"ttl"`
	}
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	ttl, err := kvTTLSeconds(in.TTL, false)
	if err != nil {
		return err
	}
	if err := s.MSet(r.Context(), in.Items, ttl); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, KVOK{OK: true})
	return nil
}

func (h *Handler) kvExpire(w http.ResponseWriter, r *http.Request) error {
	s, err := h.kvStore(r)
	if err != nil {
		return err
	}
	var in struct {
		Key *string `json:"key"`
		TTL *int64  `json:"ttl"`
	}
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	key, err := requireKey(in.Key)
	if err != nil {
		return err
	}
	ttl, err := kvTTLSeconds(in.TTL, true)
	if err != nil {
		return err
	}
	ok, err := s.Expire(r.Context(), key, ttl)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, KVOK{OK: ok})
	return nil
}

func (h *Handler) kvTTL(w http.ResponseWriter, r *http.Request) error {
	s, err := h.kvStore(r)
	if err != nil {
		return err
	}
	var in kvKeyBody
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	key, err := requireKey(in.Key)
	if err != nil {
		return err
	}
	d, ok, err := s.TTL(r.Context(), key)
	if err != nil {
		return err
	}
	out := KVTTL{TTL: -2}
	switch {
	case !ok:
	case d < 0:
		out.TTL = -1
	default:
		out.TTL = int64((d + 500*time.Millisecond) / time.Second) // rounded, as Redis's TTL does
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

type kvCounterBody struct {
	Key    *string `json:"key"`
	Amount *int64  `json:"amount"`
	TTL    *int64  `json:"ttl"`
}

func (h *Handler) kvCounter(w http.ResponseWriter, r *http.Request, decr bool) error {
	s, err := h.kvStore(r)
	if err != nil {
		return err
	}
	var in kvCounterBody
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	key, err := requireKey(in.Key)
	if err != nil {
		return err
	}
	ttl, err := kvTTLSeconds(in.TTL, false)
	if err != nil {
		return err
	}
	amount := int64(1)
	if in.Amount != nil {
		amount = *in.Amount
	}
	var v int64
	if decr {
		v, err = s.Decr(r.Context(), key, amount, ttl)
	} else {
		v, err = s.Incr(r.Context(), key, amount, ttl)
	}
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, KVCount{Value: v})
	return nil
}

func (h *Handler) kvIncr(w http.ResponseWriter, r *http.Request) error {
	return h.kvCounter(w, r, false)
}
func (h *Handler) kvDecr(w http.ResponseWriter, r *http.Request) error {
	return h.kvCounter(w, r, true)
}

func (h *Handler) kvPush(w http.ResponseWriter, r *http.Request, left bool) error {
	s, err := h.kvStore(r)
	if err != nil {
		return err
	}
	var in struct {
		Key    *string  `json:"key"`
		Values []string `json:"values"`
		TTL    *int64   `json:"ttl"`
	}
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	key, err := requireKey(in.Key)
	if err != nil {
		return err
	}
	ttl, err := kvTTLSeconds(in.TTL, false)
	if err != nil {
		return err
	}
	var n int64
	if left {
		n, err = s.LPush(r.Context(), key, in.Values, ttl)
	} else {
		n, err = s.RPush(r.Context(), key, in.Values, ttl)
	}
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, KVLength{Length: n})
	return nil
}

func (h *Handler) kvLPush(w http.ResponseWriter, r *http.Request) error { return h.kvPush(w, r, true) }
func (h *Handler) kvRPush(w http.ResponseWriter, r *http.Request) error { return h.kvPush(w, r, false) }

func (h *Handler) kvPop(w http.ResponseWriter, r *http.Request, left bool) error {
	s, err := h.kvStore(r)
	if err != nil {
		return err
	}
	var in kvKeyBody
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	key, err := requireKey(in.Key)
	if err != nil {
		return err
	}
	var (
		v  string
		ok bool
	)
	if left {
		v, ok, err = s.LPop(r.Context(), key)
	} else {
		v, ok, err = s.RPop(r.Context(), key)
	}
	if err != nil {
		return err
	}
	out := KVValue{}
	if ok {
		out.Value = &v
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (h *Handler) kvLPop(w http.ResponseWriter, r *http.Request) error { return h.kvPop(w, r, true) }
func (h *Handler) kvRPop(w http.ResponseWriter, r *http.Request) error { return h.kvPop(w, r, false) }

func (h *Handler) kvLRange(w http.ResponseWriter, r *http.Request) error {
	s, err := h.kvStore(r)
	if err != nil {
		return err
	}
	var in struct {
		Key   *string `json:"key"`
		Start *int64  `json:"start"`
		Stop  *int64  `json:"stop"`
	}
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	key, err := requireKey(in.Key)
	if err != nil {
		return err
	}
	start, stop := int64(0), int64(-1)
	if in.Start != nil {
		start = *in.Start
	}
	if in.Stop != nil {
		stop = *in.Stop
	}
	vals, err := s.LRange(r.Context(), key, start, stop)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, KVList{Values: vals})
	return nil
}

func (h *Handler) kvPublish(w http.ResponseWriter, r *http.Request) error {
	s, err := h.kvStore(r)
	if err != nil {
		return err
	}
	var in struct {
		Channel *string `json:"channel"`
		Message *string `json:"message"`
	}
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	if in.Channel == nil {
		return errs.New(errs.Invalid, "invalid_channel", "channel is required")
	}
	if in.Message == nil {
		return errs.New(errs.Invalid, "invalid_message", "message is required (a string)")
	}
	n, err := s.Publish(r.Context(), *in.Channel, *in.Message)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, KVReceivers{Receivers: n})
	return nil
}

func (h *Handler) kvKeys(w http.ResponseWriter, r *http.Request) error {
	s, err := h.kvStore(r)
	if err != nil {
		return err
	}
	var in struct {
		Pattern string `json:"pattern"`
		Count   *int   `json:"count"`
	}
	// The body is optional: no body lists with the defaults.
	if r.ContentLength != 0 {
		if err := decodeJSON(r, &in); err != nil {
			return err
		}
	}
	count := 0
	if in.Count != nil {
		if *in.Count <= 0 || *in.Count > kv.MaxListKeys {
			return errs.New(errs.Invalid, "invalid_count", "count must be between 1 and %d", kv.MaxListKeys)
		}
		count = *in.Count
	}
	keys, err := s.Keys(r.Context(), in.Pattern, count)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, KVKeys{Keys: keys})
	return nil
}

func (h *Handler) kvUsage(w http.ResponseWriter, r *http.Request) error {
	s, err := h.kvStore(r)
	if err != nil {
		return err
	}
	u, err := s.Usage(r.Context())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, u)
	return nil
}

func (h *Handler) kvFlush(w http.ResponseWriter, r *http.Request) error {
	s, err := h.kvStore(r)
	if err != nil {
		return err
	}
	n, err := s.Flush(r.Context())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, KVDeleted{Deleted: n})
	return nil
}
