package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/mosaic-platform/mosaic"
	"github.com/mosaic-platform/mosaic/authn"
	"github.com/mosaic-platform/mosaic/internal/localsvc"
	"github.com/mosaic-platform/mosaic/kv"
	"github.com/mosaic-platform/mosaic/ratelimit"
)

// settings is the server's configuration: flags, defaulting to environment variables.
type settings struct {
	addr        string
	dataDir     string
	databaseURL string
	redisURL    string
	s3Endpoint  string
	s3Access    string
	s3Secret    string
	s3Bucket    string // storage.go
	runtime     string // runtime.go
	staticSites string // runtime.go
	s3Region    string
	s3Secure    string
	s3URLStyle  string
	s3Public    string
	smtpURL     string
	domain      string
	publicURL   string
	apiKey      string
	secretKey   string
	logLevel    string
	proxies     string
}

func env(name, def string) string {
	if v, ok := os.LookupEnv(name); ok && v != "" {
		return v
	}
	return def
}

// flags registers the common flags on fs.
func (s *settings) flags(fs *flag.FlagSet) {
	fs.StringVar(&s.addr, "addr", env("MOSAIC_ADDR", "127.0.0.1:8080"), "listen address (MOSAIC_ADDR)")
	fs.StringVar(&s.dataDir, "data-dir", env("MOSAIC_DATA_DIR", "mosaic-data"), "data directory: embedded PostgreSQL, secret key, repositories (MOSAIC_DATA_DIR)")
	fs.StringVar(&s.databaseURL, "database-url", env("MOSAIC_DATABASE_URL", ""), "admin URL of the PostgreSQL server; empty starts an embedded one in the data dir (MOSAIC_DATABASE_URL)")
	fs.StringVar(&s.redisURL, "redis-url", env("MOSAIC_REDIS_URL", ""), "Redis URL for the key-value API (MOSAIC_REDIS_URL)")
	fs.StringVar(&s.s3Endpoint, "s3-endpoint", env("MOSAIC_S3_ENDPOINT", ""), "S3 endpoint for object storage (MOSAIC_S3_ENDPOINT)")
	fs.StringVar(&s.s3Access, "s3-access-key", env("MOSAIC_S3_ACCESS_KEY", ""), "S3 access key (MOSAIC_S3_ACCESS_KEY)")
	s.storageFlags(fs) // storage.go
	s.runtimeFlags(fs) // runtime.go
	fs.StringVar(&s.smtpURL, "smtp-url", env("MOSAIC_SMTP_URL", ""), "SMTP server for auth emails, smtp://user:pass@host:587 (STARTTLS when offered) or smtps://...:465, ?from=sender; empty writes them to the log (MOSAIC_SMTP_URL)")
	fs.StringVar(&s.domain, "domain", env("MOSAIC_DOMAIN", ""), "sites live at {slug}.{domain} (MOSAIC_DOMAIN; default: the public URL's host)")
	fs.StringVar(&s.publicURL, "public-url", env("MOSAIC_PUBLIC_URL", ""), "base of links the platform hands out (MOSAIC_PUBLIC_URL; default http://{addr})")
	fs.StringVar(&s.proxies, "trusted-proxies", env("MOSAIC_TRUSTED_PROXIES", ""), "comma-separated addresses and CIDR prefixes of reverse proxies whose X-Forwarded-For names the client, for the per-IP throttles and the access log (MOSAIC_TRUSTED_PROXIES; default none: the peer address is the client)")
	fs.StringVar(&s.logLevel, "log-level", env("MOSAIC_LOG_LEVEL", "info"), "debug, info, warn or error (MOSAIC_LOG_LEVEL)")
	// Secrets come from the environment only, never from flags (visible in ps).
	s.apiKey = os.Getenv("MOSAIC_API_KEY")
	s.secretKey = os.Getenv("MOSAIC_SECRET_KEY")
}

func (s *settings) logger(w io.Writer) *slog.Logger {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(s.logLevel)); err != nil {
		lvl = slog.LevelInfo
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: lvl}))
}

// secret returns MOSAIC_SECRET_KEY, or the key kept in the data dir,
// generating it on first use.
func (s *settings) secret() ([]byte, error) {
	if s.secretKey != "" {
		if len(s.secretKey) < 16 {
			return nil, errors.New("MOSAIC_SECRET_KEY must be at least 16 characters")
		}
		return []byte(s.secretKey), nil
	}
	path := filepath.Join(s.dataDir, "secret.key")
	if b, err := os.ReadFile(path); err == nil {
		k := strings.TrimSpace(string(b))
		if len(k) < 16 {
			return nil, fmt.Errorf("%s holds a key shorter than 16 characters", path)
		}
		return []byte(k), nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	if err := os.MkdirAll(s.dataDir, 0o711); err != nil { // searchable: the embedded PostgreSQL may run as another OS user
		return nil, err
	}
	b := make([]byte, 32)
	rand.Read(b)
	k := hex.EncodeToString(b)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("create secret key file: %w", err)
	}
	if _, err := f.WriteString(k + "\n"); err != nil {
		f.Close()
		return nil, err
	}
	return []byte(k), f.Close()
}

// database returns the admin URL to use and, when it started an embedded
// PostgreSQL, a function that stops it.
func (s *settings) database(ctx context.Context, log *slog.Logger) (string, func(), error) {
	if s.databaseURL != "" {
		return s.databaseURL, func() {}, nil
	}
	dir, err := filepath.Abs(filepath.Join(s.dataDir, "postgres"))
	if err != nil {
		return "", nil, err
	}
	if url, ok := localsvc.RunningPostgres(dir); ok {
		log.Info("using the embedded PostgreSQL that is already running", "dir", dir)
		return url, func() {}, nil
	}
	log.Info("starting embedded PostgreSQL", "dir", dir)
	pg, err := localsvc.StartPostgres(ctx, localsvc.PostgresOptions{Dir: dir, Fsync: true, Logger: log})
	if err != nil {
		return "", nil, fmt.Errorf("start embedded PostgreSQL (set MOSAIC_DATABASE_URL to use a server of yours): %w", err)
	}
	return pg.URL(), func() {
		sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := pg.Stop(sctx); err != nil {
			log.Error("stop embedded PostgreSQL", "err", err)
		}
	}, nil
}

// platform opens the platform with these settings.
func (s *settings) platform(ctx context.Context, log *slog.Logger) (*mosaic.Platform, func(), error) {
	secret, err := s.secret()
	if err != nil {
		return nil, nil, err
	}
	url, stopDB, err := s.database(ctx, log)
	if err != nil {
		return nil, nil, err
	}
	pub := s.publicURL
	if pub == "" {
		pub = "http://" + s.addr
	}
	gitDir, err := filepath.Abs(filepath.Join(s.dataDir, "git"))
	if err != nil {
		stopDB()
		return nil, nil, err
	}
	cfg := mosaic.Config{DatabaseURL: url, SecretKey: secret, PublicURL: pub, Domain: s.domain, GitDir: gitDir, Logger: log}
	if err := s.storage(&cfg, log); err != nil {
		stopDB()
		return nil, nil, err
	}
	if s.smtpURL != "" {
		m, err := authn.NewSMTP(authn.SMTPOptions{URL: s.smtpURL})
		if err != nil {
			stopDB()
			return nil, nil, fmt.Errorf("MOSAIC_SMTP_URL: %w", err)
		}
		cfg.Mailer = m
		log.Info("auth emails go through SMTP", "server", m.String(), "from", m.From())
	} else {
		log.Warn("no MOSAIC_SMTP_URL: auth emails (reset and magic links) are written to this log instead of being sent")
	}
	closeRedis := func() {}
	if s.redisURL != "" {
		// The key-value API, and quota counters shared by every replica
		// (per process while Redis is unreachable). No I/O here: a Redis
		// that is down makes the key-value routes answer 503 until it is back.
		rc, err := kv.NewClient(s.redisURL)
		if err != nil {
			stopDB()
			return nil, nil, err
		}
		store := kv.New(rc, kv.Options{Logger: log, AutoPipeline: true})
		cfg.KV = store
		shared := ratelimit.NewRedis(store.Scripter(), "mosaic:rl:", nil).WithFallback(ratelimit.NewMemory(nil))
		cfg.Limiter = ratelimit.NewBatched(shared, 0, nil)
		closeRedis = func() { rc.Close() }
		log.Info("key-value store on Redis", "addr", rc.Options().Addr, "db", rc.Options().DB)
	}
	closeRuntime, err := s.deployRuntime(&cfg, log) // runtime.go
	if err != nil {
		closeRedis()
		stopDB()
		return nil, nil, err
	}
	p, err := mosaic.New(ctx, cfg)
	if err != nil {
		closeRuntime()
		closeRedis()
		stopDB()
		return nil, nil, err
	}
	return p, func() { p.Close(); closeRuntime(); closeRedis(); stopDB() }, nil
}
