package mosaic_test

import (
	"context"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mosaic-platform/mosaic"
	"github.com/mosaic-platform/mosaic/errs"
	"github.com/mosaic-platform/mosaic/mosaictest"
)

// TestSQLChaos runs, from 8 goroutines at once on one tenant, a random mix
// of what the SQL path must survive: plain reads, writes, caller
// cancellations at random moments of a running statement, results over the
// row cap (cancelled on the server), syntax errors, scripts that change
// session state, a BEGIN left open, parameters. Afterwards: every write
// that was answered as done is committed exactly once, nothing runs or
// waits in a transaction on the server, the pool holds no more backends
// than its cap, and every pooled session is clean.
func TestSQLChaos(t *testing.T) {
	t.Parallel()
	env := mosaictest.New(t, mosaictest.WithConfig(func(c *mosaic.Config) {
		c.SQLMaxRows = 1000
	}))
	cp := env.Project(t)
	mustSQL(t, env, cp.Slug, "CREATE TABLE chaos (worker int, n int)")
	ctx := context.Background()
	var inserted atomic.Int64
	chaos(t, 8, func(w int, rng *rand.Rand) {
		for i := range 60 {
			sql := func(c context.Context, q string, params ...any) (*mosaic.SQLResult, error) {
				return env.Platform.SQL(c, env.Account.ID, cp.Slug, q, params...)
			}
			switch op := rng.IntN(9); op {
			case 0:
				res, err := sql(ctx, "SELECT 1 AS one")
				if err != nil || string(res.Rows) != `[{"one":1}]` {
					t.Errorf("worker %d: SELECT 1: %v %v", w, res, err)
				}
			case 1:
				if _, err := sql(ctx, "INSERT INTO chaos VALUES ($1, $2)", w, i); err != nil {
					t.Errorf("worker %d: insert: %v", w, err)
				} else {
					inserted.Add(1)
				}
			case 2:
				// The caller gives up while the statement runs.
				c, cancel := context.WithTimeout(ctx, time.Duration(1+rng.IntN(30))*time.Millisecond)
				_, err := sql(c, "SELECT pg_sleep(5)")
				cancel()
				if err == nil {
					t.Errorf("worker %d: a cancelled pg_sleep(5) succeeded", w)
				}
			case 3:
				_, err := sql(ctx, "SELECT g FROM generate_series(1, 1000000) g")
				if e := errs.As(err); e == nil || e.Code != "result_too_large" {
					t.Errorf("worker %d: over the row cap: %v", w, err)
				}
			case 4:
				_, err := sql(ctx, "SELEC 1")
				if e := errs.As(err); e == nil || e.Kind != errs.Invalid {
					t.Errorf("worker %d: syntax error: %v", w, err)
				}
			case 5:
				if _, err := sql(ctx, "SET work_mem = '77MB'; SET search_path = pg_catalog; CREATE TEMP TABLE IF NOT EXISTS tmp (x int); SELECT pg_try_advisory_lock(7)"); err != nil {
					t.Errorf("worker %d: script: %v", w, err)
				}
			case 6:
				if _, err := sql(ctx, "BEGIN"); err != nil {
					t.Errorf("worker %d: BEGIN: %v", w, err)
				}
			case 7:
				res, err := sql(ctx, "SELECT $1::int + 1 AS n, $2::text AS s", i, "x")
				if err != nil || string(res.Rows) != `[{"n":`+itoa(i+1)+`,"s":"x"}]` {
					t.Errorf("worker %d: params: %v %v", w, res, err)
				}
			case 8:
				// A caller that gave up before asking.
				c, cancel := context.WithCancel(ctx)
				cancel()
				if _, err := sql(c, "INSERT INTO chaos VALUES (-1, -1)"); !errors.Is(err, context.Canceled) && errs.As(err) == nil {
					t.Errorf("worker %d: cancelled before the call: %v", w, err)
				}
			}
		}
	})

	admin := adminConn(t, env.DatabaseURL)
	deadline := time.Now().Add(30 * time.Second)
	for {
		var total, busy int
		err := admin.QueryRow(ctx, `SELECT count(*), count(*) FILTER (WHERE state <> 'idle')
			FROM pg_stat_activity WHERE datname = $1 AND usename = $2`, cp.Credentials.Database, cp.Credentials.User).Scan(&total, &busy)
		if err != nil {
			t.Fatal(err)
		}
		if busy == 0 && total <= 4 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after the chaos the tenant has %d backends, %d not idle (running, or idle in a transaction)", total, busy)
		}
		time.Sleep(20 * time.Millisecond)
	}
	var n int64
	if err := adminConn(t, cp.Credentials.URL()).QueryRow(ctx, "SELECT count(*) FROM chaos WHERE worker >= 0").Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != inserted.Load() {
		t.Errorf("%d rows committed, %d inserts answered as done", n, inserted.Load())
	}
	// Every pooled session is clean: the same probe from 4 at once.
	var pw sync.WaitGroup
	for range 4 {
		pw.Add(1)
		go func() {
			defer pw.Done()
			res, err := env.Platform.SQL(ctx, env.Account.ID, cp.Slug, `SELECT current_setting('work_mem') AS wm, current_setting('search_path') AS sp,
				to_regclass('pg_temp.tmp') IS NULL AS no_temp, (SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()) AS locks`)
			if err != nil {
				t.Errorf("probe: %v", err)
				return
			}
			var rows []map[string]any
			json.Unmarshal(res.Rows, &rows)
			if r := rows[0]; r["wm"] == "77MB" || r["sp"] != "public" || r["no_temp"] != true || r["locks"] != 0.0 {
				t.Errorf("a pooled session kept state: %s", res.Rows)
			}
		}()
	}
	pw.Wait()
}

func itoa(i int) string {
	b, _ := json.Marshal(i)
	return string(b)
}
