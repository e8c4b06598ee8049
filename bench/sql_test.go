package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/mosaic-platform/mosaic"
	"github.com/mosaic-platform/mosaic/mosaictest"
	"github.com/mosaic-platform/mosaic/sqlexec"
)

// mixedQuery is 1,000 rows of int8, numeric, jsonb, uuid, timestamptz,
// bytea, int4[], text and float8 (with NaN).
const mixedQuery = `SELECT g::int8 AS id, (g * 1.25)::numeric AS price, jsonb_build_object('g', g, 'tags', jsonb_build_array('a', 'b')) AS doc,
	md5(g::text)::uuid AS uid, timestamptz '2024-01-02 03:04:05+00' + g * interval '1 minute' AS at, decode(md5(g::text), 'hex') AS raw,
	ARRAY[g, g + 1, g + 2] AS arr, 'name ' || g AS name, CASE WHEN g % 100 = 0 THEN 'NaN'::float8 ELSE g / 3.0 END AS score
	FROM generate_series(1, 1000) g`

// BenchmarkSQL compares, on one PostgreSQL server: POST /{slug}/sql with
// SELECT 1 over HTTP; raw pgx QueryRow on a pool with the tenant's
// credentials and the same size; and an empty net/http round trip. Serial
// runs report p50; the parallel runs use 32 goroutines
// (SetParallelism(16) × GOMAXPROCS=2), so ns/op is 1/throughput.
func BenchmarkSQL(b *testing.B) {
	env := mosaictest.New(b, mosaictest.WithConfig(func(c *mosaic.Config) {
		c.Plans = mosaic.DefaultPlans()
		free := c.Plans["free"]
		free.SQLQueriesPerHour = 1 << 40
		c.Plans["free"] = free
	}))
	cp := env.Project(b)
	ctx := context.Background()
	pc, err := pgxpool.ParseConfig(cp.Credentials.URL())
	if err != nil {
		b.Fatal(err)
	}
	pc.MaxConns = sqlexec.DefaultPoolMaxConns
	raw, err := pgxpool.NewWithConfig(ctx, pc)
	if err != nil {
		b.Fatal(err)
	}
	defer raw.Close()
	empty := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte("{}\n"))
	}))
	defer empty.Close()
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	sqlURL := env.BaseURL + "/" + cp.Slug + "/sql"
	body := []byte(`{"query": "SELECT 1"}`)
	post := func(url string, body []byte) {
		req, _ := http.NewRequest("POST", url, bytes.NewReader(body))
		req.Header.Set("X-API-Key", env.APIKey)
		req.Header.Set("Content-Type", "application/json")
		resp, err := hc.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			b.Fatalf("status %d", resp.StatusCode)
		}
	}
	rawSelect := func() {
		var n int
		if err := raw.QueryRow(ctx, "SELECT 1").Scan(&n); err != nil {
			b.Fatal(err)
		}
	}
	ops := map[string]func(){
		"sql_http": func() { post(sqlURL, body) },
		"raw_pgx":  rawSelect,
		"empty_http": func() {
			post(empty.URL, body)
		},
		"platform_sql": func() {
			if _, err := env.Platform.SQL(ctx, env.Account.ID, cp.Slug, "SELECT 1"); err != nil {
				b.Fatal(err)
			}
		},
	}
	for _, name := range []string{"raw_pgx", "empty_http", "sql_http", "platform_sql"} {
		op := ops[name]
		op() // warm
		b.Run("serial/"+name, func(b *testing.B) {
			lat := make([]time.Duration, 0, 1024)
			for b.Loop() {
				t0 := time.Now()
				op()
				lat = append(lat, time.Since(t0))
			}
			slices.Sort(lat)
			b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
		})
	}
	for _, name := range []string{"raw_pgx", "empty_http", "sql_http"} {
		op := ops[name]
		b.Run("c32/"+name, func(b *testing.B) {
			b.SetParallelism(16)
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					op()
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
		})
	}

	// 1,000 mixed-type rows: the platform's exact encoder (sqlexec.Exec on
	// the tenant pool) against pgx rows.Values() + encoding/json on the same pool.
	b.Run("rows1000/values_encoding_json", func(b *testing.B) {
		for b.Loop() {
			rows, err := raw.Query(ctx, mixedQuery, pgx.QueryExecModeExec)
			if err != nil {
				b.Fatal(err)
			}
			fds := rows.FieldDescriptions()
			var out []map[string]any
			for rows.Next() {
				vals, err := rows.Values()
				if err != nil {
					b.Fatal(err)
				}
				m := make(map[string]any, len(vals))
				for i, v := range vals {
					if f, ok := v.(float64); ok && f != f {
						v = "NaN" // encoding/json refuses NaN
					}
					m[fds[i].Name] = v
				}
				out = append(out, m)
			}
			if rows.Err() != nil {
				b.Fatal(rows.Err())
			}
			if _, err := json.Marshal(out); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("rows1000/platform_exact", func(b *testing.B) {
		for b.Loop() {
			res, err := env.Platform.SQL(ctx, env.Account.ID, cp.Slug, mixedQuery)
			if err != nil {
				b.Fatal(err)
			}
			_ = res.AppendJSON(nil)
		}
	})
}
