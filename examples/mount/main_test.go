package main

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/mosaic-platform/mosaic/client"
	"github.com/mosaic-platform/mosaic/mosaictest"
)

func TestMain(m *testing.M) { mosaictest.Main(m) }

// cookieTransport adds the app's session cookie, as a logged-in browser would.
type cookieTransport struct{}

func (cookieTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.AddCookie(&http.Cookie{Name: "session", Value: "demo"})
	return http.DefaultTransport.RoundTrip(r)
}

func TestMountedUnderPlatform(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan [2]string, 1)
	done := make(chan error, 1)
	go func() { done <- run(ctx, "127.0.0.1:0", mosaictest.DatabaseURL(t), "", ready) }()
	var base, key string
	select {
	case r := <-ready:
		base, key = r[0], r[1]
	case err := <-done:
		t.Fatal(err)
	}
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()

	// The app's own route is untouched.
	resp, err := http.Get(base + "/")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.HasPrefix(string(b), "my app") {
		t.Errorf("app route: %q", b)
	}
	// Without the app's session the platform is not reachable at all.
	resp, err = http.Get(base + "/platform/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("platform without the app's session: %d, want 401", resp.StatusCode)
	}
	// With it, the platform's own API works under the prefix.
	c := client.New(base+"/platform", key, client.WithHTTPClient(&http.Client{Transport: cookieTransport{}}))
	d, err := c.Discover(ctx)
	if err != nil || len(d.Endpoints) == 0 || d.BaseURL != base+"/platform" {
		t.Fatalf("discover: %+v %v", d, err)
	}
	p, err := c.CreateProject(ctx, client.CreateProjectRequest{Name: "mounted"})
	if err != nil {
		t.Fatal(err)
	}
	if p.GitRepoURL != base+"/git/"+p.Slug+".git" {
		t.Errorf("git_repo_url %q is not under the app's public URL", p.GitRepoURL)
	}
	if err := c.DeleteProject(ctx, p.Slug); err != nil {
		t.Fatal(err)
	}
}
