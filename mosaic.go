// Package mosaic is an embeddable backend platform: every project (a tenant)
// gets a dedicated PostgreSQL database, and later object storage, a key-value
// store, end-user auth, a git repository and deployments.
//
// A Platform is the root type. It owns the control plane (accounts, API keys,
// projects, tickets and settings, in schema "mosaic" of the control database)
// and composes one backend per capability. Programs embed it and call its
// methods directly; package httpapi mounts the documented REST API on any
// net/http mux; package mosaictest gives integration tests a ready Platform on
// real services.
//
// Every method takes a context first and returns errors of type *errs.Error,
// so callers can test them with errors.Is and the sentinels re-exported here:
//
//	p, err := mosaic.New(ctx, mosaic.Config{DatabaseURL: url, SecretKey: key})
//	...
//	_, err = p.Project(ctx, owner, "nope")
//	if errors.Is(err, mosaic.ErrNotFound) { ... }
package mosaic

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/mosaic-platform/mosaic/authn"
	"github.com/mosaic-platform/mosaic/deployer"
	"github.com/mosaic-platform/mosaic/errs"
	"github.com/mosaic-platform/mosaic/gitpush"
	"github.com/mosaic-platform/mosaic/gitpush/webhook"
	"github.com/mosaic-platform/mosaic/kv"
	"github.com/mosaic-platform/mosaic/ratelimit"
	"github.com/mosaic-platform/mosaic/sqlexec"
	"github.com/mosaic-platform/mosaic/storage"
)

// Sentinel errors, for errors.Is. Every error the platform returns is an
// *errs.Error whose Kind matches one of these.
var (
	ErrInvalid      = errs.ErrInvalid
	ErrUnauthorized = errs.ErrUnauthorized
	ErrQuota        = errs.ErrQuota
	ErrForbidden    = errs.ErrForbidden
	ErrNotFound     = errs.ErrNotFound
	ErrConflict     = errs.ErrConflict
	ErrTooLarge     = errs.ErrTooLarge
	ErrRateLimited  = errs.ErrRateLimited
	ErrUnavailable  = errs.ErrUnavailable
	ErrInternal     = errs.ErrInternal
)

// Config configures a Platform. Only DatabaseURL and SecretKey are required.
type Config struct {
	// DatabaseURL is the control database: an admin URL of a PostgreSQL
	// server (a role that can create roles and databases). The control plane
	// lives in its schema "mosaic".
	DatabaseURL string

	// Databases hosts tenant databases. Nil means one sqlexec.Cluster whose
	// only server, "main", is the control database's server.
	Databases sqlexec.Databases

	// SecretKey encrypts tenant database passwords at rest. At least 16
	// bytes; keep it stable, or stored passwords cannot be read back.
	SecretKey []byte

	// PublicURL is the base of links the platform hands out, such as
	// git_repo_url (default "http://localhost:8080").
	PublicURL string
	// Domain hosts project sites at {slug}.{Domain} (default: the host of
	// PublicURL, or "localhost" when that host is an IP address).
	Domain string

	// Plans is the plan table (default DefaultPlans()); DefaultPlan the plan
	// of a project that asks for none (default "free").
	Plans       map[string]Plan
	DefaultPlan string

	// KeyTTL is the lifetime of a new API key (default 30 days);
	// KeyRotationGrace how long a rotated key keeps working (default 24 hours).
	KeyTTL           time.Duration
	KeyRotationGrace time.Duration

	// GitDir, when set, hosts every project's git repository there (bare
	// repositories served over smart HTTP by GitHandler, written by PutFile).
	// Empty: no git hosting; git routes answer 503.
	GitDir string
	// WebhookAllowPrivate lets webhooks reach loopback and private
	// addresses (tests, closed networks). Off: only public addresses, so a
	// tenant cannot aim a webhook at the platform's own network.
	WebhookAllowPrivate bool

	// Limiter counts the plans' hourly and daily quotas (default: in
	// memory, per process; use a shared one across replicas).
	Limiter ratelimit.Limiter

	// KV is the key-value store behind Platform.KV and /{slug}/redis/*
	// (for example kv.New on a go-redis client, which the caller owns and
	// closes). Nil: every key-value call is Unavailable (503), "key-value
	// store is not configured".
	KV kv.Store

	// SQLTimeout bounds one SQL request when the plan sets none (default
	// 30 s); SQLMaxRows and SQLMaxBytes cap a result (defaults 10,000 rows
	// and 10 MiB of JSON). See package sqlexec.
	SQLTimeout  time.Duration
	SQLMaxRows  int
	SQLMaxBytes int

	// Auth configures end-user auth (argon2id parameters, concurrent
	// hashes, token lifetimes; its clock and logger default to the
	// platform's). Mailer sends its emails (default: authn.LogMailer on
	// Logger, which writes the links to the log: set an SMTP mailer in
	// production). AuthLimits are its throttles; AuthLinkBase the base of the
	// links in its emails (default PublicURL + "/v1/project"). See auth.go.
	Auth         authn.Config
	Mailer       authn.Mailer
	AuthLimits   AuthLimits
	AuthLinkBase string

	// Storage holds projects' files and static sites (for example an
	// s3.Store on MinIO). Nil: a storage.Local in StorageDir, whose
	// presigned URLs the platform serves at PublicURL + StoragePath (see
	// StorageHandler; httpapi's Mount registers it); nil with no
	// StorageDir: storage and site routes answer 503. StorageBucket is the
	// one bucket of every project's objects (default "mosaic"): a
	// project's files live under projects/<project id>/files/, its site
	// under projects/<project id>/site/.
	Storage       storage.Store
	StorageDir    string
	StorageBucket string

	// Runtime runs deployed apps: package deployer/process (local child
	// processes, no tenant isolation) or deployer/docker, or both with
	// deployer.WithStaticSites(docker, process) (static sites served by the
	// platform, apps with code in containers). Nil: deployments
	// are not configured; the deploy routes answer 503 and sites serve
	// static files only. Needs GitDir. DeployImages are the base images of
	// generated Dockerfiles (default deployer.DefaultImages());
	// DeployHealthTimeout bounds how long a new app may take to listen and
	// answer HTTP before its deployment fails (default 60 s). See deploy.go.
	Runtime             deployer.Runtime
	DeployImages        deployer.Images
	DeployHealthTimeout time.Duration

	// Logger receives structured logs (default: discard).
	Logger *slog.Logger

	// Now is the clock (default time.Now); tests move it to expire keys.
	Now func() time.Time
}

// Platform is a running Mosaic platform. Its methods are safe for concurrent use.
type Platform struct {
	cfg       Config
	db        *pgxpool.Pool
	dbs       sqlexec.Databases
	ownDBs    *sqlexec.Cluster
	seal      *sealer
	log       *slog.Logger
	publicURL *url.URL

	keyTouch  sync.Map  // key id → time of the last last_used_at write
	authCache sync.Map  // [32]byte key hash → *authEntry (accounts.go)
	sqlc      sqlCaches // sql.go: tenants and database sizes, briefly cached
	git       *gitpush.Local
	hooks     *webhook.Webhooks

	auth     *authn.Service // auth.go
	authMail chan struct{}  // bounds the emails being sent in the background
	mailWG   sync.WaitGroup // emails being sent: Close waits for them

	store       storage.Store  // storage.go
	local       *storage.Local // when the platform opened it (closed by Close)
	bucket      string
	bucketMu    sync.Mutex
	bucketReady bool
	usage       usageCache

	deploy *deployer.Manager // deploy.go

	stop      chan struct{}  // closed by Close: background loops end
	bg        sync.WaitGroup // background loops: Close waits for them
	closeOnce sync.Once
}

// New connects to the control database, applies the embedded migrations and
// returns a ready Platform. Close releases it.
func New(ctx context.Context, cfg Config) (*Platform, error) {
	if cfg.DatabaseURL == "" {
		return nil, errs.New(errs.Invalid, "config", "mosaic: Config.DatabaseURL is required")
	}
	seal, err := newSealer(cfg.SecretKey)
	if err != nil {
		return nil, errs.Wrap(errs.Invalid, err, "config", "mosaic: Config.SecretKey must be at least 16 bytes")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Limiter == nil {
		cfg.Limiter = ratelimit.NewMemory(cfg.Now)
	}
	if cfg.PublicURL == "" {
		cfg.PublicURL = "http://localhost:8080"
	}
	pub, err := url.Parse(strings.TrimRight(cfg.PublicURL, "/"))
	if err != nil || (pub.Scheme != "http" && pub.Scheme != "https") || pub.Host == "" {
		return nil, errs.New(errs.Invalid, "config", "mosaic: Config.PublicURL %q is not an http(s) URL", cfg.PublicURL)
	}
	if cfg.Domain == "" {
		cfg.Domain = pub.Hostname()
		if net.ParseIP(cfg.Domain) != nil {
			cfg.Domain = "localhost" // {slug}.localhost resolves to loopback in browsers and curl
		}
	}
	if cfg.Plans == nil {
		cfg.Plans = DefaultPlans()
	}
	for name, pl := range cfg.Plans {
		if pl.Name == "" {
			pl.Name = name
			cfg.Plans[name] = pl
		}
	}
	if cfg.DefaultPlan == "" {
		cfg.DefaultPlan = DefaultPlanName
	}
	if _, ok := cfg.Plans[cfg.DefaultPlan]; !ok {
		return nil, errs.New(errs.Invalid, "config", "mosaic: default plan %q is not in the plan table", cfg.DefaultPlan)
	}
	if cfg.KeyTTL <= 0 {
		cfg.KeyTTL = 30 * 24 * time.Hour
	}
	if cfg.KeyRotationGrace <= 0 {
		cfg.KeyRotationGrace = 24 * time.Hour
	}

	pcfg, err := pgxpool.ParseConfig(cfg.DatabaseURL)
	if err != nil {
		return nil, errs.Wrap(errs.Invalid, err, "config", "mosaic: Config.DatabaseURL cannot be parsed")
	}
	pcfg.ConnConfig.RuntimeParams["application_name"] = "mosaic-control"
	pool, err := pgxpool.NewWithConfig(ctx, pcfg)
	if err != nil {
		return nil, errs.Wrap(errs.Unavailable, err, "database_unavailable", "the control database is unavailable")
	}
	p := &Platform{cfg: cfg, db: pool, seal: seal, log: cfg.Logger, publicURL: pub, dbs: cfg.Databases, stop: make(chan struct{})}
	if p.dbs == nil {
		cl, err := sqlexec.New(sqlexec.Config{
			Servers: []sqlexec.Server{{Name: "main", AdminURL: cfg.DatabaseURL}},
			Logger:  cfg.Logger,
		})
		if err != nil {
			pool.Close()
			return nil, err
		}
		p.dbs, p.ownDBs = cl, cl
	}
	if err := p.newGit(); err != nil {
		p.Close()
		return nil, errs.Wrap(errs.Invalid, err, "config", "mosaic: git hosting: %v", err)
	}
	if err := p.newAuth(); err != nil {
		p.Close()
		return nil, err
	}
	if err := p.newStorage(); err != nil {
		p.Close()
		return nil, errs.Wrap(errs.Invalid, err, "config", "mosaic: storage: %v", err)
	}
	if err := p.newWebhooks(); err != nil {
		p.Close()
		return nil, errs.Wrap(errs.Invalid, err, "config", "mosaic: webhooks: %v", err)
	}
	applied, err := migrate(ctx, pool)
	if err != nil {
		p.Close()
		if ctx.Err() != nil || sqlexec.IsConnError(err) {
			return nil, errs.Wrap(errs.Unavailable, err, "database_unavailable", "the control database is unavailable")
		}
		return nil, errs.Internalf(err, "migrate control database")
	}
	for _, name := range applied {
		p.log.Info("applied migration", "name", name)
	}
	if err := p.reapStale(ctx); err != nil {
		p.log.Warn("could not clean up interrupted project operations", "err", err)
	}
	p.bg.Add(1)
	go p.sweepLoop()
	if err := p.newDeployer(ctx); err != nil {
		p.Close()
		return nil, err
	}
	if err := p.rehydrateDeployer(ctx); err != nil {
		p.log.Warn("could not adopt the running apps", "err", err)
	}
	return p, nil
}

// Migrate applies the embedded control-plane migrations to the database at
// databaseURL and returns the names of those it applied. New does this too;
// Migrate is for running it as a separate step (mosaic migrate).
func Migrate(ctx context.Context, databaseURL string) ([]string, error) {
	pool, err := pgxpool.New(ctx, databaseURL)
	if err != nil {
		return nil, errs.Wrap(errs.Invalid, err, "config", "the database URL cannot be parsed")
	}
	defer pool.Close()
	return migrate(ctx, pool)
}

// Close releases the platform's connections. It is safe to call more than once.
func (p *Platform) Close() error {
	p.closeOnce.Do(func() {
		if p.stop != nil {
			close(p.stop)
			p.bg.Wait()
		}
		if p.git != nil {
			cctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			p.git.Close(cctx) // drains push subscribers, webhook delivery among them
			if p.hooks != nil {
				p.hooks.Close(cctx)
			}
			cancel()
		}
		p.closeDeployer()
		p.waitMail(10 * time.Second)
		if p.ownDBs != nil {
			p.ownDBs.Close()
		}
		if p.local != nil {
			p.local.Close()
		}
		p.db.Close()
	})
	return nil
}

// Plans returns the plan table in force.
func (p *Platform) Plans() map[string]Plan { return p.cfg.Plans }

// Plan returns the named plan.
func (p *Platform) Plan(name string) (Plan, bool) {
	pl, ok := p.cfg.Plans[name]
	return pl, ok
}

// Ping checks that the control database answers.
func (p *Platform) Ping(ctx context.Context) error {
	if err := p.db.Ping(ctx); err != nil {
		return errs.Wrap(errs.Unavailable, err, "database_unavailable", "the control database is unavailable")
	}
	return nil
}

// PublicURL returns the base of the links the platform hands out.
func (p *Platform) PublicURL() string { return p.publicURL.String() }

// Domain returns the domain under which project sites live.
func (p *Platform) Domain() string { return p.cfg.Domain }

func (p *Platform) now() time.Time { return p.cfg.Now() }

// allow counts n events of a quota (for example "sql:<project id>") and
// returns a RateLimited error, with RetryAfter, when the plan's limit is
// reached. A limit <= 0 means no events are allowed.
func (p *Platform) allow(ctx context.Context, key string, n, limit int64, window time.Duration, what string) error {
	if limit <= 0 {
		return errs.New(errs.Quota, "plan_limit", "your plan does not include %s; upgrade the plan", what)
	}
	d, err := p.cfg.Limiter.Allow(ctx, key, n, limit, window)
	if err != nil {
		return errs.Wrap(errs.Unavailable, err, "limiter_unavailable", "the rate limiter is unavailable")
	}
	if !d.Allowed {
		return &errs.Error{Kind: errs.RateLimited, Code: "rate_limited", RetryAfter: d.RetryAfter,
			Detail: fmt.Sprintf("your plan allows %d %s per %s; try again in %s", limit, what, windowName(window), d.RetryAfter.Round(time.Second))}
	}
	return nil
}

func windowName(w time.Duration) string {
	switch w {
	case time.Hour:
		return "hour"
	case 24 * time.Hour:
		return "day"
	}
	return w.String()
}

// dbError maps a control-database failure to an *errs.Error.
func dbError(err error, op string) error {
	if err == nil {
		return nil
	}
	var e *errs.Error
	if errors.As(err, &e) {
		return err
	}
	if sqlexec.IsConnError(err) || errors.Is(err, context.DeadlineExceeded) {
		return errs.Wrap(errs.Unavailable, err, "database_unavailable", "the control database is unavailable")
	}
	if errors.Is(err, context.Canceled) {
		return errs.Wrap(errs.Unavailable, err, "canceled", "the request was canceled")
	}
	if code := sqlexec.PgCode(err); code == "22021" || code == "22P05" {
		// A NUL or untranslatable character in a value a client sent, which
		// a check before the query missed: the client's mistake, not ours.
		return errs.Wrap(errs.Invalid, err, "invalid_text", "text values must not contain NUL characters")
	}
	return errs.Internalf(err, "%s", op)
}
