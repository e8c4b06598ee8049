package main

import (
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"

	"github.com/mosaic-platform/mosaic"
	"github.com/mosaic-platform/mosaic/storage/s3"
)

// storageFlags registers the object storage settings. The secret key comes
// from the environment only.
func (s *settings) storageFlags(fs *flag.FlagSet) {
	fs.StringVar(&s.s3Bucket, "s3-bucket", env("MOSAIC_S3_BUCKET", mosaic.DefaultStorageBucket), "S3 bucket of every project's objects, created if missing (MOSAIC_S3_BUCKET)")
	fs.StringVar(&s.s3Region, "s3-region", env("MOSAIC_S3_REGION", "us-east-1"), "S3 region; always set, so presigning needs no request (MOSAIC_S3_REGION)")
	fs.StringVar(&s.s3Secure, "s3-secure", env("MOSAIC_S3_SECURE", "false"), "use TLS to a host:port S3 endpoint; an https:// endpoint implies it (MOSAIC_S3_SECURE)")
	fs.StringVar(&s.s3URLStyle, "s3-url-style", env("MOSAIC_S3_URL_STYLE", ""), `"path", "virtual" or empty for automatic (MOSAIC_S3_URL_STYLE)`)
	fs.StringVar(&s.s3Public, "s3-public-endpoint", env("MOSAIC_S3_PUBLIC_ENDPOINT", ""), "host or URL that presigned URLs name, when clients reach S3 by another address (MOSAIC_S3_PUBLIC_ENDPOINT)")
	s.s3Secret = os.Getenv("MOSAIC_S3_SECRET_KEY")
}

// storage configures object storage: S3 when MOSAIC_S3_ENDPOINT is set,
// else the local-filesystem store under the data dir.
func (s *settings) storage(cfg *mosaic.Config, log *slog.Logger) error {
	cfg.StorageBucket = s.s3Bucket
	if s.s3Endpoint == "" {
		dir, err := filepath.Abs(filepath.Join(s.dataDir, "storage"))
		if err != nil {
			return err
		}
		cfg.StorageDir = dir
		log.Info("object storage on the local filesystem", "dir", dir)
		return nil
	}
	secure, err := strconv.ParseBool(s.s3Secure)
	if err != nil {
		return fmt.Errorf("MOSAIC_S3_SECURE %q: use true or false", s.s3Secure)
	}
	if s.s3Access == "" || s.s3Secret == "" {
		return fmt.Errorf("MOSAIC_S3_ENDPOINT is set: MOSAIC_S3_ACCESS_KEY and MOSAIC_S3_SECRET_KEY are required too")
	}
	st, err := s3.New(s3.Config{Endpoint: s.s3Endpoint, AccessKey: s.s3Access, SecretKey: s.s3Secret, Secure: secure,
		Region: s.s3Region, URLStyle: s.s3URLStyle, PublicEndpoint: s.s3Public})
	if err != nil {
		return fmt.Errorf("MOSAIC_S3_ENDPOINT: %w", err)
	}
	cfg.Storage = st
	log.Info("object storage on S3", "endpoint", s.s3Endpoint, "bucket", s.s3Bucket, "region", s.s3Region)
	return nil
}
