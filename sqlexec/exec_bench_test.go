package sqlexec_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/mosaic-platform/mosaic/sqlexec"
)

// BenchmarkExecSelect1 splits the serial latency of SELECT 1 on one tenant
// pool: pgx's QueryRow with its statement cache (the anchor), QueryRow
// with an unnamed statement each time (what an untrusted query must use),
// and Exec, which adds the session reset, the caps and the encoder.
func BenchmarkExecSelect1(b *testing.B) {
	ctx := context.Background()
	pool := benchPool(b)
	ops := []struct {
		name string
		fn   func() error
	}{
		{"pgx_cached", func() error {
			var n int
			return pool.QueryRow(ctx, "SELECT 1").Scan(&n)
		}},
		{"pgx_unnamed", func() error {
			var n int
			return pool.QueryRow(ctx, "SELECT 1", pgx.QueryExecModeDescribeExec).Scan(&n)
		}},
		{"exec", func() error {
			_, err := sqlexec.Exec(ctx, pool, sqlexec.Query{SQL: "SELECT 1"})
			return err
		}},
	}
	for _, op := range ops {
		b.Run(op.name, func(b *testing.B) {
			lat := make([]time.Duration, 0, 4096)
			for b.Loop() {
				t0 := time.Now()
				if err := op.fn(); err != nil {
					b.Fatal(err)
				}
				lat = append(lat, time.Since(t0))
			}
			slices.Sort(lat)
			b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
		})
	}
}
