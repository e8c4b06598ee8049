package httpapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/mosaic-platform/mosaic"
	"github.com/mosaic-platform/mosaic/internal/localsvc"
	"github.com/mosaic-platform/mosaic/kv"
	"github.com/mosaic-platform/mosaic/mosaictest"
)

func pro(n *mosaic.NewProject) { n.Plan = "pro" }

// shape checks that a JSON object has exactly these members.
func shape(t *testing.T, what string, a answer, status int, members ...string) {
	t.Helper()
	if a.status != status {
		t.Fatalf("%s: status %d, want %d: %s", what, a.status, status, a.body)
	}
	got := make([]string, 0, len(a.json))
	for k := range a.json {
		got = append(got, k)
	}
	slices.Sort(got)
	slices.Sort(members)
	if !slices.Equal(got, members) {
		t.Fatalf("%s: members %q, want %q: %s", what, got, members, a.body)
	}
}

func kvCall(slug, op, body string) call {
	return call{method: "POST", path: "/" + slug + "/redis/" + op, body: body, header: map[string]string{"Content-Type": "application/json"}}
}

// TestKVRoutes walks every key-value route with the API reference's
// examples and checks the answers' shapes and values.
func TestKVRoutes(t *testing.T) {
	t.Parallel()
	env := mosaictest.New(t)
	s := env.Project(t, pro).Slug
	post := func(op, body string) answer { return do(t, env, kvCall(s, op, body)) }

	a := post("set", `{"key": "session:abc", "value": "user-data", "ttl": 3600}`)
	shape(t, "set", a, 200, "ok")
	if a.json["ok"] != true {
		t.Fatalf("set: %s", a.body)
	}
	a = post("get", `{"key": "session:abc"}`)
	shape(t, "get", a, 200, "value")
	if a.json["value"] != "user-data" {
		t.Fatalf("get: %s", a.body)
	}
	a = post("get", `{"key": "missing"}`)
	shape(t, "get missing", a, 200, "value")
	if string(a.body) != "{\"value\":null}\n" {
		t.Fatalf("get missing: %s, want {\"value\":null}", a.body)
	}
	shape(t, "mset", post("mset", `{"items": {"k1": "v1", "k2": "v2"}, "ttl": 300}`), 200, "ok")
	a = post("mget", `{"keys": ["k1", "k2", "missing"]}`)
	shape(t, "mget", a, 200, "values")
	if want := `{"values":{"k1":"v1","k2":"v2","missing":null}}`; strings.TrimSpace(string(a.body)) != want {
		t.Fatalf("mget: %s, want %s", a.body, want)
	}
	a = post("delete", `{"keys": ["k1", "k2"]}`)
	shape(t, "delete", a, 200, "deleted")
	if a.json["deleted"] != 2.0 {
		t.Fatalf("delete: %s", a.body)
	}
	post("set", `{"key": "page:views", "value": "41"}`)
	a = post("incr", `{"key": "page:views", "amount": 1, "ttl": 86400}`)
	shape(t, "incr", a, 200, "value")
	if a.json["value"] != 42.0 {
		t.Fatalf("incr: %s", a.body)
	}
	a = post("incr", `{"key": "page:views"}`)
	if a.json["value"] != 43.0 {
		t.Fatalf("incr with the default amount: %s", a.body)
	}
	a = post("decr", `{"key": "stock:item1", "amount": 1}`)
	shape(t, "decr", a, 200, "value")
	if a.json["value"] != -1.0 {
		t.Fatalf("decr: %s", a.body)
	}
	a = post("rpush", `{"key": "queue:jobs", "values": ["task1", "task2"], "ttl": 3600}`)
	shape(t, "rpush", a, 200, "length")
	if a.json["length"] != 2.0 {
		t.Fatalf("rpush: %s", a.body)
	}
	a = post("lpush", `{"key": "queue:jobs", "values": ["task0"]}`)
	shape(t, "lpush", a, 200, "length")
	if a.json["length"] != 3.0 {
		t.Fatalf("lpush: %s", a.body)
	}
	a = post("lpop", `{"key": "queue:jobs"}`)
	shape(t, "lpop", a, 200, "value")
	if a.json["value"] != "task0" {
		t.Fatalf("lpop: %s", a.body)
	}
	a = post("lpop", `{"key": "queue:none"}`)
	if strings.TrimSpace(string(a.body)) != `{"value":null}` {
		t.Fatalf("lpop of a missing list: %s", a.body)
	}
	a = post("rpop", `{"key": "queue:jobs"}`)
	shape(t, "rpop", a, 200, "value")
	if a.json["value"] != "task2" {
		t.Fatalf("rpop: %s", a.body)
	}
	a = post("lrange", `{"key": "queue:jobs", "start": 0, "stop": -1}`)
	shape(t, "lrange", a, 200, "values")
	if strings.TrimSpace(string(a.body)) != `{"values":["task1"]}` {
		t.Fatalf("lrange: %s", a.body)
	}
	a = post("lrange", `{"key": "queue:none"}`)
	if strings.TrimSpace(string(a.body)) != `{"values":[]}` {
		t.Fatalf("lrange of a missing list: %s, want an empty array", a.body)
	}
	a = post("expire", `{"key": "session:abc", "ttl": 7200}`)
	shape(t, "expire", a, 200, "ok")
	if a.json["ok"] != true {
		t.Fatalf("expire: %s", a.body)
	}
	if a = post("expire", `{"key": "missing", "ttl": 10}`); a.json["ok"] != false {
		t.Fatalf("expire of a missing key: %s", a.body)
	}
	a = post("ttl", `{"key": "session:abc"}`)
	shape(t, "ttl", a, 200, "ttl")
	if ttl := a.json["ttl"].(float64); ttl < 7100 || ttl > 7200 {
		t.Fatalf("ttl: %s", a.body)
	}
	if a = post("ttl", `{"key": "missing"}`); a.json["ttl"] != -2.0 {
		t.Fatalf("ttl of a missing key: %s, want -2", a.body)
	}
	a = post("publish", `{"channel": "events", "message": "new-order"}`)
	shape(t, "publish", a, 200, "receivers")
	if a.json["receivers"] != 0.0 {
		t.Fatalf("publish: %s", a.body)
	}
	post("set", `{"key": "session:def", "value": "x"}`)
	a = post("keys", `{"pattern": "session:*", "count": 100}`)
	shape(t, "keys", a, 200, "keys")
	if strings.TrimSpace(string(a.body)) != `{"keys":["session:abc","session:def"]}` {
		t.Fatalf("keys: %s", a.body)
	}
	a = do(t, env, call{method: "POST", path: "/" + s + "/redis/keys"})
	if a.status != 200 || len(a.json["keys"].([]any)) != 5 {
		t.Fatalf("keys with no body: %d %s", a.status, a.body)
	}
	a = do(t, env, call{method: "GET", path: "/" + s + "/redis/usage"})
	shape(t, "usage", a, 200, "key_count", "memory_bytes", "memory_human", "quota_bytes", "quota_human")
	if a.json["key_count"] != 5.0 || a.json["memory_bytes"].(float64) <= 0 || a.json["quota_bytes"] != float64(100<<20) ||
		a.json["quota_human"] != "100.0 MB" || a.json["memory_human"] != kv.HumanBytes(int64(a.json["memory_bytes"].(float64))) {
		t.Fatalf("usage: %s", a.body)
	}
	a = do(t, env, call{method: "POST", path: "/" + s + "/redis/flush"})
	shape(t, "flush", a, 200, "deleted")
	if a.json["deleted"] != 5.0 {
		t.Fatalf("flush: %s", a.body)
	}
	if a = do(t, env, call{method: "GET", path: "/" + s + "/redis/usage"}); a.json["key_count"] != 0.0 {
		t.Fatalf("usage after flush: %s", a.body)
	}

	// The typed client speaks the same routes.
	ctx := context.Background()
	k := env.Client.KV(s)
	if err := k.Set(ctx, "c", "v", 0); err != nil {
		t.Fatal(err)
	}
	if v, ok, err := k.Get(ctx, "c"); err != nil || !ok || v != "v" {
		t.Fatalf("client Get = %q %v %v", v, ok, err)
	}
	if _, ok, err := k.Get(ctx, "nope"); err != nil || ok {
		t.Fatalf("client Get(missing) = %v %v", ok, err)
	}
	if m, err := k.MGet(ctx, "c", "nope"); err != nil || len(m) != 2 || *m["c"] != "v" || m["nope"] != nil {
		t.Fatalf("client MGet = %v %v", m, err)
	}
	if u, err := k.Usage(ctx); err != nil || u.KeyCount != 1 || u.QuotaHuman != "100.0 MB" {
		t.Fatalf("client Usage = %+v %v", u, err)
	}
	if n, err := k.Flush(ctx); err != nil || n != 1 {
		t.Fatalf("client Flush = %d %v", n, err)
	}
}

func kvRoutePaths(env *mosaictest.Env) []struct{ method, op string } {
	var out []struct{ method, op string }
	for _, r := range env.Handler.Routes() {
		if op, ok := strings.CutPrefix(r.Path, "/{slug}/redis/"); ok {
			out = append(out, struct{ method, op string }{r.Method, op})
		}
	}
	return out
}

// TestKVLimits: every documented limit answers its status with a clear detail.
func TestKVLimits(t *testing.T) {
	t.Parallel()
	env := mosaictest.New(t)
	s := env.Project(t, pro).Slug
	post := func(op, body string) answer { return do(t, env, kvCall(s, op, body)) }
	post("set", `{"key": "str", "value": "hello"}`)
	post("rpush", `{"key": "list", "values": ["a"]}`)
	keys51 := make([]string, 51)
	items51 := map[string]string{}
	for i := range keys51 {
		keys51[i] = fmt.Sprint("k", i)
		items51[keys51[i]] = "v"
	}
	k51, _ := json.Marshal(keys51)
	i51, _ := json.Marshal(items51)
	big := strings.Repeat("x", 512<<10+1)

	cases := []struct {
		name, op, body string
		status         int
		code           string
	}{
		{"reserved key on set", "set", `{"key": "__x", "value": "v"}`, 400, "reserved_key"},
		{"reserved key on get", "get", `{"key": "__keys"}`, 400, "reserved_key"},
		{"reserved key on delete", "delete", `{"keys": ["a", "__keys"]}`, 400, "reserved_key"},
		{"reserved key in mset", "mset", `{"items": {"__a": "v"}}`, 400, "reserved_key"},
		{"reserved key on incr", "incr", `{"key": "__n"}`, 400, "reserved_key"},
		{"value over 512 KB", "set", `{"key": "big", "value": "` + big + `"}`, 413, "value_too_large"},
		{"list value over 512 KB", "rpush", `{"key": "big", "values": ["` + big + `"]}`, 413, "value_too_large"},
		{"message over 512 KB", "publish", `{"channel": "c", "message": "` + big + `"}`, 413, "value_too_large"},
		{"ttl over 7 days", "set", `{"key": "k", "value": "v", "ttl": 604801}`, 400, "invalid_ttl"},
		{"ttl zero", "set", `{"key": "k", "value": "v", "ttl": 0}`, 400, "invalid_ttl"},
		{"ttl negative", "expire", `{"key": "str", "ttl": -1}`, 400, "invalid_ttl"},
		{"ttl missing on expire", "expire", `{"key": "str"}`, 400, "invalid_ttl"},
		{"ttl not a number", "set", `{"key": "k", "value": "v", "ttl": "1h"}`, 400, "invalid_type"},
		{"mget of 51 keys", "mget", `{"keys": ` + string(k51) + `}`, 400, "too_many_keys"},
		{"mset of 51 keys", "mset", `{"items": ` + string(i51) + `}`, 400, "too_many_keys"},
		{"delete of 51 keys", "delete", `{"keys": ` + string(k51) + `}`, 400, "too_many_keys"},
		{"mget of no keys", "mget", `{"keys": []}`, 400, "invalid_keys"},
		{"mset of no items", "mset", `{"items": {}}`, 400, "invalid_items"},
		{"key too long", "set", `{"key": "` + strings.Repeat("k", 1025) + `", "value": "v"}`, 400, "invalid_key"},
		{"empty key", "get", `{"key": ""}`, 400, "invalid_key"},
		{"missing key", "get", `{}`, 400, "invalid_key"},
		{"missing value", "set", `{"key": "k"}`, 400, "invalid_value"},
		{"value not a string", "set", `{"key": "k", "value": {"a": 1}}`, 400, "invalid_type"},
		{"incr on a string", "incr", `{"key": "str"}`, 400, "not_integer"},
		{"decr on a string", "decr", `{"key": "str", "amount": 2}`, 400, "not_integer"},
		{"incr on a list", "incr", `{"key": "list"}`, 400, "wrong_type"},
		{"lpush on a string", "lpush", `{"key": "str", "values": ["a"]}`, 400, "wrong_type"},
		{"lpop on a string", "lpop", `{"key": "str"}`, 400, "wrong_type"},
		{"lrange on a string", "lrange", `{"key": "str"}`, 400, "wrong_type"},
		{"get on a list", "get", `{"key": "list"}`, 400, "wrong_type"},
		{"push of no values", "rpush", `{"key": "l2", "values": []}`, 400, "invalid_values"},
		{"pattern too long", "keys", `{"pattern": "` + strings.Repeat("a", 257) + `"}`, 400, "invalid_pattern"},
		{"pattern with 17 stars", "keys", `{"pattern": "` + strings.Repeat("*", 17) + `"}`, 400, "invalid_pattern"},
		{"count zero", "keys", `{"count": 0}`, 400, "invalid_count"},
		{"count over 1000", "keys", `{"count": 1001}`, 400, "invalid_count"},
		{"missing channel", "publish", `{"message": "m"}`, 400, "invalid_channel"},
		{"reserved channel", "publish", `{"channel": "__keyspace@0__:x", "message": "m"}`, 400, "reserved_channel"},
		{"malformed JSON", "set", `{"key": `, 400, "invalid_json"},
	}
	for _, tc := range cases {
		a := post(tc.op, tc.body)
		if a.status != tc.status || a.json["error"] != tc.code || a.json["detail"] == "" {
			t.Errorf("%s: %d %s, want %d %s", tc.name, a.status, a.body, tc.status, tc.code)
		}
	}
	a := post("lpush", `{"key": "str", "values": ["a"]}`)
	if d, _ := a.json["detail"].(string); !strings.Contains(d, `"str" holds a string`) || !strings.Contains(d, "needs a list") {
		t.Errorf("wrong-type detail %q is not clear", d)
	}
	// Nothing was written by the refused calls.
	if a := post("keys", `{}`); strings.TrimSpace(string(a.body)) != `{"keys":["list","str"]}` {
		t.Errorf("keys after refused writes: %s", a.body)
	}
}

// TestKVPlans: free and starter get 402 on every route; a platform without
// a store answers 503 on every route.
func TestKVPlans(t *testing.T) {
	t.Parallel()
	env := mosaictest.New(t)
	for _, plan := range []string{"free", "starter"} {
		s := env.Project(t, func(n *mosaic.NewProject) { n.Plan = plan }).Slug
		for _, r := range kvRoutePaths(env) {
			a := do(t, env, call{method: r.method, path: "/" + s + "/redis/" + r.op, body: `{"key": "k", "value": "v"}`})
			if a.status != 402 || a.json["error"] != "plan_limit" {
				t.Errorf("%s plan, %s: %d %s, want 402", plan, r.op, a.status, a.body)
			}
		}
	}
	if n := len(kvRoutePaths(env)); n != 18 {
		t.Errorf("%d key-value routes, want the 18 of the API reference", n)
	}

	bare := mosaictest.New(t, mosaictest.WithConfig(func(c *mosaic.Config) { c.KV = nil }))
	s := bare.Project(t, pro).Slug
	for _, r := range kvRoutePaths(bare) {
		a := do(t, bare, call{method: r.method, path: "/" + s + "/redis/" + r.op, body: `{"key": "k", "value": "v"}`})
		if a.status != 503 || a.json["detail"] != "key-value store is not configured on this platform" {
			t.Errorf("no store, %s: %d %s, want 503", r.op, a.status, a.body)
		}
	}
	// Another account's project stays invisible.
	_, _, other := env.NewAccount(t)
	if a := do(t, env, kvCall(s, "get", `{"key":"k"}`)); a.status != 404 {
		t.Errorf("another account's project: %d %s", a.status, a.body)
	}
	_ = other
}

func kvPlans(mut func(*mosaic.Plan)) mosaictest.Option {
	return mosaictest.WithConfig(func(c *mosaic.Config) {
		c.Plans = mosaic.DefaultPlans()
		pl := c.Plans["pro"]
		pl.Name = "kvtest"
		mut(&pl)
		c.Plans["kvtest"] = pl
	})
}

// TestKVQuotas: over the hourly operations → 429 with Retry-After; over
// the memory quota → 402 on writes, while reads and deletes still work.
func TestKVQuotas(t *testing.T) {
	t.Parallel()
	t.Run("ops", func(t *testing.T) {
		t.Parallel()
		env := mosaictest.New(t, kvPlans(func(p *mosaic.Plan) { p.RedisOpsPerHour = 3 }))
		s := env.Project(t, func(n *mosaic.NewProject) { n.Plan = "kvtest" }).Slug
		for i := range 3 {
			if a := do(t, env, kvCall(s, "incr", `{"key": "n"}`)); a.status != 200 {
				t.Fatalf("op %d: %d %s", i, a.status, a.body)
			}
		}
		a := do(t, env, kvCall(s, "get", `{"key": "n"}`))
		ra, _ := strconv.Atoi(a.header.Get("Retry-After"))
		if a.status != 429 || a.json["error"] != "rate_limited" || ra < 1 || ra > 3600 {
			t.Fatalf("4th op: %d Retry-After %q %s", a.status, a.header.Get("Retry-After"), a.body)
		}
		// usage is not an operation: it still answers.
		if a := do(t, env, call{method: "GET", path: "/" + s + "/redis/usage"}); a.status != 200 || a.json["key_count"] != 1.0 {
			t.Fatalf("usage over the ops quota: %d %s", a.status, a.body)
		}
		// The count lives in Redis, shared by every replica.
		rc := redis.NewClient(&redis.Options{Addr: strings.TrimSuffix(strings.TrimPrefix(env.RedisURL, "redis://"), "/0")})
		defer rc.Close()
		keys, err := rc.Keys(context.Background(), "mosaictest:rl:{kv:*").Result()
		if err != nil || len(keys) == 0 {
			t.Fatalf("no rate-limit counter in Redis: %v %v", keys, err)
		}
	})
	t.Run("memory", func(t *testing.T) {
		t.Parallel()
		env := mosaictest.New(t, kvPlans(func(p *mosaic.Plan) { p.RedisBytes = 256 << 10 }))
		s := env.Project(t, func(n *mosaic.NewProject) { n.Plan = "kvtest" }).Slug
		val := strings.Repeat("v", 100<<10)
		var refused answer
		for i := range 10 {
			a := do(t, env, kvCall(s, "set", fmt.Sprintf(`{"key": "k%d", "value": %q}`, i, val)))
			if a.status != 200 {
				refused = a
				break
			}
		}
		if refused.status != 402 || refused.json["error"] != "kv_quota_exceeded" {
			t.Fatalf("writes over 256 KB: %d %s, want 402", refused.status, refused.body)
		}
		for _, c := range []call{kvCall(s, "rpush", `{"key": "l", "values": ["`+val+`"]}`), kvCall(s, "mset", `{"items": {"a": "`+val+`"}}`)} {
			if a := do(t, env, c); a.status != 402 {
				t.Errorf("%s over the memory quota: %d %s", c.path, a.status, a.body)
			}
		}
		if a := do(t, env, kvCall(s, "get", `{"key": "k0"}`)); a.status != 200 {
			t.Fatalf("read over the memory quota: %d %s", a.status, a.body)
		}
		if a := do(t, env, kvCall(s, "delete", `{"keys": ["k0", "k1"]}`)); a.status != 200 || a.json["deleted"] != 2.0 {
			t.Fatalf("delete over the memory quota: %d %s", a.status, a.body)
		}
		if a := do(t, env, call{method: "POST", path: "/" + s + "/redis/flush"}); a.status != 200 {
			t.Fatalf("flush: %d %s", a.status, a.body)
		}
		if a := do(t, env, kvCall(s, "set", `{"key": "again", "value": "small"}`)); a.status != 200 {
			t.Fatalf("write after a flush: %d %s", a.status, a.body)
		}
	})
}

// TestKVIsolation: two projects (one of another account) over HTTP.
func TestKVIsolation(t *testing.T) {
	t.Parallel()
	env := mosaictest.New(t)
	a := env.Project(t, pro)
	b := env.Project(t, pro)
	other := mosaictest.New(t)
	c := other.Project(t, pro)
	do(t, env, kvCall(a.Slug, "mset", `{"items": {"secret": "A", "shared": "A"}}`))
	do(t, env, kvCall(b.Slug, "set", `{"key": "shared", "value": "B"}`))
	do(t, other, kvCall(c.Slug, "set", `{"key": "shared", "value": "C"}`))

	for _, tc := range []struct {
		env  *mosaictest.Env
		slug string
		own  string
	}{{env, b.Slug, "B"}, {other, c.Slug, "C"}} {
		if r := do(t, tc.env, kvCall(tc.slug, "get", `{"key": "secret"}`)); strings.TrimSpace(string(r.body)) != `{"value":null}` {
			t.Errorf("get of A's key from %s: %s", tc.slug, r.body)
		}
		if r := do(t, tc.env, kvCall(tc.slug, "get", `{"key": "shared"}`)); r.json["value"] != tc.own {
			t.Errorf("get of its own key from %s: %s", tc.slug, r.body)
		}
		r := do(t, tc.env, kvCall(tc.slug, "mget", `{"keys": ["secret", "shared"]}`))
		if v := r.json["values"].(map[string]any); v["secret"] != nil || v["shared"] != tc.own {
			t.Errorf("mget from %s: %s", tc.slug, r.body)
		}
		for _, p := range []string{"*", "*secret*", `\*`, "[", `\`, "{", "}*", "{p:*", "*}:*", "__*", "[_]_*", "?ecret", "*" + a.ID.String() + "*"} {
			body, _ := json.Marshal(map[string]any{"pattern": p, "count": 1000})
			r := do(t, tc.env, kvCall(tc.slug, "keys", string(body)))
			if r.status != 200 {
				t.Errorf("keys %q from %s: %d %s", p, tc.slug, r.status, r.body)
				continue
			}
			for _, k := range r.json["keys"].([]any) {
				if k != "shared" {
					t.Errorf("keys %q from %s returned %q", p, tc.slug, k)
				}
			}
		}
		if r := do(t, tc.env, kvCall(tc.slug, "delete", `{"keys": ["secret"]}`)); r.json["deleted"] != 0.0 {
			t.Errorf("delete of A's key from %s: %s", tc.slug, r.body)
		}
		if r := do(t, tc.env, call{method: "POST", path: "/" + tc.slug + "/redis/flush"}); r.json["deleted"] != 1.0 {
			t.Errorf("flush from %s: %s", tc.slug, r.body)
		}
	}
	if r := do(t, env, kvCall(a.Slug, "mget", `{"keys": ["secret", "shared"]}`)); strings.TrimSpace(string(r.body)) != `{"values":{"secret":"A","shared":"A"}}` {
		t.Errorf("A's keys after the others' deletes and flushes: %s", r.body)
	}
	// Publish: a subscriber on A's channel hears A, never B.
	rc := redis.NewClient(&redis.Options{Addr: strings.TrimSuffix(strings.TrimPrefix(env.RedisURL, "redis://"), "/0")})
	defer rc.Close()
	ctx := context.Background()
	sub := rc.Subscribe(ctx, kv.Channel(a.ID.String(), "events"))
	defer sub.Close()
	if _, err := sub.Receive(ctx); err != nil {
		t.Fatal(err)
	}
	if r := do(t, env, kvCall(b.Slug, "publish", `{"channel": "events", "message": "B"}`)); r.json["receivers"] != 0.0 {
		t.Errorf("B's publish reached A's subscriber: %s", r.body)
	}
	if r := do(t, env, kvCall(a.Slug, "publish", `{"channel": "events", "message": "A"}`)); r.json["receivers"] != 1.0 {
		t.Errorf("A's publish: %s", r.body)
	}
	if m, err := sub.ReceiveMessage(ctx); err != nil || m.Payload != "A" {
		t.Errorf("A's subscriber got %v %v", m, err)
	}
}

// TestKVRedisOutage: Redis stops mid-test → 503 with a clear detail, and
// no hang; Redis comes back on the same port → the API works again, with
// no restart of the platform.
func TestKVRedisOutage(t *testing.T) {
	t.Parallel()
	dir, err := os.MkdirTemp("", "kv-outage-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	ctx := context.Background()
	rs, err := localsvc.StartRedis(ctx, localsvc.RedisOptions{Dir: filepath.Join(dir, "redis")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rs.Stop(context.Background()) })
	rc, err := kv.NewClient(rs.URL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rc.Close() })
	env := mosaictest.New(t, mosaictest.WithConfig(func(c *mosaic.Config) { c.KV = kv.New(rc, kv.Options{AutoPipeline: true}) }))
	s := env.Project(t, pro).Slug
	if a := do(t, env, kvCall(s, "set", `{"key": "k", "value": "before"}`)); a.status != 200 {
		t.Fatalf("set: %d %s", a.status, a.body)
	}
	stopCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := rs.Stop(stopCtx); err != nil {
		t.Fatal(err)
	}
	for _, c := range []call{kvCall(s, "get", `{"key": "k"}`), kvCall(s, "set", `{"key": "k", "value": "v"}`),
		kvCall(s, "keys", `{}`), {method: "GET", path: "/" + s + "/redis/usage"}} {
		a := do(t, env, c)
		if a.status != 503 || a.json["error"] != "kv_unavailable" || !strings.Contains(a.json["detail"].(string), "key-value store is unavailable") {
			t.Fatalf("%s with Redis down: %d %s, want 503", c.path, a.status, a.body)
		}
	}
	// A request with a deadline returns by it even with Redis down.
	rctx, rcancel := context.WithTimeout(ctx, time.Minute)
	defer rcancel()
	if _, _, err := env.Client.KV(s).Get(rctx, "k"); err == nil || rctx.Err() != nil {
		t.Fatalf("client get with Redis down: %v (ctx %v)", err, rctx.Err())
	}

	rs2, err := localsvc.StartRedis(ctx, localsvc.RedisOptions{Dir: filepath.Join(dir, "redis"), Port: rs.Port()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rs2.Stop(context.Background()) })
	// The new server is empty (no persistence): the key is gone, the API works.
	if a := do(t, env, kvCall(s, "get", `{"key": "k"}`)); a.status != 200 || a.json["value"] != nil {
		t.Fatalf("get after Redis came back: %d %s", a.status, a.body)
	}
	if a := do(t, env, kvCall(s, "set", `{"key": "k", "value": "after"}`)); a.status != 200 {
		t.Fatalf("set after Redis came back: %d %s", a.status, a.body)
	}
	if a := do(t, env, kvCall(s, "keys", `{}`)); strings.TrimSpace(string(a.body)) != `{"keys":["k"]}` {
		t.Fatalf("keys after Redis came back: %s", a.body)
	}
}
