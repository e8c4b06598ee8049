package kv_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"

	"github.com/mosaic-platform/mosaic/errs"
	"github.com/mosaic-platform/mosaic/internal/localsvc"
	"github.com/mosaic-platform/mosaic/kv"
)

// The tests run on a real redis-server: MOSAIC_TEST_REDIS_URL, else one
// started from the installed binary for this test binary.
var redisURL string

func TestMain(m *testing.M) {
	redisURL = os.Getenv("MOSAIC_TEST_REDIS_URL")
	var srv *localsvc.Redis
	var dir string
	if redisURL == "" {
		var err error
		dir, err = os.MkdirTemp("", "kv-test-")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		srv, err = localsvc.StartRedis(context.Background(), localsvc.RedisOptions{Dir: filepath.Join(dir, "redis")})
		if err != nil {
			fmt.Fprintln(os.Stderr, "no MOSAIC_TEST_REDIS_URL and redis-server could not start:", err)
			os.RemoveAll(dir)
			os.Exit(1)
		}
		redisURL = srv.URL()
	}
	code := m.Run()
	if srv != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		srv.Stop(ctx)
		cancel()
		os.RemoveAll(dir)
	}
	os.Exit(code)
}

func newStore(t testing.TB) (*kv.Redis, *redis.Client) {
	t.Helper()
	c, err := kv.NewClient(redisURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return kv.New(c, kv.Options{AutoPipeline: true}), c
}

// newTenant returns a fresh tenant whose keys are flushed when the test ends.
func newTenant(t testing.TB, s *kv.Redis) (kv.Tenant, string) {
	t.Helper()
	id := uuid.NewString()
	tn := s.For(id)
	t.Cleanup(func() { tn.Flush(context.Background()) })
	return tn, id
}

func mustKind(t *testing.T, err error, kind errs.Kind, code string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want %v %s", kind, code)
	}
	e := errs.As(err)
	if e.Kind != kind || (code != "" && e.ErrorCode() != code) {
		t.Fatalf("error %v (kind %v, code %s), want kind %v code %s", err, e.Kind, e.ErrorCode(), kind, code)
	}
	if e.Detail == "" {
		t.Fatalf("error %v has no detail", err)
	}
}

// rawKeys lists a tenant's keys in Redis by SCAN, the ground truth the index must match.
func rawKeys(t *testing.T, c *redis.Client, tenant string) []string {
	t.Helper()
	ctx := context.Background()
	prefix := kv.Prefix(tenant)
	var out []string
	iter := c.Scan(ctx, 0, strings.ReplaceAll(strings.ReplaceAll(prefix, "{", `\{`), "}", `\}`)+"*", 1000).Iterator()
	for iter.Next(ctx) {
		k := strings.TrimPrefix(iter.Val(), prefix)
		if k != kv.ReservedPrefix+"keys" {
			out = append(out, k)
		}
	}
	if err := iter.Err(); err != nil {
		t.Fatal(err)
	}
	slices.Sort(out)
	return out
}

// checkIndex: the index holds exactly the tenant's live keys, each scored
// by its key's exact expiry time, and the index outlives every key.
func checkIndex(t *testing.T, c *redis.Client, tenant string) {
	t.Helper()
	ctx := context.Background()
	idx := kv.IndexKey(tenant)
	keys := rawKeys(t, c, tenant)
	zs, err := c.ZRangeWithScores(ctx, idx, 0, -1).Result()
	if err != nil {
		t.Fatal(err)
	}
	now, err := c.Time(ctx).Result()
	if err != nil {
		t.Fatal(err)
	}
	var members []string
	var maxAt int64
	for _, z := range zs {
		m := z.Member.(string)
		at := int64(z.Score)
		// A member whose time has passed may wait for the next prune.
		if at < now.UnixMilli() {
			continue
		}
		members = append(members, m)
		maxAt = max(maxAt, at)
		exp, err := c.PExpireTime(ctx, kv.Prefix(tenant)+m).Result()
		if err != nil {
			t.Fatal(err)
		}
		if exp < 0 {
			// Expired between the two reads.
			continue
		}
		if got := exp.Milliseconds(); got != at {
			t.Errorf("key %q expires at %d but the index says %d", m, got, at)
		}
	}
	slices.Sort(members)
	live := keys[:0:0]
	for _, k := range keys {
		live = append(live, k)
	}
	if !slices.Equal(members, live) {
		t.Errorf("index members %q, keys in Redis %q", members, live)
	}
	if len(members) > 0 {
		idxExp, err := c.PExpireTime(ctx, idx).Result()
		if err != nil {
			t.Fatal(err)
		}
		if idxExp.Milliseconds() < maxAt {
			t.Errorf("index expires at %d, before its last key (%d)", idxExp.Milliseconds(), maxAt)
		}
	}
}

func TestOperations(t *testing.T) {
	t.Parallel()
	s, c := newStore(t)
	tn, id := newTenant(t, s)
	ctx := context.Background()

	if err := tn.Set(ctx, "session:abc", "user-data", time.Hour); err != nil {
		t.Fatal(err)
	}
	if v, ok, err := tn.Get(ctx, "session:abc"); err != nil || !ok || v != "user-data" {
		t.Fatalf("Get = %q %v %v", v, ok, err)
	}
	if v, ok, err := tn.Get(ctx, "missing"); err != nil || ok || v != "" {
		t.Fatalf("Get(missing) = %q %v %v, want ok false and no error", v, ok, err)
	}
	// The key lives under the tenant's hash-tagged prefix.
	if v, err := c.Get(ctx, "{p:"+id+"}:session:abc").Result(); err != nil || v != "user-data" {
		t.Fatalf("raw key: %q %v", v, err)
	}
	if err := tn.MSet(ctx, map[string]string{"k1": "v1", "k2": "v2"}, 5*time.Minute); err != nil {
		t.Fatal(err)
	}
	m, err := tn.MGet(ctx, "k1", "k2", "missing")
	if err != nil || len(m) != 2 || m["k1"] != "v1" || m["k2"] != "v2" {
		t.Fatalf("MGet = %v %v", m, err)
	}
	if n, err := tn.IncrBy(ctx, "page:views", 41, 0); err != nil || n != 41 {
		t.Fatalf("IncrBy = %d %v", n, err)
	}
	if n, err := tn.IncrBy(ctx, "page:views", 1, 0); err != nil || n != 42 {
		t.Fatalf("IncrBy = %d %v", n, err)
	}
	if n, err := tn.IncrBy(ctx, "stock", -1, 0); err != nil || n != -1 {
		t.Fatalf("IncrBy(-1) = %d %v", n, err)
	}
	if n, err := tn.RPush(ctx, "queue:jobs", []string{"task1", "task2"}, 0); err != nil || n != 2 {
		t.Fatalf("RPush = %d %v", n, err)
	}
	if n, err := tn.LPush(ctx, "queue:jobs", []string{"task0"}, 0); err != nil || n != 3 {
		t.Fatalf("LPush = %d %v", n, err)
	}
	if l, err := tn.LRange(ctx, "queue:jobs", 0, -1); err != nil || !slices.Equal(l, []string{"task0", "task1", "task2"}) {
		t.Fatalf("LRange = %q %v", l, err)
	}
	if l, err := tn.LRange(ctx, "queue:jobs", -2, 100); err != nil || !slices.Equal(l, []string{"task1", "task2"}) {
		t.Fatalf("LRange(-2, 100) = %q %v", l, err)
	}
	if l, err := tn.LRange(ctx, "nothing", 0, -1); err != nil || l == nil || len(l) != 0 {
		t.Fatalf("LRange(missing) = %#v %v, want an empty slice", l, err)
	}
	if v, ok, err := tn.LPop(ctx, "queue:jobs"); err != nil || !ok || v != "task0" {
		t.Fatalf("LPop = %q %v %v", v, ok, err)
	}
	if v, ok, err := tn.RPop(ctx, "queue:jobs"); err != nil || !ok || v != "task2" {
		t.Fatalf("RPop = %q %v %v", v, ok, err)
	}
	if _, ok, err := tn.LPop(ctx, "empty"); err != nil || ok {
		t.Fatalf("LPop(missing) = %v %v", ok, err)
	}
	if ok, err := tn.Expire(ctx, "session:abc", 7200*time.Second); err != nil || !ok {
		t.Fatalf("Expire = %v %v", ok, err)
	}
	if ok, err := tn.Expire(ctx, "missing", time.Minute); err != nil || ok {
		t.Fatalf("Expire(missing) = %v %v", ok, err)
	}
	if d, ok, err := tn.TTL(ctx, "session:abc"); err != nil || !ok || d <= time.Hour || d > 7200*time.Second {
		t.Fatalf("TTL = %v %v %v", d, ok, err)
	}
	if _, ok, err := tn.TTL(ctx, "missing"); err != nil || ok {
		t.Fatalf("TTL(missing) = %v %v", ok, err)
	}
	if n, err := tn.Publish(ctx, "events", "new-order"); err != nil || n != 0 {
		t.Fatalf("Publish = %d %v", n, err)
	}
	keys, err := tn.Keys(ctx, "", 0)
	want := []string{"k1", "k2", "page:views", "queue:jobs", "session:abc", "stock"}
	if err != nil || !slices.Equal(keys, want) {
		t.Fatalf("Keys = %q %v, want %q", keys, err, want)
	}
	if keys, err := tn.Keys(ctx, "k*", 0); err != nil || !slices.Equal(keys, []string{"k1", "k2"}) {
		t.Fatalf("Keys(k*) = %q %v", keys, err)
	}
	if keys, err := tn.Keys(ctx, "*", 2); err != nil || len(keys) != 2 {
		t.Fatalf("Keys(*, 2) = %q %v", keys, err)
	}
	u, err := tn.Usage(ctx)
	if err != nil || u.Keys != 6 || u.MemoryBytes <= 0 {
		t.Fatalf("Usage = %+v %v", u, err)
	}
	checkIndex(t, c, id)
	if n, err := tn.Delete(ctx, "k1", "k2", "missing"); err != nil || n != 2 {
		t.Fatalf("Delete = %d %v", n, err)
	}
	checkIndex(t, c, id)
	if n, err := tn.Flush(ctx); err != nil || n != 4 {
		t.Fatalf("Flush = %d %v", n, err)
	}
	if u, err := tn.Usage(ctx); err != nil || u.Keys != 0 || u.MemoryBytes != 0 {
		t.Fatalf("Usage after flush = %+v %v", u, err)
	}
	if keys := rawKeys(t, c, id); len(keys) != 0 {
		t.Fatalf("keys left after flush: %q", keys)
	}
	if n, _ := c.Exists(ctx, kv.IndexKey(id)).Result(); n != 0 {
		t.Fatal("the index outlives a flush")
	}
}

func TestLimits(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t)
	tn, _ := newTenant(t, s)
	ctx := context.Background()
	big := strings.Repeat("x", kv.MaxValueBytes+1)
	many := make([]string, kv.MaxBatch+1)
	items := map[string]string{}
	for i := range many {
		many[i] = fmt.Sprint("k", i)
		items[many[i]] = "v"
	}
	if err := tn.Set(ctx, "ok", strings.Repeat("x", kv.MaxValueBytes), 0); err != nil {
		t.Fatalf("a value of exactly 512 KB: %v", err)
	}
	mustKind(t, tn.Set(ctx, "__x", "v", 0), errs.Invalid, "reserved_key")
	mustKind(t, tn.Set(ctx, "", "v", 0), errs.Invalid, "invalid_key")
	mustKind(t, tn.Set(ctx, strings.Repeat("k", kv.MaxKeyBytes+1), "v", 0), errs.Invalid, "invalid_key")
	mustKind(t, tn.Set(ctx, "k", big, 0), errs.TooLarge, "value_too_large")
	mustKind(t, tn.Set(ctx, "k", "v", kv.MaxTTL+time.Second), errs.Invalid, "invalid_ttl")
	mustKind(t, tn.Set(ctx, "k", "v", -time.Second), errs.Invalid, "invalid_ttl")
	if err := tn.Set(ctx, "k", "v", kv.MaxTTL); err != nil {
		t.Fatalf("ttl of exactly 7 days: %v", err)
	}
	_, _, err := tn.Get(ctx, "__keys")
	mustKind(t, err, errs.Invalid, "reserved_key")
	_, err = tn.MGet(ctx, many...)
	mustKind(t, err, errs.Invalid, "too_many_keys")
	mustKind(t, tn.MSet(ctx, items, 0), errs.Invalid, "too_many_keys")
	_, err = tn.Delete(ctx, many...)
	mustKind(t, err, errs.Invalid, "too_many_keys")
	_, err = tn.MGet(ctx)
	mustKind(t, err, errs.Invalid, "")
	_, err = tn.RPush(ctx, "l", []string{big}, 0)
	mustKind(t, err, errs.TooLarge, "value_too_large")
	_, err = tn.Publish(ctx, "c", big)
	mustKind(t, err, errs.TooLarge, "value_too_large")
	_, err = tn.Publish(ctx, "__keyspace@0__:x", "m")
	mustKind(t, err, errs.Invalid, "reserved_channel")
	_, err = tn.Keys(ctx, strings.Repeat("*", kv.MaxPatternStars+1), 0)
	mustKind(t, err, errs.Invalid, "invalid_pattern")
	_, err = tn.Keys(ctx, strings.Repeat("a", kv.MaxPatternBytes+1), 0)
	mustKind(t, err, errs.Invalid, "invalid_pattern")
	_, err = tn.Keys(ctx, "*", kv.MaxListKeys+1)
	mustKind(t, err, errs.Invalid, "invalid_count")

	// Types.
	if err := tn.Set(ctx, "str", "hello", 0); err != nil {
		t.Fatal(err)
	}
	_, err = tn.IncrBy(ctx, "str", 1, 0)
	mustKind(t, err, errs.Invalid, "not_integer")
	_, err = tn.LPush(ctx, "str", []string{"a"}, 0)
	mustKind(t, err, errs.Invalid, "wrong_type")
	if !strings.Contains(errs.As(err).Detail, "holds a string") || !strings.Contains(errs.As(err).Detail, "needs a list") {
		t.Errorf("wrong-type detail %q does not say what the key holds and what was needed", errs.As(err).Detail)
	}
	if _, err := tn.RPush(ctx, "list", []string{"a"}, 0); err != nil {
		t.Fatal(err)
	}
	_, _, err = tn.Get(ctx, "list")
	mustKind(t, err, errs.Invalid, "wrong_type")
	_, err = tn.IncrBy(ctx, "list", 1, 0)
	mustKind(t, err, errs.Invalid, "wrong_type")
	_, _, err = tn.LPop(ctx, "str")
	mustKind(t, err, errs.Invalid, "wrong_type")
	_, err = tn.LRange(ctx, "str", 0, -1)
	mustKind(t, err, errs.Invalid, "wrong_type")
	if _, err := tn.IncrBy(ctx, "max", 1<<62, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := tn.IncrBy(ctx, "max", 1<<62, 0); err == nil {
		t.Fatal("overflow accepted")
	} else {
		mustKind(t, err, errs.Invalid, "not_integer")
	}
	// lrange returns at most MaxRange elements.
	vals := make([]string, kv.MaxPushValues)
	for i := range vals {
		vals[i] = "e"
	}
	for range 2 {
		if _, err := tn.RPush(ctx, "long", vals, 0); err != nil {
			t.Fatal(err)
		}
	}
	if l, err := tn.LRange(ctx, "long", 0, -1); err != nil || len(l) != kv.MaxRange {
		t.Fatalf("LRange of a 2000-element list: %d elements, %v", len(l), err)
	}
	_, err = tn.RPush(ctx, "long", append(vals, "one too many"), 0)
	mustKind(t, err, errs.Invalid, "too_many_values")
}

func TestDefaultTTLs(t *testing.T) {
	t.Parallel()
	s, c := newStore(t)
	tn, id := newTenant(t, s)
	ctx := context.Background()
	if err := tn.Set(ctx, "s", "v", 0); err != nil {
		t.Fatal(err)
	}
	if err := tn.MSet(ctx, map[string]string{"m": "v"}, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := tn.IncrBy(ctx, "c", 1, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := tn.RPush(ctx, "l", []string{"a"}, 0); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"s", "m", "c", "l"} {
		d, err := c.PTTL(ctx, kv.Prefix(id)+k).Result()
		if err != nil || d <= kv.DefaultTTL-time.Minute || d > kv.DefaultTTL {
			t.Errorf("key %s: TTL %v %v, want the default of 1 hour", k, d, err)
		}
	}
	// An explicit TTL on a counter or list replaces the expiry; none keeps it.
	if _, err := tn.IncrBy(ctx, "c", 1, 24*time.Hour); err != nil {
		t.Fatal(err)
	}
	if _, err := tn.IncrBy(ctx, "c", 1, 0); err != nil {
		t.Fatal(err)
	}
	if d, _, _ := tn.TTL(ctx, "c"); d <= 23*time.Hour {
		t.Errorf("counter TTL %v after incr with ttl 24h then incr without, want about 24h", d)
	}
	if _, err := tn.LPush(ctx, "l", []string{"b"}, 2*time.Hour); err != nil {
		t.Fatal(err)
	}
	if d, _, _ := tn.TTL(ctx, "l"); d <= time.Hour+59*time.Minute {
		t.Errorf("list TTL %v after lpush with ttl 2h, want about 2h", d)
	}
	// Set without a TTL resets to the default, like SET.
	if err := tn.Set(ctx, "c", "plain", 0); err != nil {
		t.Fatal(err)
	}
	if d, _, _ := tn.TTL(ctx, "c"); d > kv.DefaultTTL {
		t.Errorf("set without ttl left TTL %v", d)
	}
	checkIndex(t, c, id)
}

// waitGone waits (on Redis's clock) until key no longer exists.
func waitGone(t *testing.T, c *redis.Client, key string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for {
		n, err := c.Exists(ctx, key).Result()
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			return
		}
		// DEBUG SLEEP 0 yields without holding Redis; the poll runs on
		// Redis's own expiry, never on a wall-clock threshold here.
		select {
		case <-ctx.Done():
			t.Fatalf("key %s never expired", key)
		case <-time.After(5 * time.Millisecond):
		}
	}
}

func TestExpiryKeepsIndexExact(t *testing.T) {
	t.Parallel()
	s, c := newStore(t)
	tn, id := newTenant(t, s)
	ctx := context.Background()
	for i := range 20 {
		if err := tn.Set(ctx, fmt.Sprint("short", i), "v", 20*time.Millisecond); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := tn.RPush(ctx, "shortlist", []string{"a"}, 20*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if _, err := tn.IncrBy(ctx, "shortcount", 1, 20*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if err := tn.MSet(ctx, map[string]string{"long1": "v", "long2": "v"}, time.Hour); err != nil {
		t.Fatal(err)
	}
	if ok, err := tn.Expire(ctx, "long2", 20*time.Millisecond); err != nil || !ok {
		t.Fatal(ok, err)
	}
	for i := range 20 {
		waitGone(t, c, kv.Prefix(id)+fmt.Sprint("short", i))
	}
	for _, k := range []string{"shortlist", "shortcount", "long2"} {
		waitGone(t, c, kv.Prefix(id)+k)
	}
	keys, err := tn.Keys(ctx, "*", 0)
	if err != nil || !slices.Equal(keys, []string{"long1"}) {
		t.Fatalf("Keys after expiry = %q %v, want only long1", keys, err)
	}
	u, err := tn.Usage(ctx)
	if err != nil || u.Keys != 1 {
		t.Fatalf("Usage after expiry = %+v %v", u, err)
	}
	// The listing pruned the index.
	if n, err := c.ZCard(ctx, kv.IndexKey(id)).Result(); err != nil || n != 1 {
		t.Fatalf("index has %d members after expiry and a listing, want 1 (%v)", n, err)
	}
	if n, err := tn.Flush(ctx); err != nil || n != 1 {
		t.Fatalf("Flush = %d %v, want 1 (expired keys are not counted)", n, err)
	}
	// The index itself expires with the tenant's last key.
	if err := tn.Set(ctx, "last", "v", 20*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	waitGone(t, c, kv.IndexKey(id))
}

// Concurrent writers on overlapping keys: afterwards, the index holds
// exactly the live keys, each with its exact expiry.
func TestIndexUnderConcurrentWriters(t *testing.T) {
	t.Parallel()
	s, c := newStore(t)
	tn, id := newTenant(t, s)
	ctx := context.Background()
	var wg sync.WaitGroup
	errc := make(chan error, 8)
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 300 {
				k := fmt.Sprint("k", (i*7+w)%40)
				var err error
				switch (i + w) % 9 {
				case 0:
					err = tn.Set(ctx, k, "v", time.Duration(1+i%3)*time.Minute)
				case 1:
					_, err = tn.Delete(ctx, k, fmt.Sprint("k", (i+1)%40))
				case 2:
					_, err = tn.IncrBy(ctx, "n"+k, 1, 0)
				case 3:
					_, err = tn.RPush(ctx, "l"+k, []string{"a", "b"}, time.Minute)
				case 4:
					_, _, err = tn.LPop(ctx, "l"+k)
				case 5:
					_, err = tn.Expire(ctx, k, time.Duration(1+i%5)*time.Minute)
				case 6:
					err = tn.MSet(ctx, map[string]string{k: "m", "x" + k: "m"}, 0)
				case 7:
					_, err = tn.Keys(ctx, "*", 50)
				case 8:
					if i%60 == 8 {
						_, err = tn.Flush(ctx)
					} else {
						_, _, err = tn.RPop(ctx, "l"+k)
					}
				}
				if err != nil {
					errc <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Fatal(err)
	}
	checkIndex(t, c, id)
	u, err := tn.Usage(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if raw := rawKeys(t, c, id); int64(len(raw)) != u.Keys {
		t.Fatalf("Usage counts %d keys, Redis holds %d", u.Keys, len(raw))
	}
}

// A tenant's pattern only ever matches its own keys, whatever it is.
func TestIsolation(t *testing.T) {
	t.Parallel()
	s, c := newStore(t)
	a, aID := newTenant(t, s)
	b, bID := newTenant(t, s)
	ctx := context.Background()
	if err := a.MSet(ctx, map[string]string{"secret": "a", "shared": "a"}, 0); err != nil {
		t.Fatal(err)
	}
	// Keys another tenant or the platform might hold, written raw.
	c.Set(ctx, "plain", "x", time.Minute)
	c.Set(ctx, "{p:"+aID+"}:__internal", "x", time.Minute)
	t.Cleanup(func() { c.Del(context.Background(), "plain", "{p:"+aID+"}:__internal") })
	if err := b.Set(ctx, "shared", "b", 0); err != nil {
		t.Fatal(err)
	}
	if v, ok, _ := b.Get(ctx, "secret"); ok {
		t.Fatalf("B reads A's secret: %q", v)
	}
	if v, _, _ := b.Get(ctx, "shared"); v != "b" {
		t.Fatalf("B reads %q for its own key", v)
	}
	if m, _ := b.MGet(ctx, "secret", "shared"); len(m) != 1 || m["shared"] != "b" {
		t.Fatalf("B's mget = %v", m)
	}
	for _, p := range []string{"*", "*secret*", "?ecret", "[s]ecret", `\*`, `{p:*`, "*}*", "*:*", "__*", "[_]_*", `\_\_*`, "*" + aID + "*",
		"[", `\`, "{", "}", "[^a]*", "[!-~]*", "*\x00*", "s*t"} {
		keys, err := b.Keys(ctx, p, kv.MaxListKeys)
		if err != nil {
			t.Fatalf("pattern %q: %v", p, err)
		}
		for _, k := range keys {
			if k != "shared" {
				t.Errorf("pattern %q from B returned %q", p, k)
			}
		}
	}
	if keys, _ := a.Keys(ctx, "__*", 0); len(keys) != 0 {
		t.Errorf("A's listing shows reserved keys: %q", keys)
	}
	if n, _ := b.Delete(ctx, "secret"); n != 0 {
		t.Fatal("B deleted A's key")
	}
	if n, _ := b.Flush(ctx); n != 1 {
		t.Fatalf("B's flush deleted %d keys, want its 1", n)
	}
	if v, _, _ := a.Get(ctx, "secret"); v != "a" {
		t.Fatal("A's key is gone after B's delete and flush")
	}
	if n, _ := c.Exists(ctx, "plain").Result(); n != 1 {
		t.Fatal("a flush deleted a key outside the tenant")
	}
	// Publish goes to the tenant's own channel.
	sub := c.Subscribe(ctx, kv.Channel(aID, "events"))
	defer sub.Close()
	if _, err := sub.Receive(ctx); err != nil {
		t.Fatal(err)
	}
	if n, err := b.Publish(ctx, "events", "from B"); err != nil || n != 0 {
		t.Fatalf("B's publish reached %d subscribers of A's channel (%v)", n, err)
	}
	if n, err := a.Publish(ctx, "events", "from A"); err != nil || n != 1 {
		t.Fatalf("A's publish reached %d subscribers (%v), want 1", n, err)
	}
	msg, err := sub.ReceiveMessage(ctx)
	if err != nil || msg.Payload != "from A" {
		t.Fatalf("subscriber got %v %v", msg, err)
	}
	_ = bID
}

func TestInvalidTenant(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t)
	for _, id := range []string{"", "a}b", "a*", "x{y", strings.Repeat("a", 65)} {
		err := s.For(id).Set(context.Background(), "k", "v", 0)
		if err == nil || errs.KindOf(err) != errs.Internal {
			t.Errorf("tenant %q: %v, want an internal error", id, err)
		}
	}
}

func TestRedisDown(t *testing.T) {
	t.Parallel()
	c := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", DialTimeout: time.Second, MaxRetries: -1})
	defer c.Close()
	tn := kv.New(c, kv.Options{}).For(uuid.NewString())
	ctx := context.Background()
	err := tn.Set(ctx, "k", "v", 0)
	mustKind(t, err, errs.Unavailable, "kv_unavailable")
	_, _, err = tn.Get(ctx, "k")
	mustKind(t, err, errs.Unavailable, "kv_unavailable")
	if !errors.Is(err, errs.ErrUnavailable) {
		t.Fatal("errors.Is(err, ErrUnavailable) is false")
	}
}

func TestHumanBytes(t *testing.T) {
	t.Parallel()
	for n, want := range map[int64]string{0: "0 B", 1023: "1023 B", 8192: "8.0 KB", 104857600: "100.0 MB", 524288000: "500.0 MB", 1536: "1.5 KB"} {
		if got := kv.HumanBytes(n); got != want {
			t.Errorf("HumanBytes(%d) = %q, want %q", n, got, want)
		}
	}
}
