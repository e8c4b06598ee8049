package bench

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/mosaic-platform/mosaic"
	"github.com/mosaic-platform/mosaic/client"
	"github.com/mosaic-platform/mosaic/mosaictest"
)

func TestMain(m *testing.M) { mosaictest.Main(m) }

var seq atomic.Int64

func uniqueSlug(prefix string) string {
	return fmt.Sprintf("%s-%d-%d", prefix, os.Getpid()%10000, seq.Add(1))
}

// BenchmarkProjectCreate compares provisioning a project end to end (in
// process and over HTTP) with the raw SQL steps it stands for, on one server:
// CREATE ROLE + CREATE DATABASE + CREATE EXTENSION for each available extension.
// Only the create is timed; the drop after each iteration is not.
func BenchmarkProjectCreate(b *testing.B) {
	env := mosaictest.New(b)
	ctx := context.Background()
	admin, err := pgx.Connect(ctx, env.DatabaseURL)
	if err != nil {
		b.Fatal(err)
	}
	defer admin.Close(ctx)
	var exts []string
	rows, _ := admin.Query(ctx, `SELECT name FROM pg_available_extensions WHERE name = ANY($1)`, []string{"uuid-ossp", "pgcrypto", "pg_stat_statements", "vector"})
	exts, err = pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		b.Fatal(err)
	}

	b.Run("raw_sql", func(b *testing.B) {
		for b.Loop() {
			name := "bench_raw_" + strings.ReplaceAll(uniqueSlug("r"), "-", "_")
			mustExec(b, admin, "CREATE ROLE "+name+" LOGIN PASSWORD 'x' NOSUPERUSER NOCREATEDB NOCREATEROLE CONNECTION LIMIT 10")
			mustExec(b, admin, "CREATE DATABASE "+name+" TEMPLATE template0")
			c, err := pgx.Connect(ctx, replaceDB(env.DatabaseURL, name))
			if err != nil {
				b.Fatal(err)
			}
			for _, e := range exts {
				mustExec(b, c, `CREATE EXTENSION IF NOT EXISTS "`+e+`"`)
			}
			c.Close(ctx)
			b.StopTimer()
			mustExec(b, admin, "DROP DATABASE "+name+" WITH (FORCE)")
			mustExec(b, admin, "DROP ROLE "+name)
			b.StartTimer()
		}
	})
	b.Run("platform", func(b *testing.B) {
		var lat []time.Duration
		for b.Loop() {
			slug := uniqueSlug("bench")
			t0 := time.Now()
			if _, err := env.Platform.CreateProject(ctx, env.Account.ID, mosaic.NewProject{Name: "bench", Slug: slug}); err != nil {
				b.Fatal(err)
			}
			lat = append(lat, time.Since(t0))
			b.StopTimer()
			if err := env.Platform.DeleteProject(ctx, env.Account.ID, slug); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
		}
		reportP50(b, lat)
	})
	b.Run("http", func(b *testing.B) {
		var lat []time.Duration
		for b.Loop() {
			t0 := time.Now()
			p, err := env.Client.CreateProject(ctx, client.CreateProjectRequest{Name: "bench", Slug: uniqueSlug("http")})
			if err != nil {
				b.Fatal(err)
			}
			lat = append(lat, time.Since(t0))
			b.StopTimer()
			if err := env.Client.DeleteProject(ctx, p.Slug); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
		}
		reportP50(b, lat)
	})
}

// BenchmarkCreate200 creates 200 projects without deleting them between
// creates and reports the p50 create latency of each batch of 20, to show
// whether later creates slow down as the server fills. It then deletes them.
func BenchmarkCreate200(b *testing.B) {
	env := mosaictest.New(b)
	ctx := context.Background()
	for b.Loop() {
		var slugs []string
		var batch []time.Duration
		for i := range 200 {
			slug := uniqueSlug("curve")
			t0 := time.Now()
			if _, err := env.Platform.CreateProject(ctx, env.Account.ID, mosaic.NewProject{Name: "curve", Slug: slug}); err != nil {
				b.Fatal(err)
			}
			batch = append(batch, time.Since(t0))
			slugs = append(slugs, slug)
			if (i+1)%20 == 0 {
				slices.Sort(batch)
				b.Logf("projects %3d-%3d: p50 %6.1f ms, max %6.1f ms", i-18, i+1, ms(batch[len(batch)/2]), ms(batch[len(batch)-1]))
				batch = batch[:0]
			}
		}
		b.StopTimer()
		for _, s := range slugs {
			if err := env.Platform.DeleteProject(ctx, env.Account.ID, s); err != nil {
				b.Fatal(err)
			}
		}
		b.StartTimer()
	}
}

func reportP50(b *testing.B, lat []time.Duration) {
	if len(lat) == 0 {
		return
	}
	slices.Sort(lat)
	b.ReportMetric(ms(lat[len(lat)/2]), "p50-ms")
	b.ReportMetric(ms(lat[len(lat)*99/100]), "p99-ms")
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func mustExec(b *testing.B, c *pgx.Conn, sql string) {
	b.Helper()
	if _, err := c.Exec(context.Background(), sql); err != nil {
		b.Fatalf("%s: %v", sql, err)
	}
}

func replaceDB(url, db string) string {
	i := strings.LastIndex(url, "/postgres")
	return url[:i] + "/" + db + url[i+len("/postgres"):]
}
