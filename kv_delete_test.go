package mosaic_test

import (
	"context"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/mosaic-platform/mosaic"
	"github.com/mosaic-platform/mosaic/mosaictest"
)

// TestDeleteProjectFlushesKV: deleting a project removes its keys (and its
// key index) from Redis, and leaves another project's keys alone.
func TestDeleteProjectFlushesKV(t *testing.T) {
	t.Parallel()
	env := mosaictest.New(t)
	if env.RedisURL == "" {
		t.Skip("no Redis: install redis-server (scripts/setup)")
	}
	ctx := context.Background()
	pro := func(n *mosaic.NewProject) { n.Plan = "pro" }
	doomed, kept := env.Project(t, pro), env.Project(t, pro)
	for _, cp := range []*mosaic.CreatedProject{doomed, kept} {
		k, err := env.Platform.KV(ctx, env.Account.ID, cp.Slug)
		if err != nil {
			t.Fatal(err)
		}
		for _, key := range []string{"a", "b", "c"} {
			if err := k.Set(ctx, key, "v", 0); err != nil {
				t.Fatal(err)
			}
		}
	}
	opt, err := redis.ParseURL(env.RedisURL)
	if err != nil {
		t.Fatal(err)
	}
	rc := redis.NewClient(opt)
	defer rc.Close()
	count := func(id string) int {
		var n int
		iter := rc.Scan(ctx, 0, "{p:"+id+"}:*", 1000).Iterator()
		for iter.Next(ctx) {
			if strings.HasPrefix(iter.Val(), "{p:"+id+"}:") {
				n++
			}
		}
		if err := iter.Err(); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if count(doomed.ID.String()) == 0 {
		t.Fatal("the keys are not where this test looks for them")
	}
	if err := env.Platform.DeleteProject(ctx, env.Account.ID, doomed.Slug); err != nil {
		t.Fatal(err)
	}
	if n := count(doomed.ID.String()); n != 0 {
		t.Errorf("%d keys of the deleted project are left in Redis", n)
	}
	if n := count(kept.ID.String()); n < 3 {
		t.Errorf("the other project lost keys: %d left", n)
	}
}
