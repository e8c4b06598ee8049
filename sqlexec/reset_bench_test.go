package sqlexec_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// benchPool is the pool of a fresh tenant, for benchmarks.
func benchPool(b *testing.B) *pgxpool.Pool {
	b.Helper()
	needServer(b)
	cr := createTenant(b, uniqueName(b))
	pool, err := testDB.Pool(context.Background(), *cr)
	if err != nil {
		b.Fatal(err)
	}
	return pool
}

// BenchmarkSessionReset measures what the reset after each request costs,
// on one tenant connection: the statement alone, then with each candidate
// reset pipelined behind it (one round trip each).
func BenchmarkSessionReset(b *testing.B) {
	ctx := context.Background()
	conn, err := benchPool(b).Acquire(ctx)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Release()
	pg := conn.Conn().PgConn()
	variants := []struct {
		name  string
		after []string
	}{
		{"none", nil},
		{"rollback", []string{"ROLLBACK"}},
		{"rollback+discard_all", []string{"ROLLBACK", "DISCARD ALL"}},
		{"discard_all", []string{"DISCARD ALL"}},
		{"rollback+reset_all", []string{"ROLLBACK", "RESET ALL"}},
		{"rollback+probe", []string{"ROLLBACK", probeSQL}},
	}
	for _, v := range variants {
		b.Run(v.name, func(b *testing.B) {
			for b.Loop() {
				p := pg.StartPipeline(ctx)
				p.SendQueryParams("SELECT 1", nil, nil, nil, nil)
				p.SendPipelineSync()
				for _, s := range v.after {
					p.SendQueryParams(s, nil, nil, nil, nil)
					p.SendPipelineSync()
				}
				if err := p.Flush(); err != nil {
					b.Fatal(err)
				}
				for {
					r, err := p.GetResults()
					if err != nil {
						b.Fatal(err)
					}
					if r == nil {
						break
					}
					switch r := r.(type) {
					case *pgconn.ResultReader:
						r.Close()
					}
				}
				if err := p.Close(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

const probeSQL = `SELECT pg_catalog.pg_my_temp_schema() <> 0
	OR EXISTS (SELECT FROM pg_catalog.pg_prepared_statements)
	OR EXISTS (SELECT FROM pg_catalog.pg_listening_channels())
	OR EXISTS (SELECT FROM pg_catalog.pg_locks WHERE pid = pg_catalog.pg_backend_pid() AND locktype = 'advisory')`
