// Package dockertest finds the Docker daemon the test suite uses and skips
// tests cleanly when there is none.
//
// The daemon is named by $DOCKER_HOST, else by the file scripts/setup-docker
// writes, $MOSAIC_CACHE_DIR/docker-host (default $HOME/.cache/mosaic), else
// it is the default socket /var/run/docker.sock. scripts/setup-docker starts
// a daemon (its own socket and data root) when none answers and builds the
// local images (mosaic-local/...) the tests use, since no registry is
// reachable on the machines the suite runs on.
//
// It speaks to the daemon over plain HTTP (GET /_ping, GET /images/.../json)
// so that importing it pulls in no Docker client.
package dockertest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// DefaultSocket is the daemon's usual socket.
const DefaultSocket = "/var/run/docker.sock"

// HostFile returns the path of the file scripts/setup-docker records the
// daemon's address in.
func HostFile() string {
	dir := os.Getenv("MOSAIC_CACHE_DIR")
	if dir == "" {
		home, err := os.UserHomeDir()
		if err != nil || home == "" {
			home = "/root"
		}
		dir = filepath.Join(home, ".cache", "mosaic")
	}
	return filepath.Join(dir, "docker-host")
}

// Host returns the address of the Docker daemon for tests, in DOCKER_HOST
// syntax: $DOCKER_HOST, else the address recorded in HostFile, else the
// default socket when it exists. It does not check that the daemon answers
// (Ping does).
func Host() (string, error) {
	if h := strings.TrimSpace(os.Getenv("DOCKER_HOST")); h != "" {
		return h, nil
	}
	if b, err := os.ReadFile(HostFile()); err == nil {
		if h := strings.TrimSpace(string(b)); h != "" {
			return h, nil
		}
	}
	if _, err := os.Stat(DefaultSocket); err == nil {
		return "unix://" + DefaultSocket, nil
	}
	return "", fmt.Errorf("no Docker daemon configured: DOCKER_HOST is empty, %s has no address, and %s does not exist (run scripts/setup-docker)", HostFile(), DefaultSocket)
}

// httpClient returns a client that dials host and the base URL to use with it.
// Supported: unix:// and tcp:// without TLS (what the suite uses).
func httpClient(host string) (*http.Client, string, error) {
	u, err := url.Parse(host)
	if err != nil {
		return nil, "", fmt.Errorf("DOCKER_HOST %q: %w", host, err)
	}
	tr := &http.Transport{DisableKeepAlives: true}
	switch u.Scheme {
	case "unix":
		path := u.Path
		tr.DialContext = func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", path)
		}
		return &http.Client{Transport: tr}, "http://docker", nil
	case "tcp", "http":
		if os.Getenv("DOCKER_TLS_VERIFY") != "" {
			return nil, "", fmt.Errorf("DOCKER_HOST %q with TLS: not supported by dockertest", host)
		}
		return &http.Client{Transport: tr}, "http://" + u.Host, nil
	}
	return nil, "", fmt.Errorf("DOCKER_HOST %q: unsupported scheme %q", host, u.Scheme)
}

// Ping checks that the daemon at host answers GET /_ping.
func Ping(ctx context.Context, host string) error {
	_, err := get(ctx, host, "/_ping")
	return err
}

// get GETs path from the daemon at host and returns the body of a 200.
func get(ctx context.Context, host, path string) ([]byte, error) {
	c, base, err := httpClient(host)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+path, nil)
	if err != nil {
		return nil, err
	}
	res, err := c.Do(req)
	if err != nil {
		return nil, fmt.Errorf("Docker daemon at %s does not answer: %w", host, err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	if res.StatusCode == http.StatusNotFound {
		return nil, errNotFound
	}
	if res.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("Docker daemon at %s: GET %s: %s: %s", host, path, res.Status, strings.TrimSpace(string(body)))
	}
	return body, nil
}

var errNotFound = errors.New("not found")

// HasImage reports whether the daemon at host has the image ref locally.
func HasImage(ctx context.Context, host, ref string) (bool, error) {
	_, err := get(ctx, host, "/images/"+url.PathEscape(ref)+"/json")
	if errors.Is(err, errNotFound) {
		return false, nil
	}
	return err == nil, err
}

// Skip skips t unless a Docker daemon answers, and returns its address. The
// reason names what was tried and how to get a daemon.
func Skip(t testing.TB) string {
	t.Helper()
	host, err := Host()
	if err != nil {
		t.Skipf("skipping: Docker not available: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := Ping(ctx, host); err != nil {
		t.Skipf("skipping: %v (run scripts/setup-docker to start one)", err)
	}
	return host
}

// SkipWithoutImages is Skip, and also skips unless the daemon has every one
// of images (no registry is reachable here, so missing images cannot be
// pulled: scripts/setup-docker builds the mosaic-local/... ones).
func SkipWithoutImages(t testing.TB, images ...string) string {
	t.Helper()
	host := Skip(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var missing []string
	for _, ref := range images {
		ok, err := HasImage(ctx, host, ref)
		if err != nil {
			t.Skipf("skipping: checking image %s: %v", ref, err)
		}
		if !ok {
			missing = append(missing, ref)
		}
	}
	if len(missing) > 0 {
		t.Skipf("skipping: the Docker daemon at %s lacks images %s (scripts/setup-docker builds them)", host, strings.Join(missing, ", "))
	}
	return host
}

// BuiltImages returns the ids of the images that the steps of a classic
// builder's log made (" ---> <id>" after a step that is not a FROM, cache
// hits included), for tests that check a build left nothing behind.
func BuiltImages(log string) []string {
	var ids []string
	from := false
	for _, line := range strings.Split(log, "\n") {
		if rest, ok := strings.CutPrefix(line, "Step "); ok {
			_, instr, _ := strings.Cut(rest, " : ")
			from = strings.HasPrefix(strings.ToUpper(instr), "FROM ")
			continue
		}
		if id, ok := strings.CutPrefix(line, " ---> "); ok && !from && len(id) == 12 && !strings.Contains(id, " ") {
			ids = append(ids, id)
		}
	}
	return ids
}
