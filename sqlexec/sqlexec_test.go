package sqlexec_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/mosaic-platform/mosaic/errs"
	"github.com/mosaic-platform/mosaic/sqlexec"
)

func connectAs(ctx context.Context, cr *sqlexec.Credentials, database string) (*pgx.Conn, error) {
	c := *cr
	c.Database = database
	return pgx.Connect(ctx, c.URL())
}

// 1. The tenant can use its database and the extensions, with pgx and psql.
func TestCreateAndUse(t *testing.T) {
	needServer(t)
	ctx := context.Background()
	cr := createTenant(t, uniqueName(t))
	if len(cr.Password) < 32 {
		t.Fatalf("password has %d chars", len(cr.Password))
	}
	if strings.Contains(fmt.Sprint(*cr), cr.Password) {
		t.Fatal("Credentials print their password")
	}

	conn, err := pgx.Connect(ctx, cr.URL())
	if err != nil {
		t.Fatalf("connect as tenant: %v", err)
	}
	defer conn.Close(ctx)
	for _, sql := range []string{
		"CREATE TABLE public.items (id uuid PRIMARY KEY DEFAULT uuid_generate_v4(), other uuid DEFAULT gen_random_uuid(), pw text, n int)",
		"INSERT INTO items (pw, n) VALUES (crypt('secret', gen_salt('bf', 4)), 1), (crypt('x', gen_salt('md5')), 2)",
	} {
		if _, err := conn.Exec(ctx, sql); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	var n, ok int
	if err := conn.QueryRow(ctx, "SELECT count(*), count(*) FILTER (WHERE pw = crypt('secret', pw)) FROM items").Scan(&n, &ok); err != nil {
		t.Fatal(err)
	}
	if n != 2 || ok != 1 {
		t.Fatalf("count=%d matching=%d", n, ok)
	}
	var user, limit string
	if err := conn.QueryRow(ctx, "SELECT current_user, current_setting('temp_file_limit')").Scan(&user, &limit); err != nil {
		t.Fatal(err)
	}
	if user != cr.User || limit != "1GB" {
		t.Fatalf("user=%q temp_file_limit=%q", user, limit)
	}
	for _, e := range []string{"uuid-ossp", "pgcrypto"} {
		if !slices.Contains(cr.Extensions, e) {
			t.Errorf("Extensions %v lack %s", cr.Extensions, e)
		}
	}

	// The tenant pool pins search_path and application_name.
	pool, err := testDB.Pool(ctx, *cr)
	if err != nil {
		t.Fatal(err)
	}
	var sp, app string
	if err := pool.QueryRow(ctx, "SELECT current_setting('search_path'), current_setting('application_name')").Scan(&sp, &app); err != nil {
		t.Fatal(err)
	}
	if sp != "public" || app != "mosaic" {
		t.Fatalf("search_path=%q application_name=%q", sp, app)
	}
	if again, _ := testDB.Pool(ctx, *cr); again != pool {
		t.Fatal("Pool is not cached")
	}

	// The real psql binary, password in the environment.
	psql, err := exec.LookPath("psql")
	if err != nil {
		t.Skip("psql not installed")
	}
	cmd := exec.CommandContext(ctx, psql, "-X", "-A", "-t", "-h", cr.Host, "-p", strconv.Itoa(cr.Port),
		"-U", cr.User, "-d", cr.Database, "-c", "select current_user")
	cmd.Env = append(os.Environ(), "PGPASSWORD="+cr.Password, "PGCONNECT_TIMEOUT=10")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("psql: %v: %s", err, out)
	}
	if got := strings.TrimSpace(string(out)); got != cr.User {
		t.Fatalf("psql current_user = %q", got)
	}
}

func expectErr(t *testing.T, err error, contains string, what string) {
	t.Helper()
	if err == nil {
		t.Errorf("%s: succeeded, want an error", what)
		return
	}
	if contains != "" && !strings.Contains(err.Error(), contains) {
		t.Errorf("%s: error %q does not contain %q", what, err, contains)
	}
}

// 2. A tenant cannot reach another tenant, the maintenance databases or its
// own limits.
func TestIsolation(t *testing.T) {
	needServer(t)
	ctx := context.Background()
	a := createTenant(t, uniqueName(t))
	b := createTenant(t, uniqueName(t))

	for _, db := range []string{b.Database, "postgres", "template1"} {
		c, err := connectAs(ctx, a, db)
		if err == nil {
			c.Close(ctx)
		}
		expectErr(t, err, "permission denied", "A connects to "+db)
	}

	conn, err := pgx.Connect(ctx, a.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	id := pgx.Identifier{a.User}.Sanitize()
	for _, sql := range []string{
		"ALTER ROLE " + id + " CONNECTION LIMIT -1",
		"ALTER ROLE " + id + " SUPERUSER",
		"ALTER ROLE " + id + " SET temp_file_limit = -1",
		"SET temp_file_limit = -1",
		"ALTER DATABASE " + id + " SET statement_timeout = 0",
		"ALTER DATABASE " + id + " OWNER TO " + id,
		"CREATE DATABASE " + id + "_2",
		"CREATE ROLE " + id + "_2",
		"SET ROLE " + pgx.Identifier{b.User}.Sanitize(),
		"CREATE EXTENSION IF NOT EXISTS dblink",
	} {
		_, err := conn.Exec(ctx, sql)
		expectErr(t, err, "", sql)
	}

	// GRANT on a database the tenant does not own grants nothing (a warning).
	if _, err := conn.Exec(ctx, "GRANT CONNECT ON DATABASE "+id+" TO PUBLIC"); err != nil {
		t.Logf("GRANT CONNECT TO PUBLIC: %v", err)
	}
	var can bool
	if err := adminPool.QueryRow(ctx, "SELECT has_database_privilege($1, $2, 'CONNECT')", b.User, a.Database).Scan(&can); err != nil {
		t.Fatal(err)
	}
	if can {
		t.Fatal("after A's GRANT ... TO PUBLIC, B may connect to A's database")
	}
	c, err := connectAs(ctx, b, a.Database)
	if err == nil {
		c.Close(ctx)
	}
	expectErr(t, err, "permission denied", "B connects to A after the GRANT")

	// The database belongs to the admin role, schema public to the tenant.
	var dbOwner, schemaOwner string
	if err := conn.QueryRow(ctx, `SELECT pg_get_userbyid(d.datdba), pg_get_userbyid(n.nspowner)
		FROM pg_database d, pg_namespace n WHERE d.datname = current_database() AND n.nspname = 'public'`).Scan(&dbOwner, &schemaOwner); err != nil {
		t.Fatal(err)
	}
	if dbOwner == a.User || schemaOwner != a.User {
		t.Fatalf("database owner %q, schema public owner %q", dbOwner, schemaOwner)
	}
}

// 3. Existing objects of the name are a Conflict and survive.
func TestConflict(t *testing.T) {
	needServer(t)
	ctx := context.Background()

	t.Run("role", func(t *testing.T) {
		name := uniqueName(t)
		adminExec(t, "CREATE ROLE "+name)
		t.Cleanup(func() { adminExec(t, "DROP ROLE IF EXISTS "+name) })
		_, err := testDB.Create(ctx, name, sqlexec.Limits{})
		if !errors.Is(err, errs.ErrConflict) {
			t.Fatalf("Create = %v, want Conflict", err)
		}
		if role, db := objects(t, name); !role || db {
			t.Fatalf("role=%v db=%v after the conflict", role, db)
		}
	})

	t.Run("database", func(t *testing.T) {
		name := uniqueName(t)
		adminExec(t, "CREATE DATABASE "+name)
		t.Cleanup(func() { adminExec(t, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)") })
		_, err := testDB.Create(ctx, name, sqlexec.Limits{})
		if !errors.Is(err, errs.ErrConflict) {
			t.Fatalf("Create = %v, want Conflict", err)
		}
		if role, db := objects(t, name); role || !db {
			t.Fatalf("role=%v db=%v after the conflict", role, db)
		}
	})

	t.Run("invalid", func(t *testing.T) {
		for _, name := range []string{"", "Tenant", "1abc", "a-b", "postgres", "template1", sqlexec.DefaultTemplate,
			strings.Repeat("a", 64), `a"; drop`} {
			if _, err := testDB.Create(ctx, name, sqlexec.Limits{}); !errors.Is(err, errs.ErrInvalid) {
				t.Errorf("Create(%q) = %v, want Invalid", name, err)
			}
		}
		for _, lim := range []sqlexec.Limits{{ConnectionLimit: -2}, {TempFileLimit: "1GB'; x"}} {
			if _, err := testDB.Create(ctx, uniqueName(t), lim); !errors.Is(err, errs.ErrInvalid) {
				t.Errorf("Create with %+v = %v, want Invalid", lim, err)
			}
		}
	})
}

// 4. A create whose context ends at any point leaves nothing behind.
func TestCancellation(t *testing.T) {
	needServer(t)
	// Its own Cluster, so that its log tells how many creates were undone.
	var logBuf lockedBuffer
	db, err := sqlexec.New(sqlexec.Config{
		Servers: []sqlexec.Server{{Name: testServer, AdminURL: adminURL}},
		Logger:  slog.New(slog.NewTextHandler(&logBuf, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	// Creates that are not cancelled tell how long a create takes here
	// (the first one also sets up the server).
	var typical time.Duration
	for range 2 {
		start := time.Now()
		name := uniqueName(t)
		cr, err := db.Create(context.Background(), name, sqlexec.Limits{})
		if err != nil {
			t.Fatal(err)
		}
		typical = time.Since(start)
		if err := db.Drop(context.Background(), cr.Server, name); err != nil {
			t.Fatal(err)
		}
	}
	// 1, 5, 10, 20, 40 ms ..., and a ladder of 40 steps up to twice the
	// typical create, so every step of Create gets interrupted somewhere.
	durations := []time.Duration{time.Millisecond}
	for d := 5 * time.Millisecond; d <= 640*time.Millisecond; d *= 2 {
		durations = append(durations, d)
	}
	for i := 1; i <= 40; i++ {
		durations = append(durations, typical*time.Duration(i)/20)
	}
	failed, succeeded := 0, 0
	for _, d := range durations {
		name := uniqueName(t)
		ctx, cancel := context.WithTimeout(context.Background(), d)
		cr, err := db.Create(ctx, name, sqlexec.Limits{})
		cancel()
		if err == nil {
			succeeded++
			if err := db.Drop(context.Background(), cr.Server, name); err != nil {
				t.Fatal(err)
			}
			continue
		}
		failed++
		if testing.Verbose() {
			t.Logf("%v: %v", d, err)
		}
		if errors.Is(err, errs.ErrConflict) {
			t.Errorf("%v: Conflict: %v", d, err)
		}
		if role, db := objects(t, name); role || db {
			t.Errorf("after a create cancelled at %v (%v): role=%v db=%v", d, err, role, db)
			adminExec(t, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
			adminExec(t, "DROP ROLE IF EXISTS "+name)
		}
	}
	t.Logf("typical create %v; %d creates failed (%d of them undone after the role was made), %d succeeded",
		typical.Round(time.Millisecond), failed, strings.Count(logBuf.String(), "removed half-made tenant after"), succeeded)
	if testing.Verbose() {
		states := map[string]int{}
		for line := range strings.Lines(logBuf.String()) {
			if i := strings.Index(line, "role_state="); i >= 0 {
				states[strings.TrimSpace(line[i:])]++
			}
		}
		t.Logf("states of the failed creates at cleanup: %v", states)
	}
	if n := strings.Count(logBuf.String(), "did not finish"); n > 0 {
		t.Errorf("%d cleanups did not finish:\n%s", n, logBuf.String())
	}
}

type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// 5. Concurrent creates: one winner per name; different names all succeed.
func TestConcurrentCreate(t *testing.T) {
	needServer(t)
	ctx := context.Background()
	name := uniqueName(t)
	var (
		wg                sync.WaitGroup
		mu                sync.Mutex
		wins, conflicts   int
		others            []error
		winner            *sqlexec.Credentials
		names             []string
		creds             = make([]*sqlexec.Credentials, 8)
		differentNameErrs = make([]error, 8)
	)
	for range 8 {
		wg.Go(func() {
			cr, err := testDB.Create(ctx, name, sqlexec.Limits{})
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				wins++
				winner = cr
			case errors.Is(err, errs.ErrConflict):
				conflicts++
			default:
				others = append(others, err)
			}
		})
	}
	wg.Wait()
	if winner != nil {
		t.Cleanup(func() { _ = testDB.Drop(ctx, winner.Server, name) })
	}
	if wins != 1 || conflicts != 7 || len(others) > 0 {
		t.Fatalf("same name: %d succeeded, %d conflicts, other errors %v", wins, conflicts, others)
	}
	if role, db := objects(t, name); !role || !db {
		t.Fatalf("winner's objects: role=%v db=%v", role, db)
	}

	for range 8 {
		names = append(names, uniqueName(t))
	}
	for i := range 8 {
		wg.Go(func() { creds[i], differentNameErrs[i] = testDB.Create(ctx, names[i], sqlexec.Limits{}) })
	}
	wg.Wait()
	for i, err := range differentNameErrs {
		if err != nil {
			t.Errorf("Create(%s): %v", names[i], err)
			continue
		}
		t.Cleanup(func() { _ = testDB.Drop(ctx, creds[i].Server, names[i]) })
	}
}

// 6. Drop ends open sessions, is idempotent; Size works.
func TestDropAndSize(t *testing.T) {
	needServer(t)
	ctx := context.Background()
	name := uniqueName(t)
	cr, err := testDB.Create(ctx, name, sqlexec.Limits{ConnectionLimit: 5, TempFileLimit: "64MB"})
	if err != nil {
		t.Fatal(err)
	}
	size, err := testDB.Size(ctx, cr.Server, name)
	if err != nil || size <= 0 {
		t.Fatalf("Size = %d, %v", size, err)
	}
	conn, err := pgx.Connect(ctx, cr.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var limit string
	if err := conn.QueryRow(ctx, "SHOW temp_file_limit").Scan(&limit); err != nil || limit != "64MB" {
		t.Fatalf("temp_file_limit = %q, %v", limit, err)
	}
	pool, err := testDB.Pool(ctx, *cr)
	if err != nil {
		t.Fatal(err)
	}
	if err := pool.Ping(ctx); err != nil {
		t.Fatal(err)
	}

	if err := testDB.Drop(ctx, cr.Server, name); err != nil {
		t.Fatalf("Drop: %v", err)
	}
	if _, err := conn.Exec(ctx, "SELECT 1"); err == nil {
		t.Fatal("an open tenant session survived Drop")
	}
	if role, db := objects(t, name); role || db {
		t.Fatalf("after Drop: role=%v db=%v", role, db)
	}
	if err := testDB.Drop(ctx, cr.Server, name); err != nil {
		t.Fatalf("second Drop: %v", err)
	}
	if _, err := testDB.Size(ctx, cr.Server, name); !errors.Is(err, errs.ErrNotFound) {
		t.Fatalf("Size after Drop = %v, want NotFound", err)
	}
	if err := testDB.Drop(ctx, "nope", name); !errors.Is(err, errs.ErrNotFound) {
		t.Fatalf("Drop on an unknown server = %v, want NotFound", err)
	}
	if err := testDB.Drop(ctx, cr.Server, "postgres"); !errors.Is(err, errs.ErrInvalid) {
		t.Fatalf("Drop(postgres) = %v, want Invalid", err)
	}
	var pgRole string
	if err := adminPool.QueryRow(ctx, "SELECT current_user").Scan(&pgRole); err != nil {
		t.Fatal(err)
	}
	if err := testDB.Drop(ctx, cr.Server, pgRole); !errors.Is(err, errs.ErrInvalid) {
		t.Fatalf("Drop(admin role %s) = %v, want Invalid", pgRole, err)
	}
	if p2, err := testDB.Pool(ctx, *cr); err != nil || p2 == pool {
		t.Fatalf("Pool after Drop returned the old pool (%v)", err)
	}
}

// 7. A wanted extension the server lacks is reported, not fatal.
func TestMissingExtension(t *testing.T) {
	needServer(t)
	ctx := context.Background()
	var available bool
	if err := adminPool.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'vector')").Scan(&available); err != nil {
		t.Fatal(err)
	}
	cr := createTenant(t, uniqueName(t))
	if available {
		t.Logf("pgvector is installed here; checking it is in Extensions")
		if !slices.Contains(cr.Extensions, "vector") {
			t.Fatalf("Extensions %v lack vector", cr.Extensions)
		}
		return
	}
	if !slices.Contains(cr.Missing, "vector") || slices.Contains(cr.Extensions, "vector") {
		t.Fatalf("Extensions %v, Missing %v: want vector missing", cr.Extensions, cr.Missing)
	}
}

// The template gains an extension that a later configuration wants.
func TestTemplateUpgrade(t *testing.T) {
	needServer(t)
	ctx := context.Background()
	tmpl := "mosaic_test_tpl_" + strings.TrimPrefix(uniqueName(t), "tenant_t_")
	t.Cleanup(func() {
		adminExec(t, "ALTER DATABASE "+tmpl+" WITH IS_TEMPLATE false")
		adminExec(t, "DROP DATABASE IF EXISTS "+tmpl+" WITH (FORCE)")
	})
	newCluster := func(exts ...string) *sqlexec.Cluster {
		c, err := sqlexec.New(sqlexec.Config{
			Servers:    []sqlexec.Server{{Name: testServer, AdminURL: adminURL}},
			Extensions: exts, Template: tmpl, Logger: testLog,
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(c.Close)
		return c
	}
	check := func(c *sqlexec.Cluster, wantExt, wantMissing []string) {
		t.Helper()
		name := uniqueName(t)
		cr, err := c.Create(ctx, name, sqlexec.Limits{})
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = c.Drop(ctx, cr.Server, name) }()
		if !slices.Equal(cr.Extensions, wantExt) || !slices.Equal(cr.Missing, wantMissing) {
			t.Fatalf("Extensions %v Missing %v, want %v %v", cr.Extensions, cr.Missing, wantExt, wantMissing)
		}
		conn, err := pgx.Connect(ctx, cr.URL())
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(ctx)
		got := []string{}
		rows, _ := conn.Query(ctx, "SELECT extname FROM pg_extension WHERE extname <> 'plpgsql' ORDER BY 1")
		got, err = pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil || !slices.Equal(got, wantExt) {
			t.Fatalf("installed in the tenant database: %v (%v), want %v", got, err, wantExt)
		}
	}
	check(newCluster("uuid-ossp", "no_such_ext"), []string{"uuid-ossp"}, []string{"no_such_ext"})
	check(newCluster("uuid-ossp", "pgcrypto"), []string{"pgcrypto", "uuid-ossp"}, nil)
	var allow, isTemplate bool
	if err := adminPool.QueryRow(ctx, "SELECT datallowconn, datistemplate FROM pg_database WHERE datname = $1", tmpl).Scan(&allow, &isTemplate); err != nil {
		t.Fatal(err)
	}
	if allow || !isTemplate {
		t.Fatalf("template: datallowconn=%v datistemplate=%v", allow, isTemplate)
	}
}

// Several Clusters (standing in for several processes) set up one fresh
// server concurrently.
func TestConcurrentSetup(t *testing.T) {
	needServer(t)
	ctx := context.Background()
	tmpl := "mosaic_test_tpl_" + strings.TrimPrefix(uniqueName(t), "tenant_t_")
	t.Cleanup(func() {
		adminExec(t, "ALTER DATABASE "+tmpl+" WITH IS_TEMPLATE false")
		adminExec(t, "DROP DATABASE IF EXISTS "+tmpl+" WITH (FORCE)")
	})
	var wg sync.WaitGroup
	errsCh := make(chan error, 4)
	for range 4 {
		wg.Go(func() {
			c, err := sqlexec.New(sqlexec.Config{
				Servers: []sqlexec.Server{{Name: testServer, AdminURL: adminURL}}, Template: tmpl, Logger: testLog,
			})
			if err != nil {
				errsCh <- err
				return
			}
			defer c.Close()
			name := uniqueName(t)
			cr, err := c.Create(ctx, name, sqlexec.Limits{})
			if err != nil {
				errsCh <- err
				return
			}
			errsCh <- c.Drop(ctx, cr.Server, name)
		})
	}
	wg.Wait()
	close(errsCh)
	for err := range errsCh {
		if err != nil {
			t.Error(err)
		}
	}
}

func TestUnavailableServer(t *testing.T) {
	c, err := sqlexec.New(sqlexec.Config{
		Servers: []sqlexec.Server{{Name: "down", AdminURL: "postgres://u:secretpw@127.0.0.1:1/postgres?connect_timeout=2"}},
		Logger:  testLog,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, err = c.Create(context.Background(), "tenant_x", sqlexec.Limits{})
	if !errors.Is(err, errs.ErrUnavailable) {
		t.Fatalf("Create on a down server = %v, want Unavailable", err)
	}
	if strings.Contains(err.Error(), "secretpw") {
		t.Fatalf("error leaks the admin password: %v", err)
	}
}

func TestCredentialsURL(t *testing.T) {
	cases := []struct {
		c    sqlexec.Credentials
		want string
	}{
		{sqlexec.Credentials{Host: "db.example.com", Port: 5432, Database: "tenant_a", User: "tenant_a", Password: "p@ss/w:rd"},
			"postgres://tenant_a:p%40ss%2Fw%3Ard@db.example.com:5432/tenant_a"},
		{sqlexec.Credentials{Host: "::1", Port: 5433, Database: "d", User: "u", Password: "p"}, "postgres://u:p@[::1]:5433/d"},
		{sqlexec.Credentials{Host: "/run/postgresql", Port: 5432, Database: "d", User: "u", Password: "p"}, "postgres://u:p@/d?host=%2Frun%2Fpostgresql&port=5432"},
	}
	for _, tc := range cases {
		if got := tc.c.URL(); got != tc.want {
			t.Errorf("URL() = %s, want %s", got, tc.want)
		}
		cfg, err := pgx.ParseConfig(tc.c.URL())
		if err != nil {
			t.Errorf("pgx cannot parse %s: %v", tc.c.URL(), err)
			continue
		}
		if cfg.Password != tc.c.Password || cfg.User != tc.c.User || cfg.Database != tc.c.Database || cfg.Host != tc.c.Host {
			t.Errorf("round trip of %s: %+v", tc.c.URL(), cfg)
		}
		if strings.Contains(tc.c.String(), tc.c.Password+"@") {
			t.Errorf("String() shows the password: %s", tc.c.String())
		}
	}
}
