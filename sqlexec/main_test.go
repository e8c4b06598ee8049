package sqlexec_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/mosaic-platform/mosaic/internal/localsvc"
	"github.com/mosaic-platform/mosaic/sqlexec"
)

// The tests run against a real PostgreSQL server: the superuser URL in
// MOSAIC_TEST_DATABASE_URL if set, else one started from the local binaries
// with internal/localsvc in a temporary directory (and stopped at the end).
var (
	adminURL   string
	adminPool  *pgxpool.Pool    // for checks made by the tests themselves
	testDB     *sqlexec.Cluster // shared by the tests
	testServer = "main"         // Server.Name used by testDB
	skipReason string           // set when no server is available
	testLog    = slog.New(slog.DiscardHandler)
)

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	ctx := context.Background()
	adminURL = os.Getenv("MOSAIC_TEST_DATABASE_URL")
	if adminURL == "" {
		dir, err := os.MkdirTemp("", "sqlexec-pg-")
		if err != nil {
			fmt.Fprintln(os.Stderr, "sqlexec tests:", err)
			return 1
		}
		defer os.RemoveAll(dir)
		sctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
		pg, err := localsvc.StartPostgres(sctx, localsvc.PostgresOptions{Dir: dir, MaxConnections: 300})
		cancel()
		if err != nil {
			skipReason = "no PostgreSQL: MOSAIC_TEST_DATABASE_URL is unset and localsvc.StartPostgres failed: " + err.Error()
			fmt.Fprintln(os.Stderr, "sqlexec tests:", skipReason)
			return m.Run()
		}
		defer func() {
			stctx, cancel := context.WithTimeout(ctx, time.Minute)
			defer cancel()
			_ = pg.Stop(stctx)
		}()
		adminURL = pg.URL()
	}
	var err error
	adminPool, err = pgxpool.New(ctx, adminURL)
	if err != nil {
		fmt.Fprintln(os.Stderr, "sqlexec tests: admin pool:", err)
		return 1
	}
	defer adminPool.Close()
	testDB, err = sqlexec.New(sqlexec.Config{
		Servers: []sqlexec.Server{{Name: testServer, AdminURL: adminURL}},
		Logger:  testLog,
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "sqlexec tests: New:", err)
		return 1
	}
	defer testDB.Close()
	return m.Run()
}

func needServer(tb testing.TB) {
	tb.Helper()
	if skipReason != "" {
		tb.Skip(skipReason)
	}
}

// uniqueName returns a fresh tenant name for one test.
func uniqueName(tb testing.TB) string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return "tenant_t_" + hex.EncodeToString(b)
}

// createTenant creates a tenant that is dropped when the test ends.
func createTenant(tb testing.TB, name string) *sqlexec.Credentials {
	tb.Helper()
	ctx := context.Background()
	cr, err := testDB.Create(ctx, name, sqlexec.Limits{})
	if err != nil {
		tb.Fatalf("Create(%s): %v", name, err)
	}
	tb.Cleanup(func() {
		if err := testDB.Drop(context.Background(), cr.Server, cr.Database); err != nil {
			tb.Errorf("cleanup Drop(%s): %v", name, err)
		}
	})
	return cr
}

// objects reports whether a role and a database called name exist.
func objects(tb testing.TB, name string) (role, db bool) {
	tb.Helper()
	err := adminPool.QueryRow(context.Background(), `SELECT
		EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1),
		EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)`, name).Scan(&role, &db)
	if err != nil {
		tb.Fatalf("checking objects: %v", err)
	}
	return role, db
}

func adminExec(tb testing.TB, sql string) {
	tb.Helper()
	if _, err := adminPool.Exec(context.Background(), sql); err != nil {
		tb.Fatalf("%s: %v", sql, err)
	}
}
