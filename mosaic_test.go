package mosaic_test

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/mosaic-platform/mosaic"
	"github.com/mosaic-platform/mosaic/errs"
	"github.com/mosaic-platform/mosaic/mosaictest"
)

func TestMain(m *testing.M) { mosaictest.Main(m) }

func adminConn(t *testing.T, url string) *pgx.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(context.Background()) })
	return c
}

func exists(t *testing.T, admin *pgx.Conn, catalog, col, name string) bool {
	t.Helper()
	var ok bool
	err := admin.QueryRow(context.Background(), fmt.Sprintf("SELECT EXISTS (SELECT 1 FROM pg_catalog.%s WHERE %s = $1)", catalog, col), name).Scan(&ok)
	if err != nil {
		t.Fatal(err)
	}
	return ok
}

func roleExists(t *testing.T, admin *pgx.Conn, name string) bool {
	return exists(t, admin, "pg_roles", "rolname", name)
}

func dbExists(t *testing.T, admin *pgx.Conn, name string) bool {
	return exists(t, admin, "pg_database", "datname", name)
}

// psql runs the real psql client against a connection URL.
func psql(t *testing.T, url, sql string) (string, error) {
	t.Helper()
	if _, err := exec.LookPath("psql"); err != nil {
		t.Skip("psql is not installed (scripts/setup installs it)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "psql", "-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d", url, "-c", sql).CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

func TestCreateProjectThenPsqlConnects(t *testing.T) {
	t.Parallel()
	env := mosaictest.New(t)
	cp := env.Project(t)
	if !strings.HasPrefix(cp.Slug, "testcreateprojectthenpsqlconnects"[:27]) || len(cp.Slug) > 32 {
		t.Errorf("generated slug %q does not start with the name's base or is too long", cp.Slug)
	}
	if err := mosaic.ValidateSlug(cp.Slug); err != nil {
		t.Errorf("generated slug is invalid: %v", err)
	}
	if cp.Credentials.Database != mosaic.DatabaseName(cp.Slug) || cp.Credentials.User != cp.Credentials.Database {
		t.Errorf("database/user = %q/%q, want %q", cp.Credentials.Database, cp.Credentials.User, mosaic.DatabaseName(cp.Slug))
	}
	out, err := psql(t, cp.Credentials.URL(), "CREATE TABLE notes (id uuid PRIMARY KEY DEFAULT uuid_generate_v4(), body text); INSERT INTO notes (body) VALUES ('hi'); SELECT current_user || ' ' || count(*) FROM notes")
	if err != nil {
		t.Fatalf("psql with the returned credentials: %v\n%s", err, out)
	}
	if want := cp.Credentials.User + " 1"; !strings.HasSuffix(out, want) {
		t.Errorf("psql said %q, want it to end with %q", out, want)
	}
	// The stored (sealed) password decrypts to the same credentials.
	c, err := env.Platform.Credentials(context.Background(), env.Account.ID, cp.Slug)
	if err != nil {
		t.Fatal(err)
	}
	if *c != cp.Credentials {
		t.Errorf("Credentials() = %+v, want %+v", *c, cp.Credentials)
	}
	// The password is not stored in clear in the control plane.
	admin := adminConn(t, env.DatabaseURL)
	var leaked bool
	if err := admin.QueryRow(context.Background(), `SELECT position($1::bytea in db_password) > 0 FROM mosaic.projects WHERE slug = $2`,
		[]byte(c.Password), cp.Slug).Scan(&leaked); err != nil {
		t.Fatal(err)
	}
	if leaked {
		t.Error("the tenant password is stored in clear")
	}
}

func TestTenantCannotReachAnotherTenant(t *testing.T) {
	t.Parallel()
	env := mosaictest.New(t)
	a, b := env.Project(t), env.Project(t)
	cross := b.Credentials
	cross.User, cross.Password = a.Credentials.User, a.Credentials.Password
	out, err := psql(t, cross.URL(), "SELECT 1")
	if err == nil || !strings.Contains(out, "permission denied") {
		t.Errorf("tenant A connecting to B's database: err=%v out=%q, want permission denied", err, out)
	}
	for _, db := range []string{"postgres", "template1"} {
		c := a.Credentials
		c.Database = db
		if out, err := psql(t, c.URL(), "SELECT 1"); err == nil {
			t.Errorf("tenant connected to %s: %q", db, out)
		}
	}
	// Inside its own database, the tenant cannot lift its limits.
	for _, stmt := range []string{
		"ALTER ROLE CURRENT_USER CONNECTION LIMIT -1",
		"SET temp_file_limit = -1",
		"ALTER DATABASE " + a.Credentials.Database + " SET statement_timeout = 0",
		"CREATE DATABASE sneaky",
		"CREATE ROLE sneaky",
		"SET ROLE postgres",
	} {
		if out, err := psql(t, a.Credentials.URL(), stmt); err == nil {
			t.Errorf("tenant ran %q: %s", stmt, out)
		}
	}
	// Another account cannot see either project.
	other, _, _ := env.NewAccount(t)
	if _, err := env.Platform.Project(context.Background(), other.ID, a.Slug); !errors.Is(err, mosaic.ErrNotFound) {
		t.Errorf("another account's Project: %v, want not found", err)
	}
	if _, err := env.Platform.Credentials(context.Background(), other.ID, a.Slug); !errors.Is(err, mosaic.ErrNotFound) {
		t.Errorf("another account's Credentials: %v, want not found", err)
	}
	if err := env.Platform.DeleteProject(context.Background(), other.ID, a.Slug); !errors.Is(err, mosaic.ErrNotFound) {
		t.Errorf("another account's DeleteProject: %v, want not found", err)
	}
	if list, err := env.Platform.Projects(context.Background(), other.ID); err != nil || len(list) != 0 {
		t.Errorf("another account lists %d projects (err %v), want 0", len(list), err)
	}
}

func TestConcurrentCreatesOfOneSlug(t *testing.T) {
	t.Parallel()
	env := mosaictest.New(t)
	slug := "race-" + strings.ToLower(fmt.Sprintf("%x", time.Now().UnixNano()))[:10]
	const n = 6
	var (
		wg        sync.WaitGroup
		ok, taken atomic.Int32
		other     = make(chan error, n)
	)
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := env.Platform.CreateProject(context.Background(), env.Account.ID, mosaic.NewProject{Name: "race", Slug: slug})
			switch {
			case err == nil:
				ok.Add(1)
			case errors.Is(err, mosaic.ErrConflict):
				taken.Add(1)
			default:
				other <- err
			}
		}()
	}
	wg.Wait()
	close(other)
	for err := range other {
		t.Errorf("unexpected error: %v", err)
	}
	if ok.Load() != 1 || taken.Load() != n-1 {
		t.Fatalf("%d creates succeeded and %d were conflicts, want 1 and %d", ok.Load(), taken.Load(), n-1)
	}
	t.Cleanup(func() { env.Platform.DeleteProject(context.Background(), env.Account.ID, slug) })
	if _, err := psql(t, mosaictest.DatabaseURL(t), "SELECT 1"); err != nil {
		t.Fatal(err)
	}
	list, err := env.Platform.Projects(context.Background(), env.Account.ID)
	if err != nil || len(list) != 1 || list[0].Status != mosaic.StatusActive {
		t.Fatalf("projects after the race: %+v (err %v), want one active", list, err)
	}
}

func TestFailedCreateLeavesNothing(t *testing.T) {
	t.Parallel()
	env := mosaictest.New(t)
	admin := adminConn(t, env.DatabaseURL)
	ctx := context.Background()

	// Failure after the role was made: a database of the same name already exists.
	slug := "fail-db-" + fmt.Sprint(time.Now().UnixNano()%1e8)
	name := mosaic.DatabaseName(slug)
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { admin.Exec(context.Background(), "DROP DATABASE IF EXISTS "+name) })
	_, err := env.Platform.CreateProject(ctx, env.Account.ID, mosaic.NewProject{Name: "x", Slug: slug})
	if !errors.Is(err, mosaic.ErrConflict) {
		t.Fatalf("create over an existing database: %v, want a conflict", err)
	}
	if roleExists(t, admin, name) {
		t.Error("the failed create left its role behind")
	}
	if !dbExists(t, admin, name) {
		t.Error("the failed create dropped a database it did not make")
	}
	if _, err := env.Platform.Project(ctx, env.Account.ID, slug); !errors.Is(err, mosaic.ErrNotFound) {
		t.Errorf("the failed create left its project row: %v", err)
	}

	// Failure at the first step: a role of the same name already exists.
	slug2 := "fail-role-" + fmt.Sprint(time.Now().UnixNano()%1e8)
	name2 := mosaic.DatabaseName(slug2)
	if _, err := admin.Exec(ctx, "CREATE ROLE "+name2); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { admin.Exec(context.Background(), "DROP ROLE IF EXISTS "+name2) })
	if _, err := env.Platform.CreateProject(ctx, env.Account.ID, mosaic.NewProject{Name: "x", Slug: slug2}); !errors.Is(err, mosaic.ErrConflict) {
		t.Fatalf("create over an existing role: %v, want a conflict", err)
	}
	if !roleExists(t, admin, name2) || dbExists(t, admin, name2) {
		t.Error("the failed create touched the existing role or left a database")
	}
	// The slug is free again once the obstacle is gone.
	admin.Exec(ctx, "DROP ROLE "+name2)
	if _, err := env.Platform.CreateProject(ctx, env.Account.ID, mosaic.NewProject{Name: "x", Slug: slug2}); err != nil {
		t.Fatalf("create after the conflict was cleared: %v", err)
	}
	if err := env.Platform.DeleteProject(ctx, env.Account.ID, slug2); err != nil {
		t.Fatal(err)
	}
	if roleExists(t, admin, name2) || dbExists(t, admin, name2) {
		t.Error("delete left the role or database behind")
	}
}

func TestCancelledCreateLeavesNothing(t *testing.T) {
	t.Parallel()
	env := mosaictest.New(t)
	admin := adminConn(t, env.DatabaseURL)
	var failed, succeeded int
	for i, d := range []time.Duration{0, time.Millisecond, 3 * time.Millisecond, 6 * time.Millisecond, 10 * time.Millisecond,
		15 * time.Millisecond, 20 * time.Millisecond, 30 * time.Millisecond, 45 * time.Millisecond, 70 * time.Millisecond, 100 * time.Millisecond, 250 * time.Millisecond, time.Second, 5 * time.Second} {
		slug := fmt.Sprintf("cancel-%d-%d", time.Now().UnixNano()%1e6, i)
		ctx, cancel := context.WithTimeout(context.Background(), d)
		_, err := env.Platform.CreateProject(ctx, env.Account.ID, mosaic.NewProject{Name: "x", Slug: slug})
		cancel()
		name := mosaic.DatabaseName(slug)
		if err != nil {
			failed++
			if roleExists(t, admin, name) || dbExists(t, admin, name) {
				t.Errorf("create cut off after %v (%v) left its role or database", d, err)
			}
			if _, err := env.Platform.Project(context.Background(), env.Account.ID, slug); !errors.Is(err, mosaic.ErrNotFound) {
				t.Errorf("create cut off after %v left its row: %v", d, err)
			}
			continue
		}
		succeeded++
		if err := env.Platform.DeleteProject(context.Background(), env.Account.ID, slug); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("%d creates were cut off, %d finished", failed, succeeded)
	if failed == 0 {
		t.Error("no create was cut off, so the test checked nothing")
	}
}

func TestSlugRules(t *testing.T) {
	t.Parallel()
	valid := []string{"abc", "my-app", "a1b", "x4k2-my-app", strings.Repeat("a", 32), "123"}
	invalid := map[string]string{
		"ab":                    "too short",
		strings.Repeat("a", 33): "too long",
		"My-App":                "uppercase",
		"my_app":                "underscore",
		"my app":                "space",
		"-abc":                  "leading hyphen",
		"abc-":                  "trailing hyphen",
		"a--b":                  "double hyphen",
		"projects":              "reserved",
		"tickets":               "reserved",
		"whoami":                "reserved",
		"healthz":               "reserved",
		"keys":                  "reserved",
		"émoji":                 "non-ascii",
	}
	for _, s := range valid {
		if err := mosaic.ValidateSlug(s); err != nil {
			t.Errorf("ValidateSlug(%q) = %v, want nil", s, err)
		}
	}
	for s, why := range invalid {
		err := mosaic.ValidateSlug(s)
		if !errors.Is(err, mosaic.ErrInvalid) {
			t.Errorf("ValidateSlug(%q) (%s) = %v, want invalid", s, why, err)
		}
	}
}

func FuzzValidateSlug(f *testing.F) {
	for _, s := range []string{"abc", "a--b", "-x-", "projects", "my-app-x4k2", "\x00ab", "ab\u00e9"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if mosaic.ValidateSlug(s) != nil {
			return
		}
		// Anything accepted is safe as a host label and maps to a valid database name.
		if len(s) < 3 || len(s) > 32 || strings.Contains(s, "--") || s[0] == '-' || s[len(s)-1] == '-' {
			t.Fatalf("accepted %q", s)
		}
		for _, c := range s {
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
				t.Fatalf("accepted %q with %q", s, c)
			}
		}
		if n := mosaic.DatabaseName(s); len(n) > 63 {
			t.Fatalf("database name %q is longer than PostgreSQL allows", n)
		}
	})
}

func TestGeneratedSlugs(t *testing.T) {
	t.Parallel()
	env := mosaictest.New(t)
	for _, name := range []string{"My App", "!!!", "Ünïcödé name", strings.Repeat("long name ", 10), "a"} {
		cp, err := env.Platform.CreateProject(context.Background(), env.Account.ID, mosaic.NewProject{Name: name})
		if err != nil {
			t.Fatalf("CreateProject(%q): %v", name, err)
		}
		if err := mosaic.ValidateSlug(cp.Slug); err != nil {
			t.Errorf("name %q gave slug %q: %v", name, cp.Slug, err)
		}
		if err := env.Platform.DeleteProject(context.Background(), env.Account.ID, cp.Slug); err != nil {
			t.Fatal(err)
		}
	}
}

func TestPlans(t *testing.T) {
	t.Parallel()
	env := mosaictest.New(t, mosaictest.WithConfig(func(c *mosaic.Config) {
		c.Plans = mosaic.DefaultPlans()
		c.Plans["tiny"] = mosaic.Plan{DatabaseBytes: 1 << 20, DBConnections: 3, DBTempFileLimit: "10MB"}
		c.DefaultPlan = "tiny"
	}))
	cp := env.Project(t)
	if cp.Plan != "tiny" {
		t.Errorf("default plan = %q, want tiny", cp.Plan)
	}
	pro := env.Project(t, func(n *mosaic.NewProject) { n.Plan = "pro" })
	if pro.Plan != "pro" {
		t.Errorf("plan = %q, want pro", pro.Plan)
	}
	if _, err := env.Platform.CreateProject(context.Background(), env.Account.ID, mosaic.NewProject{Name: "x", Plan: "gold"}); !errors.Is(err, mosaic.ErrInvalid) {
		t.Errorf("unknown plan: %v, want invalid", err)
	}
	// The plan's connection limit is the role's.
	out, err := psql(t, cp.Credentials.URL(), "SELECT rolconnlimit FROM pg_roles WHERE rolname = current_user")
	if err != nil || out != "3" {
		t.Errorf("rolconnlimit = %q (%v), want 3", out, err)
	}
	def := mosaic.DefaultPlans()
	if def["free"].DatabaseBytes != 2<<30 || def["enterprise"].ContainerCPU != 4 || def["pro"].RedisOpsPerHour != 10_000 || def["starter"].SQLQueriesPerHour != 10_000 {
		t.Errorf("default plan table differs from the API reference: %+v", def)
	}
}

type clock struct{ now atomic.Int64 }

func (c *clock) Now() time.Time      { return time.Unix(0, c.now.Load()) }
func (c *clock) Add(d time.Duration) { c.now.Add(int64(d)) }
func newClock() *clock               { c := &clock{}; c.now.Store(time.Now().UnixNano()); return c }

func TestKeyRotationAndExpiry(t *testing.T) {
	t.Parallel()
	clk := newClock()
	env := mosaictest.New(t, mosaictest.WithConfig(func(c *mosaic.Config) {
		c.Now = clk.Now
		c.KeyTTL = 48 * time.Hour
		c.KeyRotationGrace = time.Hour
	}))
	ctx := context.Background()
	pr, err := env.Platform.Authenticate(ctx, env.APIKey)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(env.APIKey, pr.Key.Prefix) || len(pr.Key.Prefix) != 11 {
		t.Errorf("prefix %q is not the key's first 11 characters", pr.Key.Prefix)
	}
	newKey, nk, old, err := env.Platform.RotateAPIKey(ctx, pr)
	if err != nil {
		t.Fatal(err)
	}
	if !mosaic.ValidKeyFormat(newKey) || !strings.HasPrefix(newKey, "mk_") || len(newKey) < 35 || newKey == env.APIKey {
		t.Fatalf("rotated key %q is malformed", newKey)
	}
	if got := old.ExpiresAt.Sub(clk.Now()); got > time.Hour+time.Second {
		t.Errorf("old key expires in %v, want within the 1h grace", got)
	}
	if !nk.ExpiresAt.After(clk.Now().Add(47 * time.Hour)) {
		t.Errorf("new key expires at %v, want now+48h", nk.ExpiresAt)
	}
	// Both work during the grace period.
	for _, k := range []string{env.APIKey, newKey} {
		if _, err := env.Platform.Authenticate(ctx, k); err != nil {
			t.Errorf("during grace: %v", err)
		}
	}
	// A rotated key cannot be rotated again.
	if _, _, _, err := env.Platform.RotateAPIKey(ctx, pr); !errors.Is(err, mosaic.ErrConflict) {
		t.Errorf("second rotation of the same key: %v, want conflict", err)
	}
	clk.Add(time.Hour + time.Minute)
	if _, err := env.Platform.Authenticate(ctx, env.APIKey); !errors.Is(err, &errs.Error{Kind: errs.Unauthorized, Code: "api_key_expired"}) {
		t.Errorf("old key after the grace period: %v, want expired", err)
	}
	if _, err := env.Platform.Authenticate(ctx, newKey); err != nil {
		t.Errorf("new key after the grace period: %v", err)
	}
	clk.Add(48 * time.Hour)
	if _, err := env.Platform.Authenticate(ctx, newKey); !errors.Is(err, mosaic.ErrUnauthorized) {
		t.Errorf("new key after its TTL: %v, want unauthorized", err)
	}
	// Revocation, by prefix.
	k3, meta, err := env.Platform.CreateAPIKey(ctx, env.Account.ID, "third", 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := env.Platform.Authenticate(ctx, k3); err != nil { // now cached
		t.Fatal(err)
	}
	if _, err := env.Platform.RevokeAPIKey(ctx, meta.Prefix); err != nil {
		t.Fatal(err)
	}
	if _, err := env.Platform.Authenticate(ctx, k3); !errors.Is(err, &errs.Error{Kind: errs.Unauthorized, Code: "api_key_revoked"}) {
		t.Errorf("revoked key: %v, want revoked", err)
	}
	// Keys are stored hashed: the control plane holds no key text.
	admin := adminConn(t, env.DatabaseURL)
	var n int
	if err := admin.QueryRow(ctx, `SELECT count(*) FROM mosaic.api_keys WHERE position($1::bytea in hash) > 0 OR prefix = $2`,
		[]byte(k3), k3).Scan(&n); err != nil || n != 0 {
		t.Errorf("a key is stored in clear (%d rows, err %v)", n, err)
	}
	keys, err := env.Platform.APIKeys(ctx, env.Account.ID)
	if err != nil || len(keys) != 3 {
		t.Errorf("APIKeys: %d keys (err %v), want 3", len(keys), err)
	}
}

func TestTickets(t *testing.T) {
	t.Parallel()
	env := mosaictest.New(t)
	ctx := context.Background()
	cp := env.Project(t)
	tk, err := env.Platform.CreateTicket(ctx, env.Account.ID, mosaic.NewTicket{Subject: "Help", Message: "pgvector?", Project: cp.Slug})
	if err != nil {
		t.Fatal(err)
	}
	if tk.ProjectID == nil || *tk.ProjectID != cp.ID || tk.Status != "open" {
		t.Errorf("ticket = %+v", tk)
	}
	other, _, _ := env.NewAccount(t)
	if _, err := env.Platform.Ticket(ctx, other.ID, tk.ID); !errors.Is(err, mosaic.ErrNotFound) {
		t.Errorf("another account reads the ticket: %v", err)
	}
	if _, err := env.Platform.CreateTicket(ctx, other.ID, mosaic.NewTicket{Subject: "x", Message: "y", Project: cp.ID.String()}); !errors.Is(err, mosaic.ErrNotFound) {
		t.Errorf("another account files a ticket on the project: %v", err)
	}
	if ts, err := env.Platform.Tickets(ctx, other.ID); err != nil || len(ts) != 0 {
		t.Errorf("another account lists %d tickets (%v)", len(ts), err)
	}
}

// TestReaperFinishesInterruptedCreate: a create cut off by a crash (row still
// "provisioning", placement not yet recorded, role and database made) is
// cleaned up by the next platform start.
func TestReaperFinishesInterruptedCreate(t *testing.T) {
	t.Parallel()
	env := mosaictest.New(t)
	admin := adminConn(t, env.DatabaseURL)
	ctx := context.Background()
	slug := fmt.Sprintf("crashed-%d", time.Now().UnixNano()%1e8)
	name := mosaic.DatabaseName(slug)
	for _, sql := range []string{
		"CREATE ROLE " + name + " LOGIN",
		"CREATE DATABASE " + name,
	} {
		if _, err := admin.Exec(ctx, sql); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := admin.Exec(ctx, `INSERT INTO mosaic.projects (id, account_id, name, slug, plan, status, db_name, db_user, created_at, updated_at)
		VALUES (gen_random_uuid(), $1, 'crashed', $2, 'free', 'provisioning', $3, $3, now() - interval '1 hour', now() - interval '1 hour')`,
		env.Account.ID, slug, name); err != nil {
		t.Fatal(err)
	}
	mosaictest.New(t) // a platform start runs the reaper
	if roleExists(t, admin, name) || dbExists(t, admin, name) {
		t.Error("the reaper left the interrupted create's role or database")
	}
	if _, err := env.Platform.Project(ctx, env.Account.ID, slug); !errors.Is(err, mosaic.ErrNotFound) {
		t.Errorf("the reaper left the row: %v", err)
	}
}
