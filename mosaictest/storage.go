package mosaictest

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/mosaic-platform/mosaic"
	"github.com/mosaic-platform/mosaic/internal/localsvc"
	"github.com/mosaic-platform/mosaic/storage/s3"
)

// S3 is the S3 server behind an Env's object storage.
type S3 struct {
	Endpoint  string // host:port (plain HTTP)
	AccessKey string
	SecretKey string
	Bucket    string
}

// startS3 finds the shared S3 server: MOSAIC_TEST_S3_ENDPOINT (with
// MOSAIC_TEST_S3_ACCESS_KEY and MOSAIC_TEST_S3_SECRET_KEY), else a MinIO
// started from the binary scripts/setup installs. Without one, Envs fall
// back to the local-filesystem store and S3Error says why.
func (s *sharedServices) startS3() {
	if ep := os.Getenv("MOSAIC_TEST_S3_ENDPOINT"); ep != "" {
		s.s3 = &S3{Endpoint: ep, AccessKey: os.Getenv("MOSAIC_TEST_S3_ACCESS_KEY"), SecretKey: os.Getenv("MOSAIC_TEST_S3_SECRET_KEY")}
		return
	}
	dir := s.dir
	if dir == "" {
		var err error
		if dir, err = os.MkdirTemp("", "mosaictest-"); err != nil {
			s.s3Err = err
			return
		}
		s.dir = dir
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	m, err := localsvc.StartMinIO(ctx, localsvc.MinIOOptions{Dir: filepath.Join(dir, "minio")})
	if err != nil {
		s.s3Err = fmt.Errorf("no MOSAIC_TEST_S3_ENDPOINT, and a local MinIO could not start (run scripts/setup): %w", err)
		fmt.Fprintf(os.Stderr, "mosaictest: object storage falls back to the local filesystem: %v\n", s.s3Err)
		return
	}
	s.minio = m
	s.s3 = &S3{Endpoint: m.Endpoint(), AccessKey: m.AccessKey(), SecretKey: m.SecretKey()}
}

// configureStorage gives a platform config its object store: the shared
// S3 server (bucket "mosaic"), or a local-filesystem store in a directory
// that the returned dir names (the Env removes it).
func configureStorage(cfg *mosaic.Config, s *sharedServices, local bool, log *slog.Logger) (info *S3, dir string) {
	if s.s3 != nil && !local {
		st, err := s3.New(s3.Config{Endpoint: s.s3.Endpoint, AccessKey: s.s3.AccessKey, SecretKey: s.s3.SecretKey, URLStyle: s3.StylePath})
		if err == nil {
			cfg.Storage, cfg.StorageBucket = st, mosaic.DefaultStorageBucket
			c := *s.s3
			c.Bucket = mosaic.DefaultStorageBucket
			return &c, ""
		}
		if log != nil {
			log.Warn("mosaictest: S3 store", "err", err)
		}
	}
	d, err := os.MkdirTemp("", "mosaictest-storage-")
	if err != nil {
		return nil, ""
	}
	cfg.StorageDir = d
	return nil, d
}

// S3Server returns the shared S3 server the harness uses, starting it if
// needed; the test fails when there is none.
func S3Server(t testing.TB) *S3 {
	t.Helper()
	s, err := services()
	if err != nil {
		t.Fatalf("mosaictest: %v", err)
	}
	if s.s3 == nil {
		t.Fatalf("mosaictest: %v", s.s3Err)
	}
	c := *s.s3
	c.Bucket = mosaic.DefaultStorageBucket
	return &c
}

// WithLocalStorage gives the platform the local-filesystem store (in a
// temporary directory) instead of the shared S3 server.
func WithLocalStorage() Option {
	return func(o *options) { o.localStorage = true }
}
