package bench

import (
	"bufio"
	"context"
	"fmt"
	"github.com/jackc/pgx/v5/pgxpool"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mosaic-platform/mosaic"
	"github.com/mosaic-platform/mosaic/internal/localsvc"
	"github.com/mosaic-platform/mosaic/sqlexec"
)

// BenchmarkSQLManyTenants compares SELECT 1 throughput (32 workers, in
// process) on one tenant with the same load spread over N tenants that each
// have a warm pool (N = MOSAIC_BENCH_TENANTS, default 1000), and reports the
// memory an idle tenant costs: Go heap per warm pool and PostgreSQL
// proportional set size (PSS) per idle backend. It runs its own PostgreSQL
// with room for N connections, so it takes a few minutes.
func BenchmarkSQLManyTenants(b *testing.B) {
	n := 1000
	if v, err := strconv.Atoi(os.Getenv("MOSAIC_BENCH_TENANTS")); err == nil && v > 0 {
		n = v
	}
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "bench-tenants-")
	if err != nil {
		b.Fatal(err)
	}
	defer os.RemoveAll(dir)
	os.Chmod(dir, 0o711)
	pg, err := localsvc.StartPostgres(ctx, localsvc.PostgresOptions{Dir: filepath.Join(dir, "pg"), MaxConnections: n + 200})
	if err != nil {
		b.Fatal(err)
	}
	defer pg.Stop(context.Background())
	dbs, err := sqlexec.New(sqlexec.Config{
		Servers:      []sqlexec.Server{{Name: "main", AdminURL: pg.URL()}},
		PoolMaxConns: 4, MaxTotalConns: int32(n + 100), PoolIdleTimeout: time.Hour,
		Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		b.Fatal(err)
	}
	defer dbs.Close()
	plans := mosaic.DefaultPlans()
	plans["bench"] = mosaic.Plan{DatabaseBytes: 1 << 40, SQLQueriesPerHour: 1 << 40, DBConnections: 5}
	p, err := mosaic.New(ctx, mosaic.Config{DatabaseURL: pg.URL(), Databases: dbs, SecretKey: []byte("bench-secret-key-0123456789"),
		Plans: plans, DefaultPlan: "bench"})
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	acct, err := p.CreateAccount(ctx, "bench@example.test", "bench")
	if err != nil {
		b.Fatal(err)
	}
	slugs := make([]string, n)
	for i := range slugs {
		cp, err := p.CreateProject(ctx, acct.ID, mosaic.NewProject{Name: "t", Slug: fmt.Sprintf("tenant-%04d", i)})
		if err != nil {
			b.Fatal(err)
		}
		slugs[i] = cp.Slug
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for _, s := range slugs { // warm one pooled connection per tenant
		if _, err := p.SQL(ctx, acct.ID, s, "SELECT 1"); err != nil {
			b.Fatal(err)
		}
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	b.Logf("Go heap per warm tenant pool: %.1f KiB", float64(int64(after.HeapInuse)-int64(before.HeapInuse))/float64(n)/1024)
	if pss, count := backendPSS(); count > 0 {
		b.Logf("PostgreSQL: %d backends, PSS %.1f MiB each on average", count, float64(pss)/float64(count)/1024)
	}

	run := func(b *testing.B, pick func(i int64) string) {
		var next atomic.Int64
		b.ResetTimer()
		start := time.Now()
		var wg sync.WaitGroup
		per := b.N/32 + 1
		for range 32 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range per {
					if _, err := p.SQL(ctx, acct.ID, pick(next.Add(1)), "SELECT 1"); err != nil {
						b.Error(err)
						return
					}
				}
			}()
		}
		wg.Wait()
		b.ReportMetric(float64(per*32)/time.Since(start).Seconds(), "req/s")
	}
	b.Run("one_tenant", func(b *testing.B) { run(b, func(int64) string { return slugs[0] }) })
	b.Run(fmt.Sprintf("%d_tenants", n), func(b *testing.B) { run(b, func(i int64) string { return slugs[i%int64(n)] }) })

	// The anchor: raw pgx, one pool per tenant with the tenant's own
	// credentials (as the platform has), the same round robin. It tells
	// what PostgreSQL itself does with N busy databases on this machine.
	// The platform's pools are closed first: PostgreSQL has room for N
	// tenant connections, not 2N.
	urls := make([]string, n)
	for i, s := range slugs {
		cr, err := p.Credentials(ctx, acct.ID, s)
		if err != nil {
			b.Fatal(err)
		}
		urls[i] = cr.URL()
	}
	dbs.Close()
	pools := make([]*pgxpool.Pool, n)
	for i, u := range urls {
		pc, err := pgxpool.ParseConfig(u)
		if err != nil {
			b.Fatal(err)
		}
		pc.MaxConns = 4
		if pools[i], err = pgxpool.NewWithConfig(ctx, pc); err != nil {
			b.Fatal(err)
		}
		defer pools[i].Close()
		var one int
		if err := pools[i].QueryRow(ctx, "SELECT 1").Scan(&one); err != nil {
			b.Fatal(err)
		}
	}
	raw := func(b *testing.B, pick func(i int64) *pgxpool.Pool) {
		var next atomic.Int64
		b.ResetTimer()
		start := time.Now()
		var wg sync.WaitGroup
		per := b.N/32 + 1
		for range 32 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				var one int
				for range per {
					if err := pick(next.Add(1)).QueryRow(ctx, "SELECT 1").Scan(&one); err != nil {
						b.Error(err)
						return
					}
				}
			}()
		}
		wg.Wait()
		b.ReportMetric(float64(per*32)/time.Since(start).Seconds(), "req/s")
	}
	b.Run("raw_pgx_one_tenant", func(b *testing.B) { raw(b, func(int64) *pgxpool.Pool { return pools[0] }) })
	b.Run(fmt.Sprintf("raw_pgx_%d_tenants", n), func(b *testing.B) { raw(b, func(i int64) *pgxpool.Pool { return pools[i%int64(n)] }) })
}

// backendPSS sums the proportional set size of the PostgreSQL backends
// serving tenant roles ("postgres: tenant_..." processes), in KiB.
func backendPSS() (kib int64, count int) {
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, f := range procs {
		cmd, err := os.ReadFile(f)
		if err != nil || !strings.HasPrefix(string(cmd), "postgres: tenant_") {
			continue
		}
		r, err := os.Open(filepath.Join(filepath.Dir(f), "smaps_rollup"))
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			if v, ok := strings.CutPrefix(sc.Text(), "Pss:"); ok {
				n, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
				kib += n
				count++
				break
			}
		}
		r.Close()
	}
	return kib, count
}
