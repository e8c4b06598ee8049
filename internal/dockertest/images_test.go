package dockertest_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/redis/go-redis/v9"

	"github.com/mosaic-platform/mosaic/deployer"
	"github.com/mosaic-platform/mosaic/deployer/docker"
	"github.com/mosaic-platform/mosaic/internal/dockertest"
)

// The service images scripts/setup-docker builds for the testcontainers
// harness, checked the way a client uses them: through the port published on
// 127.0.0.1.

// start runs image with env and returns the instance (removed at the end).
func start(t *testing.T, image string, port int, env map[string]string) (*docker.Runtime, deployer.Instance) {
	t.Helper()
	host := dockertest.SkipWithoutImages(t, image)
	rt, err := docker.New(docker.Config{Host: host})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rt.Close() })
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	in, err := rt.Run(ctx, deployer.RunSpec{
		Name: "mosaic-imagetest-" + hex.EncodeToString(b), Artifact: image, Port: port, Env: env,
		MemoryBytes: 512 << 20, NanoCPUs: 1e9,
		Labels: map[string]string{deployer.LabelProject: "imagetest"},
	})
	if err != nil {
		t.Fatalf("run %s: %v", image, err)
	}
	t.Cleanup(func() { _ = rt.Remove(context.Background(), in.ID) })
	return rt, in
}

// waitLog waits until the container's log has line at least n times.
func waitLog(t *testing.T, rt *docker.Runtime, id, line string, n int) string {
	t.Helper()
	deadline := time.Now().Add(3 * time.Minute)
	for {
		var buf bytes.Buffer
		if err := rt.Logs(context.Background(), id, false, &buf); err != nil {
			t.Fatal(err)
		}
		if strings.Count(buf.String(), line) >= n {
			return buf.String()
		}
		if time.Now().After(deadline) {
			t.Fatalf("%q not logged %d times; log:\n%s", line, n, buf.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func TestPostgresImage(t *testing.T) {
	t.Parallel()
	rt, in := start(t, "mosaic-local/postgres:15", 5432, map[string]string{
		"POSTGRES_USER": "app", "POSTGRES_PASSWORD": "s3cret", "POSTGRES_DB": "appdb",
	})
	// Like the official image: ready twice (the init server, then the real one).
	waitLog(t, rt, in.ID, "database system is ready to accept connections", 2)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn, err := pgx.Connect(ctx, fmt.Sprintf("postgres://app:s3cret@%s/appdb?sslmode=disable", in.Addr))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var user, db, enc string
	if err := conn.QueryRow(ctx, "SELECT current_user, current_database(), pg_encoding_to_char(encoding) FROM pg_database WHERE datname = current_database()").Scan(&user, &db, &enc); err != nil {
		t.Fatal(err)
	}
	if user != "app" || db != "appdb" || enc != "UTF8" {
		t.Fatalf("connected as %s to %s (%s), want app to appdb (UTF8)", user, db, enc)
	}
	// A wrong password is refused: the host rule asks for one.
	if c, err := pgx.Connect(ctx, fmt.Sprintf("postgres://app:wrong@%s/appdb?sslmode=disable", in.Addr)); err == nil {
		c.Close(ctx)
		t.Fatal("a wrong password was accepted")
	}
}

func TestRedisImage(t *testing.T) {
	t.Parallel()
	rt, in := start(t, "mosaic-local/redis:7", 6379, nil)
	waitLog(t, rt, in.ID, "Ready to accept connections", 1)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c := redis.NewClient(&redis.Options{Addr: in.Addr})
	defer c.Close()
	if err := c.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatalf("SET through the published port (protected mode must be off): %v", err)
	}
	if v, err := c.Get(ctx, "k").Result(); err != nil || v != "v" {
		t.Fatalf("GET = %q, %v", v, err)
	}
}

func TestMinIOImage(t *testing.T) {
	t.Parallel()
	_, in := start(t, "mosaic-local/minio:latest", 9000, map[string]string{
		"MINIO_ROOT_USER": "mosaicadmin", "MINIO_ROOT_PASSWORD": "mosaicsecret",
	})
	deadline := time.Now().Add(3 * time.Minute)
	for {
		res, err := http.Get("http://" + in.Addr + "/minio/health/live")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("MinIO not live: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	mc, err := minio.New(in.Addr, &minio.Options{Creds: credentials.NewStaticV4("mosaicadmin", "mosaicsecret", "")})
	if err != nil {
		t.Fatal(err)
	}
	if err := mc.MakeBucket(ctx, "imagetest", minio.MakeBucketOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := mc.PutObject(ctx, "imagetest", "hello.txt", strings.NewReader("hi"), 2, minio.PutObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	obj, err := mc.GetObject(ctx, "imagetest", "hello.txt", minio.GetObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var got bytes.Buffer
	if _, err := got.ReadFrom(obj); err != nil || got.String() != "hi" {
		t.Fatalf("object = %q, %v", got.String(), err)
	}
}
