package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mosaic-platform/mosaic"
	"github.com/mosaic-platform/mosaic/client"
	"github.com/mosaic-platform/mosaic/internal/localsvc"
	"github.com/mosaic-platform/mosaic/mosaictest"
)

func TestMain(m *testing.M) { mosaictest.Main(m) }

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

var apiLine = regexp.MustCompile(`Mosaic API: (\S+)`)

// startServe runs "mosaic serve" in-process and returns the API URL, its
// stdout and a function that stops it (SIGTERM's path: ctx cancelled) and
// returns serve's error.
func startServe(t *testing.T, args ...string) (string, *syncBuffer, func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var stdout, stderr syncBuffer
	done := make(chan error, 1)
	go func() { done <- run(ctx, append([]string{"serve", "-addr", "127.0.0.1:0"}, args...), &stdout, &stderr) }()
	deadline := time.After(3 * time.Minute)
	for {
		if m := apiLine.FindStringSubmatch(stdout.String()); m != nil {
			stopped := false
			stop := func() error {
				if stopped {
					return nil
				}
				stopped = true
				cancel()
				return <-done
			}
			t.Cleanup(func() { stop() })
			return m[1], &stdout, stop
		}
		select {
		case err := <-done:
			cancel()
			t.Fatalf("serve exited: %v\nstdout: %s\nstderr: %s", err, stdout.String(), stderr.String())
		case <-deadline:
			cancel()
			t.Fatalf("serve did not start\nstderr: %s", stderr.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func TestServeWithDatabaseURLAndKnownKey(t *testing.T) {
	key := "mk_" + strings.Repeat("k", 20) + time.Now().Format("20060102150405")
	t.Setenv("MOSAIC_DATABASE_URL", mosaictest.DatabaseURL(t))
	t.Setenv("MOSAIC_API_KEY", key)
	t.Setenv("MOSAIC_SECRET_KEY", "a-secret-key-for-the-test")
	t.Setenv("MOSAIC_DATA_DIR", t.TempDir())
	t.Setenv("MOSAIC_REDIS_URL", mosaictest.RedisURL(t))
	api, _, stop := startServe(t)
	c := client.New(api, key)
	ctx := context.Background()
	p, err := c.CreateProject(ctx, client.CreateProjectRequest{Name: "cli test", Plan: "pro"})
	if err != nil {
		t.Fatal(err)
	}
	// MOSAIC_REDIS_URL turns the key-value API on.
	if err := c.KV(p.Slug).Set(ctx, "greeting", "hello", 0); err != nil {
		t.Fatalf("kv set through serve: %v", err)
	}
	if v, ok, err := c.KV(p.Slug).Get(ctx, "greeting"); err != nil || !ok || v != "hello" {
		t.Fatalf("kv get through serve: %q %v %v", v, ok, err)
	}
	if err := c.DeleteProject(ctx, p.Slug); err != nil {
		t.Fatal(err)
	}
	if err := stop(); err != nil {
		t.Fatalf("graceful shutdown: %v", err)
	}
	if _, err := c.Whoami(ctx); err == nil {
		t.Error("the server still answers after shutdown")
	}
}

// TestServeEmbeddedDefault is the README's first command: no database URL,
// so serve starts its own PostgreSQL in the data dir and prints a key.
func TestServeEmbeddedDefault(t *testing.T) {
	// Not t.TempDir: its parent is private to this user, and the embedded
	// PostgreSQL runs as the postgres OS user when the tests run as root.
	tmp, err := os.MkdirTemp("", "mosaic-serve-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(tmp) })
	if err := os.Chmod(tmp, 0o711); err != nil {
		t.Fatal(err)
	}
	dataDir := filepath.Join(tmp, "data")
	t.Setenv("MOSAIC_DATABASE_URL", "")
	t.Setenv("MOSAIC_API_KEY", "")
	t.Setenv("MOSAIC_SECRET_KEY", "")
	t.Setenv("MOSAIC_DATA_DIR", dataDir)
	api, stdout, stop := startServe(t)
	key := regexp.MustCompile(`mk_[A-Za-z0-9]+`).FindString(stdout.String())
	if key == "" {
		t.Fatalf("serve printed no key:\n%s", stdout.String())
	}
	c := client.New(api, key)
	ctx := context.Background()
	p, err := c.CreateProject(ctx, client.CreateProjectRequest{Name: "embedded"})
	if err != nil {
		t.Fatal(err)
	}

	// While serve runs, the CLI reaches the same embedded server.
	var out, errOut syncBuffer
	if err := run(ctx, []string{"keys", "create", "-name", "second"}, &out, &errOut); err != nil {
		t.Fatalf("keys create: %v\n%s", err, errOut.String())
	}
	key2 := strings.TrimSpace(out.String())
	if _, err := c.WithKey(key2).ProjectInfo(ctx, p.Slug); err != nil {
		t.Fatalf("the CLI's key cannot read the first account's project: %v", err)
	}
	if err := stop(); err != nil {
		t.Fatalf("graceful shutdown: %v", err)
	}
	if _, ok := localsvc.RunningPostgres(filepath.Join(dataDir, "postgres")); ok {
		t.Error("the embedded PostgreSQL still runs after serve stopped")
	}

	// With serve stopped, the CLI starts the embedded server itself.
	out, errOut = syncBuffer{}, syncBuffer{}
	if err := run(ctx, []string{"keys", "list"}, &out, &errOut); err != nil {
		t.Fatalf("keys list: %v\n%s", err, errOut.String())
	}
	if strings.Contains(out.String(), key) || strings.Contains(out.String(), key2) || !strings.Contains(out.String(), key2[:11]) {
		t.Errorf("keys list shows a whole key, or not the prefix:\n%s", out.String())
	}
	out = syncBuffer{}
	if err := run(ctx, []string{"keys", "revoke", key2[:11]}, &out, &errOut); err != nil {
		t.Fatalf("keys revoke: %v\n%s", err, errOut.String())
	}
	out = syncBuffer{}
	if err := run(ctx, []string{"migrate"}, &out, &errOut); err != nil || !strings.Contains(out.String(), "up to date") {
		t.Fatalf("migrate: %v %q", err, out.String())
	}

	// A restart keeps the data and the secret key: the project's sealed password still opens.
	api, _, stop = startServe(t)
	c = client.New(api, key)
	creds, err := c.Credentials(ctx, p.Slug)
	if err != nil || creds.Password != p.Database.Password {
		t.Fatalf("credentials after restart: %+v %v", creds, err)
	}
	if _, err := c.WithKey(key2).Whoami(ctx); !errors.Is(err, mosaic.ErrUnauthorized) {
		t.Errorf("revoked key after restart: %v", err)
	}
	if err := c.DeleteProject(ctx, p.Slug); err != nil {
		t.Fatal(err)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
}

func TestUsageErrors(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("MOSAIC_DATA_DIR", dir)
	var out, errOut syncBuffer
	ctx := context.Background()
	for _, args := range [][]string{{}, {"bogus"}, {"keys"}, {"keys", "bogus"}, {"keys", "revoke"}, {"serve", "extra"}, {"serve", "-no-such-flag"}, {"serve", "-trusted-proxies", "10.0.0.0/33"}} {
		if err := run(ctx, args, &out, &errOut); err == nil {
			t.Errorf("mosaic %v: no error", args)
		}
	}
	// A usage error starts nothing: no embedded database, no secret key.
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("a usage error left %d entries in the data dir", len(entries))
	}
}
