package localsvc

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// stateDir returns a fresh directory for a server's state. It is not
// t.TempDir: that one's parent is 0700 and root-owned, so the postgres OS
// user (used when the tests run as root) could not reach inside.
func stateDir(t *testing.T) string {
	t.Helper()
	parent, err := os.MkdirTemp("", "localsvc-test-*")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(parent) })
	if err := os.Chmod(parent, 0o755); err != nil {
		t.Fatal(err)
	}
	return filepath.Join(parent, "pg")
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(b), "\n"))
	return len(b), nil
}

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

func startPG(t *testing.T, o PostgresOptions) *Postgres {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	if o.Logger == nil {
		o.Logger = testLogger(t)
	}
	began := time.Now()
	p, err := StartPostgres(ctx, o)
	if err != nil {
		t.Fatalf("StartPostgres: %v", err)
	}
	t.Logf("StartPostgres took %v (port %d)", time.Since(began).Round(time.Millisecond), p.Port())
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := p.Stop(ctx); err != nil {
			t.Errorf("Stop: %v", err)
		}
	})
	return p
}

func connect(t *testing.T, url string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), url)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

func TestPostgresLifecycle(t *testing.T) {
	t.Parallel()
	dir := stateDir(t)
	p := startPG(t, PostgresOptions{Dir: dir})

	if p.Dir() != dir {
		t.Errorf("Dir() = %q, want %q", p.Dir(), dir)
	}
	wantURL := fmt.Sprintf("@127.0.0.1:%d/postgres?sslmode=disable", p.Port())
	if !strings.HasPrefix(p.URL(), "postgres://postgres:") || !strings.HasSuffix(p.URL(), wantURL) {
		t.Errorf("URL() = %q", p.URL())
	}
	fi, err := os.Stat(filepath.Join(dir, pgPasswordFile))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("password file mode %v, want 0600", fi.Mode().Perm())
	}

	ctx := t.Context()
	conn := connect(t, p.URL())
	if _, err := conn.Exec(ctx, `CREATE TABLE kept (v text); INSERT INTO kept VALUES ('survives')`); err != nil {
		t.Fatal(err)
	}
	var settings string
	err = conn.QueryRow(ctx, `SELECT current_setting('fsync') || ',' || current_setting('max_connections') || ',' ||
		current_setting('shared_preload_libraries') || ',' || current_setting('listen_addresses')`).Scan(&settings)
	if err != nil {
		t.Fatal(err)
	}
	if want := "off,200,pg_stat_statements,127.0.0.1"; settings != want {
		t.Errorf("settings = %q, want %q", settings, want)
	}
	if _, err := conn.Exec(ctx, `CREATE EXTENSION pg_stat_statements`); err != nil {
		t.Errorf("pg_stat_statements: %v", err)
	}
	conn.Close(ctx)

	// TCP logins need the password: none and a wrong one are refused.
	for _, pw := range []string{"", "wrong"} {
		cfg, err := pgx.ParseConfig(p.URL())
		if err != nil {
			t.Fatal(err)
		}
		cfg.Password = pw // also overrides PGPASSWORD and ~/.pgpass
		c, err := pgx.ConnectConfig(ctx, cfg)
		if err == nil {
			c.Close(ctx)
			t.Fatalf("login with password %q succeeded, want refused", pw)
		}
		if pgErr := (*pgconn.PgError)(nil); !errors.As(err, &pgErr) || pgErr.Code != "28P01" {
			t.Errorf("login with password %q: %v, want SQLSTATE 28P01", pw, err)
		}
	}

	// Stop is idempotent, and the port is closed afterwards.
	stopCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	began := time.Now()
	if err := p.Stop(stopCtx); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	t.Logf("Stop took %v", time.Since(began).Round(time.Millisecond))
	if err := p.Stop(stopCtx); err != nil {
		t.Fatalf("second Stop: %v", err)
	}
	if c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", p.Port()), time.Second); err == nil {
		c.Close()
		t.Error("port still accepting after Stop")
	}

	// A restart on the same dir reuses the cluster and its password.
	p2 := startPG(t, PostgresOptions{Dir: dir})
	var v string
	if err := connect(t, p2.URL()).QueryRow(ctx, `SELECT v FROM kept`).Scan(&v); err != nil {
		t.Fatal(err)
	}
	if v != "survives" {
		t.Errorf("got %q after restart", v)
	}
}

func TestPostgresStalePID(t *testing.T) {
	t.Parallel()
	dir := stateDir(t)
	pidFile := filepath.Join(dir, pgDataDir, "postmaster.pid")

	p := startPG(t, PostgresOptions{Dir: dir, Fsync: true, MaxConnections: 20})
	p.proc.kill() // as if the previous run was SIGKILLed: postmaster.pid stays
	if _, err := os.Stat(pidFile); err != nil {
		t.Fatalf("postmaster.pid after kill: %v", err)
	}

	p = startPG(t, PostgresOptions{Dir: dir, Fsync: true, MaxConnections: 20})
	p.proc.kill()
	// The dead postmaster's pid now belongs to another, live process.
	b, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	_, rest, _ := strings.Cut(string(b), "\n")
	if err := os.WriteFile(pidFile, []byte("1\n"+rest), 0o600); err != nil {
		t.Fatal(err)
	}

	p = startPG(t, PostgresOptions{Dir: dir, Fsync: true, MaxConnections: 20})
	var n int
	if err := connect(t, p.URL()).QueryRow(t.Context(), `SELECT current_setting('max_connections')::int`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 20 {
		t.Errorf("max_connections = %d, want 20", n)
	}

	// A second server on a dir in use is refused.
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	if p2, err := StartPostgres(ctx, PostgresOptions{Dir: dir}); err == nil {
		p2.Stop(ctx)
		t.Fatal("second server on the same dir started")
	}
}

func TestPostgresPortTakenAndInterruptedInit(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	port := l.Addr().(*net.TCPAddr).Port

	// Leftovers of an initdb that was killed half-way.
	dir := stateDir(t)
	if err := os.MkdirAll(filepath.Join(dir, pgDataDir, "base"), 0o700); err != nil {
		t.Fatal(err)
	}
	for name, content := range map[string]string{
		filepath.Join(pgDataDir, "PG_VERSION"): "15\n",
		pgInitPassword:                         "half\n",
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}

	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	p, err := StartPostgres(ctx, PostgresOptions{Dir: dir, Port: port, Logger: testLogger(t)})
	if err == nil {
		p.Stop(ctx)
		t.Fatal("started on a taken port")
	}
	// The error quotes the server's log.
	if !errors.Is(err, errPortTaken) || !strings.Contains(err.Error(), "could not") {
		t.Errorf("err = %v, want a port-taken error quoting the log", err)
	}
	if _, err := os.Stat(filepath.Join(dir, pgInitPassword)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("%s still there after initdb: %v", pgInitPassword, err)
	}

	// initdb redid the cluster: it starts on a free port.
	p = startPG(t, PostgresOptions{Dir: dir})
	connect(t, p.URL())
}

// TestPostgresDiesWithParent starts a server from a child process that then
// exits without stopping it: the parent-death signal must take it down.
func TestPostgresDiesWithParent(t *testing.T) {
	t.Parallel()
	dir := stateDir(t)
	cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestHelperStartAndExit$", "-test.v")
	cmd.Env = append(os.Environ(), "LOCALSVC_HELPER_DIR="+dir)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("helper: %v\n%s", err, out)
	}
	var pid int
	for line := range strings.Lines(string(out)) {
		if _, err := fmt.Sscanf(strings.TrimSpace(line), "PID %d", &pid); err == nil {
			break
		}
	}
	if pid == 0 {
		t.Fatalf("no PID in helper output:\n%s", out)
	}
	deadline := time.Now().Add(30 * time.Second)
	for pidAlive(pid) {
		if time.Now().After(deadline) {
			syscall.Kill(-pid, syscall.SIGKILL)
			t.Fatalf("postgres (pid %d) outlived its parent", pid)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestHelperStartAndExit(t *testing.T) {
	dir := os.Getenv("LOCALSVC_HELPER_DIR")
	if dir == "" {
		t.Skip("run by TestPostgresDiesWithParent")
	}
	p, err := StartPostgres(t.Context(), PostgresOptions{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	fmt.Printf("PID %d\n", p.proc.pid())
	os.Exit(0) // no Stop: the parent "crashes"
}

func TestFindPostgresBinDir(t *testing.T) {
	dir, err := findPostgresBinDir(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range []string{"initdb", "postgres"} {
		if _, err := os.Stat(filepath.Join(dir, b)); err != nil {
			t.Error(err)
		}
	}
}

func TestFreePort(t *testing.T) {
	port, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Fatalf("port %d not free: %v", port, err)
	}
	l.Close()
}
