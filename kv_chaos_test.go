package mosaic_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/mosaic-platform/mosaic"
	"github.com/mosaic-platform/mosaic/errs"
	"github.com/mosaic-platform/mosaic/mosaictest"
)

// TestKVChaos: 6 goroutines at once set (with and without a TTL), delete,
// expire, increment, push, pop and flush the same ten keys of one
// project, while another project writes the same key names. Once it stops
// and the short TTLs have passed: the key listing is exactly the keys that
// answer, Usage counts them, and the other project's keys are all there,
// untouched.
func TestKVChaos(t *testing.T) {
	t.Parallel()
	env := mosaictest.New(t)
	if env.RedisURL == "" {
		t.Skip("no Redis server")
	}
	ctx := context.Background()
	pro := func(p *mosaic.NewProject) { p.Plan = "pro" }
	a, b := env.Project(t, pro), env.Project(t, pro)
	kva, err := env.Platform.KV(ctx, env.Account.ID, a.Slug)
	if err != nil {
		t.Fatal(err)
	}
	kvb, err := env.Platform.KV(ctx, env.Account.ID, b.Slug)
	if err != nil {
		t.Fatal(err)
	}
	names := make([]string, 10)
	for i := range names {
		names[i] = fmt.Sprintf("k%d", i)
	}
	// B's keys, which nothing of A's may touch.
	for _, k := range names {
		if err := kvb.Set(ctx, k, "b:"+k, 0); err != nil {
			t.Fatal(err)
		}
	}
	wrongType := func(err error) bool {
		e := errs.As(err)
		return e != nil && e.Kind == errs.Conflict || e != nil && e.Kind == errs.Invalid
	}
	chaos(t, 6, func(w int, rng *rand.Rand) {
		for range 150 {
			k := names[rng.IntN(len(names))]
			var err error
			switch rng.IntN(10) {
			case 0, 1:
				err = kva.Set(ctx, k, fmt.Sprintf("value %d", rng.IntN(1000)), 0)
			case 2:
				err = kva.Set(ctx, k, "short-lived", time.Duration(50+rng.IntN(200))*time.Millisecond)
			case 3:
				_, err = kva.Delete(ctx, k)
			case 4:
				_, err = kva.Expire(ctx, k, time.Duration(50+rng.IntN(200))*time.Millisecond)
			case 5:
				_, err = kva.Incr(ctx, k, 1, 0)
			case 6:
				_, err = kva.LPush(ctx, k, []string{"x", "y"}, 0)
			case 7:
				_, _, err = kva.LPop(ctx, k)
			case 8:
				_, err = kva.Usage(ctx)
			case 9:
				if rng.IntN(10) == 0 {
					_, err = kva.Flush(ctx)
				} else {
					_, err = kva.Keys(ctx, "*", 100)
				}
			}
			if err != nil && !wrongType(err) && !errors.Is(err, errs.ErrNotFound) {
				t.Errorf("worker %d: %v", w, err)
			}
		}
	})
	time.Sleep(400 * time.Millisecond) // the short TTLs pass

	listed, err := kva.Keys(ctx, "*", 1000)
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(listed)
	var present []string
	for _, k := range names {
		if _, ok, err := kva.TTL(ctx, k); err != nil {
			t.Fatal(err)
		} else if ok {
			present = append(present, k)
		}
	}
	if !slices.Equal(listed, present) {
		t.Errorf("listed %v, present %v", listed, present)
	}
	u, err := kva.Usage(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if u.KeyCount != int64(len(present)) || len(present) > 0 && u.MemoryBytes <= 0 || len(present) == 0 && u.MemoryBytes != 0 {
		t.Errorf("usage %+v with %d keys present", u, len(present))
	}
	for _, k := range names {
		if v, ok, err := kvb.Get(ctx, k); err != nil || !ok || v != "b:"+k {
			t.Errorf("the other project's %s: %q %v %v", k, v, ok, err)
		}
	}
	t.Logf("%d keys left: %v; usage %+v", len(present), present, u)
}
