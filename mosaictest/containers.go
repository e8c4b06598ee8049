package mosaictest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
	"github.com/testcontainers/testcontainers-go"
	tcpostgres "github.com/testcontainers/testcontainers-go/modules/postgres"
	"github.com/testcontainers/testcontainers-go/wait"

	"github.com/mosaic-platform/mosaic/internal/dockertest"
)

// Where the harness's services come from (MOSAIC_TEST_SERVICES).
const (
	// SourceEnv: the servers named by MOSAIC_TEST_DATABASE_URL,
	// MOSAIC_TEST_REDIS_URL (and MOSAIC_TEST_S3_ENDPOINT); a service
	// without a URL comes from a local binary.
	SourceEnv = "env"
	// SourceContainers: containers started with testcontainers-go on the
	// Docker daemon of DOCKER_HOST (or the one scripts/setup-docker
	// recorded), one set per test binary, terminated by Main.
	SourceContainers = "containers"
	// SourceLocal: PostgreSQL, redis-server (and MinIO) binaries started in
	// a temporary directory on free loopback ports.
	SourceLocal = "local"
)

// Default images of the container source, each overridable by its
// environment variable (MOSAIC_TEST_POSTGRES_IMAGE, MOSAIC_TEST_REDIS_IMAGE,
// MOSAIC_TEST_MINIO_IMAGE; "none" starts no MinIO). The PostgreSQL image must behave like the
// official one (POSTGRES_USER/POSTGRES_PASSWORD, "ready to accept
// connections" logged twice on a first start); scripts/setup-docker builds
// mosaic-local/postgres:15, mosaic-local/redis:7 and mosaic-local/minio:latest
// for machines without registry access.
const (
	DefaultPostgresImage = "pgvector/pgvector:pg17"
	DefaultRedisImage    = "redis:7"
	DefaultMinIOImage    = "minio/minio"
)

// containerLabel marks the harness's containers; its value is the session
// (host name and process id) that started them, so that containers left
// behind by a killed test binary can be found and removed.
const containerLabel = "io.mosaic.mosaictest.session"

// Source reports where the harness's services come from (SourceEnv,
// SourceContainers or SourceLocal), starting them if needed.
func Source(t testing.TB) string {
	t.Helper()
	s, err := services()
	if err != nil {
		t.Fatalf("mosaictest: %v", err)
	}
	t.Logf("mosaictest: services from %s: %s", s.source, s.sourceWhy)
	if s.containers != nil {
		for _, n := range s.containers.notes {
			t.Logf("mosaictest: %s", n)
		}
	}
	return s.source
}

// startContainerServices is the container source of startServices.
func startContainerServices(why string) (*sharedServices, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cs, err := startContainers(ctx)
	if err != nil {
		return nil, err
	}
	s := &sharedServices{source: SourceContainers, sourceWhy: why, containers: cs,
		databaseURL: cs.databaseURL, redisURL: cs.redisURL}
	if cs.s3Endpoint != "" {
		s.s3 = &S3{Endpoint: cs.s3Endpoint, AccessKey: cs.s3AccessKey, SecretKey: cs.s3Secret}
	} else if cs.minioErr != nil {
		cs.note("no MinIO container (%v): object storage comes from MOSAIC_TEST_S3_ENDPOINT or a local MinIO", cs.minioErr)
	}
	return s, nil
}

// chooseSource reads MOSAIC_TEST_SERVICES: "env", "containers", "local",
// or empty for the default: env when MOSAIC_TEST_DATABASE_URL or
// MOSAIC_TEST_REDIS_URL is set, else containers when a Docker daemon
// answers and has the PostgreSQL and Redis images, else local. The default
// never pulls an image (a registry may be unreachable, and local binaries
// are faster to start); MOSAIC_TEST_SERVICES=containers does.
func chooseSource(ctx context.Context) (source, why string, err error) {
	switch v := os.Getenv("MOSAIC_TEST_SERVICES"); v {
	case SourceEnv:
		if os.Getenv("MOSAIC_TEST_DATABASE_URL") == "" && os.Getenv("MOSAIC_TEST_REDIS_URL") == "" {
			return "", "", errors.New("MOSAIC_TEST_SERVICES=env but neither MOSAIC_TEST_DATABASE_URL nor MOSAIC_TEST_REDIS_URL is set")
		}
		return SourceEnv, "MOSAIC_TEST_SERVICES=env", nil
	case SourceContainers:
		host := dockerHost()
		if err := dockerPing(ctx, host); err != nil {
			return "", "", fmt.Errorf("MOSAIC_TEST_SERVICES=containers but no Docker daemon answers at %s (set DOCKER_HOST, or run scripts/setup-docker): %w", host, err)
		}
		return SourceContainers, "MOSAIC_TEST_SERVICES=containers", nil
	case SourceLocal:
		return SourceLocal, "MOSAIC_TEST_SERVICES=local", nil
	case "":
	default:
		return "", "", fmt.Errorf("MOSAIC_TEST_SERVICES=%q: want env, containers or local (or unset for the default)", v)
	}
	if os.Getenv("MOSAIC_TEST_DATABASE_URL") != "" || os.Getenv("MOSAIC_TEST_REDIS_URL") != "" {
		return SourceEnv, "MOSAIC_TEST_DATABASE_URL or MOSAIC_TEST_REDIS_URL is set", nil
	}
	host := dockerHost()
	if err := dockerPing(ctx, host); err != nil {
		return SourceLocal, fmt.Sprintf("no Docker daemon answers at %s", host), nil
	}
	for _, img := range []string{postgresImage(), redisImage()} {
		if ok, err := dockerHasImage(ctx, host, img); err != nil || !ok {
			return SourceLocal, fmt.Sprintf("the Docker daemon at %s has no image %s (set MOSAIC_TEST_POSTGRES_IMAGE/MOSAIC_TEST_REDIS_IMAGE, or MOSAIC_TEST_SERVICES=containers to pull it)", host, img), nil
		}
	}
	return SourceContainers, fmt.Sprintf("a Docker daemon answers at %s", host), nil
}

func postgresImage() string { return envOr("MOSAIC_TEST_POSTGRES_IMAGE", DefaultPostgresImage) }
func redisImage() string    { return envOr("MOSAIC_TEST_REDIS_IMAGE", DefaultRedisImage) }
func minioImage() string    { return envOr("MOSAIC_TEST_MINIO_IMAGE", DefaultMinIOImage) }

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

// dockerHost is the daemon the harness uses (dockertest.Host): $DOCKER_HOST,
// else the one scripts/setup-docker recorded in $MOSAIC_CACHE_DIR/docker-host
// (default ~/.cache/mosaic/docker-host), else the default socket.
func dockerHost() string {
	h, err := dockertest.Host()
	if err != nil {
		return "unix://" + dockertest.DefaultSocket
	}
	return h
}

// dockerAPI is a minimal client of the Engine API for the containers a
// killed test binary left behind.
func dockerAPI(host string) (*http.Client, string, error) {
	u, err := url.Parse(host)
	if err != nil {
		return nil, "", fmt.Errorf("DOCKER_HOST %q: %w", host, err)
	}
	tr := &http.Transport{}
	switch u.Scheme {
	case "unix":
		sock := u.Path
		tr.DialContext = func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", sock)
		}
		return &http.Client{Transport: tr, Timeout: 10 * time.Second}, "http://docker", nil
	case "tcp", "http":
		return &http.Client{Transport: tr, Timeout: 10 * time.Second}, "http://" + u.Host, nil
	}
	return nil, "", fmt.Errorf("DOCKER_HOST %q: the harness speaks to unix:// and tcp:// daemons only", host)
}

func dockerGet(ctx context.Context, host, path string, out any) (int, error) {
	hc, base, err := dockerAPI(host)
	if err != nil {
		return 0, err
	}
	defer hc.CloseIdleConnections()
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+path, nil)
	if err != nil {
		return 0, err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return resp.StatusCode, err
	}
	if resp.StatusCode == http.StatusOK && out != nil {
		return resp.StatusCode, json.Unmarshal(b, out)
	}
	return resp.StatusCode, nil
}

func dockerPing(ctx context.Context, host string) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	return dockertest.Ping(ctx, host)
}

func dockerHasImage(ctx context.Context, host, image string) (bool, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	return dockertest.HasImage(ctx, host, image)
}

// containerSet is the container source's services.
type containerSet struct {
	host                              string // the address tests dial: 127.0.0.1, or TESTCONTAINERS_HOST_OVERRIDE
	postgres                          *tcpostgres.PostgresContainer
	redis                             testcontainers.Container
	minio                             testcontainers.Container
	minioErr                          error
	databaseURL, redisURL             string
	notes                             []string // what the harness decided, for Source to log
	s3Endpoint, s3AccessKey, s3Secret string
}

// startContainers starts PostgreSQL and Redis (and MinIO when its image
// is there) containers. Their ports are published on 127.0.0.1 only (or
// on all interfaces of a remote daemon named by TESTCONTAINERS_HOST_OVERRIDE).
func startContainers(ctx context.Context) (*containerSet, error) {
	host := dockerHost()
	if os.Getenv("DOCKER_HOST") == "" {
		// testcontainers reads DOCKER_HOST; point it at the daemon we found.
		os.Setenv("DOCKER_HOST", host)
	}
	local := strings.HasPrefix(host, "unix://")
	cs := &containerSet{host: os.Getenv("TESTCONTAINERS_HOST_OVERRIDE")}
	if cs.host == "" {
		if !local {
			return nil, fmt.Errorf("DOCKER_HOST=%s is not a local socket: set TESTCONTAINERS_HOST_OVERRIDE to the host where its published ports are reached", host)
		}
		// The published ports are on this machine's loopback. Without the
		// override testcontainers may decide it runs in a container and
		// dial a gateway address instead.
		cs.host = "127.0.0.1"
		os.Setenv("TESTCONTAINERS_HOST_OVERRIDE", cs.host)
	}
	if os.Getenv("TESTCONTAINERS_RYUK_DISABLED") == "" {
		if ok, _ := dockerHasImage(ctx, host, testcontainers.ReaperDefaultImage); !ok {
			// The reaper would be pulled, and the registry may be out of
			// reach: Main terminates the containers instead (and the next
			// run removes those of a test binary that was killed).
			cs.note("testcontainers' reaper (ryuk) is disabled: its image %s is not on the daemon; Main terminates the containers", testcontainers.ReaperDefaultImage)
			os.Setenv("TESTCONTAINERS_RYUK_DISABLED", "true")
		}
	}
	removeStaleContainers(ctx, host, cs.note)

	labels := map[string]string{containerLabel: session()}
	// testcontainers completes PortBindings after the modifiers run (an
	// ephemeral host port for each exposed port) and keeps these: on a
	// local daemon the ports are published on loopback only.
	loopback := func(ports ...string) testcontainers.CustomizeRequestOption {
		return testcontainers.WithHostConfigModifier(func(hc *container.HostConfig) {
			if !local {
				return
			}
			if hc.PortBindings == nil {
				hc.PortBindings = network.PortMap{}
			}
			for _, s := range ports {
				hc.PortBindings[network.MustParsePort(s)] = []network.PortBinding{{HostIP: netip.MustParseAddr("127.0.0.1")}}
			}
		})
	}
	fail := func(err error) (*containerSet, error) {
		cs.terminate()
		return nil, err
	}

	password := randomHex(24)
	pg, err := tcpostgres.Run(ctx, postgresImage(),
		tcpostgres.WithUsername("postgres"),
		tcpostgres.WithPassword(password),
		tcpostgres.WithDatabase("postgres"),
		tcpostgres.BasicWaitStrategies(),
		testcontainers.WithCmd("postgres", "-c", "fsync=off", "-c", "max_connections=300"),
		testcontainers.WithLabels(labels),
		loopback("5432/tcp"),
	)
	if pg != nil {
		cs.postgres = pg
	}
	if err != nil {
		return fail(fmt.Errorf("start a PostgreSQL container (image %s; MOSAIC_TEST_POSTGRES_IMAGE overrides it): %w", postgresImage(), err))
	}
	port, err := pg.MappedPort(ctx, "5432/tcp")
	if err != nil {
		return fail(err)
	}
	cs.databaseURL = (&url.URL{Scheme: "postgres", User: url.UserPassword("postgres", password),
		Host: net.JoinHostPort(cs.host, strconv.Itoa(int(port.Num()))), Path: "/postgres", RawQuery: "sslmode=disable"}).String()

	rc, err := testcontainers.Run(ctx, redisImage(),
		testcontainers.WithExposedPorts("6379/tcp"),
		testcontainers.WithCmd("redis-server", "--save", "", "--appendonly", "no", "--protected-mode", "no"),
		testcontainers.WithWaitStrategy(wait.ForLog("Ready to accept connections"), wait.ForListeningPort("6379/tcp").SkipInternalCheck()),
		testcontainers.WithLabels(labels),
		loopback("6379/tcp"),
	)
	if rc != nil {
		cs.redis = rc
	}
	if err != nil {
		return fail(fmt.Errorf("start a Redis container (image %s; MOSAIC_TEST_REDIS_IMAGE overrides it): %w", redisImage(), err))
	}
	if port, err = rc.MappedPort(ctx, "6379/tcp"); err != nil {
		return fail(err)
	}
	cs.redisURL = "redis://" + net.JoinHostPort(cs.host, strconv.Itoa(int(port.Num()))) + "/0"

	// MinIO: the S3 server of the storage capability. Without its image the
	// other services still run; storage tests report why there is none.
	if minioImage() == "none" {
		cs.minioErr = errors.New("MOSAIC_TEST_MINIO_IMAGE=none: no MinIO container")
		return cs, nil
	}
	if ok, _ := dockerHasImage(ctx, host, minioImage()); !ok && os.Getenv("MOSAIC_TEST_SERVICES") != SourceContainers {
		cs.minioErr = fmt.Errorf("the Docker daemon has no image %s (MOSAIC_TEST_MINIO_IMAGE overrides it)", minioImage())
		return cs, nil
	}
	cs.s3AccessKey, cs.s3Secret = "mosaic"+randomHex(8), randomHex(32)
	mc, err := testcontainers.Run(ctx, minioImage(),
		testcontainers.WithExposedPorts("9000/tcp"),
		testcontainers.WithEnv(map[string]string{"MINIO_ROOT_USER": cs.s3AccessKey, "MINIO_ROOT_PASSWORD": cs.s3Secret}),
		testcontainers.WithCmd("server", "/data"),
		testcontainers.WithWaitStrategy(wait.ForHTTP("/minio/health/live").WithPort("9000/tcp")),
		testcontainers.WithLabels(labels),
		loopback("9000/tcp"),
	)
	if mc != nil {
		cs.minio = mc
	}
	if err != nil {
		cs.minioErr = fmt.Errorf("start a MinIO container (image %s; MOSAIC_TEST_MINIO_IMAGE overrides it): %w", minioImage(), err)
		return cs, nil
	}
	if port, err = mc.MappedPort(ctx, "9000/tcp"); err != nil {
		cs.minioErr = err
		return cs, nil
	}
	cs.s3Endpoint = net.JoinHostPort(cs.host, strconv.Itoa(int(port.Num())))
	return cs, nil
}

func (cs *containerSet) note(format string, args ...any) {
	cs.notes = append(cs.notes, fmt.Sprintf(format, args...))
}

// terminate stops and removes the containers (and their volumes), all at
// once, within its own time limit.
func (cs *containerSet) terminate() error {
	if cs == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var list []testcontainers.Container
	for _, c := range []testcontainers.Container{cs.minio, cs.redis} {
		if c != nil {
			list = append(list, c)
		}
	}
	if cs.postgres != nil {
		list = append(list, cs.postgres)
	}
	errc := make(chan error, len(list))
	for _, c := range list {
		go func() { errc <- c.Terminate(ctx, testcontainers.StopTimeout(5*time.Second)) }()
	}
	var errsOut []error
	for range list {
		errsOut = append(errsOut, <-errc)
	}
	return errors.Join(errsOut...)
}

// session names this test binary's containers: host name and process id.
func session() string {
	h, _ := os.Hostname()
	return h + "/" + strconv.Itoa(os.Getpid())
}

// removeStaleContainers removes the harness's containers that a test
// binary of this host left behind when it was killed before Main ran
// (its process is gone). Errors are logged: they never stop the tests.
func removeStaleContainers(ctx context.Context, host string, note func(string, ...any)) {
	filters, _ := json.Marshal(map[string][]string{"label": {containerLabel}})
	var list []struct {
		ID     string            `json:"Id"`
		Labels map[string]string `json:"Labels"`
	}
	if _, err := dockerGet(ctx, host, "/containers/json?all=1&filters="+url.QueryEscape(string(filters)), &list); err != nil {
		note("listing the containers left behind failed: %v", err)
		return
	}
	me, _ := os.Hostname()
	for _, c := range list {
		h, pid, ok := strings.Cut(c.Labels[containerLabel], "/")
		n, err := strconv.Atoi(pid)
		if !ok || err != nil || h != me || processAlive(n) {
			continue
		}
		if err := dockerDelete(ctx, host, "/containers/"+c.ID+"?force=1&v=1"); err != nil {
			note("removing container %.12s, left behind by %s, failed: %v", c.ID, c.Labels[containerLabel], err)
		} else {
			note("removed container %.12s, left behind by the killed test binary %s", c.ID, c.Labels[containerLabel])
		}
	}
}

func processAlive(pid int) bool {
	if pid <= 0 {
		return false
	}
	_, err := os.Stat("/proc/" + strconv.Itoa(pid))
	if errors.Is(err, os.ErrNotExist) {
		return false
	}
	return true // alive, or no /proc to tell: keep it
}

func dockerDelete(ctx context.Context, host, path string) error {
	hc, base, err := dockerAPI(host)
	if err != nil {
		return err
	}
	defer hc.CloseIdleConnections()
	req, err := http.NewRequestWithContext(ctx, http.MethodDelete, base+path, nil)
	if err != nil {
		return err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 && resp.StatusCode != http.StatusNotFound {
		return fmt.Errorf("DELETE %s: HTTP %d", path, resp.StatusCode)
	}
	return nil
}
