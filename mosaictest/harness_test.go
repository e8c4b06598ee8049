package mosaictest_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/mosaic-platform/mosaic"
	"github.com/mosaic-platform/mosaic/errs"
	"github.com/mosaic-platform/mosaic/internal/dockertest"
	"github.com/mosaic-platform/mosaic/internal/localsvc"
	"github.com/mosaic-platform/mosaic/mosaictest"
)

func TestMain(m *testing.M) { mosaictest.Main(m) }

// The harness starts one set of services per test binary, so each source is
// tested in a child process: this test binary again, running only
// TestHarnessChild with MOSAIC_HARNESS_CHILD set to the expected source.

// TestHarnessChild makes a platform with the harness and uses it: a project,
// SQL, the key-value store, and another account that cannot reach the
// project. It runs only in a child process started by the other tests.
func TestHarnessChild(t *testing.T) {
	want := os.Getenv("MOSAIC_HARNESS_CHILD")
	if want == "" {
		t.Skip("runs in a child process started by TestHarnessEnv, TestHarnessContainers and TestHarnessLocal")
	}
	ctx := context.Background()
	if got := mosaictest.Source(t); got != want {
		t.Fatalf("services from %q, want %q", got, want)
	}
	env := mosaictest.New(t)
	cp := env.Project(t, func(np *mosaic.NewProject) { np.Plan = "pro" }) // pro: with Redis

	if _, err := env.Client.SQL(ctx, cp.Slug, "CREATE TABLE notes (id serial PRIMARY KEY, body text NOT NULL)"); err != nil {
		t.Fatal(err)
	}
	if _, err := env.Client.SQL(ctx, cp.Slug, "INSERT INTO notes (body) VALUES ($1), ($2)", "hello", "world"); err != nil {
		t.Fatal(err)
	}
	res, err := env.Client.SQL(ctx, cp.Slug, "SELECT body FROM notes ORDER BY id")
	if err != nil {
		t.Fatal(err)
	}
	var rows []struct{ Body string }
	if err := json.Unmarshal(res.Rows, &rows); err != nil || len(rows) != 2 || rows[0].Body != "hello" || rows[1].Body != "world" {
		t.Fatalf("SELECT: %s (%v)", res.Rows, err)
	}

	kv := env.Client.KV(cp.Slug)
	if err := kv.Set(ctx, "greeting", "bonjour", 60); err != nil {
		t.Fatal(err)
	}
	if v, ok, err := kv.Get(ctx, "greeting"); err != nil || !ok || v != "bonjour" {
		t.Fatalf("KV get = %q, %v, %v", v, ok, err)
	}

	// Another tenant sees nothing of this one.
	_, _, other := env.NewAccount(t)
	if _, err := other.SQL(ctx, cp.Slug, "SELECT body FROM notes"); !errors.Is(err, errs.ErrNotFound) {
		t.Errorf("another account's SQL on the project: %v, want not found", err)
	}
	if _, _, err := other.KV(cp.Slug).Get(ctx, "greeting"); !errors.Is(err, errs.ErrNotFound) {
		t.Errorf("another account's KV get on the project: %v, want not found", err)
	}

	// Where the services are, for the parent to check.
	fmt.Printf("HARNESS database=%s redis=%s\n", hostPort(t, env.DatabaseURL), hostPort(t, env.RedisURL))
	if want == mosaictest.SourceContainers {
		checkContainers(t, env)
	}
}

func hostPort(t *testing.T, raw string) string {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatalf("bad URL %q: %v", raw, err)
	}
	return u.Host
}

// checkContainers: the database and Redis the platform uses are ports that
// this process's containers publish on 127.0.0.1.
func checkContainers(t *testing.T, env *mosaictest.Env) {
	t.Helper()
	host, _ := os.Hostname()
	cs := harnessContainers(t, host+"/"+strconv.Itoa(os.Getpid()))
	published := map[string]string{} // 127.0.0.1:port → image
	for _, c := range cs {
		for _, p := range c.Ports {
			if p.PublicPort != 0 {
				published[net.JoinHostPort(p.IP, strconv.Itoa(p.PublicPort))] = c.Image
			}
		}
	}
	addrs := []string{hostPort(t, env.DatabaseURL), hostPort(t, env.RedisURL)}
	if env.S3 != nil && os.Getenv("MOSAIC_TEST_MINIO_IMAGE") != "none" {
		addrs = append(addrs, env.S3.Endpoint) // MinIO's container
	}
	for _, hp := range addrs {
		if _, ok := published[hp]; !ok {
			t.Errorf("%s is not a port of this test binary's containers (they publish %v)", hp, published)
		}
	}
	fmt.Printf("HARNESS containers=%d\n", len(cs))
}

type dockerContainer struct {
	ID     string `json:"Id"`
	Image  string `json:"Image"`
	Labels map[string]string
	Ports  []struct {
		IP          string
		PrivatePort int
		PublicPort  int
	}
}

// harnessContainers lists, through the Engine API, the containers of the
// harness session (host name/pid).
func harnessContainers(t *testing.T, session string) []dockerContainer {
	t.Helper()
	hc, base := engine(t)
	filters, _ := json.Marshal(map[string][]string{"label": {"io.mosaic.mosaictest.session=" + session}})
	resp, err := hc.Get(base + "/containers/json?all=1&filters=" + url.QueryEscape(string(filters)))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var cs []dockerContainer
	if err := json.NewDecoder(resp.Body).Decode(&cs); err != nil {
		t.Fatal(err)
	}
	return cs
}

// engine is a client of the test daemon's Engine API (a local socket).
func engine(t *testing.T) (*http.Client, string) {
	h, err := dockertest.Host()
	if err != nil {
		t.Skipf("no Docker daemon: %v", err)
	}
	sock, ok := strings.CutPrefix(h, "unix://")
	if !ok {
		t.Skipf("DOCKER_HOST %s: this test speaks to a local unix socket only", h)
	}
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", sock)
		}}}, "http://docker"
}

// runChild runs TestHarnessChild with the given environment (the parent's
// MOSAIC_TEST_* variables removed) and returns its HARNESS lines.
func runChild(t *testing.T, want string, env ...string) (map[string]string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestHarnessChild$", "-test.v", "-test.count=1")
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "MOSAIC_TEST_") && !strings.HasPrefix(kv, "MOSAIC_HARNESS_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, "MOSAIC_HARNESS_CHILD="+want)
	cmd.Env = append(cmd.Env, env...)
	out, err := cmd.CombinedOutput()
	t.Logf("child (%s):\n%s", want, out)
	if err != nil {
		t.Fatalf("the child test failed: %v", err)
	}
	if !strings.Contains(string(out), "--- PASS: TestHarnessChild") {
		t.Fatal("the child test did not pass")
	}
	got := map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "HARNESS "); ok {
			for _, f := range strings.Fields(rest) {
				k, v, _ := strings.Cut(f, "=")
				got[k] = v
			}
		}
	}
	return got, cmd.ProcessState.Pid()
}

// TestHarnessEnv: MOSAIC_TEST_SERVICES=env uses the servers the URLs name
// (here a PostgreSQL and a Redis this test starts), and the child's
// project is gone from the server afterwards.
func TestHarnessEnv(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	// Not t.TempDir: its parent is private, and postgres may run as another OS user.
	dir, err := os.MkdirTemp("", "mosaictest-env-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o711); err != nil {
		t.Fatal(err)
	}
	pg, err := localsvc.StartPostgres(ctx, localsvc.PostgresOptions{Dir: filepath.Join(dir, "pg"), MaxConnections: 100})
	if err != nil {
		t.Skipf("no local PostgreSQL to stand for the env's server (run scripts/setup): %v", err)
	}
	t.Cleanup(func() { pg.Stop(context.Background()) })
	rs, err := localsvc.StartRedis(ctx, localsvc.RedisOptions{Dir: filepath.Join(dir, "redis")})
	if err != nil {
		t.Skipf("no local redis-server to stand for the env's server (run scripts/setup): %v", err)
	}
	t.Cleanup(func() { rs.Stop(context.Background()) })

	got, _ := runChild(t, mosaictest.SourceEnv, "MOSAIC_TEST_SERVICES=env",
		"MOSAIC_TEST_DATABASE_URL="+pg.URL(), "MOSAIC_TEST_REDIS_URL="+rs.URL())
	if got["database"] != hostPort(t, pg.URL()) || got["redis"] != hostPort(t, rs.URL()) {
		t.Errorf("the child used %v, want the env's servers %s and %s", got, hostPort(t, pg.URL()), hostPort(t, rs.URL()))
	}
	// The child's tenants are gone: no tenant database is left on the server.
	conn, err := pgx.Connect(ctx, pg.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var n int
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM pg_database WHERE datname LIKE 'tenant\\_%'").Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Errorf("%d tenant databases left on the server after the child", n)
	}
}

// TestHarnessLocal: MOSAIC_TEST_SERVICES=local starts local binaries even
// when URLs are set.
func TestHarnessLocal(t *testing.T) {
	t.Parallel()
	bogus := "postgres://nobody@127.0.0.1:1/none"
	got, _ := runChild(t, mosaictest.SourceLocal, "MOSAIC_TEST_SERVICES=local", "MOSAIC_TEST_DATABASE_URL="+bogus)
	if got["database"] == "" || got["database"] == hostPort(t, bogus) || !strings.HasPrefix(got["database"], "127.0.0.1:") {
		t.Errorf("the child's database is %q, want a local server", got["database"])
	}
}

// TestHarnessDefaultSource: without MOSAIC_TEST_SERVICES, URLs choose env,
// and with no URL and no Docker daemon the harness uses local binaries. A
// bad MOSAIC_TEST_SERVICES is an error that says what to set.
func TestHarnessDefaultSource(t *testing.T) {
	t.Parallel()
	runChild(t, mosaictest.SourceLocal, "DOCKER_HOST=unix://"+filepath.Join(t.TempDir(), "no-docker.sock"))

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestHarnessChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), "MOSAIC_HARNESS_CHILD=local", "MOSAIC_TEST_SERVICES=docker")
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), `MOSAIC_TEST_SERVICES="docker": want env, containers or local`) {
		t.Errorf("MOSAIC_TEST_SERVICES=docker: %v\n%s", err, out)
	}
}

// TestHarnessContainers: MOSAIC_TEST_SERVICES=containers runs the platform
// on testcontainers-go containers (the images of MOSAIC_TEST_*_IMAGE,
// default the mosaic-local images scripts/setup-docker builds), and Main
// removes them when the child ends.
func TestHarnessContainers(t *testing.T) {
	t.Parallel()
	images := map[string]string{
		"MOSAIC_TEST_POSTGRES_IMAGE": "mosaic-local/postgres:15",
		"MOSAIC_TEST_REDIS_IMAGE":    "mosaic-local/redis:7",
		"MOSAIC_TEST_MINIO_IMAGE":    "mosaic-local/minio:latest",
	}
	for k := range images {
		if v := os.Getenv(k); v != "" {
			images[k] = v
		}
	}
	// Skips, saying why, without a daemon or the PostgreSQL and Redis images.
	host := dockertest.SkipWithoutImages(t, images["MOSAIC_TEST_POSTGRES_IMAGE"], images["MOSAIC_TEST_REDIS_IMAGE"])
	vars := []string{"MOSAIC_TEST_SERVICES=containers", "DOCKER_HOST=" + host}
	for k, img := range images {
		vars = append(vars, k+"="+img)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if ok, _ := dockertest.HasImage(ctx, host, images["MOSAIC_TEST_MINIO_IMAGE"]); !ok {
		t.Logf("no image %s: the child runs without MinIO", images["MOSAIC_TEST_MINIO_IMAGE"])
		vars = append(vars, "MOSAIC_TEST_MINIO_IMAGE=none")
	}
	got, pid := runChild(t, mosaictest.SourceContainers, vars...)
	if got["containers"] == "" {
		t.Fatalf("the child did not check its containers: %v", got)
	}
	me, _ := os.Hostname()
	if left := harnessContainers(t, me+"/"+strconv.Itoa(pid)); len(left) != 0 {
		t.Errorf("%d containers of the child are left after Main: %+v", len(left), left)
	}
}
