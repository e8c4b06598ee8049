// Package mosaictest gives integration tests a whole Mosaic platform on real
// services.
//
//	func TestMain(m *testing.M) { mosaictest.Main(m) }
//
//	func TestSignup(t *testing.T) {
//		env := mosaictest.New(t)
//		p := env.Project(t)
//		... env.Platform, env.Client, env.Server ...
//	}
//
// Services come from one of three sources, chosen by MOSAIC_TEST_SERVICES
// (see Source):
//
//   - env: URLs from the environment (MOSAIC_TEST_DATABASE_URL: an admin
//     URL of a PostgreSQL server; MOSAIC_TEST_REDIS_URL: a Redis server);
//     a service without a URL comes from a local binary.
//   - containers: testcontainers-go containers on the Docker daemon of
//     DOCKER_HOST (else the one scripts/setup-docker recorded in
//     $MOSAIC_CACHE_DIR/docker-host): PostgreSQL through the postgres
//     module and its wait strategies, Redis and MinIO, images
//     DefaultPostgresImage, DefaultRedisImage, DefaultMinIOImage unless
//     MOSAIC_TEST_POSTGRES_IMAGE, MOSAIC_TEST_REDIS_IMAGE or
//     MOSAIC_TEST_MINIO_IMAGE name others. Ports are published on 127.0.0.1
//     (TESTCONTAINERS_HOST_OVERRIDE names the host of a remote daemon);
//     ryuk is disabled when its image is not on the daemon
//     (TESTCONTAINERS_RYUK_DISABLED is honoured), and Main terminates the
//     containers.
//   - local: binaries started in a temporary directory on free ports
//     (PostgreSQL and redis-server from the installed packages;
//     scripts/setup installs them).
//
// Unset, it is env when a URL is set, else containers when a Docker daemon
// answers and has the images (the default never pulls), else local. With Redis, the platform
// gets a key-value store and counts quotas in Redis. One set of
// services is started per test binary, on first use, and stopped by Main;
// every New makes a fresh account, and every Project a fresh tenant, so tests
// can run in parallel and leave nothing behind.
//
// Without Main the services are still stopped when the test binary exits
// (the child processes get SIGTERM from the kernel), but their temporary
// directory stays behind; containers stay until ryuk or the next container
// run of the harness on this host removes them.
package mosaictest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/mosaic-platform/mosaic"
	"github.com/mosaic-platform/mosaic/client"
	"github.com/mosaic-platform/mosaic/deployer/process"
	"github.com/mosaic-platform/mosaic/httpapi"
	"github.com/mosaic-platform/mosaic/internal/localsvc"
	"github.com/mosaic-platform/mosaic/kv"
	"github.com/mosaic-platform/mosaic/ratelimit"
)

// Env is a ready platform for one test.
type Env struct {
	// Platform is the in-process platform.
	Platform *mosaic.Platform
	// Server serves the REST API (under httpapi.DefaultPrefix), /healthz,
	// /git/, and project sites for a Host of {slug}.mosaic.localhost.
	Server *httptest.Server
	// Handler is the mounted API handler.
	Handler *httpapi.Handler
	// BaseURL is the API's base: Server.URL + the prefix.
	BaseURL string
	// Account is a fresh account, APIKey one of its keys, and Client a client that uses it.
	Account *mosaic.Account
	APIKey  string
	Client  *client.Client
	// DatabaseURL is the admin URL of the PostgreSQL server.
	DatabaseURL string
	// RedisURL is the Redis server behind the platform's key-value store and
	// rate limiter; "" when no Redis could be started (see RedisURL).
	RedisURL string

	// GitURL is the base of the projects' clone URLs: GitURL + "/<slug>.git".
	GitURL string

	// SMTP is the Env's own SMTP server (STARTTLS, AUTH PLAIN), to which
	// the platform's Mailer sends the auth emails; see Mail and WaitMail.
	SMTP *SMTPServer

	// S3 is the S3 server behind the platform's object storage; nil when
	// the platform uses the local-filesystem store (WithLocalStorage, or
	// no S3 server could start).
	S3 *S3

	// Runtime is the local-process runtime that runs the Env's deployed
	// apps (see configureRuntime); nil when it could not open.
	Runtime *process.Runtime

	runtimeDir string
	redis      *redis.Client
	gitDir     string
	storageDir string
}

type options struct {
	config func(*mosaic.Config)
	api    func(*httpapi.Options)
	logger *slog.Logger

	localStorage bool // storage.go
}

func withLogger(l *slog.Logger) Option { return func(o *options) { o.logger = l } }

// Option changes how New builds the platform.
type Option func(*options)

// WithConfig lets a test change the platform's Config before New uses it.
func WithConfig(f func(*mosaic.Config)) Option { return func(o *options) { o.config = f } }

// WithAPIOptions lets a test change the HTTP handler's options.
func WithAPIOptions(f func(*httpapi.Options)) Option { return func(o *options) { o.api = f } }

// New returns a ready Env. Everything it makes is removed when the test ends.
func New(t testing.TB, opts ...Option) *Env {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	env, err := Start(ctx, append([]Option{withLogger(testLogger(t))}, opts...)...)
	if err != nil {
		t.Fatalf("mosaictest: %v", err)
	}
	t.Cleanup(func() { env.Close() })
	return env
}

// Start is New for code that has no testing.TB (examples, TestMain, tools):
// it returns a ready Env that the caller must Close.
func Start(ctx context.Context, opts ...Option) (*Env, error) {
	var o options
	for _, f := range opts {
		f(&o)
	}
	svc, err := services()
	if err != nil {
		return nil, err
	}
	var handler http.Handler
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { handler.ServeHTTP(w, r) }))
	publicURL := "http://" + srv.Listener.Addr().String()
	gitDir, err := os.MkdirTemp("", "mosaictest-git-")
	if err != nil {
		srv.Close()
		return nil, err
	}
	cfg := mosaic.Config{
		DatabaseURL: svc.databaseURL,
		SecretKey:   []byte(randomHex(32)),
		PublicURL:   publicURL,
		Domain:      "mosaic.localhost",
		GitDir:      gitDir,
		// Test receivers listen on loopback.
		WebhookAllowPrivate: true,
		Logger:              o.logger,
	}
	var rc *redis.Client
	if svc.redisURL != "" {
		if rc, err = kv.NewClient(svc.redisURL); err != nil {
			srv.Close()
			return nil, err
		}
		store := kv.New(rc, kv.Options{Logger: o.logger, AutoPipeline: true})
		cfg.KV = store
		// Quotas count in Redis, as across replicas; the clock is the
		// platform's, read when it is used, so WithConfig can move it.
		clock := func() time.Time {
			if cfg.Now != nil {
				return cfg.Now()
			}
			return time.Now()
		}
		shared := ratelimit.NewRedis(store.Scripter(), "mosaictest:rl:", clock).WithFallback(ratelimit.NewMemory(clock))
		cfg.Limiter = ratelimit.NewBatched(shared, 0, clock)
	}
	smtpSrv, err := StartSMTP(SMTPOptions{User: "mosaictest", Password: randomHex(16)})
	if err == nil {
		cfg.Mailer, err = smtpSrv.Mailer()
	}
	if err != nil {
		srv.Close()
		if rc != nil {
			rc.Close()
		}
		os.RemoveAll(gitDir)
		return nil, fmt.Errorf("start SMTP server: %w", err)
	}
	s3info, storageDir := configureStorage(&cfg, svc, o.localStorage, o.logger)
	rt, rtDir := configureRuntime(&cfg, o.logger)
	if o.config != nil {
		o.config(&cfg)
	}
	p, err := mosaic.New(ctx, cfg)
	if err != nil {
		srv.Close()
		if rc != nil {
			rc.Close()
		}
		os.RemoveAll(gitDir)
		smtpSrv.Close()
		os.RemoveAll(storageDir)
		closeRuntime(rt, rtDir)
		return nil, fmt.Errorf("start platform: %w", err)
	}
	apiOpts := httpapi.Options{Logger: cfg.Logger}
	if o.api != nil {
		o.api(&apiOpts)
	}
	h := httpapi.New(p, apiOpts)
	mux := http.NewServeMux()
	h.Mount(mux)
	// As cmd/mosaic serves: a Host of {slug}.mosaic.localhost is the
	// project's site (its running app, else its static files).
	handler = h.Sites(mux)
	srv.Start()

	env := &Env{Platform: p, Server: srv, Handler: h, BaseURL: srv.URL + h.Prefix(), DatabaseURL: svc.databaseURL,
		RedisURL: svc.redisURL, GitURL: srv.URL + "/git", redis: rc, gitDir: gitDir, SMTP: smtpSrv}
	env.S3, env.storageDir = s3info, storageDir
	env.Runtime, env.runtimeDir = rt, rtDir
	env.Account, env.APIKey, env.Client, err = env.CreateAccount(ctx)
	if err != nil {
		env.Close()
		return nil, err
	}
	return env, nil
}

// Close stops the Env's server and platform. The shared services keep running.
func (e *Env) Close() error {
	e.Server.Close()
	err := e.Platform.Close()
	closeRuntime(e.Runtime, e.runtimeDir)
	if e.redis != nil {
		e.redis.Close()
	}
	os.RemoveAll(e.gitDir)
	if e.storageDir != "" {
		os.RemoveAll(e.storageDir)
	}
	if e.SMTP != nil {
		e.SMTP.Close()
	}
	return err
}

// CreateAccount makes another account with a key and a client for it.
func (e *Env) CreateAccount(ctx context.Context) (*mosaic.Account, string, *client.Client, error) {
	a, err := e.Platform.CreateAccount(ctx, "test-"+randomHex(8)+"@example.test", "test")
	if err != nil {
		return nil, "", nil, fmt.Errorf("create account: %w", err)
	}
	key, _, err := e.Platform.CreateAPIKey(ctx, a.ID, "test", 0)
	if err != nil {
		return nil, "", nil, fmt.Errorf("create key: %w", err)
	}
	return a, key, client.New(e.BaseURL, key), nil
}

// NewAccount is CreateAccount for tests.
func (e *Env) NewAccount(t testing.TB) (*mosaic.Account, string, *client.Client) {
	t.Helper()
	a, key, c, err := e.CreateAccount(context.Background())
	if err != nil {
		t.Fatalf("mosaictest: %v", err)
	}
	return a, key, c
}

// Project makes a fresh project for the Env's account, deleted when the test
// ends. The name defaults to the test's name.
func (e *Env) Project(t testing.TB, opts ...func(*mosaic.NewProject)) *mosaic.CreatedProject {
	t.Helper()
	in := mosaic.NewProject{Name: t.Name()}
	for _, f := range opts {
		f(&in)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cp, err := e.Platform.CreateProject(ctx, e.Account.ID, in)
	if err != nil {
		t.Fatalf("mosaictest: create project: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := e.Platform.DeleteProject(ctx, e.Account.ID, cp.Slug); err != nil && !strings.Contains(err.Error(), "not found") {
			t.Errorf("mosaictest: delete project %s: %v", cp.Slug, err)
		}
	})
	return cp
}

// shared services, started once per test binary.
type sharedServices struct {
	databaseURL string
	dir         string
	pg          *localsvc.Postgres
	redisURL    string
	redisErr    error // why there is no Redis
	redis       *localsvc.Redis
	source      string // SourceEnv, SourceContainers or SourceLocal (see containers.go)
	sourceWhy   string
	containers  *containerSet
	s3          *S3   // storage.go
	s3Err       error // why there is no S3 server
	minio       *localsvc.MinIO
}

var (
	svcOnce sync.Once
	svc     *sharedServices
	svcErr  error
)

func services() (*sharedServices, error) {
	svcOnce.Do(func() {
		if svc, svcErr = startServices(); svcErr == nil && svc.s3 == nil { // containers may bring MinIO
			svc.startS3()
		}
	})
	return svc, svcErr
}

func startServices() (*sharedServices, error) {
	source, why, err := chooseSource(context.Background())
	if err != nil {
		return nil, err
	}
	if source == SourceContainers {
		return startContainerServices(why)
	}
	s := &sharedServices{databaseURL: os.Getenv("MOSAIC_TEST_DATABASE_URL"), redisURL: os.Getenv("MOSAIC_TEST_REDIS_URL")}
	s.source, s.sourceWhy = source, why
	if source == SourceLocal {
		s.databaseURL, s.redisURL = "", ""
	}
	if s.databaseURL != "" && s.redisURL != "" {
		return s, nil
	}
	dir, err := os.MkdirTemp("", "mosaictest-")
	if err != nil {
		return nil, err
	}
	s.dir = dir
	// The server may run as another OS user (postgres, when we are root): it must be able to enter the directory.
	if err := os.Chmod(dir, 0o711); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if s.redisURL == "" {
		// Without Redis the platform still runs (the key-value routes answer
		// 503); tests that need it fail with this error (see RedisURL).
		if rs, err := localsvc.StartRedis(ctx, localsvc.RedisOptions{Dir: filepath.Join(dir, "redis")}); err != nil {
			s.redisErr = fmt.Errorf("no MOSAIC_TEST_REDIS_URL, and a local redis-server could not start (run scripts/setup): %w", err)
		} else {
			s.redis, s.redisURL = rs, rs.URL()
		}
	}
	if s.databaseURL != "" {
		return s, nil
	}
	pg, err := localsvc.StartPostgres(ctx, localsvc.PostgresOptions{Dir: filepath.Join(dir, "postgres"), MaxConnections: 300})
	if err != nil {
		if s.redis != nil {
			s.redis.Stop(ctx)
		}
		os.RemoveAll(dir)
		return nil, fmt.Errorf("no MOSAIC_TEST_DATABASE_URL, and a local PostgreSQL could not start (run scripts/setup): %w", err)
	}
	s.pg, s.databaseURL = pg, pg.URL()
	return s, nil
}

// Main runs the tests and then stops the services that New started. Call it
// from TestMain.
func Main(m *testing.M) {
	code := m.Run()
	stopServices()
	os.Exit(code)
}

func stopServices() {
	if svc == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := svc.containers.terminate(); err != nil {
		fmt.Fprintf(os.Stderr, "mosaictest: terminate containers: %v\n", err)
	}
	if svc.pg != nil {
		svc.pg.Stop(ctx)
	}
	if svc.redis != nil {
		svc.redis.Stop(ctx)
	}
	if svc.minio != nil {
		svc.minio.Stop(ctx)
	}
	if svc.dir != "" {
		os.RemoveAll(svc.dir)
	}
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)[:n]
}

// DatabaseURL returns the admin URL of the PostgreSQL server the harness
// uses, starting it if needed. Tests use it to look at the server as an
// operator would (pg_roles, pg_database) and to run cmd/mosaic against it.
func DatabaseURL(t testing.TB) string {
	t.Helper()
	s, err := services()
	if err != nil {
		t.Fatalf("mosaictest: %v", err)
	}
	return s.databaseURL
}

// RedisURL returns the URL of the Redis server the harness uses, starting
// it if needed; the test fails when there is none. Tests use it to look at
// Redis as an operator would.
func RedisURL(t testing.TB) string {
	t.Helper()
	s, err := services()
	if err != nil {
		t.Fatalf("mosaictest: %v", err)
	}
	if s.redisURL == "" {
		t.Fatalf("mosaictest: %v", s.redisErr)
	}
	return s.redisURL
}
