package httpapi_test

import (
	"context"
	"net/http"
	"os/exec"
	"strings"
	"testing"

	"github.com/mosaic-platform/mosaic"
	"github.com/mosaic-platform/mosaic/client"
	"github.com/mosaic-platform/mosaic/mosaictest"
	"github.com/mosaic-platform/mosaic/ratelimit"
)

// TestGitLoginThrottle: after 20 failed git logins in a minute from one
// address, git answers 429 with Retry-After, even to the right key, and a
// real git client fails; other addresses' budgets are separate (the
// limiter keys carry the address).
func TestGitLoginThrottle(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git is not installed")
	}
	// Its own limiter: the shared one would lock 127.0.0.1 out for the
	// other tests of this binary.
	env := mosaictest.New(t, mosaictest.WithConfig(func(c *mosaic.Config) { c.Limiter = ratelimit.NewMemory(nil) }))
	ctx := context.Background()
	created, err := env.Client.CreateProject(ctx, client.CreateProjectRequest{Name: "throttled"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { env.Client.DeleteProject(context.Background(), created.Slug) })
	refs := created.GitRepoURL + "/info/refs?service=git-upload-pack"
	try := func(key string) *http.Response {
		req, _ := http.NewRequest("GET", refs, nil)
		req.SetBasicAuth("x", key)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	if r := try(env.APIKey); r.StatusCode != 200 {
		t.Fatalf("right key: %d", r.StatusCode)
	}
	for i := range 20 {
		if r := try("mk_wrong" + strings.Repeat("x", i)); r.StatusCode != 401 {
			t.Fatalf("failure %d: status %d, want 401", i+1, r.StatusCode)
		}
	}
	r := try(env.APIKey)
	if r.StatusCode != 429 || r.Header.Get("Retry-After") == "" {
		t.Fatalf("after 20 failures the right key got %d (Retry-After %q), want 429", r.StatusCode, r.Header.Get("Retry-After"))
	}
	out, err := gitCmd(t, t.TempDir(), "ls-remote", cloneURL(t, created.GitRepoURL, env.APIKey))
	if err == nil || !strings.Contains(out, "429") && !strings.Contains(strings.ToLower(out), "too many") {
		t.Fatalf("git ls-remote while locked out: err %v, output %s", err, out)
	}
}
