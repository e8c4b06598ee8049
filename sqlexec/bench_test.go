package sqlexec_test

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/mosaic-platform/mosaic/sqlexec"
)

// Run with, for example:
//
//	go test -run '^$' -bench . -benchtime 20x ./sqlexec/
//	MOSAIC_SQLEXEC_CREATE200=1 go test -run TestCreate200 -v ./sqlexec/

func p50(d []time.Duration) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// BenchmarkCreateDrop is Cluster.Create followed by Cluster.Drop.
func BenchmarkCreateDrop(b *testing.B) {
	needServer(b)
	ctx := context.Background()
	// Set the server up outside the timed loop.
	warm := uniqueName(b)
	if cr, err := testDB.Create(ctx, warm, sqlexec.Limits{}); err != nil {
		b.Fatal(err)
	} else if err := testDB.Drop(ctx, cr.Server, warm); err != nil {
		b.Fatal(err)
	}
	var creates, drops []time.Duration
	for b.Loop() {
		name := uniqueName(b)
		t0 := time.Now()
		cr, err := testDB.Create(ctx, name, sqlexec.Limits{})
		if err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		if err := testDB.Drop(ctx, cr.Server, name); err != nil {
			b.Fatal(err)
		}
		creates = append(creates, t1.Sub(t0))
		drops = append(drops, time.Since(t1))
	}
	b.ReportMetric(ms(p50(creates)), "create-p50-ms")
	b.ReportMetric(ms(p50(drops)), "drop-p50-ms")
}

// BenchmarkRawSQLSteps is the same provisioning by hand on one admin
// connection, the way a script would do it: CREATE ROLE, CREATE DATABASE
// from template0, CREATE EXTENSION for each available extension, then
// DROP DATABASE and DROP ROLE. No lock-down, no cleanup logic.
func BenchmarkRawSQLSteps(b *testing.B) {
	needServer(b)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close(ctx)
	rows, _ := conn.Query(ctx, "SELECT name FROM pg_available_extensions WHERE name = ANY($1) ORDER BY 1", sqlexec.DefaultExtensions)
	exts, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		b.Fatal(err)
	}
	var creates, drops []time.Duration
	for b.Loop() {
		name := uniqueName(b)
		id := pgx.Identifier{name}.Sanitize()
		t0 := time.Now()
		for _, sql := range []string{
			"CREATE ROLE " + id + " LOGIN PASSWORD 'Raw0benchmark0password0000000000'",
			"CREATE DATABASE " + id + " OWNER " + id + " TEMPLATE template0",
		} {
			if _, err := conn.Exec(ctx, sql); err != nil {
				b.Fatal(err)
			}
		}
		cfg := conn.Config().Copy()
		cfg.Database = name
		dbConn, err := pgx.ConnectConfig(ctx, cfg)
		if err != nil {
			b.Fatal(err)
		}
		for _, e := range exts {
			if _, err := dbConn.Exec(ctx, "CREATE EXTENSION "+pgx.Identifier{e}.Sanitize()); err != nil {
				b.Fatal(err)
			}
		}
		dbConn.Close(ctx)
		t1 := time.Now()
		for _, sql := range []string{"DROP DATABASE " + id + " WITH (FORCE)", "DROP ROLE " + id} {
			if _, err := conn.Exec(ctx, sql); err != nil {
				b.Fatal(err)
			}
		}
		creates = append(creates, t1.Sub(t0))
		drops = append(drops, time.Since(t1))
	}
	b.ReportMetric(ms(p50(creates)), "create-p50-ms")
	b.ReportMetric(ms(p50(drops)), "drop-p50-ms")
	b.Logf("extensions: %s", strings.Join(exts, ","))
}

// TestCreate200 creates 200 tenant databases in a row and logs the p50
// create latency of each batch of 20, to show that creates do not slow down
// as databases accumulate. It takes a while, so it runs only when
// MOSAIC_SQLEXEC_CREATE200=1. No timing is asserted (shared, noisy machines).
func TestCreate200(t *testing.T) {
	if os.Getenv("MOSAIC_SQLEXEC_CREATE200") != "1" {
		t.Skip("set MOSAIC_SQLEXEC_CREATE200=1 to create 200 databases in a row")
	}
	needServer(t)
	ctx := context.Background()
	const total, batch = 200, 20
	var (
		lat   []time.Duration
		names []string
		srv   string
	)
	t.Cleanup(func() {
		start := time.Now()
		for _, n := range names {
			if err := testDB.Drop(context.Background(), srv, n); err != nil {
				t.Errorf("Drop(%s): %v", n, err)
			}
		}
		t.Logf("dropped %d databases in %v", len(names), time.Since(start).Round(time.Millisecond))
	})
	for range total {
		name := uniqueName(t)
		t0 := time.Now()
		cr, err := testDB.Create(ctx, name, sqlexec.Limits{})
		if err != nil {
			t.Fatal(err)
		}
		lat = append(lat, time.Since(t0))
		names, srv = append(names, name), cr.Server
	}
	var curve []string
	for i := 0; i < total; i += batch {
		curve = append(curve, fmt.Sprintf("%.1f", ms(p50(lat[i:i+batch]))))
	}
	t.Logf("create p50 (ms) per batch of %d, databases 1..%d: %s", batch, total, strings.Join(curve, " "))
}
