package s3_test

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/mosaic-platform/mosaic/internal/localsvc"
	"github.com/mosaic-platform/mosaic/storage"
	"github.com/mosaic-platform/mosaic/storage/s3"
	"github.com/mosaic-platform/mosaic/storage/storagetest"
)

var (
	minioOnce sync.Once
	minioSrv  *localsvc.MinIO
	minioErr  error
	minioDir  string
)

func TestMain(m *testing.M) {
	code := m.Run()
	if minioSrv != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		minioSrv.Stop(ctx)
		cancel()
	}
	if minioDir != "" {
		os.RemoveAll(minioDir)
	}
	os.Exit(code)
}

// server returns an S3 endpoint: MOSAIC_TEST_S3_ENDPOINT (with _ACCESS_KEY
// and _SECRET_KEY), else a MinIO started from the binary scripts/setup installs.
func server(t *testing.T) (endpoint, access, secret string) {
	t.Helper()
	if ep := os.Getenv("MOSAIC_TEST_S3_ENDPOINT"); ep != "" {
		return ep, os.Getenv("MOSAIC_TEST_S3_ACCESS_KEY"), os.Getenv("MOSAIC_TEST_S3_SECRET_KEY")
	}
	minioOnce.Do(func() {
		minioDir, minioErr = os.MkdirTemp("", "s3test-")
		if minioErr != nil {
			return
		}
		minioSrv, minioErr = localsvc.StartMinIO(context.Background(), localsvc.MinIOOptions{Dir: filepath.Join(minioDir, "minio")})
	})
	if minioErr != nil {
		t.Fatalf("no MOSAIC_TEST_S3_ENDPOINT and MinIO could not start: %v", minioErr)
	}
	return minioSrv.Endpoint(), minioSrv.AccessKey(), minioSrv.SecretKey()
}

func newStore(t *testing.T) *s3.Store {
	ep, ak, sk := server(t)
	st, err := s3.New(s3.Config{Endpoint: ep, AccessKey: ak, SecretKey: sk, URLStyle: s3.StylePath})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func TestStorageS3Contract(t *testing.T) {
	storagetest.Run(t, func(t *testing.T) (storage.Store, string) { return newStore(t), "contract" })
}

// Presigning is local computation: it works with the server unreachable.
func TestStorageS3PresignOffline(t *testing.T) {
	t.Parallel()
	st, err := s3.New(s3.Config{Endpoint: "http://127.0.0.1:1", AccessKey: "a", SecretKey: "secretsecret"})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	u, err := st.PresignPut(ctx, "mosaic", "projects/x/files/a.txt", storage.PutOptions{Expires: time.Minute, ContentType: "text/plain", Size: 3})
	if err != nil {
		t.Fatalf("PresignPut offline: %v", err)
	}
	if u.Host != "127.0.0.1:1" || u.Query().Get("X-Amz-SignedHeaders") != "content-length;content-type;host" {
		t.Errorf("URL %s", u)
	}
	sctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	if _, err := st.Stat(sctx, "mosaic", "projects/x/files/a.txt"); err == nil {
		t.Error("Stat on a dead server succeeded")
	} else if e := err.Error(); e == "" {
		t.Error("empty error")
	}
}

func TestStorageS3Config(t *testing.T) {
	t.Parallel()
	for _, c := range []s3.Config{
		{Endpoint: "", AccessKey: "a", SecretKey: "b"},
		{Endpoint: "http://x/path", AccessKey: "a", SecretKey: "b"},
		{Endpoint: "x:9000", AccessKey: "", SecretKey: "b"},
		{Endpoint: "x:9000", AccessKey: "a", SecretKey: "b", URLStyle: "sideways"},
	} {
		if _, err := s3.New(c); err == nil {
			t.Errorf("New(%+v) accepted", c)
		}
	}
	st, err := s3.New(s3.Config{Endpoint: "https://s3.example.com", AccessKey: "a", SecretKey: "secretsecret", URLStyle: s3.StyleVirtual,
		PublicEndpoint: "https://files.example.org"})
	if err != nil {
		t.Fatal(err)
	}
	u, err := st.PresignGet(context.Background(), "mosaic", "k", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if u.Scheme != "https" || u.Host != "mosaic.files.example.org" {
		t.Errorf("virtual-style public URL = %s", u)
	}
}
