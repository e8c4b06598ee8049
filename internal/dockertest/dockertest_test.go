package dockertest

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestHostPrecedence(t *testing.T) {
	cache := t.TempDir()
	t.Setenv("MOSAIC_CACHE_DIR", cache)
	if got, want := HostFile(), filepath.Join(cache, "docker-host"); got != want {
		t.Fatalf("HostFile() = %q, want %q", got, want)
	}

	// The recorded file is used when DOCKER_HOST is empty.
	t.Setenv("DOCKER_HOST", "")
	if err := os.WriteFile(HostFile(), []byte("unix:///from/file.sock\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if h, err := Host(); err != nil || h != "unix:///from/file.sock" {
		t.Fatalf("Host() with the file = %q, %v", h, err)
	}

	// DOCKER_HOST wins over the file.
	t.Setenv("DOCKER_HOST", "unix:///from/env.sock")
	if h, err := Host(); err != nil || h != "unix:///from/env.sock" {
		t.Fatalf("Host() with DOCKER_HOST = %q, %v", h, err)
	}

	// Neither: the default socket if it exists, else an error naming both.
	t.Setenv("DOCKER_HOST", "")
	if err := os.Remove(HostFile()); err != nil {
		t.Fatal(err)
	}
	h, err := Host()
	if _, statErr := os.Stat(DefaultSocket); statErr == nil {
		if err != nil || h != "unix://"+DefaultSocket {
			t.Fatalf("Host() = %q, %v; want the default socket", h, err)
		}
	} else if err == nil || !strings.Contains(err.Error(), "DOCKER_HOST") || !strings.Contains(err.Error(), HostFile()) {
		t.Fatalf("Host() = %q, %v; want an error naming DOCKER_HOST and %s", h, err, HostFile())
	}
}

func TestPingNoDaemon(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	sock := "unix://" + filepath.Join(t.TempDir(), "none.sock")
	err := Ping(ctx, sock)
	if err == nil || !strings.Contains(err.Error(), "does not answer") {
		t.Fatalf("Ping(%s) = %v, want a 'does not answer' error", sock, err)
	}
	if err := Ping(ctx, "ssh://somewhere"); err == nil || !strings.Contains(err.Error(), "unsupported scheme") {
		t.Fatalf("Ping(ssh://) = %v, want unsupported scheme", err)
	}
}

func TestDaemon(t *testing.T) {
	host := Skip(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := Ping(ctx, host); err != nil {
		t.Fatalf("Ping after Skip: %v", err)
	}
	ok, err := HasImage(ctx, host, "mosaic-local/no-such-image:never")
	if err != nil || ok {
		t.Fatalf("HasImage(missing) = %v, %v; want false, nil", ok, err)
	}
	const busybox = "mosaic-local/busybox:bookworm"
	ok, err = HasImage(ctx, host, busybox)
	if err != nil {
		t.Fatalf("HasImage(%s): %v", busybox, err)
	}
	if !ok {
		t.Logf("%s is not built yet (scripts/setup-docker)", busybox)
		return
	}
	// A present image does not make SkipWithoutImages skip.
	t.Run("SkipWithoutImages", func(t *testing.T) {
		if got := SkipWithoutImages(t, busybox); got != host {
			t.Fatalf("SkipWithoutImages = %q, want %q", got, host)
		}
	})
}
